"""Fixtures: two in-process gateways with fresh keys, as a facility pair."""

import os
import threading

import pytest

import sstream


class Path:
    """Producer at gateway A, consumer at gateway B; CURVE on every link."""

    def __init__(self, folder):
        self.folder = str(folder)
        self.gateways = os.path.join(self.folder, "gateways")
        self.facility_a = os.path.join(self.folder, "facility-a")
        self.facility_b = os.path.join(self.folder, "facility-b")
        sstream.keygen("gateway-a", self.gateways)
        sstream.keygen("gateway-b", self.gateways)
        sstream.keygen("producer", self.facility_a)
        sstream.keygen("consumer", self.facility_b)
        self.a = sstream.Gateway({
            "gateway": {"name": "gateway-a", "secret-key": self.key("gateway-a.secret")},
            "local": {"endpoint": "tcp://127.0.0.1:*", "trusted-keys": self.facility_a},
            "peer": {"name": "gateway-b", "endpoint": "tcp://127.0.0.1:*", "mode": "bind",
                     "public-key": self.key("gateway-b.pub")}})
        self.b = sstream.Gateway({
            "gateway": {"name": "gateway-b", "secret-key": self.key("gateway-b.secret")},
            "local": {"endpoint": "tcp://127.0.0.1:*", "trusted-keys": self.facility_b},
            "peer": {"name": "gateway-a", "endpoint": self.a.endpoint("peer"),
                     "public-key": self.key("gateway-a.pub")}})

    def key(self, name):
        return os.path.join(self.gateways, name)

    def producer(self, stream, **options):
        #   Sealed end to end for the consumer, unless the test says otherwise
        options.setdefault("readers", os.path.join(self.facility_b, "consumer.pub"))
        return sstream.Producer(self.a.endpoint(), stream,
                                key=os.path.join(self.facility_a, "producer.secret"),
                                gateway_key=self.key("gateway-a.pub"), **options)

    def consumer(self, stream, **options):
        return sstream.Consumer(self.b.endpoint(), stream,
                                key=os.path.join(self.facility_b, "consumer.secret"),
                                gateway_key=self.key("gateway-b.pub"), **options)

    def close(self):
        self.b.close()
        self.a.close()


@pytest.fixture
def path(tmp_path):
    pair = Path(tmp_path)
    yield pair
    pair.close()


class Background:
    """Run a function in a thread; join() re-raises what it raised."""

    def __init__(self, function, *args):
        self.result = None
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(function,) + args, daemon=True)
        self.thread.start()

    def _run(self, function, *args):
        try:
            self.result = function(*args)
        except BaseException as error:      # noqa: B902 - handed to join ()
            self.error = error

    def join(self, timeout=120):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the background task did not finish"
        if self.error:
            raise self.error
        return self.result


@pytest.fixture
def background():
    return Background
