#!/usr/bin/env bash
# A short, reproducible libFuzzer run for the suite:
#   run_fuzzer.sh TARGET SEEDS WORK [libFuzzer options...]
# Runs TARGET over the committed SEEDS, then on as the options say (e.g.
# -seed=1 -runs=N). New inputs and any crash, leak or timeout reproducer
# go to WORK (emptied first), never into SEEDS. Exits non-zero on any
# crash, leak or sanitizer report.
set -euo pipefail
target=$1 seeds=$2 work=$3
shift 3
rm -rf "$work"
mkdir -p "$work/corpus"
status=0
"$target" -artifact_prefix="$work/" -print_final_stats=1 "$@" \
  "$work/corpus" "$seeds" || status=$?
if [ "$status" -ne 0 ]; then
  echo "$(basename "$target"): failed (exit $status); reproducer(s):" \
    "$(ls "$work" | grep -v '^corpus$' | sed "s|^|$work/|" | tr '\n' ' ')" >&2
  # libFuzzer's exit status for a crash or a leak is 77 by default, which
  # meson takes for "skipped": a failure must read as one.
  [ "$status" -ne 77 ] || status=1
fi
exit "$status"
