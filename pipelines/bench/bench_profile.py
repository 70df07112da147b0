"""Where a camera's CPU and memory go in latestframe-service (issue 27):
the service as bench_service.py runs it (its configuration, the test
camera's out-of-phase streams, the local broker), at a few camera counts,
and over each measured window:

1. CPU by stage: `perf record -e cpu-clock -p PID` over the window, then
   `perf report --sort comm,dso`. The samples are given to a stage two
   ways: by the library they ran in (a stage's own libraries only; shared
   code, libc, GLib, GStreamer's core and the kernel, kept apart), and by
   the thread that ran them (shared code to the stage of its thread: most
   of the receive path's time is hand-over between threads, in shared
   code). In % of the service's samples.
2. Threads: how many, the straight line through the counts, and each
   thread name per camera and per process, from /proc/PID/task.
3. RSS by kind, from /proc/PID/smaps at the window's end: malloc's
   arenas, the main heap, thread stacks, big anonymous blocks (malloc's
   mmap'd chunks: frames), libraries; and each kind's slope per camera.
4. Heap by owner: the service run again under `heaptrack -o FILE` at two
   counts (--heap-cameras) and killed (SIGKILL) at the window's end, so
   that what `heaptrack_print --print-leaks` lists is what it held then,
   each allocation stack given to the owner of the leaf-most frame that
   names one (the receive path, the decoder's pools, its copy in
   finish_frame, libavcodec, the parsers, the analysis, latestframe); the
   thread stacks beside them from those runs' smaps, as in 3; the slope per
   camera. (The heap's peak moves with the moment it falls on, now that
   frames come and go: a moment at the window's end is the same for
   every run.)

perf is skipped, saying why, only when it cannot record here (not
installed, or the kernel refuses); heaptrack only when --heap-cameras is
"none". Writes service-profile.md and .json, the perf data, smaps and
heaptrack files to --out, prints the tables, and with --publish writes
them into docs/benchmarks.md (section 7.3). Exits non-zero when a table
could not be made: a camera did not stream or analysed less than half its
rate, perf or heaptrack failed, a /proc file could not be read.

  bench_profile.py --service PROGRAM --testcam PROGRAM [--cameras 1,32]
                   [--heap-cameras 4,8|none] [--seconds 15] [--warmup 5]
                   [--rate 1] [--decode key-units]
                   [--analyses "cvmotion analysis-width=320"]
                   [--width 1280 --height 720 --fps 30] [--out DIR]
"""
import argparse
import collections
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import bench_service  # noqa: E402  (beside this file; puts pipelines/lib on the path)
from bench_service import fit  # noqa: E402
import publish  # noqa: E402

SECTION = "7-profile"
MIB = 2**20

# What each thread of the service works for: its stage in the CPU table
# (the shared code it runs is given to that stage) and what the threads
# table says it is. Thread names as /proc and perf show them, digits
# written as '#'; the first pattern that matches decides.
THREADS = [
    (r"^task#", "receive", "rtspsrc's TCP receive task (RTP interleaved in RTSP)"),
    (r"^rtpjitterbuffer", "receive",
     "the jitter buffer's push task: depayloader, parsebin's h264parse, the gate's admit"),
    (r"^timer", "receive", "the jitter buffer's timer thread"),
    (r"^rtpsession", "receive", "rtpsession's RTCP thread"),
    (r"^gate:src", "decoder",
     "the gate's push thread (latestframe before the decoder): decodebin and avdec_h264, "
     "which decodes on it (max-threads=1 behind the gate; a libavcodec worker thread "
     "would take this name too)"),
    (r"^latest:src", "analysis",
     "the reader latestframe's push thread: videoconvert, cvmotion, mqttpublish, fakesink"),
    (r"^latestframe-ser", "service",
     "main thread, each camera's supervisor, the MQTT network thread "
     "(std::thread and libmosquitto keep the process's name)"),
    (r"^gmain", "service", "GLib's main-context thread"),
    (r"^pool", "service", "GLib's thread pool (the HTTP server)"),
    (r"^dconf", "service", "GSettings' dconf worker"),
]

# A stage's own libraries (perf's dso column); the first that matches
# decides. Everything else is shared code.
LIBRARIES = [
    ("receive", r"libgstrtsp|libgstrtp|libgio|libgstnet|libgsttcp|libgstudp|"
                r"libgstvideoparsersbad|libgstcodecparsers|libgstplayback"),
    ("analysis", r"libopencv|libgstlatestframecv|libgstvideoconvert|libgstvideo-1\.0|liborc"),
    ("MQTT", r"mosquitto|libgstlatestframemqtt|libssl|libcrypto"),
    ("latestframe", r"libgstlatestframe\.so|liblatestframe-capture"),
    ("decoder", r"libavcodec|libavutil|libgstlibav|libswscale"),
    ("service", r"^latestframe-service$"),
]

STAGES = {
    "receive": "receive path (rtspsrc, rtpbin, jitter buffer, depayloader, parsers, GIO)",
    "latestframe": "latestframe (elements and capture library)",
    "decoder": "decoder (libavcodec, gst-libav)",
    "analysis": "analysis (cvmotion, OpenCV MOG2, videoconvert)",
    "MQTT": "MQTT (mqttpublish, libmosquitto)",
    "service": "service (its program; by thread: main loop, supervisors, MQTT, HTTP)",
    "other threads": "other threads",
    "shared": "shared code: libc, GLib, GObject, GStreamer core",
    "kernel": "shared code: kernel",
}

# Heap owners: a stack whose text matches a whole-stack rule goes to it;
# otherwise the leaf-most frame matching a frame rule decides (the first
# rule that matches that frame).
HEAP_STACK_RULES = [
    ("startup", r"gst_update_registry|_dl_init|call_init|dl_open|gst_plugin_load"
                r"|gst_init|g_option_context_parse|dlopen"),
    ("decoder copy", r"gst_mini_object_make_writable[\s\S]*gst_video_decoder_finish_frame"),
]
HEAP_FRAME_RULES = [
    ("analysis", r"motion_detector|gst_cv_analysis|libgstlatestframecv|libopencv|cv::"),
    ("decoder pools", r"gst_video_decoder|libgstlibav|gst_ffmpegviddec"),
    ("libavcodec", r"libavcodec|libavutil|\bav_|\bff_"),
    ("videoconvert", r"videoconvert|gst_video_converter"),
    ("parsers", r"videoparsersbad|gst_base_parse|gst_h264_|h264_nal|codecparsers"),
    ("receive", r"libgstrtsp|libgstrtp|rtpmanager|rtp_jitter|rtpbin|libgio|gst_rtsp"),
    ("MQTT", r"mosquitto|mqtt|libssl|libcrypto"),
    ("latestframe", r"libgstlatestframe\.so|liblatestframe-capture|latestframe::"),
    ("service", r"latestframe-service"),
]
OWNERS = {
    "receive": "receive (rtspsrc, RTP buffers, jitter buffer)",
    "decoder pools": "decoder: gst-libav's buffer pools",
    "decoder copy": "decoder: copy in gst_video_decoder_finish_frame (make_writable)",
    "libavcodec": "decoder: libavcodec internal (contexts, picture tables)",
    "parsers": "parsers (h264parse, parsebin)",
    "analysis": "analysis (cvmotion: OpenCV MOG2's model)",
    "videoconvert": "videoconvert",
    "latestframe": "latestframe",
    "MQTT": "MQTT",
    "service": "service (configuration, HTTP, supervisors)",
    "startup": "start-up and static (plugin registry, library init)",
    "other": "other",
    "unlisted": "smaller sites heaptrack_print does not list",
}
# The owners issue 27 asks about: in the table even when they hold nothing
# at the window's end (the decoder's copy is held only while a frame is).
ASKED_OWNERS = {"receive", "decoder pools", "decoder copy", "libavcodec", "parsers",
                "analysis", "latestframe"}


def thread_name(comm):
    return re.sub(r"\d+", "#", comm.strip())


def thread_stage(name):
    return next((stage for pattern, stage, _ in THREADS if re.search(pattern, name)),
                "other threads")


def thread_names(pid):
    """{name: how many} of the live process `pid`'s threads."""
    names = collections.Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            names[thread_name((task / "comm").read_text())] += 1
        except OSError:
            continue  # gone meanwhile
    return dict(names)


def perf_unusable():
    """Why perf cannot record here, or None when it can."""
    if not shutil.which("perf"):
        return "perf is not installed (Debian's linux-perf; ./pipelines/bench-profile.sh installs it)"
    with tempfile.TemporaryDirectory(prefix="latestframe-perf-probe-") as folder:
        try:
            probe = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-o",
                                    f"{folder}/probe.data", "--", "true"],
                                   capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"perf record did not run: {error}"
    if probe.returncode != 0:
        said = [line.strip() for line in (probe.stderr + probe.stdout).splitlines() if line.strip()]
        return f"perf record fails here (status {probe.returncode}): " + " / ".join(said[:3])
    return None


def perf_samples(data):
    """Samples of a perf.data by (thread name, library): {(name, dso): samples}."""
    report = subprocess.run(
        ["perf", "report", "-i", str(data), "--no-children", "--sort", "comm,dso",
         "-F", "sample,comm,dso", "--stdio", "-t", ";", "--percent-limit", "0"],
        capture_output=True, text=True, check=True)
    samples = collections.Counter()
    for line in report.stdout.splitlines():
        fields = [field.strip() for field in line.split(";")]
        if line.startswith("#") or len(fields) != 3 or not fields[0].isdigit():
            continue
        samples[(thread_name(fields[1]), fields[2])] += int(fields[0])
    return samples


def stage_shares(samples):
    """{"own": {stage: %}, "by_thread": {stage: %}, "threads": {name: %},
    "samples": n}: % of all the service's samples."""
    total = sum(samples.values())
    own, by_thread, threads = (collections.Counter() for _ in range(3))
    for (name, dso), count in samples.items():
        share = 100 * count / total
        threads[name] += share
        stage = next((s for s, pattern in LIBRARIES if re.search(pattern, dso)), None)
        if stage:
            own[stage] += share
            by_thread[stage] += share
        else:
            own["kernel" if "kernel" in dso else "shared"] += share
            by_thread[thread_stage(name)] += share
    return {"own": dict(own), "by_thread": dict(by_thread), "threads": dict(threads),
            "samples": total}


SMAPS_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s*(.*)$")
# glibc's non-main arenas are heaps of HEAP_MAX_SIZE (64 MiB on 64-bit)
# aligned to their size.
ARENA_ALIGN = 64 * MIB

KINDS = {
    "arenas": "malloc arenas (non-main, 64 MiB heaps)",
    "big": "anonymous blocks of 1 MiB or more (malloc's mmap'd chunks: frames)",
    "heap": "[heap] (main arena)",
    "stacks": "thread stacks (resident pages)",
    "small": "other anonymous",
    "files": "file-backed (libraries)",
}


def rss_by_kind(smaps):
    """Resident KiB of a /proc/PID/smaps text by kind (KINDS)."""
    maps = []
    for line in smaps.splitlines():
        header = SMAPS_HEADER.match(line)
        if header:
            maps.append({"start": int(header.group(1), 16), "end": int(header.group(2), 16),
                         "perms": header.group(3), "name": header.group(4).strip(), "rss": 0})
        elif line.startswith("Rss:") and maps:
            maps[-1]["rss"] = int(line.split()[1])
    kinds = collections.Counter({kind: 0 for kind in KINDS})
    for previous, mapping in zip([None] + maps, maps):
        size, name = mapping["end"] - mapping["start"], mapping["name"]
        # A thread's stack: read-write, right above its guard page(s).
        after_guard = (previous is not None and previous["perms"].startswith("---")
                       and previous["end"] == mapping["start"]
                       and previous["end"] - previous["start"] <= 64 << 10)
        if name.startswith("/"):
            kind = "files"
        elif name == "[heap]":
            kind = "heap"
        elif name == "[stack]":
            kind = "stacks"
        elif name.startswith("[") or mapping["perms"].startswith("---"):
            kind = "small"  # [vdso], [vvar]; reserves hold nothing resident
        elif mapping["start"] % ARENA_ALIGN == 0:
            kind = "arenas"
        elif after_guard and 64 << 10 <= size <= 16 * MIB:
            kind = "stacks"
        elif size >= MIB:
            kind = "big"
        else:
            kind = "small"
        kinds[kind] += mapping["rss"]
    return dict(kinds)


def heaptrack_output(prefix):
    """The file heaptrack -o `prefix` wrote (it appends .zst or .gz)."""
    found = sorted(Path(prefix).parent.glob(Path(prefix).name + ".*"))
    return found[0] if found else None


HEAP_AMOUNT = {"B": 1, "K": 1e3, "M": 1e6, "G": 1e9}


def heap_by_owner(leaks):
    """Bytes by owner (OWNERS) still held when the service was killed, from
    `heaptrack_print --print-leaks` text (every listed stack of every
    allocating function: they add up to what was held); and heaptrack's
    own total of it."""
    owners = collections.Counter()
    amount, stack = None, []
    held = None

    def settle():
        if amount is None:
            return
        text = "\n".join(stack)
        owner = next((o for o, pattern in HEAP_STACK_RULES if re.search(pattern, text)), None)
        for frame in stack:
            if owner:
                break
            owner = next((o for o, pattern in HEAP_FRAME_RULES if re.search(pattern, frame)), None)
        owners[owner or "other"] += amount

    for line in leaks.splitlines():
        total = re.match(r"^total memory leaked: ([\d.]+)([BKMG])", line)
        if total:
            held = float(total.group(1)) * HEAP_AMOUNT[total.group(2)]
        # An allocating function's header ("... calls from", then its name)
        # is not a site: its stacks below it are, each "... calls from:".
        site = re.match(r"^\s{0,2}([\d.]+)([BKMG]) leaked over \d+ calls from:$", line)
        if site:
            settle()
            amount, stack = float(site.group(1)) * HEAP_AMOUNT[site.group(2)], []
            continue
        if re.match(r"^\S", line):  # a site's header, a section's title
            settle()
            amount, stack = None, []
            continue
        rest = re.match(r"^\s+and ([\d.]+)([BKMG]) from \d+ other places", line)
        if rest:
            settle()
            amount, stack = None, []
            owners["unlisted"] += float(rest.group(1)) * HEAP_AMOUNT[rest.group(2)]
            continue
        if amount is not None and line.strip():
            stack.append(line.strip())
    settle()
    return dict(owners), held


class Window:
    """What the profile takes of one service over its measured window:
    perf records it from the start (when `perf_data` is given), and at its
    end, while the service still runs, its threads and smaps are read;
    then, with `kill_at_end`, the service is killed where it stands (under
    heaptrack: what it held then is what heaptrack calls leaked)."""

    def __init__(self, smaps_file, perf_data=None, kill_at_end=False):
        self.smaps_file, self.perf_data = smaps_file, perf_data
        self.kill_at_end = kill_at_end
        self.found = {}

    @contextlib.contextmanager
    def __call__(self, pid):
        perf = None
        if self.perf_data:
            # perf would keep an earlier run's file as .old.
            self.perf_data.unlink(missing_ok=True)
            perf = subprocess.Popen(
                ["perf", "record", "-q", "-e", "cpu-clock", "--no-buildid-cache",
                 "-o", str(self.perf_data), "-p", str(pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            yield
            try:
                self.found["threads"] = thread_names(pid)
                smaps = Path(f"/proc/{pid}/smaps").read_text()
                self.smaps_file.write_text(smaps)
                self.found["rss_kib"] = rss_by_kind(smaps)
            except OSError as error:
                self.found["error"] = f"reading /proc/{pid}: {error}"
            if self.kill_at_end:
                os.kill(pid, signal.SIGKILL)
        finally:
            if perf:
                perf.send_signal(signal.SIGINT)
                try:
                    _, said = perf.communicate(timeout=120)
                except subprocess.TimeoutExpired:
                    perf.kill()
                    _, said = perf.communicate()
                # perf record ends on SIGINT by raising it again once its
                # file is written.
                if perf.returncode not in (0, -signal.SIGINT):
                    self.found["perf_error"] = (f"perf record exited {perf.returncode}: "
                                                + said.strip()[-300:])


def profile_run(args, count, urls, broker, ages, camera, workdir, record_cpu):
    """The service with `count` cameras, profiled over its window."""
    out = Path(args.out)
    window = Window(out / f"smaps-{count}.txt", out / f"perf-{count}.data" if record_cpu else None)
    row = bench_service.run_service(args, count, urls, broker, ages, camera, workdir,
                                    window=window)
    row.update({**window.found, **row})  # the run's own error first
    if record_cpu and "error" not in row and "perf_error" not in row:
        try:
            row["cpu"] = stage_shares(perf_samples(window.perf_data))
        except subprocess.CalledProcessError as error:
            row["perf_error"] = f"perf report failed: {error.stderr.strip()[-300:]}"
        if "cpu" in row and not row["cpu"]["samples"]:
            row["perf_error"] = "perf recorded no sample of the service"
    return row


def heap_run(args, count, urls, broker, ages, camera, workdir):
    """The service with `count` cameras under heaptrack, its heap by owner
    at the window's end (and its thread stacks from its smaps then)."""
    folder = Path(args.out) / "heaptrack"
    folder.mkdir(exist_ok=True)
    prefix = folder / f"heaptrack-{count}"
    for old in folder.glob(prefix.name + ".*"):
        old.unlink()
    heap_args = argparse.Namespace(**{**vars(args), "out": str(folder)})
    window = Window(folder / f"smaps-{count}.txt", kill_at_end=True)
    row = bench_service.run_service(heap_args, count, urls, broker, ages, camera, workdir,
                                    wrap=["heaptrack", "-o", str(prefix)], window=window)
    row.update({**window.found, **row})
    if "error" in row:
        return row
    data = heaptrack_output(prefix)
    if not data:
        row["heap_error"] = f"heaptrack wrote no {prefix}.*"
        return row
    printed = subprocess.run(
        ["heaptrack_print", "-f", str(data), "--print-leaks", "1", "--peak-limit", "1000",
         "--sub-peak-limit", "1000", "--print-peaks", "0", "--print-allocators", "0",
         "--print-temporary", "0"],
        capture_output=True, text=True)
    (folder / f"held-{count}.txt").write_text(printed.stdout)
    owners, held = heap_by_owner(printed.stdout)
    if printed.returncode != 0 or not owners:
        row["heap_error"] = (f"heaptrack_print found nothing held in {data.name}: "
                             + printed.stderr.strip()[-300:])
        return row
    row.update(heap=owners, heap_held=held)
    return row


def per_camera(counts, values):
    """The slope of `values` against `counts` (least squares)."""
    return fit(counts, values)[1]


def cameras(count):
    return f"{count} camera{'s' if count != 1 else ''}"


def number(value, digits=1):
    """`value` with `digits` decimals, never "-0.0"."""
    text = f"{value:.{digits}f}"
    return text[1:] if text.lstrip("-0.") == "" and text.startswith("-") else text


def count_text(value):
    """A fitted count of threads: 8, 0.5, 5.33."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def cpu_tables(rows):
    counts = [r["cameras"] for r in rows]
    head = " | ".join(f"{cameras(n)}: own libraries | {cameras(n)}: by thread"
                      for n in counts)
    lines = [f"| stage | {head} |", "| --- |" + " ---: | ---: |" * len(rows)]
    for stage, label in STAGES.items():
        own = [r["cpu"]["own"].get(stage) for r in rows]
        by_thread = [r["cpu"]["by_thread"].get(stage) for r in rows]
        if not any(own) and not any(by_thread):
            continue
        cells = " | ".join(f"{number(o) if o is not None else '–'} | "
                           f"{number(t) if t is not None else '–'}"
                           for o, t in zip(own, by_thread))
        lines.append(f"| {label} | {cells} |")
    lines.append("| service CPU, % of one core (samples) | " + " | ".join(
        f"{r['cpu_percent']:.1f} ({r['cpu']['samples']}) | " for r in rows) + "|")
    names = sorted({n for r in rows for n in r["cpu"]["threads"]},
                   key=lambda n: -max(r["cpu"]["threads"].get(n, 0) for r in rows))
    names = [n for n in names if max(r["cpu"]["threads"].get(n, 0) for r in rows) >= 0.5]
    thread_lines = ["| thread (all of that name) | " + " | ".join(
        f"{cameras(n)} %" for n in counts) + " |",
                    "| --- |" + " ---: |" * len(rows)]
    for name in names:
        thread_lines.append(f"| `{name}` | " + " | ".join(
            number(r["cpu"]["threads"].get(name, 0)) for r in rows) + " |")
    return lines, thread_lines


def thread_table(rows):
    counts = [r["cameras"] for r in rows]
    totals = [sum(r["threads"].values()) for r in rows]
    base, slope = fit(counts, totals)
    lines = ["| cameras | " + " | ".join(map(str, counts)) + " |",
             "| --- |" + " ---: |" * len(rows),
             "| threads | " + " | ".join(map(str, totals)) + " |",
             "", f"Fit: threads = {base:.1f} + {slope:.2f} x N.", "",
             "| thread | " + " | ".join(f"at {n}" for n in counts)
             + " | per camera | per process | what it is |",
             "| --- |" + " ---: |" * len(rows) + " ---: | ---: | --- |"]
    names = sorted({n for r in rows for n in r["threads"]},
                   key=lambda n: -max(r["threads"].get(n, 0) for r in rows))
    for name in names:
        found = [r["threads"].get(name, 0) for r in rows]
        intercept, each = fit(counts, found)
        what = next((w for pattern, _, w in THREADS if re.search(pattern, name)), "")
        lines.append(f"| `{name}` | " + " | ".join(map(str, found))
                     + f" | {count_text(each)} | {count_text(intercept)} | {what} |")
    return lines


def rss_table(rows):
    counts = [r["cameras"] for r in rows]
    lines = ["| kind | " + " | ".join(f"{cameras(n)} MiB" for n in counts)
             + " | per camera MiB |", "| --- |" + " ---: |" * (len(rows) + 1)]
    for kind, label in KINDS.items():
        values = [r["rss_kib"][kind] / 1024 for r in rows]
        lines.append(f"| {label} | " + " | ".join(number(v) for v in values)
                     + f" | {number(per_camera(counts, values), 2)} |")
    totals = [sum(r["rss_kib"].values()) / 1024 for r in rows]
    lines.append("| total (smaps at the window's end) | " + " | ".join(number(v) for v in totals)
                 + f" | {number(per_camera(counts, totals), 2)} |")
    peaks = [r["rss_mib"] for r in rows]
    lines.append("| RSS, highest in the window (statm) | " + " | ".join(number(v) for v in peaks)
                 + f" | {number(per_camera(counts, peaks), 2)} |")
    return lines


def heap_table(rows):
    counts = [r["cameras"] for r in rows]
    lines = ["| owner | " + " | ".join(f"{cameras(n)} MiB" for n in counts) + " | per camera MiB |",
             "| --- |" + " ---: |" * (len(rows) + 1)]

    def row(label, values):
        lines.append(f"| {label} | " + " | ".join(number(v, 2) for v in values)
                     + f" | {number(per_camera(counts, values), 2)} |")
    for owner, label in OWNERS.items():
        values = [r["heap"].get(owner, 0) / MIB for r in rows]
        if owner in ASKED_OWNERS or max(values) >= 0.05:
            row(label, values)
    row("thread stacks (smaps, as in the RSS table; not heap)",
        [r["rss_kib"]["stacks"] / 1024 for r in rows])
    row("**heap at the window's end** (the owners above, not the stacks)",
        [sum(r["heap"].values()) / MIB for r in rows])
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bench_service.add_service_arguments(parser, cameras="1,32", seconds=15, warmup=5)
    parser.add_argument("--heap-cameras", default="4,8",
                        help='two counts run under heaptrack, or "none"')
    parser.add_argument("--out", default="out/bench-profile")
    publish.add_arguments(parser, "./pipelines/bench-profile.sh")
    parser.set_defaults(page=False, page_cameras=[])  # what run_service asks of bench_service's args
    args = parser.parse_args()
    counts = [int(n) for n in args.cameras.split(",")]
    heap_counts = ([] if args.heap_cameras == "none"
                   else [int(n) for n in args.heap_cameras.split(",")])
    if len(counts) < 2 or len(heap_counts) not in (0, 2):
        raise SystemExit("--cameras: two counts or more; --heap-cameras: two, or none")
    if heap_counts and not shutil.which("heaptrack"):
        raise SystemExit("--heap-cameras: heaptrack is not installed (./pipelines/bench-profile.sh "
                         "installs it; --heap-cameras none runs without)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    no_perf = perf_unusable()
    if no_perf:
        print(f"CPU by stage skipped: {no_perf}", file=sys.stderr)

    rows, heap_rows = [], []
    with bench_service.broker_and_cameras(args, mounts=max(counts + heap_counts)) as (
            broker, ages, camera), \
            tempfile.TemporaryDirectory(prefix="latestframe-bench-profile-") as folder:
        for count in counts:
            rows.append(profile_run(args, count, camera.urls[:count], broker, ages, camera,
                                    Path(folder), record_cpu=not no_perf))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "rss_kib"}),
                  flush=True)
        for count in heap_counts:
            heap_rows.append(heap_run(args, count, camera.urls[:count], broker, ages,
                                      camera, Path(folder)))
            print(json.dumps({k: v for k, v in heap_rows[-1].items() if k != "rss_kib"}),
                  flush=True)

    failures = []
    for row in rows:
        n = row["cameras"]
        for key in ("error", "perf_error"):
            if key in row:
                failures.append(f"{n} cameras: {row[key]}")
        if "error" not in row and row["analysed_min"] < 0.5 * args.rate:
            failures.append(f"{n} cameras: a camera analysed {row['analysed_min']:.2f}/s")
    for row in heap_rows:
        for key in ("error", "heap_error"):
            if key in row:
                failures.append(f"{row['cameras']} cameras under heaptrack: {row[key]}")
    good = [r for r in rows if "error" not in r and "rss_kib" in r]
    with_cpu = [r for r in good if "cpu" in r]
    good_heap = [r for r in heap_rows if "heap" in r and "rss_kib" in r]

    header = bench_service.run_header(args, bench_service.OUT_OF_PHASE)
    table = [header, ""]
    if no_perf:
        table += [f"CPU by stage: not measured ({no_perf}).", ""]
    elif len(with_cpu) == len(rows):
        stages, threads = cpu_tables(with_cpu)
        table += ["CPU by stage, % of the service's `cpu-clock` samples over the window "
                  "(`perf record -p`). Own libraries: a stage's libraries only, shared code "
                  "apart. By thread: shared code given to the stage of the thread that ran it.",
                  "", *stages, "", "CPU by thread name, % of the service's samples:", "",
                  *threads, ""]
    if len(good) == len(rows):
        table += ["Threads, from /proc/PID/task at the window's end (digits in names as #); "
                  "per camera and per process: the straight line through the counts.", "",
                  *thread_table(good), "",
                  "Resident memory by kind, from /proc/PID/smaps at the window's end:", "",
                  *rss_table(good), ""]
    if heap_counts and len(good_heap) == len(heap_rows):
        table += ["Heap by owner: the service under `heaptrack` (its own cameras, the same "
                  "configuration), killed at the window's end: what each allocation stack "
                  "held then (`heaptrack_print --print-leaks`), given to the owner of its "
                  "leaf-most frame that names one:", "", *heap_table(good_heap), ""]
    elif not heap_counts:
        table += ["Heap by owner: not measured (--heap-cameras none).", ""]
    text = "\n".join(table)
    (out / "service-profile.md").write_text(text)
    (out / "service-profile.json").write_text(
        json.dumps({"rows": rows, "heap_rows": heap_rows, "perf_skipped": no_perf},
                   indent=1) + "\n")
    print(text)
    for failure in failures:
        print(f"no table from it: {failure}", file=sys.stderr)
    if args.publish:
        if failures:
            print("not published: a table is missing", file=sys.stderr)
        else:
            publish.publish(SECTION, table, args.command, args.publish)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
