"""latestframe's figures read from Python through PyGObject: the `stats`
property (a Gst.Structure), the read-only properties, and the stats bus
message."""
from gi.repository import Gst

FIELDS = ["received", "pushed", "dropped", "dropped-overflow", "dropped-age",
          "dropped-budget", "dropped-bytes", "current-level-buffers",
          "current-level-bytes", "in-flight-buffers", "in-flight-bytes",
          "peak-bytes", "age-p50", "age-p95", "age-max",
          "memory-budget", "memory-budget-bytes", "memory-budget-used"]


# 15 live frames into a consumer slower than them, to EOS: stats messages
# were posted, the stats structure has every documented field, its counts
# add up (received == pushed + dropped), and the read-only properties agree
# with it; the frame the sink's last sample keeps is in flight until the
# pipeline stops.
def test_stats_structure_properties_and_message(run_to_eos):
    pipeline, messages = run_to_eos(
        # A live source: 15 frames last 0.5 s, fifty stats intervals.
        "videotestsrc is-live=true num-buffers=15 "
        "! video/x-raw,width=64,height=48,framerate=30/1 "
        "! latestframe name=latest stats-interval=10 memory-budget=python "
        "memory-budget-bytes=1000000 ! identity sleep-time=50000 "
        "! fakesink enable-last-sample=true", deadline_s=60)
    stats_messages = sum(s.get_name() == "latestframe-stats" for s in messages)
    assert stats_messages > 0, "no latestframe-stats message"

    latest = pipeline.get_by_name("latest")
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
    print(f"received {received}, pushed {pushed}, dropped {dropped}, "
          f"{stats_messages} stats messages")
