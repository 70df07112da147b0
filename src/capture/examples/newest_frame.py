#!/usr/bin/env python3
"""The newest frame of a camera, analysed, in Python (the latestframe binding).

Reads the newest frame, runs an analysis slower than the camera (here, which
share of the picture moved since the previous frame analysed, in NumPy),
and prints what it found, how old the frame was and how many frames went by
unanalysed.

What it replaces: the "latest frame stack" (seed_stack.py beside this file),
a few dozen lines over three processes, which pickle every frame through a
multiprocessing Manager().list() and still analyse some frames late or out
of order:

    def write(stack, uri, top, stop):                # process 1
        camera = cv2.VideoCapture(uri)
        while not stop.is_set():
            ok, frame = camera.read()
            ...
            stack.append(frame)                      # pickled, every frame
            if len(stack) >= top:
                del stack[:]
                gc.collect()

    def read(stack, stop, ...):                      # process 2
        while not stop.is_set():
            if len(stack) != 0:
                frame = stack.pop()                  # pickled again
                analyse(frame)

    with multiprocessing.Manager() as manager:       # process 3 holds the list
        stack = manager.list()
        ...Process(target=write, ...).start(); Process(target=read, ...).start()

With latestframe, the same in one process, no copies, always the newest frame
and never one older than the last:

    import latestframe

    with latestframe.Capture(uri) as camera:
        for frame, info in camera:
            analyse(frame)

    newest_frame.py rtsp://127.0.0.1:8554/cam --seconds 10 --extra-ms 100
"""
import argparse
import sys
import time

import latestframe
import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("uri", help="rtsp://..., file:///..., /dev/videoN "
                        "or a pipeline description")
    parser.add_argument("--seconds", type=float, default=0,
                        help="stop after this long (default: until the end)")
    parser.add_argument("--extra-ms", type=float, default=0,
                        help="make the analysis this much slower (default 0)")
    parser.add_argument("--protocols", help="RTSP: tcp or udp")
    parser.add_argument("--username", help="RTSP: the camera's user name")
    parser.add_argument("--password", help="RTSP: the camera's password, any "
                        "character as it is (or percent-encoded in the URI)")
    args = parser.parse_args()

    options = {"format": "GRAY8"}
    for name in ("protocols", "username", "password"):
        if getattr(args, name):
            options[name] = getattr(args, name)
    # With OpenCV this line would be `camera = cv2.VideoCapture(args.uri)`.
    with latestframe.Capture(args.uri, **options) as camera:
        if not camera.isOpened():
            # Not the URI itself, which may hold a password: the error
            # names the camera with it hidden.
            print(f"cannot open the camera: {camera.last_error}", file=sys.stderr)
            return 1
        start = time.monotonic()
        previous = None
        analysed = 0
        # Until the stream ends (or --seconds); while the camera reconnects,
        # the loop waits.
        for frame, info in camera:
            age_ms = (time.monotonic() - info.received) * 1000
            small = frame[::4, ::4].astype(np.int16)
            moved = 0.0 if previous is None else float(
                (np.abs(small - previous) > 25).mean())
            previous = small
            if args.extra_ms:
                time.sleep(args.extra_ms / 1000)
            analysed += 1
            print(f"frame {info.sequence} ({frame.shape[1]}x{frame.shape[0]}): "
                  f"{moved:.1%} moved, {info.skipped} skipped, "
                  f"{age_ms:.1f} ms since received")
            if args.seconds and time.monotonic() - start >= args.seconds:
                break
        stats = camera.stats()
    print(f"analysed {analysed} of {stats['received']} frames received "
          f"({stats['skipped']} skipped, {stats['dropped']} dropped in "
          f"latestframe); reconnects {stats['reconnects']}; {stats['state']}")
    return 0 if analysed else 1


if __name__ == "__main__":
    sys.exit(main())
