"""latestframe_capture (the Python capture) on local live sources: the
newest frame, never twice; timeouts; formats; max_age_ms; stats; the end of
a stream; errors. Exits non-zero on any failure."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "src", "capture", "python"))
import latestframe_capture  # noqa: E402
from latestframe_capture import Capture  # noqa: E402

LIVE = ("videotestsrc is-live=true pattern=ball "
        "! video/x-raw,width=320,height=240,framerate=30/1")


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def test_newest_frame_never_twice():
    # A reader slower than the source: newest frames, increasing sequence
    # numbers and timestamps, every frame either returned or skipped.
    camera = Capture(LIVE)
    check(camera.isOpened(), camera.last_error)
    last = None
    reads = skipped = 0
    for _ in range(10):
        frame, info = camera.read_with_info(timeout=5)
        check(frame is not None, "no frame")
        check(frame.shape == (240, 320, 3), frame.shape)
        check(frame.flags.writeable, "frame not writable")
        if last is not None:
            check(info.sequence > last.sequence, "a frame returned twice")
            check(info.pts_ns > last.pts_ns, "timestamps went back")
        last = info
        reads += 1
        skipped += info.skipped
        time.sleep(0.1)
    stats = camera.stats()
    check(reads + skipped == last.sequence, (reads, skipped, last.sequence))
    check(skipped > reads, "a 100 ms reader of 30 fps skipped too few")
    check(stats["returned"] == reads and stats["skipped"] == skipped, stats)
    check(stats["received"] >= last.sequence, stats)
    check(stats["state"] == "streaming", stats)
    camera.release()
    check(not camera.isOpened(), "open after release")
    check(camera.read(timeout=0.1) == (False, None), "read after release")


def test_timeout_when_nothing_newer():
    # One frame every 2 s: a short read times out, a long one gets the next.
    camera = Capture("videotestsrc is-live=true "
                     "! video/x-raw,width=64,height=64,framerate=1/2")
    check(camera.isOpened(), camera.last_error)
    ok, _ = camera.read(timeout=5)
    check(ok, "no first frame")
    start = time.monotonic()
    ok, frame = camera.read(timeout=0.2)
    waited = time.monotonic() - start
    check(not ok and frame is None, "a frame came within 0.2 s")
    check(0.2 <= waited < 1.5, f"waited {waited:.3f} s")
    ok, _ = camera.read(timeout=5)
    check(ok, "the next frame never came")
    camera.release()


def test_gray_and_max_age():
    # GRAY8 frames are 2-D. At 5 fps a reader taking 230 ms per frame finds
    # the newest frame a little older at each read (30, 60, ... 180 ms);
    # with max_age_ms=15 read waits for a new one instead: all are young.
    camera = Capture("videotestsrc is-live=true "
                     "! video/x-raw,width=320,height=240,framerate=5/1",
                     format="GRAY8", max_age_ms=15)
    check(camera.isOpened(), camera.last_error)
    for _ in range(6):
        frame, info = camera.read_with_info(timeout=5)
        check(frame is not None and frame.shape == (240, 320), "gray frame")
        age_ms = (time.monotonic() - info.received) * 1000
        check(age_ms < 100, f"frame {age_ms:.1f} ms old")
        time.sleep(0.23)
    camera.release()


def test_end_of_stream():
    # A live source that ends: read says so at once, state is "ended".
    camera = Capture("videotestsrc is-live=true num-buffers=10 "
                     "! video/x-raw,width=64,height=64,framerate=30/1")
    check(camera.isOpened(), camera.last_error)
    reads = 0
    while reads <= 10:
        ok, _ = camera.read(timeout=5)
        if not ok:
            break
        reads += 1
    check(1 <= reads <= 10, f"{reads} reads")
    check(camera.state == "ended", camera.state)
    camera.release()


def test_resolution_change_while_busy():
    # The test camera halves its size at 1.5 s while the reader sleeps: the
    # decoder's allocation query waits behind the held frame, which the
    # capture lets go, so frames keep coming and the next read is smaller.
    program = os.environ.get("LATESTFRAME_TESTCAM")
    if not program:
        print("skip test_resolution_change_while_busy: no LATESTFRAME_TESTCAM")
        return
    camera_process = subprocess.Popen(
        [program, "--port=0", "--width=320", "--height=240",
         "--resize-after=1.5", "--resize=160x120"],
        stdout=subprocess.PIPE, text=True)
    try:
        url = camera_process.stdout.readline().strip()
        camera = Capture(url, protocols="tcp")
        check(camera.isOpened(), camera.last_error)
        ok, frame = camera.read(timeout=5)
        check(ok and frame.shape[1] == 320, "first frame")
        time.sleep(3)
        received = camera.stats()["received"]
        check(received > 60, f"{received} frames in 3 s: upstream stalled")
        ok, frame = camera.read(timeout=5)
        check(ok and frame.shape[1] == 160, "no frame of the new size")
        camera.release()
    finally:
        camera_process.terminate()
        camera_process.wait()


def test_errors():
    camera = Capture("no-such-element-here")
    check(not camera.isOpened(), "opened a bad description")
    check("no-such-element-here" in camera.last_error, camera.last_error)
    try:
        Capture(LIVE, format="YUY2")
        check(False, "YUY2 accepted")
    except ValueError:
        pass


def main():
    tests = [test_newest_frame_never_twice, test_timeout_when_nothing_newer,
             test_gray_and_max_age, test_end_of_stream,
             test_resolution_change_while_busy, test_errors]
    failed = 0
    for test in tests:
        try:
            test()
            print(f"ok {test.__name__}")
        except Exception as error:  # report every test, then fail
            failed += 1
            print(f"FAIL {test.__name__}: {error!r}")
    print(f"module {latestframe_capture.__file__}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
