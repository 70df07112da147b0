"""Writes a benchmark section's tables into docs/benchmarks.md, between that
section's two markers, under a line naming the run: its date, the commit it
measured and the machine's CPU. The bench scripts call it when given
--publish; nothing else writes between the markers, so each table is in
the docs once, as the run that made it left it.

    <!-- bench section KEY: written by pipelines/bench*.sh --publish -->
    ...
    <!-- end of bench section KEY -->
"""
import datetime
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "benchmarks.md"


def markers(key):
    return (f"<!-- bench section {key}: written by pipelines/bench*.sh --publish -->",
            f"<!-- end of bench section {key} -->")


def commit():
    """The commit measured; when the tracked files differ from it, which
    ones (up to five)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                              text=True).stdout.strip()
    head = git("rev-parse", "--short=10", "HEAD") or "unknown"
    # What the benches write is not what they measure.
    changed = git("diff", "HEAD", "--name-only", "--", ".", ":!docs/benchmarks.md",
                  ":!docs/bench").split()
    if not changed:
        return f"`{head}`"
    shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    return f"`{head}` with changes to {shown}"


def cpu():
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {len(os.sched_getaffinity(0))} cores"


def run_stamp():
    """When the run started, what it measured and on what: the bench
    scripts take it at their start (--stamp) and pass it down in
    LATESTFRAME_BENCH_RUN, so that edits made while a long run goes on
    are not put to its name."""
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"started {when}, commit {commit()}, {cpu()}"


def run_line(command):
    stamp = os.environ.get("LATESTFRAME_BENCH_RUN") or run_stamp()
    return f"*Run {stamp}: `{command}`.*"


def add_arguments(parser, script):
    """--publish DOC and --command, for a bench script's report program."""
    parser.add_argument("--publish", metavar="DOC",
                        help="also write each section run into DOC (docs/benchmarks.md) "
                             "between its markers, with the run's date, commit and CPU")
    parser.add_argument("--command", default=script,
                        help="the command line named in the published run line")


def publish(key, lines, command, doc=DOC):
    """Replaces section `key`'s block in `doc` with a run line and `lines`."""
    doc = Path(doc)
    begin, end = markers(key)
    text = doc.read_text()
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise SystemExit(f"{doc}: no markers for bench section {key}")
    lines = list(lines)
    while lines and not lines[0].strip():
        lines.pop(0)
    block = "\n".join([run_line(command), "", *lines]).strip()
    doc.write_text(text[:start + len(begin)] + "\n\n" + block + "\n\n" + text[stop:])
    print(f"published section {key} in {doc}")


if __name__ == "__main__":
    import sys
    if sys.argv[1:] != ["--stamp"]:
        raise SystemExit("usage: publish.py --stamp")
    print(run_stamp())
