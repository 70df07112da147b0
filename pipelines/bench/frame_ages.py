"""What section 5's Python readers (bench_seed.py, bench_binding.py) measure
on each frame they process, the same as bench_capture.cpp does in C++: its
age at processing, from latestframe-testcam's pixel stamp (pipelines/stamps.py),
and whether it came out of order (stamped earlier than the frame processed
before it). Also the lines every reader prints: "window start" and "window
end" around the processing window (bench_tree.py reads the readers' CPU time
there) and the figures."""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import stamps  # noqa: E402


def reader_arguments():
    """The options every section 5 reader takes: --uri, --step-ms, --seconds."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--uri", required=True)
    parser.add_argument("--step-ms", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    return parser.parse_args()


def percentile(values, fraction):
    """As tests/common/percentile.h: the value below which `fraction` of
    `values` lie, -1 when there are none."""
    if not values:
        return -1
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def stamp_of(frame):
    """The stamp of a BGR frame (a NumPy array), read from its first channel
    (the stamp's blocks are black or white), or None. Copies only the
    stamped corner."""
    height, width = frame.shape[:2]
    block = stamps.block_size(width, height)
    if not block:
        return None
    corner = frame[:stamps.ROWS * block, :stamps.COLUMNS * block, 0].tobytes()
    return stamps.read(corner, stamps.COLUMNS * block, width, height)


class Processed:
    """The frames a reader processed. record() each frame where its
    processing starts; the window starts at the first."""

    def __init__(self):
        self.frames = 0
        self.ages_ms = []
        self.out_of_order = 0
        self.previous = None
        self.started = None
        self.ended = False

    def record(self, frame):
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        if self.started is None:
            self.started = time.monotonic()
            print("window start", flush=True)
        self.frames += 1
        captured = stamp_of(frame)
        if captured is None or captured > now:
            return
        self.ages_ms.append((now - captured) / 1e6)
        if self.previous is not None and captured < self.previous:
            self.out_of_order += 1
        self.previous = captured

    def elapsed(self):
        """Seconds since the first frame (0 before it)."""
        return time.monotonic() - self.started if self.started else 0

    def end_window(self):
        """Ends the processing window (once; before tearing down)."""
        if not self.ended:
            self.ended = True
            print("window end", flush=True)

    def finish(self, reader, step_ms, **extra):
        """Ends the window if it is not yet, and prints the figures' line."""
        self.end_window()
        fields = " ".join(f"{name}={value}" for name, value in extra.items())
        print(f"reader={reader} step_ms={step_ms:g} frames={self.frames} "
              f"stamps={len(self.ages_ms)} "
              f"age_p50={percentile(self.ages_ms, 0.5):.1f} "
              f"age_p95={percentile(self.ages_ms, 0.95):.1f} "
              f"age_max={percentile(self.ages_ms, 1.0):.1f} "
              f"out_of_order={self.out_of_order}" + (f" {fields}" if fields else ""),
              flush=True)
