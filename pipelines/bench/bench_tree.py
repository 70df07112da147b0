#!/usr/bin/python3
"""Runs one reader of section 5 of pipelines/bench.sh (bench_seed.py,
bench_binding.py, bench_capture) and measures all its processes together:
the reader, and whatever it forks (for the seed pattern: the Manager's
server, the writer and the reader process besides the parent).

Every 0.1 s it walks the reader's process tree in /proc and sums the
processes' resident memory: RSS (VmRSS; pages shared between forked
processes count once per process, as `ps` adds them up) and PSS (Pss of
smaps_rollup: shared pages split between their processes, so the sum counts
each page once). Peak = the largest sum seen. CPU = user+system time of all
the processes (each process' own, summed over every process seen: none is
counted twice, and one that exits keeps the time last seen) between the
reader's "window start" and "window end" lines, over the wall time between
them: the steady state, without start-up and teardown.

Prints the reader's line with round=R first and rss_mb, pss_mb, cpu_pct,
cpu_s, window_s and processes (the most alive at once) added.

Usage: bench_tree.py [--round R] [--timeout S] -- COMMAND [ARG]..."""
import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def children(pid):
    """The pids of `pid`'s children (those forked by any of its threads)."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for tid in tasks:
        listed = read(f"/proc/{pid}/task/{tid}/children")
        if listed:
            found += [int(child) for child in listed.split()]
    return found


def tree(root):
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += children(pid)
    return pids


def cpu_seconds(pid):
    """User+system CPU of the process (all its threads), or None if gone."""
    stat = read(f"/proc/{pid}/stat")
    if not stat:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def memory(pid):
    """(RSS, PSS) of the process in bytes, or None if gone."""
    status = read(f"/proc/{pid}/status")
    rollup = read(f"/proc/{pid}/smaps_rollup")
    if not status:
        return None
    rss = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    pss = re.search(r"^Pss:\s+(\d+) kB", rollup or "", re.M)
    if not rss:  # a zombie: no memory left
        return 0, 0
    return int(rss.group(1)) * 1024, int(pss.group(1)) * 1024 if pss else 0


class Watch:
    """The reader's process tree, sampled."""

    def __init__(self, root):
        self.root = root
        self.lock = threading.Lock()
        self.cpu = {}  # pid -> latest CPU seconds seen
        self.peak_rss = self.peak_pss = 0
        self.most_processes = 0

    def sample(self, with_memory=True):
        pids = tree(self.root)
        rss_sum = pss_sum = alive = 0
        for pid in pids:
            spent = cpu_seconds(pid)
            if spent is None:
                continue
            alive += 1
            if with_memory:
                used = memory(pid)
                if used:
                    rss_sum += used[0]
                    pss_sum += used[1]
            with self.lock:
                self.cpu[pid] = max(spent, self.cpu.get(pid, 0))
        with self.lock:
            self.peak_rss = max(self.peak_rss, rss_sum)
            self.peak_pss = max(self.peak_pss, pss_sum)
            self.most_processes = max(self.most_processes, alive)

    def cpu_total(self):
        """CPU seconds of every process seen so far, sampled now."""
        self.sample(with_memory=False)
        with self.lock:
            return sum(self.cpu.values())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--round", default="1")
    parser.add_argument("--timeout", type=float, default=120,
                        help="kill the reader after this long (default 120 s)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no reader command")

    # A session of its own, so that a reader which hangs can be stopped with
    # all its processes (and only those).
    reader = subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    watch = Watch(reader.pid)
    window = {}
    figures = []

    def follow():
        for line in reader.stdout:
            line = line.strip()
            if line in ("window start", "window end"):
                window[line] = (time.monotonic(), watch.cpu_total())
            elif line.startswith("reader="):
                figures.append(line)
            elif line:
                print(line, file=sys.stderr)

    follower = threading.Thread(target=follow)
    follower.start()
    deadline = time.monotonic() + args.timeout
    while reader.poll() is None:
        watch.sample()
        if time.monotonic() > deadline:
            print(f"the reader ran over {args.timeout:g} s: stopped", file=sys.stderr)
            os.killpg(reader.pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    status = reader.wait()
    follower.join()
    if status != 0 or not figures:
        print(f"error: {' '.join(command)} exited with {status}"
              f"{'' if figures else ' and no figures'}", file=sys.stderr)
        return 1
    cpu_pct = cpu_s = window_s = float("nan")
    if "window start" in window and "window end" in window:
        (t0, c0), (t1, c1) = window["window start"], window["window end"]
        window_s, cpu_s = t1 - t0, c1 - c0
        cpu_pct = 100 * cpu_s / window_s if window_s > 0 else float("nan")
    print(f"round={args.round} {figures[-1]} rss_mb={watch.peak_rss / 2**20:.1f} "
          f"pss_mb={watch.peak_pss / 2**20:.1f} cpu_pct={cpu_pct:.1f} cpu_s={cpu_s:.2f} "
          f"window_s={window_s:.2f} processes={watch.most_processes}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
