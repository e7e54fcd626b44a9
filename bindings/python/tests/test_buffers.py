"""A Message is a buffer (memoryview, numpy.frombuffer, bytes on the message
itself, no copy), and arrays travel with their dtype and shape
(send_array, recv_array, Message.array)."""

import gc
import weakref

import numpy as np
import pytest

import sstream


def _received(path, background, stream, payloads):
    """Send payloads (bytes-likes) and return the Messages, all held, from
    a consumer that is gone."""
    def produce():
        with path.producer(stream) as producer:
            for payload in payloads:
                producer.send(payload)

    task = background(produce)
    with path.consumer(stream) as consumer:
        messages = [consumer.recv(timeout=30) for _ in payloads]
        assert consumer.recv(timeout=30) is None
    task.join()
    return messages


def test_a_message_is_its_payloads_buffer(path, background):
    frame = np.arange(256 * 256, dtype=np.uint16).reshape(256, 256)
    payloads = [frame, b"", b"seven b", bytes(range(256)) * 1000]
    messages = _received(path, background, "buffers", payloads)
    for message, payload in zip(messages, payloads):
        expected = bytes(memoryview(payload).cast("B"))
        assert isinstance(message, sstream.Message)
        view = memoryview(message)
        assert view.nbytes == len(message) == message.size == len(expected)
        assert view.tobytes() == bytes(message) == bytes(message.data) == expected
        as_bytes = np.frombuffer(message, dtype=np.uint8)
        assert as_bytes.tobytes() == expected
        if expected:
            #   The library's buffer itself, not a copy
            assert as_bytes.__array_interface__["data"][0] == message.address
            assert np.frombuffer(message.data, np.uint8).__array_interface__["data"][0] == message.address
    image = np.frombuffer(messages[0], dtype=np.uint16).reshape(256, 256)
    assert np.array_equal(image, frame)
    assert "seq=0" in repr(messages[0]) and "131072 bytes" in repr(messages[0])
    with pytest.raises(TypeError):
        sstream.Message()


def test_a_view_keeps_the_message_and_its_buffer(path, background):
    payload = bytes(range(256)) * 4096
    message, = _received(path, background, "kept", [payload])
    owner = weakref.ref(message)        # its buffer goes with it
    array = np.frombuffer(message, dtype=np.uint8)
    view = memoryview(message)
    message.release()
    with pytest.raises(sstream.ClosedError):
        message.data
    del message
    gc.collect()
    assert owner() is not None                  # the views hold it
    assert array.tobytes() == payload and view.tobytes() == payload
    del array
    gc.collect()
    assert owner() is not None
    view.release()
    del view
    gc.collect()
    assert owner() is None                      # freed with the last view


def test_a_message_goes_with_its_last_reference(path, background):
    #   Without the garbage collector: nothing in a message refers back to it
    messages = _received(path, background, "dropped", [b"x" * 100000, b"y"])
    alive = [weakref.ref(message) for message in messages]
    image = np.frombuffer(messages[0], np.uint8)
    assert messages[1].data.tobytes() == b"y"
    gc.disable()
    try:
        del messages
        assert alive[0]() is not None and alive[1]() is None
        del image
        assert alive[0]() is None
    finally:
        gc.enable()


DTYPES = [np.uint8, np.int16, np.uint16, np.int32, np.float32, np.float64, np.complex128, bool,
          np.dtype("<M8[ns]"), np.dtype(">i4"), np.dtype("U3"),
          np.dtype([("x", "<f4"), ("v", "<i2", (3,)), ("pos", [("a", "u1"), ("b", ">f8")])])]


def test_arrays_travel_with_their_dtype_and_shape(path, background):
    rng = np.random.default_rng(11)
    arrays = []
    for dtype in DTYPES:
        for shape in [(), (0,), (5,), (3, 4), (2, 3, 4), (512, 1024)]:
            raw = rng.integers(0, 256, size=int(np.prod(shape)) * np.dtype(dtype).itemsize,
                               dtype=np.uint8)
            if np.dtype(dtype).kind in "bU":
                raw = np.zeros_like(raw)        # bools and strings must be valid
            arrays.append(raw.view(dtype).reshape(shape))
    fortran = np.asfortranarray(np.arange(12, dtype=np.int64).reshape(3, 4))
    strided = np.arange(40, dtype=np.float32)[::3]
    arrays += [fortran, strided]

    def produce():
        with path.producer("arrays") as producer:
            for index, array in enumerate(arrays):
                producer.send_array(array, meta={"index": index})

    task = background(produce)
    with path.consumer("arrays") as consumer:
        for index, expected in enumerate(arrays):
            if index % 2:
                received = consumer.recv_array(timeout=30)
            else:
                message = consumer.recv(timeout=30)
                assert message.meta["index"] == index
                received = message.array()
            assert received.dtype == expected.dtype, (index, received.dtype, expected.dtype)
            assert received.shape == expected.shape
            assert received.tobytes() == np.ascontiguousarray(expected).tobytes()
            assert received.flags["C_CONTIGUOUS"]
        assert consumer.recv_array(timeout=30) is None
    task.join()


def test_array_mistakes_are_refused(path, background):
    def produce():
        with path.producer("refused") as producer:
            with pytest.raises(sstream.InvalidArgumentError, match="sets it from the array"):
                producer.send_array(np.zeros(3), meta={"dtype": "<f8"})
            with pytest.raises(sstream.InvalidArgumentError, match="Python objects"):
                producer.send_array(np.array([object()], dtype=object))
            producer.send(b"12345678", meta={"frame": 1})
            producer.send(b"12345678", meta={"dtype": "<f8", "shape": [2]})

    task = background(produce)
    with path.consumer("refused") as consumer:
        with pytest.raises(sstream.InvalidArgumentError, match="no dtype and shape"):
            consumer.recv_array(timeout=30)
        with pytest.raises(sstream.InvalidArgumentError, match="has 8 bytes, not the 16"):
            consumer.recv_array(timeout=30)
        assert consumer.recv(timeout=30) is None
    task.join()
