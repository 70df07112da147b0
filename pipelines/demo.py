#!/usr/bin/python3
"""Live demo of latestframe: a live 30 fps source read by a consumer that
takes 100 ms a frame. Prints one line a second: frames the source produced,
frames the consumer analysed, frames dropped, the memory latestframe is
responsible for (held, in flight downstream, peak), and the age of the newest analysed frame when its analysis started (pipeline
clock now minus the frame's running time). Stops on Ctrl-C or after --duration seconds with a summary.

Run it through ./pipelines/demo.sh, which installs and builds what is
missing first."""
import argparse
import signal
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=0,
                        help="stop after this many seconds (default: run until Ctrl-C)")
    parser.add_argument("--analysis-ms", type=int, default=100,
                        help="time the stand-in analysis takes per frame (ms)")
    parser.add_argument("--fps", type=int, default=30, help="source frame rate")
    parser.add_argument("--leaky", default="downstream", choices=["downstream", "upstream", "no"],
                        help="latestframe's leaky mode (no = behave like a blocking queue)")
    return parser.parse_args()


class Counters:
    def __init__(self):
        self.received = 0
        self.analysed = 0
        self.discont = 0
        self.ages_ms = []


def main():
    args = parse_args()
    Gst.init(None)
    if Gst.ElementFactory.find("latestframe") is None:
        print("error: the latestframe plugin is not found; run ./pipelines/demo.sh, "
              "or set GST_PLUGIN_PATH to the build directory", file=sys.stderr)
        return 2

    description = (
        f"videotestsrc is-live=true pattern=ball "
        f"! video/x-raw,format=I420,width=640,height=480,framerate={args.fps}/1 "
        f"! latestframe name=latest leaky={args.leaky} "
        f"! identity name=analysis sleep-time={args.analysis_ms * 1000} "
        f"! fakesink name=sink sync=false")
    pipeline = Gst.parse_launch(description)
    latest = pipeline.get_by_name("latest")
    counters = Counters()

    def on_received(_pad, _info):
        counters.received += 1
        return Gst.PadProbeReturn.OK

    def on_analysed(pad, info):
        buffer = info.get_buffer()
        counters.analysed += 1
        if buffer.has_flags(Gst.BufferFlags.DISCONT):
            counters.discont += 1
        clock = pipeline.get_clock()
        segment_event = pad.get_sticky_event(Gst.EventType.SEGMENT, 0)
        if clock and segment_event and buffer.pts != Gst.CLOCK_TIME_NONE:
            segment = segment_event.parse_segment()
            running_time = segment.to_running_time(Gst.Format.TIME, buffer.pts)
            now = clock.get_time() - pipeline.get_base_time()
            counters.ages_ms.append((now - running_time) / 1e6)
        return Gst.PadProbeReturn.OK

    latest.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_received)
    # The age is taken where the analysis starts: how old the frame it works on is.
    pipeline.get_by_name("analysis").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_analysed)

    loop = GLib.MainLoop()
    outcome = {"code": 0}

    def on_message(_bus, message):
        if message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            print(f"error from {message.src.get_name()}: {error.message}\n{debug}", file=sys.stderr)
            outcome["code"] = 1
            loop.quit()
        elif message.type == Gst.MessageType.EOS:
            loop.quit()

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)

    started = time.monotonic()
    last = {"received": 0, "analysed": 0, "t": started}

    def report():
        now = time.monotonic()
        span = max(now - last["t"], 1e-6)
        stats = latest.get_property("stats")
        held = stats.get_value("current-level-buffers")
        ages = counters.ages_ms[-10:]
        age = f"{ages[-1]:6.1f} ms" if ages else "     - "
        print(f"t={now - started:5.1f}s  source {(counters.received - last['received']) / span:5.1f} fps"
              f"  analysed {(counters.analysed - last['analysed']) / span:5.1f} fps"
              f"  dropped {stats.get_value('dropped'):5d}"
              f"  memory: held {held} ({stats.get_value('current-level-bytes') // 1024} KiB)"
              f" + in flight {stats.get_value('in-flight-buffers')}"
              f" ({stats.get_value('in-flight-bytes') // 1024} KiB),"
              f" peak {stats.get_value('peak-bytes') // 1024} KiB"
              f"  newest analysed frame age {age}", flush=True)
        last.update(received=counters.received, analysed=counters.analysed, t=now)
        if args.duration and now - started >= args.duration:
            loop.quit()
            return False
        return True

    GLib.timeout_add(1000, report)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, lambda: loop.quit() or False)
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        print("error: the pipeline would not start", file=sys.stderr)
        return 1
    loop.run()
    stats = latest.get_property("stats")
    pipeline.set_state(Gst.State.NULL)

    elapsed = time.monotonic() - started
    ages = sorted(counters.ages_ms)
    p50 = ages[len(ages) // 2] if ages else float("nan")
    p95 = ages[min(len(ages) - 1, int(len(ages) * 0.95))] if ages else float("nan")
    print(f"summary: {elapsed:.1f} s; latestframe received {stats.get_value('received')} frames, "
          f"pushed {stats.get_value('pushed')}, dropped {stats.get_value('dropped')} "
          f"(overflow {stats.get_value('dropped-overflow')}, age {stats.get_value('dropped-age')}, "
          f"budget {stats.get_value('dropped-budget')}, flush {stats.get_value('dropped-flush')}); "
          f"peak memory held + in flight {stats.get_value('peak-bytes') // 1024} KiB; "
          f"age of analysed frames p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    if outcome["code"] == 0 and counters.analysed == 0:
        print("error: no frame reached the analysis", file=sys.stderr)
        return 1
    return outcome["code"]


if __name__ == "__main__":
    sys.exit(main())
