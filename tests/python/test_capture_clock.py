"""Frame age from the camera's own clock, end to end: the RTSP test camera
sends its capture times (RTCP sender reports, RFC 6051 NTP-64), rtspsrc
add-reference-timestamp-meta=true turns them into reference timestamp metas
that survive depayloading, parsing and decoding, and latestframe ages frames
from them (age-from=auto). The pixel stamps stay the ground truth.

Run by meson test (python/plugins) with GST_PLUGIN_PATH at the build's
plugins and LATESTFRAME_TESTCAM at the test camera (see conftest.py).
Waits are for events, bounded by generous deadlines that only fail a test
when nothing comes; ages are compared with times read around the very call
that measured them, never with a bound."""
import os
import statistics
import subprocess
import sys
import time

import gi
import pytest

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import Gst, GstVideo  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "pipelines"))
import stamps  # noqa: E402

# How far the camera's capture time may lie from its pixel stamp (ms), at
# the median: both are read from this host's clocks by the camera.
CAPTURE_TIME_TOLERANCE_MS = 1.0


@pytest.fixture
def camera(testcam_program):
    """Starts test cameras with the options given; stops them after."""
    started = []

    def start(*options):
        process = subprocess.Popen([testcam_program, "--port=0", "--width=640",
                                    "--height=360", *options],
                                   stdout=subprocess.PIPE, text=True)
        started.append(process)
        url = process.stdout.readline().strip()
        assert url.startswith("rtsp://"), f"the camera said {url!r}"
        return url

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def reader_pipeline(url, protocols, extra=""):
    pipeline = Gst.parse_launch(
        f"rtspsrc location={url} protocols={protocols} latency=0 "
        "add-reference-timestamp-meta=true ! application/x-rtp,media=video "
        "! rtph264depay ! h264parse ! avdec_h264 "
        f"! latestframe name=latest delivery=on-request {extra}")
    pipeline.set_state(Gst.State.PLAYING)
    return pipeline, pipeline.get_by_name("latest")


def stamp_of(sample):
    """The pixel stamp (CLOCK_MONOTONIC ns) of an I420 frame, or None."""
    buffer, caps = sample.get_buffer(), sample.get_caps()
    structure = caps.get_structure(0)
    width, height = structure.get_value("width"), structure.get_value("height")
    meta = GstVideo.buffer_get_video_meta(buffer)
    stride = meta.stride[0] if meta else (width + 3) // 4 * 4
    ok, info = buffer.map(Gst.MapFlags.READ)
    assert ok
    try:
        offset = meta.offset[0] if meta else 0
        return stamps.read(info.data[offset:], stride, width, height)
    finally:
        buffer.unmap(info)


@pytest.mark.parametrize("protocols", ["tcp", "udp"])
def test_frames_carry_their_capture_time(camera, protocols):
    # Every frame after the first that carries a capture time carries one,
    # and the element's age by it is the pixel stamps' age at the moment of
    # the hand-over: between the stamps' ages read just before and just
    # after the call that took the frame (at the median, within the
    # tolerance between capture time and stamp), however long the call took.
    url = camera()
    pipeline, latest = reader_pipeline(url, protocols)
    try:
        element_ages, ages_before, ages_after, offsets = [], [], [], []
        first_with, frames_after, with_capture = None, 0, 0
        deadline = time.monotonic() + 60
        while len(element_ages) < 60:
            assert time.monotonic() < deadline, (
                f"{len(element_ages)} frames with a capture time in 60 s: "
                f"{latest.get_property('stats')}")
            before_mono = time.monotonic_ns()
            sample = latest.emit("try-pull-frame", Gst.SECOND)
            after_mono = time.monotonic_ns()
            after_real = time.time_ns()
            if sample is None:
                continue
            info = sample.get_info()
            captured = info.has_field("capture-time")
            if captured and first_with is None:
                first_with = info.get_value("sequence")
            if first_with is None:
                continue
            frames_after += 1
            if not captured:
                continue
            with_capture += 1
            stamp = stamp_of(sample)
            if stamp is None:
                continue
            element_ages.append(info.get_value("age") / 1e6)
            ages_before.append((before_mono - stamp) / 1e6)
            ages_after.append((after_mono - stamp) / 1e6)
            # The capture time against the stamp, on the wall clock.
            offsets.append((info.get_value("capture-time")
                            - (stamp + after_real - after_mono)) / 1e6)
            time.sleep(0.05)  # a slower reader: frames wait in latestframe
        stats = latest.get_property("stats")
    finally:
        pipeline.set_state(Gst.State.NULL)
    assert with_capture >= 0.99 * frames_after, (with_capture, frames_after)
    # Element age minus stamp age: at most 0 against the age read after the
    # call, at least 0 against the one read before, plus the offset of the
    # capture time from the stamp.
    above_after = statistics.median(
        e - a for e, a in zip(element_ages, ages_after))
    below_before = statistics.median(
        e - b for e, b in zip(element_ages, ages_before))
    print(f"{protocols}: first frame with a capture time #{first_with}; "
          f"{with_capture}/{frames_after} after it; age p50 element "
          f"{statistics.median(element_ages):.2f} ms, pixel stamps "
          f"{statistics.median(ages_before):.2f} ms before the call and "
          f"{statistics.median(ages_after):.2f} ms after it; capture time - "
          f"stamp p50 {statistics.median(offsets):.3f} ms")
    assert above_after <= CAPTURE_TIME_TOLERANCE_MS, (
        f"the element's age exceeds the stamps' after the call by "
        f"{above_after:.3f} ms at the median")
    assert below_before >= -CAPTURE_TIME_TOLERANCE_MS, (
        f"the element's age falls short of the stamps' before the call by "
        f"{-below_before:.3f} ms at the median")
    assert stats.get_value("capture-time-frames") >= with_capture
    assert stats.get_value("age-from") == "auto"
    assert not stats.get_value("capture-clock-fallback")


@pytest.mark.parametrize("offset_ms", [5000, -5000])
def test_a_camera_clock_out_of_step_is_warned_and_not_used(camera, offset_ms):
    url = camera(f"--clock-offset={offset_ms}")
    pipeline, latest = reader_pipeline(url, "tcp")
    bus = pipeline.get_bus()
    try:
        message = bus.timed_pop_filtered(60 * Gst.SECOND,
                                         Gst.MessageType.WARNING
                                         | Gst.MessageType.ERROR)
        assert message is not None, "no warning in 60 s"
        assert message.type == Gst.MessageType.WARNING, message.parse_error()
        assert message.src == latest
        error, debug = message.parse_warning()
        side = "ahead of" if offset_ms > 0 else "behind"
        assert f"{side} this host's" in debug, debug
        sample = latest.emit("try-pull-frame", 10 * Gst.SECOND)
        assert sample is not None
        assert not sample.get_info().has_field("capture-time")
        stats = latest.get_property("stats")
        assert stats.get_value("capture-clock-fallback")
        assert stats.get_value("capture-time-frames") == 0
    finally:
        pipeline.set_state(Gst.State.NULL)
