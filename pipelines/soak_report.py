#!/usr/bin/python3
"""The soak's verdict (pipelines/soak.sh): is RSS flat after the warm-up,
were frames lost uncounted, was anything left alive. Prints one summary
line and the fault matrix's row (JSON), plots the RSS curve with gnuplot;
exits 1 when a check fails."""
import argparse
import csv
import json
import statistics
import subprocess
import sys



def plot(samples, warmup, median_kb, flat_mib, png):
    """RSS over time around its settled median, with the band it must stay
    in (the start-up climb, from a few MiB, runs off the bottom)."""
    data = "\n".join(f"{t / 60:.3f} {kb / 1024:.3f}" for t, kb in samples)
    median = median_kb / 1024
    script = f"""
set terminal png size 900,420
set output '{png}'
set title 'latestframe demo, slow consumer: resident memory (MiB)'
set xlabel 'minutes'
set ylabel 'RSS (MiB)'
set grid
set yrange [{median - 2 - flat_mib:.3f}:{median + 1 + flat_mib:.3f}]
set arrow from {warmup / 60:.3f}, graph 0 to {warmup / 60:.3f}, graph 1 nohead dashtype 2
plot '-' using 1:2 with lines lw 2 title 'RSS', \\
     {median + flat_mib:.3f} with lines dashtype 3 lc rgb 'gray40' title 'median after warm-up +-{flat_mib:g} MiB', \\
     {median - flat_mib:.3f} with lines dashtype 3 lc rgb 'gray40' notitle
{data}
e
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", required=True)
    parser.add_argument("--json", required=True)
    parser.add_argument("--warmup", type=float, default=60)
    parser.add_argument("--flat-mib", type=float, default=1,
                        help="RSS must stay this close to its median after the warm-up "
                        "(MiB; VmRSS counts KiB)")
    parser.add_argument("--png")
    args = parser.parse_args()

    with open(args.csv) as file:
        samples = [(float(row["seconds"]), int(row["rss_kb"])) for row in csv.DictReader(file)]
    with open(args.json) as file:
        figures = json.load(file)
    settled = [kb for t, kb in samples if t >= args.warmup]
    failures = []
    if len(settled) < 2:
        failures.append(f"fewer than 2 samples after the {args.warmup:g} s warm-up")
        median = deviation = 0
    else:
        median = statistics.median(settled)
        deviation = max(abs(kb - median) for kb in settled)
        if deviation > args.flat_mib * 1024:
            failures.append(f"RSS moved {deviation / 1024:.2f} MiB from its median "
                            f"(bound {args.flat_mib:g})")
    dropped = figures["dropped"]
    lost = figures["received"] - figures["pushed"] - sum(dropped.values()) - figures["held"]
    if lost:
        failures.append(f"{lost} frames lost uncounted")
    if figures.get("leaks_alive", 0) != 0:
        failures.append(f"{figures['leaks_alive']} objects alive at the end")
    if args.png:
        plot(samples, args.warmup, median, args.flat_mib, args.png)

    start_kb = settled[0] if settled else (samples[0][1] if samples else -1)
    end_kb = samples[-1][1] if samples else -1
    print(f"soak: {figures['seconds'] / 60:.1f} min, {len(samples)} samples; RSS after "
          f"{args.warmup:g} s: median {median / 1024:.2f} MiB, max deviation "
          f"{deviation / 1024:.2f} MiB, range {(max(settled) - min(settled)) / 1024 if settled else 0:.2f} MiB; "
          f"received {figures['received']}, analysed {figures['analysed']}, lost uncounted {lost}"
          + (f"; FAILED: {'; '.join(failures)}" if failures else "; flat"))
    row = {"fault": "slow-consumer-soak", "shape": "demo", "repetitions": 1,
           "recovered": 0 if failures else 1, "received": figures["received"],
           "analysed": figures["analysed"], "pushed": figures["pushed"], "held": figures["held"],
           "dropped": dropped, "lost_uncounted": lost,
           "leaks_alive": figures.get("leaks_alive", -1),
           "rss_start_kb": start_kb, "rss_end_kb": end_kb,
           "note": f"{figures['seconds'] / 60:.1f} min, RSS within +-{deviation / 1024:.2f} MiB "
                   f"of its median after {args.warmup:g} s"
                   + (f"; {'; '.join(failures)}" if failures else "")}
    print(json.dumps(row))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
