#!/usr/bin/env python3
"""The "latest frame stack" pattern: how the newest frame is often read in Python.

Kept as the baseline that newest_frame.py replaces and that section 5 of
pipelines/bench.sh measures; not a pattern to copy. Three processes besides
this one: a writer pushes every frame of cv2.VideoCapture(uri) onto a
multiprocessing Manager().list() used as a stack, and wipes it when it
reaches 100 frames (`del stack[:]; gc.collect()`); a reader loops taking
stack.pop(), the newest frame, and analyses it (here a step of --step-ms);
the Manager's server process holds the list.

What it costs: every frame is pickled into the server and every frame
analysed is pickled out of it again (about 2.7 MB each at 1280x720 BGR);
the server holds up to 100 frames, and the memory a wipe frees mostly stays
with the process; the reader polls the server while the stack is empty; a
pop after the writer fell behind returns an older frame than the one before
(frames out of order), and the frames under the top are analysed late or
never.

    seed_stack.py --uri rtsp://127.0.0.1:8554/cam --seconds 10 --step-ms 100
"""
import argparse
import gc
import multiprocessing
import multiprocessing.connection
import sys
import time

import cv2

# The stack is wiped when it holds this many frames.
TOP = 100


def write(stack, uri, top, stop):
    """The writer process: every frame of the camera onto the stack, which
    it wipes at `top` frames. Returns when the camera ends or `stop` is set."""
    camera = cv2.VideoCapture(uri)
    try:
        while not stop.is_set():
            ok, frame = camera.read()
            if not ok:
                break
            stack.append(frame)
            if len(stack) >= top:
                del stack[:]
                gc.collect()
    except (KeyboardInterrupt, BrokenPipeError, EOFError):
        pass  # stopped with Ctrl-C, or the Manager went first
    camera.release()


class Step:
    """The analysis stand-in: `step_ms` of work on each frame. finish() is
    called in the reader process when it stops."""

    def __init__(self, step_ms):
        self.step_ms = step_ms
        self.frames = 0
        self.started = None

    def __call__(self, frame):
        if self.started is None:
            self.started = time.monotonic()
        time.sleep(self.step_ms / 1000)
        self.frames += 1

    def finish(self):
        elapsed = time.monotonic() - self.started if self.started else 0
        print(f"processed {self.frames} frames in {elapsed:.1f} s "
              f"({self.step_ms:g} ms a frame)", flush=True)


def read(stack, stop, seconds, analyse):
    """The reader process: takes the newest frame off the stack and analyses
    it, again and again; after `seconds` from the first frame (never when 0)
    or when `stop` is set, calls analyse.finish() and sets `stop`. Exits
    with 1 if it analysed nothing."""
    started, frames = None, 0
    try:
        while not stop.is_set():
            if len(stack) != 0:
                try:
                    frame = stack.pop()
                except IndexError:  # wiped between len() and pop()
                    continue
                if started is None:
                    started = time.monotonic()
                analyse(frame)
                frames += 1
                if seconds and time.monotonic() - started >= seconds:
                    break
    except (KeyboardInterrupt, BrokenPipeError, EOFError):
        pass
    stop.set()
    analyse.finish()
    sys.exit(0 if frames else 1)


def run(uri, seconds, analyse, top=TOP):
    """Runs the pattern until the reader has analysed for `seconds` (0: until
    the camera ends or Ctrl-C). The reader's exit status."""
    with multiprocessing.Manager() as manager:
        stack = manager.list()
        stop = multiprocessing.Event()
        writer = multiprocessing.Process(target=write, name="writer",
                                         args=(stack, uri, top, stop))
        reader = multiprocessing.Process(target=read, name="reader",
                                         args=(stack, stop, seconds, analyse))
        writer.start()
        reader.start()
        try:
            # Until the reader is done, or the writer: camera ended or failed.
            multiprocessing.connection.wait([reader.sentinel, writer.sentinel])
        except KeyboardInterrupt:
            pass
        stop.set()
        reader.join()
        writer.join(5)
        if writer.is_alive():  # stuck in camera.read()
            writer.terminate()
            writer.join()
    return reader.exitcode


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True,
                        help="what cv2.VideoCapture opens: rtsp://..., a file")
    parser.add_argument("--seconds", type=float, default=0,
                        help="stop after analysing this long (default: until "
                        "the camera ends or Ctrl-C)")
    parser.add_argument("--step-ms", type=float, default=100,
                        help="the analysis' time per frame (default 100)")
    args = parser.parse_args()
    return run(args.uri, args.seconds, Step(args.step_ms))


if __name__ == "__main__":
    sys.exit(main())
