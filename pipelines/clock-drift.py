#!/usr/bin/python3
"""Whether frame age stays true over a long run: reads the RTSP test camera
(or --uri) over TCP through latestframe with a slow consumer, and every
--sample seconds takes latestframe's own figures: its age by the camera's
capture time (age-p95, age-from=auto) and, beside it, the age by the
frame's running time as the receiver set it (timestamp-age-p95). Prints a
line per minute and a summary comparing the first minute with the last:
the capture age should stay flat while the running-time age may drift (the
receiver's timestamps drift against the sender's clock over
TCP-interleaved RTP).

    clock-drift.py --uri rtsp://127.0.0.1:8554/cam --minutes 5

Exits 1 when no frame carried a capture time, or (with --check) when the
capture age's p95 of the last minute is more than 2 ms from the first's."""
import argparse
import math
import statistics
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--sample", type=float, default=2.0,
                        help="seconds between samples (default 2)")
    parser.add_argument("--check", action="store_true",
                        help="fail when the capture age is not flat")
    args = parser.parse_args()

    Gst.init(None)
    pipeline = Gst.parse_launch(
        f"rtspsrc location={args.uri} protocols=tcp latency=0 "
        "add-reference-timestamp-meta=true ! application/x-rtp,media=video "
        "! decodebin ! latestframe name=latest ! identity sleep-time=50000 "
        "! fakesink sync=false")
    latest = pipeline.get_by_name("latest")
    samples = []  # (seconds since start, capture p95 ms, running-time p95 ms)
    loop = GLib.MainLoop()
    started = time.monotonic()
    outcome = {"error": None}

    def sample():
        stats = latest.get_property("stats")
        elapsed = time.monotonic() - started
        if stats.get_value("capture-time-frames") > 0:
            samples.append((elapsed, stats.get_value("age-p95") / 1e6,
                            stats.get_value("timestamp-age-p95") / 1e6))
        if elapsed >= args.minutes * 60:
            loop.quit()
            return False
        return True

    def on_message(_bus, message):
        if message.type == Gst.MessageType.ERROR:
            error, _ = message.parse_error()
            outcome["error"] = f"{message.src.get_name()}: {error.message}"
            loop.quit()

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    GLib.timeout_add(int(args.sample * 1000), sample)
    pipeline.set_state(Gst.State.PLAYING)
    loop.run()
    stats = latest.get_property("stats")
    pipeline.set_state(Gst.State.NULL)
    if outcome["error"]:
        print(f"error: {outcome['error']}", file=sys.stderr)
        return 1
    if not samples:
        print("error: no frame carried a capture time", file=sys.stderr)
        return 1

    # Per minute (or per the whole run when shorter): the median of the
    # samples' p95s, each a window of latestframe's recent frames.
    span = min(60.0, args.minutes * 60)
    last_index = max(0, math.ceil(args.minutes * 60 / span) - 1)
    minutes = {}
    for elapsed, capture, running in samples:
        # The last sample, taken as the run ends, belongs to its last span.
        index = min(int(elapsed // span), last_index)
        minutes.setdefault(index, []).append((capture, running))
    rows = []
    for index in sorted(minutes):
        values = minutes[index]
        capture = statistics.median(v[0] for v in values)
        running = statistics.median(v[1] for v in values)
        rows.append((index, capture, running))
        print(f"{index * span:5.0f}-{(index + 1) * span:4.0f} s: age p95 by capture time {capture:6.2f} ms, "
              f"by running time {running:6.2f} ms ({len(values)} samples)")
    first, last = rows[0], rows[-1]
    change = last[1] - first[1]
    print(f"summary: {args.minutes:g} min over TCP; {stats.get_value('capture-time-frames')} of "
          f"{stats.get_value('received')} frames with a capture time; age p95 by capture time "
          f"{first[1]:.2f} -> {last[1]:.2f} ms ({change:+.2f}), by running time "
          f"{first[2]:.2f} -> {last[2]:.2f} ms ({last[2] - first[2]:+.2f})")
    if args.check and abs(change) > 2.0:
        print("error: the capture age moved more than 2 ms", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
