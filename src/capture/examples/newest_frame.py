#!/usr/bin/env python3
"""The newest frame of a camera, analysed, in Python (latestframe_capture).

What multiprocessing "latest frame" stacks try to do, without copying every
frame through a Manager list: read the newest frame, run an analysis slower
than the camera (here, which share of the picture moved since the previous
frame analysed, in NumPy), print what it found, how old the frame was and
how many frames went by unanalysed.

    newest_frame.py rtsp://127.0.0.1:8554/cam --seconds 10 --extra-ms 100
"""
import argparse
import os
import sys
import time

try:
    import latestframe_capture
except ImportError:  # run from the source tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "python"))
    import latestframe_capture

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
    args = parser.parse_args()

    # With OpenCV this line would be `camera = cv2.VideoCapture(args.uri)`.
    camera = latestframe_capture.Capture(args.uri, format="GRAY8",
                                         protocols=args.protocols)
    if not camera.isOpened():
        print(f"cannot open {args.uri}: {camera.last_error}", file=sys.stderr)
        return 1

    start = time.monotonic()
    previous = None
    analysed = 0
    while not args.seconds or time.monotonic() - start < args.seconds:
        frame, info = camera.read_with_info(timeout=2.0)
        if frame is None:
            if camera.state != "streaming":
                break
            print(f"no frame for 2 s ({camera.state})")
            continue
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
              f"{age_ms:.1f} ms since decoded")

    stats = camera.stats()
    print(f"analysed {analysed} of {stats.get('received', 0)} frames received "
          f"({stats['skipped']} skipped, {stats.get('dropped', 0)} dropped in "
          f"latestframe); {stats['state']}")
    camera.release()
    return 0 if analysed else 1


if __name__ == "__main__":
    sys.exit(main())
