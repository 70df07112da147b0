#!/usr/bin/python3
"""Benchmark reader (section 5 of pipelines/bench.sh): the "latest frame
stack" seed pattern, src/capture/examples/seed_stack.py as it is (writer
process, Manager().list() stack wiped at 100 frames, reader process popping
the newest), with its analysis step replaced by one that first reads the
frame's pixel stamp. Prints the line of frame_ages.py from the reader process.
Memory and CPU of all four processes are measured by bench_tree.py.

Usage: bench_seed.py --uri URL [--step-ms P] [--seconds S]"""
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "src", "capture", "examples"))
sys.path.insert(0, here)
import frame_ages  # noqa: E402
import seed_stack  # noqa: E402


class Measured(seed_stack.Step):
    """seed_stack's step, measured: the stamp is read where it starts."""

    def __init__(self, step_ms):
        super().__init__(step_ms)
        self.processed = frame_ages.Processed()

    def __call__(self, frame):
        self.processed.record(frame)
        time.sleep(self.step_ms / 1000)

    def finish(self):
        self.processed.finish("seed-stack", self.step_ms)


def main():
    args = frame_ages.reader_arguments()
    return seed_stack.run(args.uri, args.seconds, Measured(args.step_ms))


if __name__ == "__main__":
    sys.exit(main())
