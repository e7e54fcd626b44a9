"""The Python bindings, end to end through two real gateways."""

import ctypes
import hashlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import zmq

import sstream
from sstream._native import lib

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)


def test_version():
    assert sstream.version().count(".") == 2
    #   The package and the library are released together
    assert sstream.__version__ == sstream.version()


DTYPES = ["uint8", "int16", "uint16", "int32", "uint32", "int64", "float32",
          "float64", "complex64", "complex128", "bool"]
#   The largest: 1024 x 2048 complex128, 32 MiB, within the default 64 MiB
#   windows a message must fit
SHAPES = [(0,), (1,), (7,), (64, 64), (3, 4, 5), (1024, 2048)]


def test_numpy_arrays_round_trip_with_their_metadata(path, background):
    rng = np.random.default_rng(7)
    arrays = []
    for dtype in DTYPES:
        for shape in SHAPES:
            if dtype == "bool":
                array = rng.integers(0, 2, size=shape).astype(bool)
            elif dtype.startswith("complex"):
                array = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
            elif dtype.startswith("float"):
                array = rng.standard_normal(shape).astype(dtype)
            else:
                info = np.iinfo(dtype)
                array = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
            arrays.append(array)

    def produce():
        with path.producer("arrays") as producer:
            for index, array in enumerate(arrays):
                producer.send(array, meta={"dtype": array.dtype.str, "shape": list(array.shape),
                                           "index": index, "note": "frame %d" % index})
            return producer.messages

    task = background(produce)
    received = 0
    with path.consumer("arrays") as consumer:
        for message in consumer:
            meta = message.meta
            assert message.seq == meta["index"] == received
            assert meta["note"] == "frame %d" % received
            array = np.frombuffer(message.data, dtype=meta["dtype"]).reshape(meta["shape"])
            expected = arrays[received]
            assert array.dtype == expected.dtype and array.shape == expected.shape
            assert np.array_equal(array, expected)
            received += 1
    assert task.join() == len(arrays)
    assert received == len(arrays)


def test_bytes_bytearray_memoryview_and_read_only_arrays(path, background):
    read_only = np.arange(1000, dtype=np.int32)
    read_only.setflags(write=False)
    fortran = np.asfortranarray(np.arange(12, dtype=np.uint8).reshape(3, 4))
    payloads = [b"", b"x", b"bytes payload", bytearray(b"bytearray payload"),
                memoryview(b"0123456789")[3:7], memoryview(bytearray(b"abcdef")),
                read_only, np.arange(10, dtype=np.float64)[2:6]]

    def produce():
        with path.producer("buffers") as producer:
            for payload in payloads:
                producer.send(payload)
            #   Not C-contiguous: refused, nothing sent
            for bad in (np.arange(20)[::2], fortran, "a str is not bytes", 42):
                with pytest.raises(sstream.InvalidArgumentError):
                    producer.send(bad)
            assert producer.messages == len(payloads)

    task = background(produce)
    with path.consumer("buffers") as consumer:
        got = [bytes(message.data) for message in consumer]
    task.join()
    assert got == [bytes(memoryview(p).cast("B")) if not isinstance(p, (bytes, bytearray))
                   else bytes(p) for p in payloads]


def test_a_writable_array_may_be_reused_at_once_after_send(path, background):
    """send copies a writable buffer, even a large one: refilling it at once
    changes nothing that was sent (before, 64 KiB and more went without a
    copy, and the next frame overwrote the one still on its way)"""
    frames = 32

    def produce():
        with path.producer("reused") as producer:
            frame = np.empty(256 * 1024, dtype=np.uint8)
            for number in range(frames):
                frame.fill(number)
                producer.send(frame)

    task = background(produce)
    with path.consumer("reused") as consumer:
        got = [bytes(message.data) for message in consumer]
    task.join()
    assert len(got) == frames
    for number, data in enumerate(got):
        assert data == bytes([number]) * (256 * 1024), "frame %d was changed" % number


def test_the_consumer_does_not_copy(path, background):
    frame = np.arange(2048 * 2048, dtype=np.uint16).reshape(2048, 2048)
    task = background(lambda: _send_all(path, "zero-copy", [frame]))
    with path.consumer("zero-copy") as consumer:
        message = consumer.recv(timeout=30)
        image = np.frombuffer(message.data, dtype=np.uint16).reshape(2048, 2048)
        address = image.__array_interface__["data"][0]
        #   The array's memory is the library's message buffer itself
        assert address == message.address
        assert address == lib.sstream_message_data(_handle_of(message))
        assert message.size == frame.nbytes
        assert np.array_equal(image, frame)
        #   The buffer outlives the message object while a view remains
        message.release()
        del message
        assert int(image[2047, 2047]) == int(frame[2047, 2047])
        assert consumer.recv(timeout=30) is None
    task.join()


def _handle_of(message):
    #   The owner object hung on the message holds the C handle
    return message._owner.handle


def _send_all(path, stream, payloads, **options):
    with path.producer(stream, **options) as producer:
        for payload in payloads:
            producer.send(payload)


def test_a_gibibyte_arrives_intact(path, background):
    block = np.random.default_rng(1).integers(0, 256, size=16 << 20, dtype=np.uint8)
    total, chunk = 1 << 30, 1 << 20
    sent = hashlib.blake2b()

    def produce():
        with path.producer("gib") as producer:
            for offset in range(0, total, chunk):
                start = (offset * 7) % (len(block) - chunk)
                piece = block[start:start + chunk]
                producer.send(piece)
                sent.update(piece)

    task = background(produce)
    received = hashlib.blake2b()
    count = 0
    started = time.monotonic()
    with path.consumer("gib") as consumer:
        for message in consumer:
            received.update(message.data)
            count += message.size
    seconds = time.monotonic() - started
    task.join()
    assert count == total
    assert received.digest() == sent.digest()
    print("1 GiB through two gateways into Python: %.2f s, %.3f GB/s" % (seconds, total / seconds / 1e9))


def test_an_unknown_key_raises_authentication_error(path, tmp_path):
    sstream.keygen("stranger", tmp_path / "strangers")
    started = time.monotonic()
    with pytest.raises(sstream.AuthenticationError, match="refused our key"):
        sstream.Producer(path.a.endpoint(), "s", key=tmp_path / "strangers" / "stranger.secret",
                         gateway_key=path.key("gateway-a.pub"),
                         readers=os.path.join(path.facility_b, "consumer.pub"))
    assert time.monotonic() - started < 5


def test_an_unreachable_gateway_raises_timeout_error(path):
    #   Bound, never listening: connections are refused, and nobody else can
    #   have the port meanwhile (a port closed again could be anybody's)
    with socket.socket() as refusing:
        refusing.bind(("127.0.0.1", 0))
        port = refusing.getsockname()[1]
        with pytest.raises(sstream.TimeoutError, match="unreachable") as caught:
            sstream.Consumer("tcp://127.0.0.1:%d" % port, "s",
                             key=os.path.join(path.facility_b, "consumer.secret"),
                             gateway_key=path.key("gateway-b.pub"), connect_timeout="1s")
    assert isinstance(caught.value, TimeoutError)     # the builtin, too


def test_configuration_errors(path, tmp_path):
    with pytest.raises(sstream.ConfigurationError, match="unknown key 'windw'"):
        path.consumer("s", windw="1M")
    with pytest.raises(sstream.ConfigurationError, match="not a size"):
        path.consumer("s", window="lots")
    with pytest.raises(sstream.KeyFileError, match="cannot read secret key file"):
        sstream.Producer(path.a.endpoint(), "s", key=tmp_path / "none.secret",
                         gateway_key=path.key("gateway-a.pub"))
    bad = tmp_path / "bad.cfg"
    bad.write_text("gateway\n    name = x\n   buffer = 1M\n")
    with pytest.raises(sstream.ConfigurationError, match="bad.cfg:3"):
        sstream.Gateway(bad)
    with pytest.raises(sstream.ConfigurationError, match="no transport plugin 'rdma'"):
        path.producer("s", transport="rdma")
    with pytest.raises(sstream.InvalidArgumentError, match="stream name is empty"):
        path.producer("")


def test_a_gateway_speaking_garbage_raises_protocol_error():
    #   A fake gateway (pyzmq, no security) that answers the open with junk
    context = zmq.Context.instance()
    fake = context.socket(zmq.ROUTER)
    port = fake.bind_to_random_port("tcp://127.0.0.1")

    def answer():
        identity, _ = fake.recv_multipart()
        fake.send_multipart([identity, b"\xc1 not msgpack"])

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    with pytest.raises(sstream.ProtocolError, match="malformed header"):
        sstream.Consumer("tcp://127.0.0.1:%d" % port, "s", security="none", payload="hop")
    thread.join(5)
    fake.close(0)


def test_a_producer_that_goes_away_raises_stream_aborted(path):
    consumer = path.consumer("orphan")
    producer = path.producer("orphan")
    producer.send(b"first")
    producer.destroy()
    with pytest.raises(sstream.StreamAbortedError, match="went away"):
        for _ in consumer:
            pass
    consumer.destroy()


def test_leaving_a_consumer_early_tells_the_producer(path, background):
    def produce():
        with path.producer("early") as producer:
            for _ in range(100):
                producer.send(bytes(1000))

    task = background(produce)
    with path.consumer("early") as consumer:
        next(iter(consumer))
    with pytest.raises(sstream.StreamAbortedError, match="stopped before the end"):
        task.join()


def test_closed_handles_raise(path):
    producer = path.producer("closed")
    producer.destroy()
    with pytest.raises(sstream.ClosedError):
        producer.send(b"x")
    producer.destroy()                       # idempotent


SCRIPT = textwrap.dedent("""
    import sys, sstream
    consumer = sstream.Consumer(sys.argv[1], "never", security="none", payload="hop")
    print("waiting", flush=True)
    consumer.recv()
""")


def test_ctrl_c_interrupts_a_blocking_call(tmp_path):
    gateway = sstream.Gateway({"local": {"endpoint": "tcp://127.0.0.1:*", "security": "none"}})
    child = subprocess.Popen([sys.executable, "-c", SCRIPT, gateway.endpoint()],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=dict(os.environ, PYTHONPATH=PACKAGE))
    assert child.stdout.readline().strip() == b"waiting"
    time.sleep(0.3)
    started = time.monotonic()
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=10)
    assert time.monotonic() - started < 2
    assert b"KeyboardInterrupt" in stderr, stderr
    gateway.close()


def test_a_missing_library_says_where_it_looked(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import sstream"], capture_output=True,
                            env=dict(os.environ, PYTHONPATH=PACKAGE,
                                     SSTREAM_LIBRARY=str(tmp_path / "libsstream.so.0")))
    assert result.returncode != 0
    assert b"cannot find libsstream" in result.stderr
    assert str(tmp_path).encode() in result.stderr
    assert b"SSTREAM_LIBRARY" in result.stderr


def test_keygen_and_gateway_statistics(path, tmp_path):
    public, secret = sstream.keygen("someone", tmp_path / "k")
    assert os.path.exists(public) and oct(os.stat(secret).st_mode & 0o777) == "0o600"
    with pytest.raises(sstream.KeyFileError, match="already exists"):
        sstream.keygen("someone", tmp_path / "k")
    deadline = time.monotonic() + 30         # the gateways pair within moments
    while path.a.stat("peer-up") != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.a.stat("peer-up") == 1
    with pytest.raises(sstream.InvalidArgumentError):
        path.a.stat("no-such-statistic")


def test_the_examples_run_through_two_gateways(path, tmp_path):
    examples = os.path.join(PACKAGE, "examples")
    env = dict(os.environ, PYTHONPATH=PACKAGE)
    mean = tmp_path / "mean.npy"
    consumer = subprocess.Popen(
        [sys.executable, os.path.join(examples, "running_mean_consumer.py"), path.b.endpoint(),
         "detector", "-k", os.path.join(path.facility_b, "consumer.secret"),
         "-g", path.key("gateway-b.pub"), "--save", str(mean)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    producer = subprocess.run(
        [sys.executable, os.path.join(examples, "detector_producer.py"), path.a.endpoint(),
         "detector", "-k", os.path.join(path.facility_a, "producer.secret"),
         "-g", path.key("gateway-a.pub"), "-r", os.path.join(path.facility_b, "consumer.pub"),
         "--frames", "12", "--rate", "0", "--size", "512"],
        capture_output=True, env=env, timeout=120)
    out, err = consumer.communicate(timeout=120)
    assert producer.returncode == 0, producer.stderr
    assert b"sent 12 frames" in producer.stdout
    assert consumer.returncode == 0, err
    assert b"12 frames, %d bytes" % (12 * 512 * 512 * 2) in out
    image = np.load(mean)
    assert image.shape == (512, 512) and 90 < image.mean() < 130
