"""latestframe (the Python binding of the C++ capture), with pytest.

On local live sources: the newest frame, never twice; timeouts; formats and
NumPy arrays over the frame's own memory; max_age; stats; the end of a
stream; errors; the cv2-compatible surface, iteration, the context manager,
threads and signals. Against the RTSP test camera (LATESTFRAME_TESTCAM): a
resolution change while the reader is busy, a camera killed and restarted
10 times, a stall caught by the watchdog.

Run: PYTHONPATH=<build>/src/capture/python python3 -m pytest \
tests/python/binding (meson test python/binding does, without
GST_PLUGIN_PATH: see conftest.py).
Waits are for events (a frame, a count reaching a value), bounded by
generous deadlines that only fail the test when the event never comes. Where
a test is about time (a read that times out, one that must not wait), it
checks what happened meanwhile (no frame came) rather than how long it
took, or bounds the time by the timeout itself.
"""
import ast
import gc
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import latestframe

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "pipelines" / "lib"))
from live_servers import RtspCamera  # noqa: E402

LIVE = ("videotestsrc is-live=true pattern=ball "
        "! video/x-raw,width=320,height=240,framerate=30/1")
STUBS = os.path.join(os.path.dirname(latestframe.__file__), "_latestframe.pyi")


def live(width=320, height=240, rate="30/1", extra="", caps=""):
    """A live videotestsrc description."""
    return (f"videotestsrc is-live=true {extra} ! video/x-raw{caps},"
            f"width={width},height={height},framerate={rate}")


@pytest.fixture
def opened():
    """Opens captures for a test and releases them after it, even failed."""
    captures = []

    def open_capture(source, **options):
        camera = latestframe.Capture(source, **options)
        captures.append(camera)
        assert camera.isOpened(), camera.last_error
        return camera

    yield open_capture
    for camera in captures:
        # latestframe's counts hold under the capture: every frame received
        # was handed to a read, dropped (those a reader passed over count
        # as superseded) or is held.
        stats = camera.stats()
        assert stats["received"] == (stats["pushed"] + stats["dropped"]
                                     + stats["held_frames"]), stats
        by_reason = {key: count for key, count in stats.items()
                     if key.startswith("dropped_")}
        assert "dropped_superseded" in by_reason, stats
        assert "dropped_broken_chain" in by_reason, stats
        assert sum(by_reason.values()) == stats["dropped"], stats
        camera.release()


def read_until(camera, accept, deadline_s, what):
    """Reads until a frame whose info `accept`s, within deadline_s (a bound
    for failing, not an expectation). Returns (frame, info)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        frame, info = camera.read_with_info(timeout=1.0)
        if frame is not None and accept(info):
            return frame, info
    pytest.fail(f"no {what} within {deadline_s} s: state {camera.state}, "
                f"last error {camera.last_error!r}, stats {camera.stats()}")


def wait_received(camera, count, deadline_s, what):
    """Waits until the capture has received `count` frames in all (latestframe's
    count, which frame numbers follow), within deadline_s (a bound for failing,
    not an expectation). Returns its stats then."""
    deadline = time.monotonic() + deadline_s
    while True:
        stats = camera.stats()
        if stats["received"] >= count:
            return stats
        if time.monotonic() >= deadline:
            pytest.fail(f"no {what} within {deadline_s} s: {stats}")
        time.sleep(0.01)


# -- the newest frame ---------------------------------------------------------

# A reader slower than the source gets newest frames: sequence numbers and
# timestamps increase, each read returns a frame at least as new as every
# frame received before it asked, every frame received is either returned or
# skipped, and stats() counts the same. The reader's "analysis" lasts until
# three more frames came, so that it is slower than the source however
# loaded the machine.
def test_slow_reader_gets_newest_frames_never_twice(opened):
    camera = opened(LIVE)
    last = None
    reads = skipped = 0
    for _ in range(10):
        received_before = camera.stats()["received"]
        frame, info = camera.read_with_info(timeout=5)
        assert frame is not None, camera.last_error
        assert frame.shape == (240, 320, 3)
        assert info.sequence >= received_before, "not the newest frame"
        if last is not None:
            assert info.sequence > last.sequence, "a frame returned twice"
            assert info.pts_ns > last.pts_ns, "timestamps went back"
        assert info.skipped == info.sequence - (last.sequence if last else 0) - 1
        last = info
        reads += 1
        skipped += info.skipped
        # The analysis, slower than the camera: three frames come meanwhile.
        wait_received(camera, info.sequence + 3, 30,
                      "three frames during the analysis")
    stats = camera.stats()
    assert reads + skipped == last.sequence
    assert skipped > reads, "a reader slower than the camera skipped too few"
    assert stats["returned"] == reads and stats["skipped"] == skipped, stats
    assert stats["received"] >= last.sequence, stats
    assert stats["state"] == "streaming", stats
    camera.release()
    assert not camera.isOpened()
    assert camera.state == "closed"
    assert camera.read(timeout=0.1) == (False, None), "read after release"


# A reader faster than the source waits for each new frame: the sequence
# rises by exactly one per read and nothing is skipped.
def test_fast_reader_waits_for_each_new_frame(opened):
    camera = opened(LIVE)
    previous = None
    for _ in range(30):
        frame, info = camera.read_with_info(timeout=5)
        assert frame is not None, camera.last_error
        if previous is not None:
            assert info.sequence > previous, "a frame returned twice"
        previous = info.sequence
    assert camera.stats()["returned"] == 30


# One frame every 2 s: a short read times out having waited its timeout,
# before the next frame came (a read that waited for it would return it);
# a long one gets the next frame.
def test_read_times_out_when_nothing_newer(opened):
    camera = opened(live(64, 64, "1/2"))
    ok, _ = camera.read(timeout=5)
    assert ok, camera.last_error
    received = camera.stats()["received"]
    start = time.monotonic()
    ok, frame = camera.read(timeout=0.2)
    waited = time.monotonic() - start
    assert not ok and frame is None, "a frame came within 0.2 s"
    assert waited >= 0.2, f"gave up after {waited:.3f} s"
    assert camera.stats()["received"] == received, (
        "the read gave up only once the next frame came")
    ok, _ = camera.read(timeout=5)
    assert ok, "the next frame never came"


# read() without a timeout waits read_timeout (given in seconds), and gives
# up before the next frame (10 s away) comes.
def test_read_without_timeout_waits_read_timeout(opened):
    camera = opened(live(64, 64, "1/10"), read_timeout=0.3)
    assert camera.read()[0], camera.last_error
    received = camera.stats()["received"]
    start = time.monotonic()
    assert camera.read() == (False, None)
    waited = time.monotonic() - start
    assert waited >= 0.3, f"waited {waited:.3f} s for read_timeout=0.3"
    assert camera.stats()["received"] == received, (
        "the read gave up only once the next frame came")


# With max_age, a slow reader is handed young frames: at 5 fps, a reader
# taking 280 ms per frame finds the newest one about 80 ms old when it asks;
# with max_age at 50 ms the read refuses it and waits for the next. The
# hand-over happened during the read (received + age); when the read refused
# a frame for its age, the one returned came after it; and frames are
# within max_age as latestframe measured them at the hand-over, but for
# those that arrived older than that (latestframe hands the newest such
# frame over anyway, which a loaded machine causes now and then): at most
# half.
def test_max_age_holds_for_a_slow_reader(opened):
    max_age = 0.05
    camera = opened(live(160, 120, "5/1"), max_age=max_age)
    ages = []
    for _ in range(8):
        before = camera.stats()
        read_start = time.monotonic()
        frame, info = camera.read_with_info(timeout=5)
        read_end = time.monotonic()
        assert frame is not None, camera.last_error
        assert info.age_ns >= 0, "a live frame without age"
        ages.append(info.age_ns / 1e9)
        handed_over = info.received + info.age_ns / 1e9
        # FrameInfo.received is a float of seconds: a microsecond of slack.
        assert read_start - 1e-6 <= handed_over <= read_end + 1e-6, (
            read_start, info, read_end)
        assert info.sequence >= before["received"], "not the newest frame"
        if camera.stats()["dropped_age"] > before["dropped_age"]:
            assert info.sequence > before["received"], (before, info)
        time.sleep(0.28)  # the analysis: the newest frame ages meanwhile
    stats = camera.stats()
    assert stats["returned"] == 8, stats
    assert stats["dropped_age"] > 0, (
        f"no read found the newest frame too old: {stats}")
    assert sum(age > max_age for age in ages) <= len(ages) // 2, ages


# FrameInfo.received is on time.monotonic()'s clock (steady_clock is
# CLOCK_MONOTONIC in libstdc++): between opening and the read returning.
def test_received_is_on_the_monotonic_clock(opened):
    before = time.monotonic()
    camera = opened(LIVE)
    frame, info = camera.read_with_info(timeout=5)
    after = time.monotonic()
    assert frame is not None, camera.last_error
    assert before <= info.received <= after, (before, info, after)
    assert info.connection == 1
    assert "sequence=" in repr(info) and "received=" in repr(info)


# A live source that ends is a lost connection: the capture builds its
# pipeline again and frames of a new connection come.
def test_live_source_that_ends_is_reconnected(opened):
    camera = opened(live(64, 64, extra="num-buffers=10"), backoff_initial=0.05)
    read_until(camera, lambda info: info.connection > 1, 30,
               "frame of a second connection")
    stats = camera.stats()
    assert stats["reconnects"] >= 1, stats
    assert stats["last_error"] == "the stream ended", stats


# Without reconnect, the end of a live source is the end: read says so at
# once, state is "ended", and the capture stays opened (as after a file).
def test_end_of_stream(opened):
    camera = opened(live(64, 64, extra="num-buffers=10"), reconnect=False)
    reads = 0
    while reads <= 10:
        ok, _ = camera.read(timeout=5)
        if not ok:
            break
        reads += 1
    assert 1 <= reads <= 10, f"{reads} reads"
    assert camera.state == "ended"
    assert camera.isOpened()


@pytest.fixture
def thirty_frame_file(tmp_path):
    """A file of 30 frames, 320x240 at 30 fps (JPEG in AVI): its URI."""
    path = tmp_path / "thirty-frames.avi"
    subprocess.run(
        ["gst-launch-1.0", "-q", "videotestsrc", "num-buffers=30", "!",
         "video/x-raw,width=320,height=240,framerate=30/1", "!", "jpegenc",
         "!", "avimux", "!", "filesink", f"location={path}"],
        check=True, timeout=60)
    return path.as_uri()


# A file plays at its own pace and ends: iterating it yields its frames in
# order and stops by itself; a read after the end returns without waiting
# for its timeout; the capture stays opened until released.
def test_file_plays_to_its_end(opened, thirty_frame_file):
    camera = opened(thirty_frame_file)
    sequences = [info.sequence for frame, info in camera]
    assert 10 <= len(sequences) <= 30, sequences
    assert sequences == sorted(set(sequences)), sequences
    assert camera.state == "ended", camera.last_error
    timeout = 60
    start = time.monotonic()
    assert camera.read(timeout=timeout) == (False, None)
    assert time.monotonic() - start < timeout / 2, "a read after the end waited"
    assert camera.isOpened()


# -- frames as NumPy arrays ---------------------------------------------------

FORMATS = {
    # format: (shape of a 320x240 frame, dtype)
    "BGR": ((240, 320, 3), np.uint8),
    "RGB": ((240, 320, 3), np.uint8),
    "BGRx": ((240, 320, 4), np.uint8),
    "BGRA": ((240, 320, 4), np.uint8),
    "RGBx": ((240, 320, 4), np.uint8),
    "RGBA": ((240, 320, 4), np.uint8),
    "GRAY8": ((240, 320), np.uint8),
    "GRAY16_LE": ((240, 320), np.uint16),
    "I420": ((360, 320), np.uint8),
    "YV12": ((360, 320), np.uint8),
    "NV12": ((360, 320), np.uint8),
    "NV21": ((360, 320), np.uint8),
}


# Every format capture_options accepts comes out with OpenCV's layout: 3 or 4
# channels last, one channel 2-D, 4:2:0 as h * 3/2 rows; GRAY16_LE as uint16.
@pytest.mark.parametrize("name", sorted(FORMATS))
def test_formats(opened, name):
    shape, dtype = FORMATS[name]
    camera = opened(LIVE, format=name)
    ok, frame = camera.read(timeout=5)
    assert ok, camera.last_error
    assert frame.shape == shape and frame.dtype == dtype
    assert frame.flags.writeable


# Colours land in the channels the format names (a red picture).
@pytest.mark.parametrize("name, red", [("BGR", 2), ("RGB", 0), ("BGRA", 2),
                                       ("RGBx", 0)])
def test_channel_order(opened, name, red):
    camera = opened(live(extra="pattern=red"), format=name)
    ok, frame = camera.read(timeout=5)
    assert ok, camera.last_error
    for channel in range(3):
        mean = frame[:, :, channel].mean()
        assert (mean > 200) if channel == red else (mean < 50), (channel, mean)


# A frame is the frame's own memory: no copy (owndata False, a base holding
# it, stats()['copied'] 0 for BGR), writable, and stays valid after release.
def test_frame_shares_memory(opened):
    camera = opened(LIVE)
    ok, frame = camera.read(timeout=5)
    assert ok, camera.last_error
    assert not frame.flags.owndata
    assert frame.base is not None
    assert camera.stats()["copied"] == 0
    frame[10:20, 10:20] = (1, 2, 3)
    assert (frame[15, 15] == (1, 2, 3)).all()
    view = frame[::2, ::2]
    assert np.shares_memory(view, frame)
    camera.release()
    del camera
    gc.collect()
    assert (view[5:10, 5:10] == (1, 2, 3)).all(), "the frame died with it"
    frame[:] = 0  # still writable memory of ours


# The frames' GStreamer buffers stay counted by latestframe while arrays
# hold them, and are returned when the last array goes.
def test_frames_held_by_arrays_stay_accounted(opened):
    camera = opened(live(caps=",format=BGR"))
    held = []
    for _ in range(4):
        ok, frame = camera.read(timeout=5)
        assert ok, camera.last_error
        held.append(frame[1:, 1:])  # a view keeps it as well as the frame
    size = 240 * 320 * 3
    assert camera.stats()["in_flight_bytes"] >= 4 * size, camera.stats()
    del held, frame
    gc.collect()
    assert camera.read(timeout=5)[0]
    assert camera.stats()["in_flight_bytes"] < 4 * size, camera.stats()


# Rows may be padded: the array's strides are the frame's (322 pixels of
# RGB make 966 bytes, in rows of 968), and every pixel reads right.
def test_padded_rows(opened):
    camera = opened(live(322, 240, extra="pattern=red"), format="RGB")
    ok, frame = camera.read(timeout=5)
    assert ok, camera.last_error
    assert frame.shape == (240, 322, 3)
    assert frame.strides[0] >= 322 * 3 and frame.strides[1:] == (3, 1)
    red = (frame[:, :, 0] > 200) & (frame[:, :, 1] < 50) & (frame[:, :, 2] < 50)
    assert red.all(), "pixels read across the padding"


# OpenCV's 4:2:0 layout has no odd sizes: read refuses such a frame at once
# and says why.
def test_odd_size_420_is_refused(opened):
    camera = opened(live(321, 241), format="I420")
    assert camera.read(timeout=5) == (False, None)
    assert "even" in camera.last_error, camera.last_error


# -- the Python surface -------------------------------------------------------

# cv2.VideoCapture's get() for the size and rate, 0.0 for anything else;
# set() changes nothing and says so; the constants are cv2's.
def test_cv2_get_and_set(opened):
    assert (latestframe.CAP_PROP_FRAME_WIDTH, latestframe.CAP_PROP_FRAME_HEIGHT,
            latestframe.CAP_PROP_FPS) == (3, 4, 5)
    camera = opened(LIVE)
    assert camera.read(timeout=5)[0]
    assert camera.get(latestframe.CAP_PROP_FRAME_WIDTH) == 320.0
    assert camera.get(latestframe.CAP_PROP_FRAME_HEIGHT) == 240.0
    assert camera.get(latestframe.CAP_PROP_FPS) == pytest.approx(30.0)
    assert camera.get(38) == 0.0  # cv2.CAP_PROP_BUFFERSIZE
    assert camera.set(38, 1) is False


# `with` releases the capture on the way out, also on an exception.
def test_context_manager_releases():
    with latestframe.Capture(LIVE) as camera:
        assert camera.isOpened(), camera.last_error
        assert camera.read(timeout=5)[0]
    assert not camera.isOpened() and camera.state == "closed"
    with pytest.raises(ZeroDivisionError):
        with latestframe.Capture(LIVE) as camera:
            1 / 0
    assert not camera.isOpened()


# `for frame, info in camera` yields until the stream ends, and waits
# through reads that time out (one frame every 0.5 s, read_timeout 0.1).
def test_iteration_until_the_end(opened):
    camera = opened(live(64, 64, "2/1", extra="num-buffers=4"),
                    read_timeout=0.1, reconnect=False)
    sequences = [info.sequence for frame, info in camera]
    assert len(sequences) >= 2, sequences
    assert sequences == sorted(set(sequences)), sequences
    assert camera.state == "ended"


# The iteration also ends when another thread releases the capture.
def test_iteration_ends_on_release(opened):
    camera = opened(LIVE)
    count = 0
    for frame, info in camera:
        count += 1
        if count == 3:
            threading.Thread(target=camera.release).start()
    assert count >= 3 and camera.state == "closed"


# Without a source nothing opens; open() opens with the constructor's
# options and its own keywords for that open only; an int is a camera index.
def test_open_later_with_options():
    camera = latestframe.Capture(format="GRAY8")
    assert not camera.isOpened() and camera.state == "closed"
    assert camera.read(timeout=0) == (False, None)
    assert camera.open(LIVE)
    assert camera.read(timeout=5)[1].shape == (240, 320)
    assert camera.open(LIVE, format="RGBA")
    assert camera.read(timeout=5)[1].shape == (240, 320, 4)
    assert camera.open(LIVE)
    assert camera.read(timeout=5)[1].shape == (240, 320)
    assert not camera.open(99, open_timeout=0.5)
    assert camera.last_error and not camera.isOpened()
    assert "closed" in repr(camera)


# Sources and options the capture refuses: no exception (as cv2), a closed
# capture and last_error saying why.
def test_refused_sources_and_options():
    camera = latestframe.Capture("no-such-element-here")
    assert not camera.isOpened()
    assert "no-such-element-here" in camera.last_error
    camera = latestframe.Capture(LIVE, format="YUY2")
    assert not camera.isOpened() and "YUY2" in camera.last_error
    # open() starts from the constructor's options: format is still YUY2.
    assert not camera.open(LIVE, format="BGR", protocols="carrier-pigeon")
    assert "carrier-pigeon" in camera.last_error


# Keywords that do not exist, or values of the wrong type, raise at once, as
# in any Python call.
@pytest.mark.parametrize("options, error", [
    ({"fromat": "BGR"}, TypeError),
    ({"format": 3}, TypeError),
    ({"read_timeout": "10"}, TypeError),
    ({"reconnect": 1}, TypeError),
    ({"memory_budget_bytes": 1.5}, TypeError),
    ({"memory_budget_bytes": -1}, ValueError),
    ({"open_timeout": math.nan}, ValueError),
])
def test_wrong_keywords_raise(options, error):
    with pytest.raises(error):
        latestframe.Capture(LIVE, **options)
    with pytest.raises(error):
        latestframe.Capture().open(LIVE, **options)
    with pytest.raises(TypeError):
        latestframe.Capture(b"bytes are not a source")


# Times are seconds (ints, floats, numpy floats, math.inf), to the ms.
def test_times_in_seconds(opened):
    camera = opened(LIVE, read_timeout=np.float64(2), open_timeout=5,
                    stall_timeout=math.inf, max_age=0.5)
    assert camera.read(timeout=math.inf)[0]
    assert camera.read(timeout=np.float32(1.5))[0]


# The type stubs name exactly what the extension has: every keyword of
# Capture() in the stub is accepted and documented, every name exists.
def test_stubs_match_the_extension():
    tree = ast.parse(open(STUBS).read())
    classes = {node.name: node for node in tree.body
               if isinstance(node, ast.ClassDef)}
    init = next(node for node in classes["Capture"].body
                if isinstance(node, ast.FunctionDef) and node.name == "__init__")
    keywords = [argument.arg for argument in init.args.kwonlyargs]
    assert len(keywords) == 18
    for keyword in keywords:
        assert f"    {keyword}: " in latestframe.Capture.__doc__, keyword
    # Each accepted (values of the stub's types, or one of the names a
    # keyword takes; no source: nothing opens).
    samples = {"str": "", "float": 1.0, "int": 0, "bool": True}
    names = {"decode": "key-units"}
    for argument in init.args.kwonlyargs:
        value = names.get(argument.arg, samples[argument.annotation.id])
        latestframe.Capture(**{argument.arg: value})
    for name in ("Capture", "FrameInfo"):
        for node in classes[name].body:
            if isinstance(node, ast.FunctionDef):
                assert hasattr(getattr(latestframe, name), node.name), node.name
    for node in tree.body:
        if isinstance(node, ast.AnnAssign):
            assert hasattr(latestframe, node.target.id), node.target.id
    assert latestframe.__version__.count(".") == 2


# The package brings its own latestframe element: with no GST_PLUGIN_PATH
# and no installed plugin (see conftest.py), the element a capture uses is
# the one the extension registered, from no plugin file.
def test_the_package_registers_its_own_element(opened):
    camera = opened(LIVE)
    assert camera.read(timeout=5)[0], camera.last_error
    gi = pytest.importorskip("gi")
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    factory = Gst.ElementFactory.find("latestframe")
    assert factory is not None
    plugin = factory.get_plugin()
    assert plugin is None, (
        f"latestframe comes from {plugin.get_filename()}, not the extension")


# -- threads and signals ------------------------------------------------------

# A read waiting in one thread does not hold the GIL: another thread runs
# and its release() ends the read, which returns (False, None).
def test_release_from_another_thread_ends_a_waiting_read(opened):
    camera = opened(live(64, 64, "1/30"))
    assert camera.read(timeout=5)[0]
    reading = threading.Event()
    result = []

    def reader():
        reading.set()
        result.append(camera.read(timeout=60))

    thread = threading.Thread(target=reader)
    thread.start()
    assert reading.wait(10)
    camera.release()
    thread.join(20)
    assert not thread.is_alive(), "the read held on after release()"
    assert result == [(False, None)]


# Two threads reading one capture take turns: between them, no frame twice.
def test_threads_sharing_a_capture_never_get_the_same_frame(opened):
    camera = opened(LIVE)
    sequences = [[], []]

    def reader(mine):
        for _ in range(15):
            frame, info = camera.read_with_info(timeout=5)
            if frame is not None:
                mine.append(info.sequence)

    threads = [threading.Thread(target=reader, args=(s,)) for s in sequences]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    every = sequences[0] + sequences[1]
    assert len(every) == 30 and len(set(every)) == 30, sequences


class Interrupted(Exception):
    pass


# A signal handler runs while read waits (Ctrl-C interrupts it): its
# exception comes out of read, before the next frame (30 s away) came.
def test_signal_interrupts_a_waiting_read(opened):
    camera = opened(live(64, 64, "1/30"))
    assert camera.read(timeout=5)[0]
    received = camera.stats()["received"]

    def interrupt(signum, frame):
        raise Interrupted()

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Interrupted):
            camera.read(timeout=60)
        assert camera.stats()["received"] == received, (
            "the handler ran only once read had returned the next frame")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert camera.isOpened()


# -- against the RTSP test camera ---------------------------------------------

@pytest.fixture
def testcam():
    cameras = []

    def start(*args):
        program = os.environ.get("LATESTFRAME_TESTCAM")
        if not program:
            pytest.skip("no LATESTFRAME_TESTCAM (the RTSP test camera)")
        camera = RtspCamera(program, *args)
        cameras.append(camera)
        return camera

    yield start
    for camera in cameras:
        camera.stop()


# Reconnection for short tests: a stalled or lost camera is noticed in 1 s,
# retried every 0.1 to 0.5 s.
QUICK_RECOVERY = {"protocols": "tcp", "open_timeout": 15, "stall_timeout": 1.0,
                  "backoff_initial": 0.1, "backoff_max": 0.5}


# The test camera halves its size at 3 s (late enough that the first read
# has the first size, however long connecting took) while the reader does
# not read: the decoder's allocation query waits behind the held frame,
# which the capture lets go, so frames keep coming (a deadlock would be
# caught by the watchdog, whose 5 s leave room for the change on a loaded
# machine) and the next read is smaller.
def test_resolution_change_while_busy(opened, testcam):
    server = testcam("--width=320", "--height=240", "--resize-after=3",
                     "--resize=160x120")
    camera = opened(server.url, protocols="tcp", stall_timeout=5.0)
    ok, frame = camera.read(timeout=5)
    assert ok and frame.shape[1] == 320
    # Busy until 100 more frames came: 3.3 s of the camera's, past the resize.
    wait_received(camera, camera.stats()["received"] + 100, 30,
                  "100 frames while busy (upstream stalled)")
    ok, frame = camera.read(timeout=5)
    assert ok and frame.shape[1] == 160, "no frame of the new size"
    stats = camera.stats()
    assert stats["stalls"] == 0 and stats["reconnects"] == 0, str(stats)


# The camera killed (SIGKILL) and restarted on its port 10 times under a
# reading loop: each time the capture reconnects by itself and frames of a
# new connection come.
def test_camera_killed_and_restarted_10_times(opened, testcam):
    server = testcam("--width=320", "--height=240")
    camera = opened(server.url, **QUICK_RECOVERY)
    frame, info = read_until(camera, lambda info: True, 15, "first frame")
    connection = info.connection
    for cycle in range(1, 11):
        server.restart()
        frame, info = read_until(
            camera, lambda info: info.connection > connection, 30,
            f"frame after restart {cycle}")
        assert frame.shape == (240, 320, 3)
        connection = info.connection
    assert camera.stats()["reconnects"] >= 10, camera.stats()
    assert camera.isOpened()


# A camera that stops sending without closing its connection (SIGSTOP): the
# watchdog calls it a stall and the capture reconnects (it counts the stall
# before it tears the connection down: the test waits for both); once the
# camera continues (SIGCONT), frames of a new connection flow.
def test_stall_caught_by_the_watchdog(opened, testcam):
    server = testcam("--width=320", "--height=240")
    camera = opened(server.url, **QUICK_RECOVERY)
    read_until(camera, lambda info: True, 15, "first frame")
    stalls = camera.stats()["stalls"]
    server.signal(signal.SIGSTOP)
    deadline = time.monotonic() + 30
    while camera.stats()["stalls"] <= stalls or camera.state == "streaming":
        assert time.monotonic() < deadline, (
            f"no stall, or no reconnection after it: {camera.state}, "
            f"{camera.stats()}")
        camera.read(timeout=0.5)
    assert camera.state in ("reconnecting", "connecting"), camera.state
    server.signal(signal.SIGCONT)
    frame, info = read_until(camera, lambda info: info.connection > 1, 30,
                             "frame after the stall")
    assert camera.state == "streaming"


# decode="key-units": only the camera's key frames reach the decoder (one in
# ten here); the frames read are whole pictures, and the frames never
# decoded are counted.
def test_key_units_only_are_decoded(opened, testcam):
    server = testcam("--width=320", "--height=240", "--gop=10")
    camera = opened(server.url, protocols="tcp", decode="key-units")
    for _ in range(4):
        read_until(camera, lambda info: True, 15, "a key frame")
    stats = camera.stats()
    assert stats["received"] >= 4, stats
    assert stats["not_decoded"] >= 4 * stats["received"], stats
    assert stats["decode_only"] == 0, stats


# decode="on-demand" paced by analysis_rate: at each tick the newest frame
# and the frames it needs are decoded, those only to be decoded are not
# read.
def test_on_demand_decodes_for_the_newest_frame(opened, testcam):
    server = testcam("--width=320", "--height=240", "--gop=30")
    camera = opened(server.url, protocols="tcp", decode="on-demand",
                    analysis_rate=4.0)
    for _ in range(8):
        read_until(camera, lambda info: True, 15, "a frame")
    stats = camera.stats()
    assert stats["decode_only"] > 0, stats
    assert stats["returned"] <= stats["received"], stats


def test_decode_names_are_checked():
    with pytest.raises(ValueError, match="key-units"):
        latestframe.Capture(decode="keyframes")
    with pytest.raises(ValueError):
        latestframe.Capture(analysis_rate=-1.0)


# Analysing in the pipeline from Python: the same capture option as C++'s.
# latestframe pushes every frame it hands over into the fragment (counted
# as pushed); read() has none and says so; a fragment that does not parse
# fails opening with GStreamer's reason.
def test_analysis_in_the_pipeline():
    with latestframe.Capture(LIVE, analysis="identity", open_timeout=10) as camera:
        assert camera.isOpened(), camera.last_error
        wait_received(camera, 10, 30, "10 frames analysed in the pipeline")
        ok, frame = camera.read(timeout=1)
        assert not ok and frame is None
        assert "analysis" in camera.last_error
        stats = camera.stats()
        assert stats["pushed"] > 0
        assert stats["received"] == stats["pushed"] + stats["dropped"] + stats["held_frames"]
    camera = latestframe.Capture()
    assert not camera.open(LIVE, analysis="cvnosuchanalysis")
    assert "cvnosuchanalysis" in camera.last_error


# -- camera credentials -------------------------------------------------------

# Every character a password may need to carry: the URI's own delimiters,
# the escape character and a space.
AWKWARD_PASSWORD = "p@ss:w/rd#50% x"
UNREADABLE = ("the user part of the URI cannot be read: percent-encode it "
              "(@ as %40, : as %3A, / as %2F, # as %23, % as %25, space as "
              "%20) or give the username and password options")


def with_user_part(url, user, password):
    from urllib.parse import quote
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{rest}"


# The camera asks for basic authentication: frames come with the password
# given as options (as it is) and as a percent-encoded user part of the
# URI; without it, or with a wrong one, open fails, and no last_error ever
# holds the password.
def test_credentials_as_options_or_in_the_uri(opened, testcam):
    server = testcam("--width=160", "--height=120", "--user=viewer",
                     f"--password={AWKWARD_PASSWORD}")
    as_options = opened(server.url, protocols="tcp", open_timeout=15,
                        username="viewer", password=AWKWARD_PASSWORD)
    assert as_options.read()[0]
    encoded = with_user_part(server.url, "viewer", AWKWARD_PASSWORD)
    assert "%40" in encoded and "%25" in encoded and "%20" in encoded
    in_uri = opened(encoded, protocols="tcp", open_timeout=15)
    assert in_uri.read()[0]
    for source, options in [
            (server.url, {}),
            (server.url, {"username": "viewer", "password": "wrong"}),
            (with_user_part(server.url, "viewer", AWKWARD_PASSWORD + "x"), {})]:
        refused = latestframe.Capture(source, protocols="tcp", open_timeout=3,
                                      reconnect=False, **options)
        assert not refused.isOpened()
        assert refused.last_error
        assert AWKWARD_PASSWORD not in refused.last_error
        assert "p%40ss" not in refused.last_error
        refused.release()


# A raw password the URI cannot carry, and credentials given twice, are
# refused before any connection, in words that show no password.
def test_unreadable_or_doubled_credentials_are_refused():
    raw = latestframe.Capture("rtsp://admin:p@ss/w#rd@127.0.0.1:1/cam")
    assert not raw.isOpened()
    assert raw.last_error == UNREADABLE
    doubled = latestframe.Capture("rtsp://admin:s3cret@127.0.0.1:1/cam",
                                  username="admin", password="s3cret")
    assert not doubled.isOpened()
    assert "s3cret" not in doubled.last_error
    assert "give one or the other" in doubled.last_error
    not_rtsp = latestframe.Capture(LIVE, username="admin", password="s3cret")
    assert not not_rtsp.isOpened()
    assert "RTSP sources only" in not_rtsp.last_error
