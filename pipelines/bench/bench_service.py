"""How many cameras one latestframe-service process carries: the service
with N cameras of the RTSP test camera (one camera process, its stream
shared by N RTSP sessions, so that N independent pipelines receive, parse,
decode and analyse it) at a given analysis rate, its CPU and resident
memory measured over a window once every camera streams, for each N.

Prints a Markdown table, writes it (and a CSV) to --out, and fits the
sizing rule: CPU = a + b N (% of one core), RSS = c + d N (MiB), by least
squares. Exits non-zero if a camera did not stream or analysed less than
half its rate.

  bench_service.py --service PROGRAM --testcam PROGRAM [--cameras 1,4,8,16]
                   [--seconds 30] [--warmup 10] [--rate 1] [--decode auto]
                   [--analyses "cvmotion analysis-width=320"]
                   [--width 1280 --height 720 --fps 30] [--out DIR]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from live_servers import (MqttBroker, RtspCamera, free_port, metric,  # noqa: E402
                          scrape_metrics)
import publish  # noqa: E402  (beside this file)

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # utime, stime: fields 14 and 15; the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid):
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


def per_camera(text, name, ids):
    return [metric(text, name, camera=c) or 0.0 for c in ids]


def fit(xs, ys):
    """Least squares y = a + b x."""
    n = len(xs)
    if n < 2:
        return ys[0] if ys else 0.0, 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    return my - b * mx, b


def run_point(args, count, camera, broker, workdir):
    ids = [f"cam-{n:03d}" for n in range(count)]
    config = workdir / f"cameras-{count}.yaml"
    lines = [f"broker: {{ host: 127.0.0.1, port: {broker.port} }}",
             "health: { interval: 5s }",
             f"memory-budget: {args.budget}",
             f"defaults: {{ analyses: \"{args.analyses}\", decode: {args.decode}, "
             f"analysis-rate: {args.rate}, max-age: 0, stall-timeout: 10s }}",
             "cameras:"]
    for camera_id in ids:
        lines += [f"  - id: {camera_id}", f"    uri: {camera.url}"]
    config.write_text("\n".join(lines) + "\n")
    port = free_port()
    service = subprocess.Popen(
        [args.service, "--config", str(config), "--metrics-port", str(port)],
        stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 60 + count
        while True:
            up = per_camera(scrape_metrics(port), "latestframe_camera_up", ids)
            if up and all(up):
                break
            if service.poll() is not None or time.monotonic() > end:
                return {"cameras": count, "error": f"{int(sum(up))} of {count} streaming"}
            time.sleep(0.5)
        time.sleep(args.warmup)
        before = scrape_metrics(port)
        cpu0, t0 = cpu_seconds(service.pid), time.monotonic()
        camera_cpu0 = cpu_seconds(camera.process.pid)
        rss = []
        while time.monotonic() - t0 < args.seconds:
            time.sleep(1)
            rss.append(rss_mib(service.pid))
        cpu1, t1 = cpu_seconds(service.pid), time.monotonic()
        camera_cpu1 = cpu_seconds(camera.process.pid)
        after = scrape_metrics(port)
        window = t1 - t0
        analysed = [(a - b) / window for a, b in zip(
            per_camera(after, "latestframe_frames_analysed_total", ids),
            per_camera(before, "latestframe_frames_analysed_total", ids))]
        ages = [metric(after, "latestframe_frame_age_seconds", camera=c, quantile="0.95") or 0.0
                for c in ids]
        return {
            "cameras": count,
            "cpu_percent": 100 * (cpu1 - cpu0) / window,
            "rss_mib": max(rss),
            "analysed_min": min(analysed),
            "analysed_median": sorted(analysed)[len(analysed) // 2],
            "age_p95_ms_max": 1000 * max(ages),
            "budget_used_mib": (metric(after, "latestframe_memory_budget_used_bytes") or 0) / 2**20,
            "camera_cpu_percent": 100 * (camera_cpu1 - camera_cpu0) / window,
            "load": os.getloadavg()[0],
        }
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(60)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", required=True)
    parser.add_argument("--testcam", required=True)
    parser.add_argument("--cameras", default="1,4,8,16")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--rate", type=float, default=1)
    parser.add_argument("--decode", default="auto")
    parser.add_argument("--analyses", default="cvmotion analysis-width=320")
    parser.add_argument("--budget", default="256MiB")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--out", default="out/bench-service")
    publish.add_arguments(parser, "./pipelines/bench-service.sh")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    broker = MqttBroker()
    camera = RtspCamera(args.testcam, f"--width={args.width}", f"--height={args.height}",
                        f"--fps={args.fps}", f"--keyint={args.fps}")
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="latestframe-bench-service-") as folder:
            for count in [int(n) for n in args.cameras.split(",")]:
                row = run_point(args, count, camera, broker, Path(folder))
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        camera.stop()
        broker.close()

    header = (f"latestframe-service, {args.width}x{args.height}@{args.fps} H.264 over RTSP "
              f"(TCP, 127.0.0.1), analyses \"{args.analyses}\" at {args.rate:g}/s, "
              f"decode={args.decode}; {args.seconds:g} s windows after {args.warmup:g} s "
              f"of warm-up; CPU is the service process's, % of one core")
    table = [header, "",
             "| cameras | CPU % | CPU % per camera | RSS MiB | analyses/s per camera (min / median) "
             "| age p95 ms (worst camera) | frames held MiB | test camera CPU % | load |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    failed = False
    good = [r for r in rows if "error" not in r]
    for row in rows:
        if "error" in row:
            table.append(f"| {row['cameras']} | {row['error']} | | | | | | | |")
            failed = True
            continue
        if row["analysed_min"] < 0.5 * args.rate:
            failed = True
        table.append(
            f"| {row['cameras']} | {row['cpu_percent']:.1f} | {row['cpu_percent'] / row['cameras']:.2f} "
            f"| {row['rss_mib']:.1f} | {row['analysed_min']:.2f} / {row['analysed_median']:.2f} "
            f"| {row['age_p95_ms_max']:.0f} | {row['budget_used_mib']:.1f} "
            f"| {row['camera_cpu_percent']:.1f} | {row['load']:.1f} |")
    if len(good) >= 2:
        cpu_a, cpu_b = fit([r["cameras"] for r in good], [r["cpu_percent"] for r in good])
        rss_c, rss_d = fit([r["cameras"] for r in good], [r["rss_mib"] for r in good])
        per_core = 70 / cpu_b if cpu_b > 0 else float("inf")
        table += ["", f"Fit: CPU = {cpu_a:.1f} + {cpu_b:.2f} x N % of a core; "
                      f"RSS = {rss_c:.1f} + {rss_d:.2f} x N MiB. At 70% of each core: "
                      f"about {per_core:.0f} cameras per core."]
    text = "\n".join(table) + "\n"
    (out / "service-density.md").write_text(text)
    (out / "service-density.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(text)
    if args.publish:
        publish.publish("7", table, args.command, args.publish)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
