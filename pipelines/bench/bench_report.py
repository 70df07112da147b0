"""Turns the raw results of pipelines/bench.sh into results.md (Markdown
tables, targets met or missed) and PNG plots of frame age over time
(gnuplot). Usage: bench_report.py RESULTS_DIR --seconds S"""
import argparse
import glob
import os
import re
import shutil
import statistics
import subprocess


def runs(folder):
    """Section 1 and 4's lines; None when neither ran."""
    path = os.path.join(folder, "runs.txt")
    if not os.path.exists(path):
        return None
    found = []
    with open(path) as lines:
        for line in lines:
            fields = dict(re.findall(r"(\S+)=(\S+)", line))
            if "consumer" in fields:
                found.append(fields)
    return found


def handoff(folder):
    times = {}
    path = os.path.join(folder, "handoff.txt")
    if os.path.exists(path):
        for line in open(path):
            element, ns = line.split()
            times.setdefault(element, []).append(int(ns))
    return {element: statistics.median(values) for element, values in times.items()}


def plot(folder, ms):
    files = sorted(glob.glob(os.path.join(folder, f"age-*-{ms}.dat")))
    files = [f for f in files if os.path.getsize(f) > 0]
    if not files or not shutil.which("gnuplot"):
        return None
    png = os.path.join(folder, f"frame-age-{ms}ms.png")
    curves = ", ".join(
        f"'{f}' using 1:2 with lines title '{os.path.basename(f)[4:-len(f'-{ms}.dat')]}'" for f in files)
    script = (f"set terminal png size 900,500; set output '{png}';"
              f"set title 'Frame age at analysis, {ms} ms analysis, 1280x720 at 30 fps over RTSP' noenhanced;"
              "set xlabel 'time (s)'; set ylabel 'age (ms)'; set logscale y; set key outside;"
              f"plot {curves}")
    subprocess.run(["gnuplot", "-e", script], check=True)
    return png


def section_1(args, found):
    out = ["## 1. Slow analysis over RTSP", "",
           f"1280x720@30 H.264 from latestframe-testcam on 127.0.0.1, {args.seconds:g} s per consumer, "
           "each consumer in its own process (peak RSS and CPU are that process's); compared consumers "
           "run in pairs at the same time on the same camera (latestframe with queue-leaky, floor with "
           "latestframe-maxage, appsink-drop with queue), so the network's stalls hit both alike. "
           "Age = time since capture, read from the frame's pixel stamp where the analysis starts. "
           "`latestframe-maxage` uses max-age=10 ms: the element counts age from the frame's timestamp, "
           "which the RTSP receiver sets on arrival, so its limit excludes the transport floor before "
           "that; below the decode latency (about 5-10 ms here) frames arrive already too old and the "
           "element falls back to pushing the newest (documented). `latestframe-before-convert`/`-after-convert` put videoconvert (to BGR) "
           "after or before latestframe: compare their CPU.", "",
           "| consumer | analysis (ms) | frames analysed | age p50 (ms) | age p95 (ms) | age max (ms) | peak RSS (MB) | CPU (s) |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in found:
        if r["consumer"].startswith("cameras-"):
            continue
        out.append(f"| {r['consumer']} | {r['analysis_ms']} | {r['frames']} | {r['age_p50']} | "
                   f"{r['age_p95']} | {r['age_max']} | {r['rss_mb']} | {r['cpu_s']} |")
    with open(os.path.join(args.folder, "runs.txt")) as lines:
        out += [line.strip() for line in lines if "skipped" in line]
    out.append("")
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args()
    found = runs(args.folder)
    out = ["# latestframe benchmarks", "",
           "Made by `./pipelines/bench.sh` on this machine; every figure below was measured in that run.", ""]
    found = found or []
    if any(not r["consumer"].startswith("cameras-") for r in found):
        out += section_1(args, found)
    by = {(r["consumer"], r["analysis_ms"]): r for r in found}
    density = [r for r in found if r["consumer"].startswith("cameras-")]
    if density:
        out += ["## 4. Density", "", "N streams of the camera in one process, each "
                "`rtspsrc ! decodebin ! latestframe ! videoconvert ! cvmotion`.", "",
                "| cameras | CPU per camera (% of a core) | age p95, first camera (ms) |", "| --- | --- | --- |"]
        for r in density:
            n = int(r["consumer"].split("-")[1])
            out.append(f"| {n} | {100 * float(r['cpu_s']) / n / args.seconds:.1f} | {r['age_p95']} |")
        out.append("")
    times = handoff(args.folder)
    if times:
        out += ["## 2. Hand-off cost", "",
                "`fakesrc` of 16-byte buffers into `fakesink`, through nothing, `queue`, or `latestframe leaky=no` "
                "(accounting on); wall time per buffer, median of interleaved rounds.", "",
                "| element | ns per buffer | vs queue |", "| --- | --- | --- |"]
        for element in ("none", "queue", "latestframe"):
            if element in times:
                out.append(f"| {element} | {times[element]:.0f} | {times[element] / times['queue']:.2f} |")
        out.append("")
    analysis = os.path.join(args.folder, "analysis.md")
    if os.path.exists(analysis):
        out += ["## 3. Analysis cost", "", open(analysis).read().strip(), ""]


    # Each max-age run is judged against the floor measured beside it.
    floor_beside, last_floor = {}, None
    for r in found:
        if r["consumer"] == "floor":
            last_floor = r
        elif r["consumer"] == "latestframe-maxage":
            floor_beside[r["analysis_ms"]] = last_floor
    targets = []
    for ms in ("100", "20"):
        lf, leaky, floor = by.get(("latestframe", ms)), by.get(("queue-leaky", ms)), floor_beside.get(ms)
        maxage = by.get(("latestframe-maxage", ms))
        if lf and leaky:
            targets.append((f"latestframe p95 age <= queue-leaky's ({ms} ms analysis)",
                            f"{lf['age_p95']} vs {leaky['age_p95']}",
                            float(lf["age_p95"]) <= float(leaky["age_p95"])))
            targets.append((f"latestframe peak RSS <= queue-leaky's + 2 MB ({ms} ms)",
                            f"{lf['rss_mb']} vs {leaky['rss_mb']} MB",
                            float(lf["rss_mb"]) <= float(leaky["rss_mb"]) + 2))
        if maxage and floor:
            targets.append((f"latestframe max-age p95 <= floor + 5 ms ({ms} ms analysis)",
                            f"{maxage['age_p95']} vs {floor['age_p95']} + 5",
                            float(maxage["age_p95"]) <= float(floor["age_p95"]) + 5))
    if times.get("queue"):
        targets.append(("hand-off cost <= 1.0x queue's", f"{times['latestframe'] / times['queue']:.2f}x",
                        times["latestframe"] <= times["queue"]))
    out += ["## Targets", "", "| target | measured | |", "| --- | --- | --- |"]
    out += [f"| {name} | {measured} | {'met' if met else 'MISSED'} |" for name, measured, met in targets]
    out.append("")
    for ms in ("100", "20"):
        png = plot(args.folder, ms)
        if png:
            out += [f"![frame age, {ms} ms analysis]({os.path.basename(png)})", ""]
    report = os.path.join(args.folder, "results.md")
    with open(report, "w") as f:
        f.write("\n".join(out))
    print("\n".join(out))
    print(f"written: {report}")


if __name__ == "__main__":
    main()
