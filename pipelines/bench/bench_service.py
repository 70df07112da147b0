"""How many cameras one latestframe-service process carries: the service
with N cameras of the RTSP test camera at a given analysis rate, its CPU
and resident memory measured over a window once every camera streams,
for each N.

The cameras are out of phase by default: one test camera serves N mounts
(--mounts) whose key units are spread over the GOP and whose frames are
spread over the frame interval, as N real cameras' are. --in-phase: one
stream shared by N RTSP sessions, every key frame arriving at the same
instant (the bench before issue 27).

--page (issue 26): each service is measured twice, one window after the
other: with nobody looking, then with the status page (GET /) open in
headless chromium, a window tall enough for every tile (the tiles in
view are counted). Reports the service's CPU, the snapshots it encoded
per second and the bytes in flight per camera in both; chromium's own
CPU apart. Fails if anything was encoded with no page open.

--rounds R: the counts measured R times in turn (1, 48, 1, 48, ...) and
each count's windows pooled, so that the shared host's noise of the
moment falls on every count alike rather than on one.

--peer ffmpeg (issue 27): after each service run, the same N cameras as N
`ffmpeg -skip_frame nokey ... -vf fps=1 -f null -` processes, their CPU
and RSS summed, side by side with the service.

Prints Markdown tables, writes them (and the rows as JSON) to --out, and
fits the sizing rule: CPU = a + b N (% of one core), RSS = c + d N (MiB),
by least squares. Exits non-zero if a camera did not stream or analysed
less than half its rate.

  bench_service.py --service PROGRAM --testcam PROGRAM [--cameras 1,4,8,16]
                   [--seconds 30] [--warmup 10] [--rate 1] [--decode key-units]
                   [--analyses "cvmotion analysis-width=320"] [--in-phase]
                   [--page [--page-cameras 1,8]] [--peer ffmpeg] [--on-request]
                   [--rounds R] [--width 1280 --height 720 --fps 30] [--out DIR]
"""
import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import headless_chromium  # noqa: E402
from live_servers import (MqttBroker, RtspCamera, free_port, metric,  # noqa: E402
                          scrape_metrics)
import publish  # noqa: E402  (beside this file)

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
# What docs/benchmarks.md calls each kind of run: its section's markers.
SECTIONS = {"density": "7", "page": "7-page", "peer": "7-peer",
            "on-request": "7-on-request", "also-analyses": "7-also-analyses"}
# How the cameras of a run are served, unless --in-phase.
OUT_OF_PHASE = ("N streams, key units spread over the GOP and frames over the frame interval "
                "(latestframe-testcam --mounts=N)")


def cpu_seconds(pid):
    """User and system CPU seconds of `pid`; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime: fields 14 and 15; the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * PAGE / 2**20
    except OSError:
        return 0.0


def descendants(pid):
    """Every live process below `pid` (chromium's, below chromedriver)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class WindowAges:
    """Each camera's frame ages inside the measured window, from the
    detections messages on the broker (their `age_ms`: capture to
    publication). The service's own age quantiles cover its last 256
    analyses, which at one a second reach back into the start-up."""

    def __init__(self, broker):
        import paho.mqtt.client as mqtt
        self.lock = threading.Lock()
        self.ages = None  # None: not in a window
        self.client = mqtt.Client()
        self.client.on_message = self.on_message
        self.client.on_connect = lambda client, *_: client.subscribe(
            "latestframe/+/detections", qos=0)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def on_message(self, _client, _userdata, message):
        payload = json.loads(message.payload)
        with self.lock:
            if self.ages is not None:
                self.ages.setdefault(payload["camera"], []).append(payload.get("age_ms"))

    def start(self):
        with self.lock:
            self.ages = {}

    def stop(self):
        """{camera: [age ms, ...]} since start()."""
        with self.lock:
            ages, self.ages = self.ages, None
        return ages or {}

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def p95(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)] if ordered else 0.0


def per_camera(text, name, ids):
    return [metric(text, name, camera=c) or 0.0 for c in ids]


def median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


def fit(xs, ys):
    """Least squares y = a + b x."""
    n = len(xs)
    if n < 2:
        return ys[0] if ys else 0.0, 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    return my - b * mx, b


def stop(process, pid=None):
    """SIGTERM to `pid` (the service under a wrapper such as heaptrack,
    which writes its file once the service is gone), or to `process`
    itself; then waits for `process`."""
    for number in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid or process.pid, number)
        except ProcessLookupError:
            pass
        try:
            process.wait(60)
            return
        except subprocess.TimeoutExpired:
            continue
    process.kill()
    process.wait()


def exit_status(code):
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"status {code}"


def measure_service(args, service, port, ids, ages, others=(), pid=None):
    """One window of the service: its CPU and RSS, what every camera
    analysed, each camera's age p95 over the window (from `ages`, a
    WindowAges), the snapshots encoded and the bytes in flight per camera
    (sampled every 2 s). `others`: pids whose CPU is measured over the same
    window (summed). `pid`: the service's own process, when `service` is
    a wrapper around it."""
    pid = pid or service.pid
    before = scrape_metrics(port)
    ages.start()
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    others_cpu0 = sum(cpu_seconds(other) for other in others)
    rss, in_flight = [], []
    while time.monotonic() - t0 < args.seconds:
        time.sleep(1)
        rss.append(rss_mib(pid))
        if len(rss) % 2 == 0:
            in_flight.append(sum(per_camera(scrape_metrics(port),
                                            "latestframe_in_flight_bytes", ids)) / len(ids))
    cpu1, t1 = cpu_seconds(pid), time.monotonic()
    others_cpu1 = sum(cpu_seconds(other) for other in others)
    after = scrape_metrics(port)
    window_ages = ages.stop()
    window = t1 - t0
    if service.poll() is not None:
        return {"error": f"the service exited ({exit_status(service.returncode)}) "
                         "in the window"}

    def rates(name):
        return [(a - b) / window for a, b in zip(per_camera(after, name, ids),
                                                  per_camera(before, name, ids))]
    analysed = rates("latestframe_frames_analysed_total")
    # A camera with no message in the window, or none with a capture time
    # (age_ms null: no sender report mapped its RTP time yet), has no age:
    # counted apart, and the tables say so beside the worst.
    window_ages = {c: [a for a in window_ages[c] if a is not None]
                   for c in ids if c in window_ages}
    return {
        "cpu_percent": 100 * (cpu1 - cpu0) / window,
        "rss_mib": max(rss),
        "analysed_min": min(analysed),
        "analysed_median": median(analysed),
        **age_figures(window_ages, len(ids)),
        "encodes_per_s": sum(rates("latestframe_camera_snapshot_encodes_total")),
        "in_flight_kib": (sum(in_flight) / len(in_flight) if in_flight else 0.0) / 1024,
        "budget_used_mib": (metric(after, "latestframe_memory_budget_used_bytes") or 0) / 2**20,
        "others_cpu_percent": 100 * (others_cpu1 - others_cpu0) / window,
    }


# How many tiles are in the window, and how many show a snapshot.
TILES_SEEN = """
const tiles = [...document.querySelectorAll('#grid .tile')];
const inView = tiles.filter(tile => {
  const box = tile.getBoundingClientRect();
  return box.bottom > 0 && box.top < innerHeight && box.right > 0 && box.left < innerWidth;
});
return [tiles.length, inView.length,
        inView.filter(tile => tile.querySelector('img').naturalWidth > 0).length];
"""


def with_page(args, service, port, ids, ages):
    """The status page open in headless chromium while a window is
    measured; chromium's CPU measured apart."""
    # The grid has columns of at least 250 px: 4 in 1280 px; a tile is
    # about 330 px tall. Taller than needed: the tiles in view are counted.
    rows = math.ceil(len(ids) / 4)
    driver = headless_chromium.launch(1280, 200 + 380 * rows)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        end = time.monotonic() + 20
        while True:
            total, in_view, loaded = driver.execute_script(TILES_SEEN)
            if total == len(ids) and in_view and loaded == in_view:
                break
            if time.monotonic() > end:
                break  # measured anyway; the row says how many loaded
            time.sleep(0.5)
        browser = descendants(driver.service.process.pid)
        row = measure_service(args, service, port, ids, ages, others=browser)
        total, in_view, loaded = driver.execute_script(TILES_SEEN)
        row.update(tiles_in_view=in_view, tiles_loaded=loaded,
                   chromium_cpu_percent=row.pop("others_cpu_percent", 0.0))
        # After the window: how old the snapshots a client gets are.
        row["snapshot_age_ms"] = snapshot_ages(port, ids[:8])
        return row
    finally:
        driver.quit()


def snapshot_ages(port, ids, seconds=5):
    """X-Frame-Age-Ms of the thumbnails the page asks for (the frame's age
    by the camera's clock when answered: its age at analysis plus the time
    since), asked once a second for `seconds` of each camera in `ids`:
    {"p50", "p95", "max"} in ms, or {} when no answer carried the header."""
    ages = []
    for _ in range(seconds):
        began = time.monotonic()
        for camera_id in ids:
            url = (f"http://127.0.0.1:{port}/cameras/{camera_id}/latest.jpg"
                   "?width=320&boxes=1")
            try:
                with urllib.request.urlopen(url, timeout=10) as answer:
                    age = answer.headers.get("X-Frame-Age-Ms")
                    answer.read()
            except OSError:
                continue
            if age is not None:
                ages.append(int(age))
        time.sleep(max(0.0, 1 - (time.monotonic() - began)))
    if not ages:
        return {}
    ages.sort()
    return {"p50": ages[len(ages) // 2],
            "p95": ages[min(len(ages) - 1, math.ceil(0.95 * len(ages)) - 1)],
            "max": ages[-1]}




def service_process(wrapper, program):
    """The pid of `program` started below the process `wrapper` (a
    subprocess.Popen); None while it is not there yet."""
    program = os.path.realpath(program)
    for pid in descendants(wrapper.pid):
        try:
            if os.readlink(f"/proc/{pid}/exe") == program:
                return pid
        except OSError:
            continue
    return None


def run_service(args, count, urls, broker, ages, camera, workdir, wrap=(), window=None,
                snapshot_frame="always", analyses=None):
    """The service with `count` cameras reading `urls`, measured over one
    window once every camera streams and the warm-up is over, its cameras'
    snapshot-frame set to `snapshot_frame` and their analyses to `analyses`
    (by default the arguments'). `wrap`: a
    command the service runs under (heaptrack -o FILE); the service's own
    process is measured and stopped, the wrapper waited for. `window`:
    called with the service's pid, returns a context manager held over the
    measured window (bench_profile.py's perf record, threads and smaps)."""
    ids = [f"cam-{n:03d}" for n in range(count)]
    config = workdir / f"cameras-{count}.yaml"
    lines = [f"broker: {{ host: 127.0.0.1, port: {broker.port} }}",
             "health: { interval: 5s }",
             f"memory-budget: {args.budget}",
             f"defaults: {{ analyses: \"{analyses or args.analyses}\", decode: {args.decode}, "
             f"analysis-rate: {args.rate}, max-age: 0, stall-timeout: 10s, "
             f"snapshot-frame: {snapshot_frame} }}",
             "cameras:"]
    for camera_id, url in zip(ids, urls):
        lines += [f"  - id: {camera_id}", f"    uri: {url}"]
    config.write_text("\n".join(lines) + "\n")
    port = free_port()
    # Its log beside the tables, for a run that went wrong.
    with open(Path(args.out) / f"service-{count}.log", "wb") as log:
        service = subprocess.Popen(
            [*wrap, args.service, "--config", str(config), "--metrics-port", str(port)],
            stderr=log)
    pid = None if wrap else service.pid
    try:
        end = time.monotonic() + 60 + count
        while True:
            up = per_camera(scrape_metrics(port), "latestframe_camera_up", ids)
            pid = pid or service_process(service, args.service)
            if up and all(up) and pid:
                break
            if service.poll() is not None or time.monotonic() > end:
                return {"cameras": count, "error": f"{int(sum(up))} of {count} streaming"}
            time.sleep(0.5)
        time.sleep(args.warmup)
        with window(pid) if window else contextlib.nullcontext():
            row = measure_service(args, service, port, ids, ages,
                                  others=[camera.process.pid], pid=pid)
        row["camera_cpu_percent"] = row.pop("others_cpu_percent", 0.0)
        row.update(cameras=count, load=os.getloadavg()[0])
        if "error" in row:
            return row
        if args.page and count in args.page_cameras:
            row["page"] = with_page(args, service, port, ids, ages)
        return row
    finally:
        stop(service, pid)


def ffmpeg_progress(path):
    """The last frame count ffmpeg's -progress wrote to `path`."""
    try:
        counts = [line for line in path.read_text().splitlines() if line.startswith("frame=")]
    except OSError:
        return 0
    return int(counts[-1].split("=", 1)[1]) if counts else 0


def run_ffmpeg(args, count, urls, workdir):
    """N ffmpeg processes, one per camera, decoding only key frames and
    keeping one frame a second: their CPU and RSS summed over a window
    after the same warm-up as the service's."""
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        return {"error": "no ffmpeg (apt-get install ffmpeg)"}
    processes, progress = [], []
    try:
        for n, url in enumerate(urls[:count]):
            progress.append(workdir / f"ffmpeg-{count}-{n}.progress")
            processes.append(subprocess.Popen(
                [ffmpeg, "-nostdin", "-loglevel", "error", "-progress", str(progress[-1]),
                 "-rtsp_transport", "tcp", "-skip_frame", "nokey", "-i", url,
                 "-vf", "fps=1", "-f", "null", "-"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # Streaming once each has written a frame; then the warm-up.
        end = time.monotonic() + 30 + count
        while not all(ffmpeg_progress(p) > 0 for p in progress):
            if any(p.poll() is not None for p in processes) or time.monotonic() > end:
                return {"error": f"{sum(ffmpeg_progress(p) > 0 for p in progress)} of "
                                 f"{count} ffmpeg streaming"}
            time.sleep(0.5)
        time.sleep(args.warmup)
        frames0 = [ffmpeg_progress(p) for p in progress]
        cpu0, t0 = sum(cpu_seconds(p.pid) for p in processes), time.monotonic()
        rss = []
        while time.monotonic() - t0 < args.seconds:
            time.sleep(1)
            rss.append(sum(rss_mib(p.pid) for p in processes))
        cpu1, t1 = sum(cpu_seconds(p.pid) for p in processes), time.monotonic()
        # -progress writes every 0.5 s: the counts are that fresh.
        frames = [(ffmpeg_progress(p) - f0) / (t1 - t0) for p, f0 in zip(progress, frames0)]
        if any(p.poll() is not None for p in processes):
            return {"error": "an ffmpeg exited"}
        return {"cpu_percent": 100 * (cpu1 - cpu0) / (t1 - t0), "rss_mib": max(rss),
                "frames_min": min(frames), "frames_median": median(frames)}
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def density_table(args, rows):
    lines = ["| cameras | CPU % | CPU % per camera | RSS MiB | analyses/s per camera (min / median) "
             "| age p95 ms in the window, from the MQTT messages (median / worst camera) | frames held MiB | test camera CPU % | load |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['cameras']} | {row['error']} | | | | | | | |")
            continue
        lines.append(
            f"| {row['cameras']} | {row['cpu_percent']:.1f} | {row['cpu_percent'] / row['cameras']:.2f} "
            f"| {row['rss_mib']:.1f} | {row['analysed_min']:.2f} / {row['analysed_median']:.2f} "
            f"| {age_text(row)} "
            f"| {row['budget_used_mib']:.1f} | {row['camera_cpu_percent']:.1f} | {row['load']:.1f} |")
    good = [r for r in rows if "error" not in r]
    if len(good) >= 2:
        cpu_a, cpu_b = fit([r["cameras"] for r in good], [r["cpu_percent"] for r in good])
        rss_c, rss_d = fit([r["cameras"] for r in good], [r["rss_mib"] for r in good])
        per_core = 70 / cpu_b if cpu_b > 0 else float("inf")
        lines += ["", f"Fit: CPU = {cpu_a:.1f} + {cpu_b:.2f} x N % of a core; "
                      f"RSS = {rss_c:.1f} + {rss_d:.2f} x N MiB. At 70% of each core: "
                      f"about {per_core:.0f} cameras per core."]
    return lines


def age_figures(ages, cameras):
    """A row's age columns from {camera: [age ms, ...]} of its `cameras`:
    each camera's p95, the median and worst of them, the cameras with no
    age, and every age (for --rounds to pool and for a look at the tail)."""
    age_p95 = {c: p95(v) for c, v in ages.items() if v}
    return {"age_p95_ms_median": median(age_p95.values()),
            "age_p95_ms_max": max(age_p95.values(), default=0.0),
            "age_p95_ms_by_camera": age_p95,
            "ages_ms_by_camera": ages,
            "cameras_without_age": cameras - len(age_p95)}


def pooled(rounds):
    """One row of a count from its --rounds windows: CPU, load and rates
    averaged, RSS and memory their highest, the slowest rate its lowest,
    and each camera's age p95 over all its windows' ages together, in the
    row and in the rows inside it (ffmpeg's, on-request's, the page's).
    Each window's median and worst camera's p95 kept beside it."""
    if len(rounds) == 1 or any("error" in r for r in rounds):
        return next((r for r in rounds if "error" in r), rounds[0])

    def merge(parts):
        merged = {}
        for key, first in parts[0].items():
            values = [part[key] for part in parts if key in part]
            if key == "ages_ms_by_camera":
                ages = {}
                for value in values:
                    for camera, camera_ages in value.items():
                        ages.setdefault(camera, []).extend(camera_ages)
                # A window's cameras: those with an age and those without.
                cameras = (len(parts[0]["age_p95_ms_by_camera"])
                           + parts[0]["cameras_without_age"])
                merged.update(age_figures(ages, cameras))
            elif key in merged:
                continue  # an age column after the ages, made from them (and
                # one before them is replaced by update)
            elif isinstance(first, dict) and key != "age_p95_ms_by_camera":
                merged[key] = merge(values) if all("error" not in v for v in values) \
                    else next(v for v in values if "error" in v)
            elif all(value == first for value in values):
                merged[key] = first  # the same in every window: the count, the rate
            elif isinstance(first, (int, float)) and not isinstance(first, bool):
                merged[key] = (max(values) if key in ("rss_mib", "budget_used_mib")
                               else min(values) if key.endswith("_min")
                               else sum(values) / len(values))
            else:
                merged[key] = first
        return merged

    row = merge(rounds)
    row["rounds"] = [{"age_p95_ms_median": r["age_p95_ms_median"],
                      "age_p95_ms_max": r["age_p95_ms_max"],
                      "cpu_percent": r["cpu_percent"]} for r in rounds]
    return row


def without_ages(row):
    """A row as printed while the bench runs: every age left out, in the
    rows inside it too."""
    return {k: without_ages(v) if isinstance(v, dict) else v
            for k, v in row.items() if k != "ages_ms_by_camera"}


def rounds_text(rows):
    """With --rounds, each window's median / worst camera's age p95."""
    return [f"- {row['cameras']} cameras: "
            + ", ".join(f"{r['age_p95_ms_median']:.0f} / {r['age_p95_ms_max']:.0f}"
                        for r in row["rounds"])
            for row in rows if "rounds" in row]


def age_text(row):
    """Median / worst camera's age p95 in the window, and the cameras that
    published no frame with a capture time in it."""
    without = row.get("cameras_without_age", 0)
    return (f"{row['age_p95_ms_median']:.0f} / {row['age_p95_ms_max']:.0f}"
            + (f" ({without} without an age)" if without else ""))


def ages_text(ages):
    return (f"{ages['p50']} / {ages['p95']} / {ages['max']}" if ages
            else "none told")


def page_table(rows):
    lines = ["| cameras | tiles in view (with a snapshot) | CPU % per camera: no page / page "
             "| snapshot encodes/s: no page / page (per tile in view) "
             "| in flight KiB per camera: no page / page | chromium CPU % "
             "| X-Frame-Age-Ms p50 / p95 / max |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        page = row.get("page")
        if not page:
            continue
        n = row["cameras"]
        if "error" in page:
            lines.append(f"| {n} | {page['tiles_in_view']} ({page['tiles_loaded']}) "
                         f"| {row['cpu_percent'] / n:.2f} / {page['error']} | | | | |")
            continue
        per_tile = page["encodes_per_s"] / page["tiles_in_view"] if page["tiles_in_view"] else 0
        lines.append(
            f"| {n} | {page['tiles_in_view']} ({page['tiles_loaded']}) "
            f"| {row['cpu_percent'] / n:.2f} / {page['cpu_percent'] / n:.2f} "
            f"| {row['encodes_per_s']:.2f} / {page['encodes_per_s']:.2f} ({per_tile:.2f}) "
            f"| {row['in_flight_kib']:.0f} / {page['in_flight_kib']:.0f} "
            f"| {page['chromium_cpu_percent']:.1f} "
            f"| {ages_text(page.get('snapshot_age_ms', {}))} |")
    return lines


def side_by_side_table(rows, key, names):
    """Each service beside the same service run right after with one thing
    changed (`row[key]`): --on-request's snapshot-frame, --also-analyses'
    analyses; `names` says what each side had."""
    first, second = names
    lines = [f"| cameras | RSS MiB: {first} / {second} "
             f"| CPU % per camera: {first} / {second} "
             f"| frames held MiB: {first} / {second} "
             f"| age p95 ms, worst camera: {first} / {second} |",
             "| ---: | ---: | ---: | ---: | ---: |"]
    pairs = []
    for row in rows:
        other = row.get(key)
        if other is None or "error" in row:
            continue
        n = row["cameras"]
        if "error" in other:
            lines.append(f"| {n} | {row['rss_mib']:.1f} / {other['error']} | | | |")
            continue
        pairs.append((n, row["rss_mib"], other["rss_mib"]))
        lines.append(
            f"| {n} | {row['rss_mib']:.1f} / {other['rss_mib']:.1f} "
            f"| {row['cpu_percent'] / n:.2f} / {other['cpu_percent'] / n:.2f} "
            f"| {row['budget_used_mib']:.1f} / {other['budget_used_mib']:.1f} "
            f"| {row['age_p95_ms_max']:.0f} / {other['age_p95_ms_max']:.0f} |")
    if len(pairs) >= 2:
        counts = [n for n, _, _ in pairs]
        always_c, always_d = fit(counts, [a for _, a, _ in pairs])
        asked_c, asked_d = fit(counts, [b for _, _, b in pairs])
        lines += ["", f"Fit: RSS = {always_c:.1f} + {always_d:.2f} x N MiB with {first}; "
                      f"{asked_c:.1f} + {asked_d:.2f} x N MiB with {second}."]
    return lines


def peer_table(rows):
    lines = ["| cameras | service CPU % per camera | ffmpeg CPU % per camera "
             "| service RSS MiB | ffmpeg RSS MiB (sum) "
             "| service analyses/s per camera (min) | ffmpeg frames/s per camera (min) "
             "| service age p95 ms (median / worst camera) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        peer = row.get("ffmpeg")
        if peer is None or "error" in row:
            continue
        n = row["cameras"]
        if "error" in peer:
            lines.append(f"| {n} | {row['cpu_percent'] / n:.2f} | {peer['error']} | | | | | |")
            continue
        lines.append(
            f"| {n} | {row['cpu_percent'] / n:.2f} | {peer['cpu_percent'] / n:.2f} "
            f"| {row['rss_mib']:.1f} | {peer['rss_mib']:.1f} "
            f"| {row['analysed_min']:.2f} | {peer['frames_min']:.2f} "
            f"| {age_text(row)} |")
    return lines


def add_service_arguments(parser, cameras, seconds, warmup):
    """The service, its test camera and the cameras' settings: what every
    bench of the service (this one, bench_profile.py) takes."""
    parser.add_argument("--service", required=True)
    parser.add_argument("--testcam", required=True)
    parser.add_argument("--cameras", default=cameras)
    parser.add_argument("--seconds", type=float, default=seconds)
    parser.add_argument("--warmup", type=float, default=warmup)
    parser.add_argument("--rate", type=float, default=1)
    parser.add_argument("--decode", default="key-units")
    parser.add_argument("--analyses", default="cvmotion analysis-width=320")
    parser.add_argument("--budget", default="256MiB")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=30)


@contextlib.contextmanager
def broker_and_cameras(args, mounts):
    """What every bench of the service measures against: a mosquitto on
    127.0.0.1, the window ages read from it, and the test camera serving
    `mounts` streams at the arguments' size and rate; all stopped after."""
    broker = MqttBroker()
    try:
        ages = WindowAges(broker)
        try:
            camera = RtspCamera(args.testcam, f"--width={args.width}",
                                f"--height={args.height}", f"--fps={args.fps}",
                                f"--keyint={args.fps}", mounts=mounts)
            try:
                yield broker, ages, camera
            finally:
                camera.stop()
        finally:
            ages.close()
    finally:
        broker.close()


def run_header(args, phase):
    """The first line of a bench's tables: the cameras and the analysis."""
    return (f"latestframe-service, {args.width}x{args.height}@{args.fps} H.264 over RTSP "
            f"(TCP, 127.0.0.1), {phase}, analyses \"{args.analyses}\" at {args.rate:g}/s, "
            f"decode={args.decode}; {args.seconds:g} s windows after {args.warmup:g} s "
            f"of warm-up")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_service_arguments(parser, cameras="1,4,8,16", seconds=30, warmup=10)
    parser.add_argument("--in-phase", action="store_true",
                        help="one stream shared by N RTSP sessions (key frames in step)")
    parser.add_argument("--page", action="store_true",
                        help="measure each service again with its status page open in chromium")
    parser.add_argument("--page-cameras", default=None,
                        help="the counts of cameras --page applies to (default: all)")
    parser.add_argument("--peer", choices=["ffmpeg"],
                        help="also run the same cameras as one ffmpeg process each")
    parser.add_argument("--on-request", action="store_true",
                        help="measure each service again with snapshot-frame: on-request")
    parser.add_argument("--also-analyses", default=None, metavar="ANALYSES",
                        help="measure each service again with these analyses "
                             "(cvmotion's mixtures=1, say)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure the counts this many times in turn (1, 48, 1, 48, ...) "
                             "and pool each count's windows: the host's noise of the moment "
                             "falls on every count alike")
    parser.add_argument("--out", default="out/bench-service")
    publish.add_arguments(parser, "./pipelines/bench-service.sh")
    args = parser.parse_args()
    if args.rounds < 1:
        raise SystemExit("--rounds: 1 or more")
    counts = [int(n) for n in args.cameras.split(",")]
    args.page_cameras = ([int(n) for n in args.page_cameras.split(",")]
                         if args.page_cameras else counts)
    if args.page and headless_chromium.missing():
        raise SystemExit(f"--page: {headless_chromium.missing()}")
    # The runs beside each service, each published to a section of its own.
    beside = [kind for kind, wanted in (("page", args.page), ("peer", args.peer),
                                        ("on-request", args.on_request),
                                        ("also-analyses", args.also_analyses)) if wanted]
    if args.publish and len(beside) > 1:
        raise SystemExit("--publish: --page, --peer, --on-request and --also-analyses go to "
                         "sections of their own; one at a time")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    windows = {count: [] for count in counts}
    with broker_and_cameras(args, mounts=1 if args.in_phase else max(counts)) as (
            broker, ages, camera), \
            tempfile.TemporaryDirectory(prefix="latestframe-bench-service-") as folder:
        for _ in range(args.rounds):
            for count in counts:
                urls = [camera.url] * count if args.in_phase else camera.urls[:count]
                row = run_service(args, count, urls, broker, ages, camera, Path(folder))
                if args.peer == "ffmpeg":
                    row["ffmpeg"] = run_ffmpeg(args, count, urls, Path(folder))
                if args.on_request:
                    row["on_request"] = run_service(args, count, urls, broker, ages, camera,
                                                    Path(folder), snapshot_frame="on-request")
                if args.also_analyses:
                    row["also_analyses"] = run_service(args, count, urls, broker, ages, camera,
                                                       Path(folder), analyses=args.also_analyses)
                windows[count].append(row)
                print(json.dumps(without_ages(row)), flush=True)
    rows = [pooled(windows[count]) for count in counts]

    phase = ("one stream shared by N RTSP sessions (key frames in step)" if args.in_phase
             else OUT_OF_PHASE)
    header = run_header(args, phase) + "; CPU is the service process's, % of one core"
    if args.rounds > 1:
        header += (f"; {args.rounds} rounds, the counts in turn, each count's windows pooled "
                   "(CPU averaged, RSS the highest, each camera's age p95 over all its ages)")
    table = [header, "", *density_table(args, rows)]
    if args.rounds > 1:
        table += ["", "Each round's age p95 ms (median / worst camera):", "",
                  *rounds_text(rows)]
    if args.page:
        table += ["", "With the status page (GET /) open in headless chromium, the same "
                      "service measured again right after; the page polls /api/cameras and "
                      "each tile in view's `latest.jpg?boxes=1&width=320` once a second. "
                      "X-Frame-Age-Ms: of those thumbnails, asked by the bench once a "
                      "second for 5 s after the window (up to 8 cameras): the frame's "
                      "age by the camera's clock when answered, its age at analysis "
                      "plus the time since:",
                  "", *page_table(rows)]
    if args.peer == "ffmpeg":
        table += ["", "The peer: one `ffmpeg -nostdin -rtsp_transport tcp -skip_frame nokey "
                      "-i URL -vf fps=1 -f null -` per camera, run right after the service "
                      "on the same cameras; CPU and RSS summed over its processes:",
                  "", *peer_table(rows)]
    if args.on_request:
        table += ["", "The same service run again right after each with its cameras' "
                      "`snapshot-frame: on-request` (nobody asks for latest.jpg, so no camera "
                      "keeps its newest analysed frame):",
                  "", *side_by_side_table(rows, "on_request", ("always", "on-request"))]
    if args.also_analyses:
        table += ["", f"The same service run again right after each with its cameras' "
                      f"analyses \"{args.also_analyses}\" (second) instead of "
                      f"\"{args.analyses}\" (first):",
                  "", *side_by_side_table(rows, "also_analyses", ("first", "second"))]
    failed = False
    for row in rows:
        if "error" in row or row["analysed_min"] < 0.5 * args.rate:
            failed = True
            continue
        # Nobody asked for a snapshot: none may be encoded.
        if row["encodes_per_s"] > 0:
            print(f"{row['cameras']} cameras: {row['encodes_per_s']:.2f} snapshot encodes/s "
                  "with no page open", file=sys.stderr)
            failed = True
        if any("error" in row.get(key, {})
               for key in ("page", "ffmpeg", "on_request", "also_analyses")):
            failed = True
        if "encodes_per_s" in row.get("page", {}) and row["page"]["encodes_per_s"] <= 0:
            print(f"{row['cameras']} cameras: no snapshot encoded with the page open",
                  file=sys.stderr)
            failed = True
    text = "\n".join(table) + "\n"
    (out / "service-density.md").write_text(text)
    (out / "service-density.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(text)
    if args.publish:
        publish.publish(SECTIONS[beside[0] if beside else "density"], table, args.command,
                        args.publish)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
