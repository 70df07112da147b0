#!/usr/bin/python3
"""Benchmark reader (section 5 of pipelines/bench.sh): the Python binding,
latestframe.Capture, reading the camera as BGR NumPy arrays, with a step of
P ms on each frame it returns; the stamp is read where the step starts.
Prints the line of frame_ages.py, with the capture's own counts. Memory and
CPU are measured by bench_tree.py.

Usage: bench_binding.py --uri URL [--step-ms P] [--seconds S]"""
import os
import sys
import time

import latestframe

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import frame_ages  # noqa: E402


def main():
    args = frame_ages.reader_arguments()
    processed = frame_ages.Processed()
    skipped = 0
    with latestframe.Capture(args.uri, format="BGR") as camera:
        if not camera.isOpened():
            print(f"error: cannot open {args.uri}: {camera.last_error}", file=sys.stderr)
            return 1
        for frame, info in camera:
            processed.record(frame)
            skipped += info.skipped
            time.sleep(args.step_ms / 1000)
            if processed.elapsed() >= args.seconds:
                break
        processed.end_window()
        stats = camera.stats()
    processed.finish("python-binding", args.step_ms, skipped=skipped,
                     received=stats["received"], copied=stats["copied"])
    return 0 if processed.frames else 1


if __name__ == "__main__":
    sys.exit(main())
