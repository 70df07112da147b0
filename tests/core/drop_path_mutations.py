#!/usr/bin/python3
"""Removes each drop path of the keeper's core in turn, on a scratch copy of
src/core, and runs the randomized model test (tests/core/test_keeper_model.cpp)
against it: the model must fail every time. A drop path is a place where a
frame leaves the keeper other than to the consumer; removing it makes the
frame go (or stay) without being counted, as a bug would.

    tests/core/drop_path_mutations.py [--sequences N] [--only NAME]

Prints one line per mutation ("caught" with the model's first complaint, or
"MISSED") and exits 1 if any was missed. Needs g++ and GoogleTest (the
suite's packages); takes about 15 s per mutation. Not part of the suite: it
compiles the model test thirteen times."""
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]

# name, file under src/core/latestframe, the text of the drop, what it
# becomes (the frame given back or taken without a count).
MUTATIONS = [
    ("arriving: leaky=upstream (overflow)", "keeper_core.h",
     """            drop_arriving (out, std::move (frame), desc, unit,
                           drop_reason::overflow);""",
     """            out.status = admit_status::dropped;
            out.released.push_back (
                released_item{ std::move (frame), true, marker_kind::plain });"""),
    ("arriving: its chain (skipped-delta, broken-chain)", "keeper_core.h",
     """            drop_arriving (out, std::move (frame), desc, unit, *reason);""",
     """            out.status = admit_status::dropped;
            out.released.push_back (
                released_item{ std::move (frame), true, marker_kind::plain });"""),
    ("arriving: no room in the budget (budget)", "keeper_core.h",
     """        drop_arriving (out, std::move (frame), desc, unit, drop_reason::budget);""",
     """        out.status = admit_status::dropped;
        out.released.push_back (
            released_item{ std::move (frame), true, marker_kind::plain });"""),
    ("arriving: chain cut by the room made for it (broken-chain)", "keeper_core.h",
     """        drop_arriving (out, std::move (frame), desc, unit,
                       drop_reason::broken_chain);""",
     """        out.status = admit_status::dropped;
        out.released.push_back (
            released_item{ std::move (frame), true, marker_kind::plain });"""),
    ("held: oldest out for an arrival or a tighter limit (overflow, superseded)",
     "frame_ledger.h",
     """        dropped
            += discard_chain_at (held_.oldest_frame_index (), reason, released);""",
     """        held_.take (held_.oldest_frame_index ());
        dropped++;"""),
    ("held: made room in the budget (budget)", "keeper_core.h",
     """        out.held_dropped += ledger_.discard_chain_at (
            held ().oldest_frame_index (), drop_reason::budget, out.released);""",
     """        held ().take (held ().oldest_frame_index ());
        out.held_dropped++;"""),
    ("held: a newer chain handed over on request (superseded)", "keeper_core.h",
     """          ledger_.discard_chain_at (0, drop_reason::superseded, out.released);""",
     """          held ().take (0);"""),
    ("held: older than max-age (age)", "keeper_core.h",
     """        ledger_.discard_chain_at (0, drop_reason::age, out.released);""",
     """        held ().take (0);"""),
    ("held: the rest of a broken chain (broken-chain)", "frame_ledger.h",
     """        discard_at (i, drop_reason::broken_chain, released);""",
     """        held_.remove (i);"""),
    ("held: flush-on-eos (flush)", "frame_ledger.h",
     """        discard_at (oldest, reason, released);""",
     """        held_.remove (oldest);"""),
    ("held: downstream answered EOS (flush)", "frame_ledger.h",
     """            discard (skipped, drop_reason::flush, released);""",
     """            (void)skipped;"""),
    ("held: drained by a flush, a stop or a failure (flush)", "frame_ledger.h",
     """          discard (drained, drop_reason::flush, released);""",
     """          (void)drained;"""),
    ("the one count of every held drop", "frame_ledger.h",
     """    counts_.count_drop (reason, dropped.bytes);""",
     """    (void)reason;"""),
]


def run(command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, **kwargs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=100000)
    parser.add_argument("--only", help="run only the mutation whose name contains this")
    args = parser.parse_args()
    missed = 0
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        for name, file, before, after in MUTATIONS:
            if args.only and args.only not in name:
                continue
            core = scratch / "core"
            shutil.rmtree(core, ignore_errors=True)
            shutil.copytree(ROOT / "src" / "core", core)
            target = core / "latestframe" / file
            text = target.read_text()
            if text.count(before) != 1:
                print(f"{name}: the drop's text is not found once in {file}: "
                      "update this script")
                return 2
            target.write_text(text.replace(before, after))
            program = scratch / "model"
            built = run(["g++", "-std=c++17", "-O2", "-I", str(ROOT / "tests"),
                         "-I", str(core), str(ROOT / "tests/core/test_keeper_model.cpp"),
                         str(core / "accounting.cpp"), str(core / "memory_budget.cpp"),
                         "-lgtest", "-lgtest_main", "-pthread", "-o", str(program)])
            if built.returncode != 0:
                print(f"{name}: does not build:\n{built.stderr[-2000:]}")
                return 2
            env = dict(os.environ, LATESTFRAME_MODEL_SEQUENCES=str(args.sequences))
            tested = run([str(program), "--gtest_filter=KeeperModel.RandomSequences*"],
                         env=env, timeout=600)
            complaint = next((line for line in tested.stdout.splitlines()
                              if line.startswith("seed ")), "")
            if tested.returncode == 0:
                missed += 1
                print(f"MISSED  {name}")
            else:
                print(f"caught  {name}: {complaint or 'the test crashed'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
