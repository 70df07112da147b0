#!/usr/bin/env bash
# Long libFuzzer runs of the fuzz targets (tests/fuzz), one target at a
# time, and one Markdown table of what they did:
#   ./pipelines/fuzz.sh [--minutes M | --seconds S] [--target keeper|stamp|element|all]
# Sets up the fuzz build (clang-14, AddressSanitizer + UndefinedBehavior-
# Sanitizer; LATESTFRAME_BUILD_DIR, or build-fuzz/) when missing, and runs
# each target for the time given (default 10 minutes; a crash ends it
# early, minutes says how long it ran) as one libFuzzer job
# (-jobs=1 -workers=1) on a working corpus in the build
# (<build>/corpus-work/<target>, started from the committed seeds, growing
# from run to run; the seeds are never written to). The table goes to
# standard output, progress to standard error:
#   | target | minutes | executions | exec/s | crashes | corpus | coverage |
# crashes counts the reproducers the run left (crash-, leak-, timeout-,
# oom-*) in <build>/fuzz-artifacts/<target>/; coverage is libFuzzer's last
# "cov:" figure (code edges reached). Each run's log is
# <build>/fuzz-logs/<target>/fuzz-0.log. Exits non-zero if a target found
# anything.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

seconds=600
which=all
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) seconds=$(awk -v m="$2" 'BEGIN { printf "%d", m * 60 }'); shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --target) which=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $which in
  all) targets=(keeper stamp element) ;;
  keeper|stamp|element) targets=("$which") ;;
  *) echo "--target: keeper, stamp, element or all" >&2; exit 2 ;;
esac
[ "$seconds" -gt 0 ] || { echo "the duration must be at least a second" >&2; exit 2; }

build_dir=${LATESTFRAME_BUILD_DIR:-$LATESTFRAME_ROOT/build-fuzz}
ensure_packages
CC=clang-14 CXX=clang++-14 ensure_build "$build_dir" -Dfuzzing=true \
  -Db_sanitize=address,undefined -Db_lundef=false \
  -Dopencv=disabled -Dtestcam=disabled
for target in "${targets[@]}"; do
  [ -x "$build_dir/tests/fuzz/fuzz_$target" ] || {
    echo "$build_dir has no fuzz_$target: is it a -Dfuzzing=true build?" >&2
    exit 1
  }
done

# As the suite runs them: sanitizer reports end the run as crashes.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$LATESTFRAME_ROOT/tests/lsan.supp}
export GST_REGISTRY_1_0=${GST_REGISTRY_1_0:-$build_dir/tests/fuzz/fuzz-registry.bin}

# The figure libFuzzer printed last for `key` (a final stat, or "cov:").
last_figure() {
  awk -v key="$1" '{ for (i = 1; i < NF; i++) if ($i == key) v = $(i + 1) }
    END { print (v == "" ? "?" : v) }' "$2"
}

rows=()
failed=0
for target in "${targets[@]}"; do
  work=$build_dir/corpus-work/$target
  artifacts=$build_dir/fuzz-artifacts/$target
  logs=$build_dir/fuzz-logs/$target
  mkdir -p "$work" "$artifacts"
  rm -rf "$logs"
  mkdir -p "$logs"
  for seed in "$LATESTFRAME_ROOT/tests/fuzz/corpus/$target/"*; do
    [ -e "$work/${seed##*/}" ] || cp "$seed" "$work/"
  done
  touch "$logs/started"
  echo "fuzz_$target: ${seconds} s on $work (log: $logs/fuzz-0.log)" >&2
  status=0
  started=$SECONDS
  # -jobs runs the job in a child writing fuzz-0.log to the folder it
  # starts in.
  (cd "$logs" && "$build_dir/tests/fuzz/fuzz_$target" -jobs=1 -workers=1 \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=30 \
    -artifact_prefix="$artifacts/" "$work" >"$logs/driver.log" 2>&1) \
    || status=$?
  elapsed=$((SECONDS - started))
  log=$logs/fuzz-0.log
  [ -f "$log" ] || log=$logs/driver.log
  crashes=$(find "$artifacts" -maxdepth 1 -newer "$logs/started" \
    \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) \
    | wc -l)
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    echo "fuzz_$target FOUND SOMETHING (exit $status): $(find "$artifacts" \
      -maxdepth 1 -newer "$logs/started" -type f | tr '\n' ' ')" >&2
    grep -m 5 -E 'ERROR|SUMMARY|fuzz_[a-z]+: ' "$log" >&2 || true
  fi
  executions=$(last_figure stat::number_of_executed_units: "$log")
  rate=$(last_figure stat::average_exec_per_sec: "$log")
  coverage=$(last_figure cov: "$log")
  corpus=$(find "$work" -maxdepth 1 -type f | wc -l)
  # As run: a crash ends a run early.
  minutes=$(awk -v s="$elapsed" 'BEGIN { printf "%.1f", s / 60 }')
  rows+=("| $target | $minutes | $executions | $rate | $crashes | $corpus | $coverage |")
done

echo "| target | minutes | executions | exec/s | crashes | corpus | coverage (cov:) |"
echo "|--------|--------:|-----------:|-------:|--------:|-------:|----------------:|"
printf '%s\n' "${rows[@]}"
exit "$failed"
