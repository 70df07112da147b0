#!/usr/bin/python3
"""The fault matrix's Python rows: the camera faults against the Python
binding (import latestframe), in the same JSON line as latestframe-faults.

    faults_python.py --list
    faults_python.py --fault camera-restart|stall --shape python [--full]

Run by pipelines/faults.sh under the leaks tracer (GST_TRACERS=leaks); the
camera is LATESTFRAME_TESTCAM (else latestframe-testcam from PATH)."""
import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import threading
import time

import latestframe

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import leaks  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from live_servers import RtspCamera  # noqa: E402

QUICK_RECOVERY = {"protocols": "tcp", "open_timeout": 20, "stall_timeout": 3.0,
                  "backoff_initial": 0.1, "backoff_max": 1.0}


def rss_kb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def start_camera(*args):
    """latestframe-testcam on a free port of 127.0.0.1, 320x240."""
    program = os.environ.get("LATESTFRAME_TESTCAM") or shutil.which("latestframe-testcam")
    return RtspCamera(program, "--width=320", "--height=240", *args)


class Reader:
    """Reads the capture as fast as frames come, on its own thread."""

    def __init__(self, capture):
        self.capture = capture
        self.frames = 0
        self.connection = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._read)
        self.thread.start()

    def _read(self):
        while not self.stopping:
            frame, info = self.capture.read_with_info(timeout=0.1)
            if frame is not None:
                self.frames += 1
                self.connection = info.connection

    def wait_until(self, done, deadline_s):
        until = time.monotonic() + deadline_s
        while not done():
            if time.monotonic() >= until:
                return False
            time.sleep(0.01)
        return True

    def stop(self):
        self.stopping = True
        self.thread.join()


def row_counts(stats):
    # Every reason the capture counts (its stats() has one dropped_NAME key
    # per reason of src/core/latestframe/drop_reasons.h).
    dropped = {key[len("dropped_"):].replace("_", "-"): count
               for key, count in stats.items() if key.startswith("dropped_")}
    return {"received": stats["received"], "analysed": stats["returned"],
            "pushed": stats["pushed"], "held": stats["held_frames"], "dropped": dropped,
            "lost_uncounted": stats["received"] - stats["pushed"]
            - sum(dropped.values()) - stats["held_frames"]}


@contextlib.contextmanager
def reading(camera, row):
    """The binding reading `camera` on a Reader thread, its first frame in:
    yields (capture, reader), or None with the row's note saying why. At
    the end: the row's RSS and counts, the camera stopped."""
    try:
        with latestframe.Capture(camera.url, **QUICK_RECOVERY) as capture:
            reader = Reader(capture)
            try:
                if not reader.wait_until(lambda: reader.frames > 0, 20):
                    row["note"] = "did not open: " + capture.last_error
                    yield None
                    return
                row["rss_start_kb"] = rss_kb()
                yield capture, reader
            finally:
                reader.stop()
            row["rss_end_kb"] = rss_kb()
            row.update(row_counts(capture.stats()))
    finally:
        camera.stop()


def camera_restart(full, row):
    row["repetitions"] = 100 if full else 3
    camera = start_camera()
    with reading(camera, row) as opened:
        if opened is None:
            return
        capture, reader = opened
        for repetition in range(row["repetitions"]):
            before = reader.connection
            url = camera.url
            camera.kill()
            camera.start(camera.port())
            if camera.url != url:
                row["note"] = "the camera did not restart on its port"
                break
            if reader.wait_until(lambda: reader.connection > before, 30):
                row["recovered"] += 1
            elif not row["note"]:
                row["note"] = (f"repetition {repetition + 1} not recovered in 30 s: "
                               + capture.last_error)
    if not row["note"]:
        row["note"] = f"{capture.stats()['reconnects']} reconnections"


def stall(full, row):
    row["repetitions"] = 1
    stall_s = 60 if full else 6
    camera = start_camera("--pause-after=3", f"--pause-for={stall_s}")
    with reading(camera, row) as opened:
        if opened is None:
            return
        capture, reader = opened
        resumed_by = 3 + stall_s + 30
        fired = reader.wait_until(lambda: capture.stats()["stalls"] >= 1, resumed_by)
        first = reader.connection
        resumed = fired and reader.wait_until(lambda: reader.connection > first, resumed_by)
    stats = capture.stats()
    row["recovered"] = int(resumed and stats["stalls"] == 1)
    row["note"] = (f"stall {stall_s} s; watchdog {stats['stalls']} time(s) (3 s), "
                   f"{stats['reconnects']} reconnections")


FAULTS = {
    "camera-restart": (camera_restart,
                       "the camera killed (SIGKILL) and restarted: 100 times (short: 3)"),
    "stall": (stall, "no frame for 60 s (short: 6), the connection kept open"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--fault", choices=sorted(FAULTS))
    parser.add_argument("--shape", default="python", choices=["python"])
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    if args.list:
        for name, (_, summary) in FAULTS.items():
            print(f"{name} python\t{summary}")
        return 0
    if not args.fault:
        parser.error("--fault or --list")
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    row = {"fault": args.fault, "shape": "python", "repetitions": 0, "recovered": 0,
           "received": 0, "analysed": 0, "pushed": 0, "held": 0, "dropped": {},
           "lost_uncounted": 0, "rss_start_kb": rss_kb(), "rss_end_kb": -1, "note": ""}
    FAULTS[args.fault][0](args.full, row)
    if row["rss_end_kb"] < 0:
        row["rss_end_kb"] = rss_kb()
    row["leaks_alive"] = leaks.alive()
    print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
