#!/usr/bin/env python3
"""Two builds of latestframe side by side: the keeper's core, or the
element's hand-off, run in interleaved pairs.

    ./pipelines/bench/compare_builds.py core BEFORE_BUILD AFTER_BUILD
    ./pipelines/bench/compare_builds.py handoff BEFORE_BUILD AFTER_BUILD \\
        [--payload 16B] [--regime blocking] [--buffers 300000] [--one-core]

core: bench_core of each build, each benchmark in turn. handoff: one
bench_handoff program (AFTER_BUILD's) with each build's plugin
(GST_PLUGIN_PATH), latestframe only.

Each measurement is taken `--pairs` times, the two builds one after the
other, the order swapped every other pair; it prints both medians and the
median of the paired ratios after/before. A shared machine changes speed
by half for seconds at a time, and its cores need not change together: a
ratio taken within one pair cancels that, a single run does not. The core
runs on one core (the last this process may use). So does the hand-off
with --one-core: what the element's work costs, without the two threads'
contention, which on two cores weighs more than the work and moves with
the timing.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys


def run(command, env=None):
    return subprocess.run(command, check=True, capture_output=True,
                          text=True, env=env).stdout


def one_core():
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})  # runs inherit it


def core_ns(build, name, min_time):
    """CPU ns per cycle of one bench_core benchmark, one run."""
    out = run([os.path.join(build, "pipelines/bench/bench_core"),
               f"--benchmark_filter=^{name}$",
               f"--benchmark_min_time={min_time}", "--benchmark_format=json"])
    (result,) = json.loads(out)["benchmarks"]
    assert result["time_unit"] == "ns", result["time_unit"]
    return result["cpu_time"]


def handoff_ns(program, build, args):
    """CPU ns per buffer of one bench_handoff run with `build`'s plugin."""
    env = dict(os.environ, GST_PLUGIN_PATH=os.path.join(build, "gst"))
    line = run([program, "--element", "latestframe", "--payload", args.payload,
                "--regime", args.regime, "--buffers", str(args.buffers)], env)
    return float(re.search(r"cpu_ns=([0-9.]+)", line).group(1))


def pairs(measure, count):
    """(before, after) of `count` interleaved pairs."""
    results = []
    for pair in range(count):
        order = ["before", "after"]
        if pair % 2:
            order.reverse()
        taken = {which: measure(which) for which in order}
        results.append((taken["before"], taken["after"]))
    return results


def row(label, results):
    before = statistics.median(b for b, _ in results)
    after = statistics.median(a for _, a in results)
    ratio = statistics.median(a / b for b, a in results)
    return (f"| {label} | {before:.1f} | {after:.1f} | {ratio:.3f} | "
            f"{len(results)} |")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["core", "handoff"])
    parser.add_argument("before", help="a build directory")
    parser.add_argument("after", help="a build directory")
    parser.add_argument("--pairs", type=int, default=None,
                        help="pairs per measurement (core 15, handoff 10)")
    parser.add_argument("--min-time", type=float, default=0.2,
                        help="core: seconds per benchmark run")
    parser.add_argument("--payload", default="16B", choices=["16B", "720p"])
    parser.add_argument("--regime", default="blocking",
                        choices=["blocking", "leaky"])
    parser.add_argument("--buffers", type=int, default=300000)
    parser.add_argument("--one-core", action="store_true",
                        help="handoff: both threads on one core")
    args = parser.parse_args()
    builds = {"before": args.before, "after": args.after}
    print("| measurement | before (ns) | after (ns) | after/before, "
          "median of pairs | pairs |")
    print("| --- | --- | --- | --- | --- |")
    if args.what == "core":
        one_core()
        listing = run([os.path.join(args.after, "pipelines/bench/bench_core"),
                       "--benchmark_list_tests"])
        for name in listing.split():
            results = pairs(lambda which: core_ns(builds[which], name,
                                                  args.min_time),
                            args.pairs or 15)
            print(row(name, results), flush=True)
        return 0
    if args.one_core:
        one_core()
    program = os.path.join(args.after, "pipelines/bench/bench_handoff")
    results = pairs(lambda which: handoff_ns(program, builds[which], args),
                    args.pairs or 10)
    label = (f"latestframe {args.payload} {args.regime}, CPU per buffer"
             f"{', one core' if args.one_core else ', two cores'}")
    print(row(label, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
