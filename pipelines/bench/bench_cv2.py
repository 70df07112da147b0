#!/usr/bin/python3
"""Benchmark consumer: the loop people write with OpenCV, cv2.VideoCapture
(FFmpeg backend) reading an RTSP camera, with an analysis stand-in of P ms.
Prints the same line as pipelines/bench/bench_rtsp: frames analysed, frame age
at analysis p50/p95/max (from latestframe-testcam's pixel stamps), peak RSS
and CPU seconds of this process.

Usage: bench_cv2.py --uri URL --analysis-ms P --seconds S [--timeline FILE]"""
import argparse
import os
import resource
import sys
import time

import cv2

# pipelines/stamps.py, one folder up.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import stamps  # noqa: E402


def percentile(values, fraction):
    if not values:
        return -1
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--uri", required=True)
    parser.add_argument("--analysis-ms", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--timeline")
    args = parser.parse_args()
    capture = cv2.VideoCapture(args.uri, cv2.CAP_FFMPEG)
    if not capture.isOpened():
        print(f"error: cv2.VideoCapture cannot open {args.uri}", file=sys.stderr)
        return 1
    started = time.monotonic()
    ages, timeline, frames = [], [], 0
    while time.monotonic() - started < args.seconds:
        ok, frame = capture.read()
        if not ok:
            break
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        frames += 1
        # A BGR frame: its first channel stands in for the luma.
        height, width = frame.shape[:2]
        captured = stamps.read(frame[:, :, 0].tobytes(), width, width, height)
        if captured is not None and captured <= now:
            age = (now - captured) / 1e6
            ages.append(age)
            timeline.append((time.monotonic() - started, age))
        time.sleep(args.analysis_ms / 1000)
    capture.release()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"consumer=cv2-videocapture analysis_ms={args.analysis_ms} frames={frames} stamps={len(ages)} "
          f"age_p50={percentile(ages, 0.5):.1f} age_p95={percentile(ages, 0.95):.1f} "
          f"age_max={percentile(ages, 1.0):.1f} rss_mb={usage.ru_maxrss / 1024:.1f} "
          f"cpu_s={usage.ru_utime + usage.ru_stime:.2f}")
    if args.timeline:
        with open(args.timeline, "w") as out:
            out.writelines(f"{t:.3f} {age:.1f}\n" for t, age in timeline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
