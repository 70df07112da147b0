#!/usr/bin/python3
"""latestframe live demo: an RTSP camera analysed on the newest frame.

Without --uri it starts the bundled test camera (latestframe-testcam)
playing OpenCV's vtest.avi (people walking) at 30 fps. The pipeline is
rtspsrc -> decode -> latestframe -> videoconvert -> cvmotion ->
cvpeopledetect -> cvoverlay. Once a second it prints the frames received,
analysed and dropped, the age of the analysed frames (p50/p95, read from the
capture time stamped in their pixels), the memory latestframe holds and has
in flight, and the detections; it writes the newest annotated frame to a
JPEG. Ctrl-C or --duration ends it with a summary. Headless.

Run it through ./pipelines/demo.sh, which installs and builds what is
missing first."""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstVideo  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stamps  # noqa: E402

SAMPLE_DATA = os.environ.get("LATESTFRAME_SAMPLE_DATA", "/usr/share/doc/opencv-doc/examples/data")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uri", help="an RTSP camera (default: start the bundled test camera)")
    parser.add_argument("--duration", type=float, default=0, help="stop after S seconds (default: Ctrl-C)")
    parser.add_argument("--jpeg", default="latestframe-demo.jpg",
                        help="where to write the newest annotated frame every second "
                        "(empty: nowhere)")
    parser.add_argument("--protocols", default="tcp", choices=["tcp", "udp"], help="RTSP transport")
    parser.add_argument("--analysis-width", type=int, default=384,
                        help="width the people detector analyses at (pixels; 0 = native)")
    parser.add_argument("--json", help="also write the final figures here as JSON "
                        "(latestframe's counts by drop reason, frames analysed; with "
                        "GST_TRACERS=leaks, the objects still alive once the pipeline is gone)")
    return parser.parse_args()


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


class AgeHistogram:
    """Ages of every analysed frame in 0.1 ms bins up to 10 s (older ones in
    the last): percentiles of a run of any length in constant memory, so
    that an hour-long soak measures latestframe's memory, not this list."""

    BIN_MS = 0.1
    BINS = 100000

    def __init__(self):
        self.counts = [0] * self.BINS
        self.total = 0

    def add(self, age_ms):
        self.counts[min(self.BINS - 1, max(0, int(age_ms / self.BIN_MS)))] += 1
        self.total += 1

    def percentile(self, fraction):
        if not self.total:
            return float("nan")
        rank = min(self.total - 1, int(self.total * fraction))
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen > rank:
                return (index + 0.5) * self.BIN_MS
        return self.BINS * self.BIN_MS


def start_camera():
    """Starts the bundled test camera on a free port; returns (process, url)."""
    program = os.environ.get("LATESTFRAME_TESTCAM") or shutil.which("latestframe-testcam")
    if not program:
        sys.exit("error: latestframe-testcam not found; run ./pipelines/demo.sh")
    video = os.path.join(SAMPLE_DATA, "vtest.avi")
    if not os.path.exists(video):
        sys.exit(f"error: {video} is missing (Debian package opencv-doc)")
    camera = subprocess.Popen([program, "--port=0", f"--file={video}", "--width=768", "--height=576"],
                              stdout=subprocess.PIPE, text=True)
    url = camera.stdout.readline().strip()
    if not url.startswith("rtsp://"):
        camera.kill()
        sys.exit("error: the test camera did not start")
    return camera, url


class Figures:
    def __init__(self):
        self.analysed = 0
        self.ages = AgeHistogram()  # all analysed frames
        self.recent_ages = []   # since the last status line
        self.people = 0         # in the newest analysed frame
        self.people_total = 0
        self.motion = False


def main():
    args = parse_args()
    Gst.init(None)
    for element in ("latestframe", "cvmotion", "cvpeopledetect", "cvoverlay"):
        if Gst.ElementFactory.find(element) is None:
            print(f"error: the {element} element is not found; run ./pipelines/demo.sh, "
                  "or set GST_PLUGIN_PATH to the build directory", file=sys.stderr)
            return 2

    camera = None
    url = args.uri
    if not url:
        camera, url = start_camera()
        print(f"test camera: {url} (vtest.avi, 768x576@30)", flush=True)
    try:
        return run(args, url)
    finally:
        if camera:
            camera.terminate()
            camera.wait()


def run(args, url):

    pipeline = Gst.parse_launch(
        f"rtspsrc location={url} latency=0 protocols={args.protocols} "
        "add-reference-timestamp-meta=true ! decodebin "
        "! latestframe name=latest ! videoconvert ! video/x-raw,format=BGR "
        f"! cvmotion name=motion ! cvpeopledetect name=people analysis-width={args.analysis_width} "
        "! cvoverlay ! fakesink name=sink sync=false enable-last-sample=true")
    latest = pipeline.get_by_name("latest")
    sink = pipeline.get_by_name("sink")
    figures = Figures()

    def on_analysis_start(pad, info):
        # The frame leaving latestframe is the one the analysis works on now.
        age = stamps.age_ms(info.get_buffer(), pad.get_current_caps())
        if age is not None:
            figures.ages.add(age)
            figures.recent_ages.append(age)
        figures.analysed += 1
        return Gst.PadProbeReturn.OK

    latest.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_analysis_start)

    loop = GLib.MainLoop()
    outcome = {"code": 0}

    def on_message(_bus, message):
        if message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            print(f"error: {message.src.get_name()}: {error.message}\n{debug}", file=sys.stderr)
            outcome["code"] = 1
            loop.quit()
        elif message.type == Gst.MessageType.EOS:
            print("the camera ended the stream", file=sys.stderr)
            loop.quit()
        elif message.type == Gst.MessageType.ELEMENT:
            structure = message.get_structure()
            if structure.get_name() == "cvpeopledetect":
                figures.people = len(structure.get_value("detections"))
                figures.people_total += figures.people
            elif structure.get_name() == "cvmotion":
                figures.motion = structure.get_value("motion")

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)

    started = time.monotonic()
    jpeg_caps = Gst.Caps.from_string("image/jpeg")

    def write_jpeg():
        sample = sink.get_property("last-sample") if args.jpeg else None
        if sample is None:
            return
        jpeg = GstVideo.video_convert_sample(sample, jpeg_caps, 5 * Gst.SECOND)
        ok, info = jpeg.get_buffer().map(Gst.MapFlags.READ)
        if ok:
            with open(args.jpeg + ".tmp", "wb") as out:
                out.write(bytes(info.data))
            jpeg.get_buffer().unmap(info)
            os.replace(args.jpeg + ".tmp", args.jpeg)

    def element_age_source(stats):
        # What latestframe's own ages ran from: the camera's capture time
        # (rtspsrc add-reference-timestamp-meta=true) once frames carry it.
        if stats.get_value("capture-time-frames") > 0:
            return "capture time"
        return stats.get_value("age-from")

    def report():
        now = time.monotonic() - started
        stats = latest.get_property("stats")
        recent = figures.recent_ages
        figures.recent_ages = []
        print(f"t={now:5.1f}s  received {stats.get_value('received'):5d}  analysed {figures.analysed:4d}"
              f"  dropped {stats.get_value('dropped'):5d}"
              f"  age p50 {percentile(recent, 0.5):6.1f} ms p95 {percentile(recent, 0.95):6.1f} ms"
              f" (latestframe, {element_age_source(stats)}: p50 {stats.get_value('age-p50') / 1e6:5.1f}"
              f" p95 {stats.get_value('age-p95') / 1e6:5.1f})"
              f"  memory held {stats.get_value('current-level-bytes') // 1024} KiB"
              f" + in flight {stats.get_value('in-flight-bytes') // 1024} KiB"
              f"  people {figures.people}  motion {'yes' if figures.motion else 'no'}", flush=True)
        try:
            write_jpeg()
        except (GLib.Error, OSError) as error:
            print(f"warning: cannot write {args.jpeg}: {getattr(error, 'message', error)}", file=sys.stderr)
        if args.duration and now >= args.duration:
            loop.quit()
            return False
        return True

    GLib.timeout_add(1000, report)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, lambda: loop.quit() or False)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, lambda: loop.quit() or False)
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        print("error: the pipeline would not start", file=sys.stderr)
        outcome["code"] = 1
    else:
        loop.run()
    stats = latest.get_property("stats")
    pipeline.set_state(Gst.State.NULL)
    # Nothing of the pipeline is kept past here (write_json may ask the leaks
    # tracer what is still alive).
    bus.remove_signal_watch()
    pipeline = latest = sink = bus = jpeg_caps = None

    elapsed = time.monotonic() - started
    print(f"summary: {elapsed:.1f} s; received {stats.get_value('received')} frames, "
          f"analysed {figures.analysed}, dropped {stats.get_value('dropped')} "
          f"(overflow {stats.get_value('dropped-overflow')}, age {stats.get_value('dropped-age')}, "
          f"budget {stats.get_value('dropped-budget')}, flush {stats.get_value('dropped-flush')}); "
          f"age of analysed frames p50 {figures.ages.percentile(0.5):.1f} ms, "
          f"p95 {figures.ages.percentile(0.95):.1f} ms ({figures.ages.total} stamps read), "
          f"at latestframe's hand-over by the camera's capture time p50 "
          f"{stats.get_value('age-p50') / 1e6:.1f} ms, p95 {stats.get_value('age-p95') / 1e6:.1f} ms "
          f"({stats.get_value('capture-time-frames')} frames with a capture time); "
          f"peak memory {stats.get_value('peak-bytes') // 1024} KiB; "
          f"{figures.people_total} people boxes; newest frame: {args.jpeg}")
    if args.json:
        write_json(args.json, stats, figures, elapsed)
    if outcome["code"] == 0 and figures.analysed == 0:
        print("error: no frame reached the analysis", file=sys.stderr)
        return 1
    return outcome["code"]


def write_json(path, stats, figures, elapsed):
    """The run's figures in the fault matrix's terms (pipelines/faults.sh)."""
    dropped = {}
    for index in range(stats.n_fields()):
        name = stats.nth_field_name(index)
        if name.startswith("dropped-") and not name.endswith("-bytes"):
            dropped[name[len("dropped-"):]] = stats.get_value(name)
    figures_json = {
        "seconds": round(elapsed, 1),
        "received": stats.get_value("received"), "pushed": stats.get_value("pushed"),
        "held": stats.get_value("current-level-buffers"), "dropped": dropped,
        "analysed": figures.analysed,
        "age_p50_ms": figures.ages.percentile(0.5), "age_p95_ms": figures.ages.percentile(0.95),
    }
    if "leaks" in os.environ.get("GST_TRACERS", ""):
        import leaks  # beside stamps
        figures_json["leaks_alive"] = leaks.alive()
    with open(path, "w") as out:
        json.dump(figures_json, out)


if __name__ == "__main__":
    sys.exit(main())
