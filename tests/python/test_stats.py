"""latestframe's figures read from Python through PyGObject: the `stats`
property (a Gst.Structure), the read-only properties, and the stats bus
message. Exits non-zero on any failure."""
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

FIELDS = ["received", "pushed", "dropped", "dropped-overflow", "dropped-age",
          "dropped-budget", "dropped-bytes", "current-level-buffers",
          "current-level-bytes", "in-flight-buffers", "in-flight-bytes",
          "peak-bytes", "age-p50", "age-p95", "age-max",
          "memory-budget", "memory-budget-bytes", "memory-budget-used"]


def main():
    Gst.init(None)
    pipeline = Gst.parse_launch(
        # A live source: 15 frames last 0.5 s, fifty stats intervals.
        "videotestsrc is-live=true num-buffers=15 "
        "! video/x-raw,width=64,height=48,framerate=30/1 "
        "! latestframe name=latest stats-interval=10 memory-budget=python "
        "memory-budget-bytes=1000000 ! identity sleep-time=50000 "
        "! fakesink enable-last-sample=true")
    latest = pipeline.get_by_name("latest")
    pipeline.set_state(Gst.State.PLAYING)
    bus = pipeline.get_bus()
    stats_messages = 0
    while True:
        message = bus.timed_pop_filtered(
            60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR | Gst.MessageType.ELEMENT)
        assert message is not None, "no EOS within 60 s"
        assert message.type != Gst.MessageType.ERROR, message.parse_error()
        if message.type == Gst.MessageType.EOS:
            break
        structure = message.get_structure()
        if structure is not None and structure.get_name() == "latestframe-stats":
            stats_messages += 1
    assert stats_messages > 0, "no latestframe-stats message"

    stats = latest.get_property("stats")
    assert stats.get_name() == "latestframe-stats", stats.get_name()
    missing = [field for field in FIELDS if not stats.has_field(field)]
    assert not missing, f"missing fields: {missing}"
    received = stats.get_value("received")
    pushed = stats.get_value("pushed")
    dropped = stats.get_value("dropped")
    assert received == 15, received
    assert received == pushed + dropped, (received, pushed, dropped)
    assert stats.get_value("memory-budget") == "python"
    # The sink's last sample keeps one frame alive.
    assert latest.get_property("in-flight-buffers") == 1
    assert latest.get_property("dropped") == dropped
    assert latest.get_property("peak-bytes") >= 64 * 48
    pipeline.set_state(Gst.State.NULL)
    assert latest.get_property("in-flight-buffers") == 0
    print(f"ok: received {received}, pushed {pushed}, dropped {dropped}, "
          f"{stats_messages} stats messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
