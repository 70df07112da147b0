"""The analysis elements' results read from Python (PyGObject with the
python3-gst-1.0 overrides, which read GstValueList): cvmotion's element
messages carry motion regions on vtest.avi. Exits non-zero on failure."""
import os
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def main():
    Gst.init(None)
    data = os.environ.get("LATESTFRAME_SAMPLE_DATA", "/usr/share/doc/opencv-doc/examples/data")
    pipeline = Gst.parse_launch(
        f"filesrc location={data}/vtest.avi ! decodebin ! videoconvert "
        "! video/x-raw,format=GRAY8 ! cvmotion analysis-width=384 ! fakesink sync=false")
    pipeline.set_state(Gst.State.PLAYING)
    bus = pipeline.get_bus()
    messages = regions = 0
    while True:
        message = bus.timed_pop_filtered(
            120 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR | Gst.MessageType.ELEMENT)
        assert message is not None, "no EOS within 120 s"
        assert message.type != Gst.MessageType.ERROR, message.parse_error()
        if message.type == Gst.MessageType.EOS:
            break
        structure = message.get_structure()
        if structure.get_name() != "cvmotion":
            continue
        messages += 1
        for detection in structure.get_value("detections"):
            assert detection.get_value("label") == "motion"
            assert 0 <= detection.get_value("x") < 768
            assert detection.get_value("width") > 0
            regions += 1
    pipeline.set_state(Gst.State.NULL)
    assert messages > 100, messages
    assert regions > messages // 2, (regions, messages)
    print(f"ok: {messages} cvmotion messages, {regions} motion regions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
