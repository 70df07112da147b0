#!/usr/bin/env bash
# Installs what is missing (apt-get; through sudo when not root), configures
# fresh builds, installs the plain one (as pipelines/demo.sh does) and checks
# that `import latestframe` works from anywhere, and runs the whole suite
# four ways: a plain build; under
# AddressSanitizer + UndefinedBehaviorSanitizer; the core under
# ThreadSanitizer; and the libFuzzer targets' short runs (clang). Ends with
# "N passed, N failed"; exits non-zero on any failure. ./tests/run.sh
# --no-build runs the tests again on the builds already there.
set -uo pipefail
source "$(dirname "$0")/../pipelines/lib/common.sh"
cd "$LATESTFRAME_ROOT"

# --no-build: run the tests of the builds already there, as they are
# (tests/stress.sh runs the suite again so).
build=1
if [ "${1:-}" = "--no-build" ]; then build=0; fi

# ccache: meson compiles through it when it is installed, so a run after
# another (a clean clone of the same machine, CI's next run) recompiles
# only what changed; the first run pays a few percent for filling it.
# chromium, its driver and selenium: the service's page is tested in a
# real browser (tests/service/test_service_page.py).
ensure_packages ccache chromium chromium-driver python3-selenium || { echo "0 passed, 1 failed"; exit 1; }
# Paths below the clone are hashed relative to it, and not the build
# folder: a clone elsewhere still hits.
export CCACHE_BASEDIR=$LATESTFRAME_ROOT CCACHE_NOHASHDIR=1

# dir|meson options|environment of meson setup (the compilers; meson uses
# compilers named in CC/CXX as they are, so ccache is named too, @ for a
# space)
# The sanitizer builds at -O1 with line tables only (-g1): the sanitizers'
# reports keep their file:line, and the ASan build compiles in about half
# the time of -O2 -g (test_frame_keeper.cpp alone: 60 s against 109 s).
sanitized="-Doptimization=1 -Dc_args=-g1 -Dcpp_args=-g1"
runs=(
  "build-test|"
  "build-asan|-Db_sanitize=address,undefined -Db_lundef=false $sanitized"
  "build-tsan|-Db_sanitize=thread $sanitized"
  "build-fuzz-test|-Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false|CC=ccache@clang-14 CXX=ccache@clang++-14"
)
# Builds `dir`: all of it for the plain build (it is installed), only what
# the tests need for the others (tests/test_targets.py): their tests are a
# subset, and the service, the benchmarks and the test camera compiled
# under a sanitizer would go unused.
build_for_tests() {
  local dir=$1 options=$2 targets
  if [ -z "$options" ]; then
    ninja -C "$dir"
  else
    targets=$("$(system_python)" tests/test_targets.py "$dir") || return 1
    # shellcheck disable=SC2086
    ninja -C "$dir" $targets
  fi
}

logs=()
broken=0
plain_dir=""
sanitized_dirs=()
declare -A options_of=()
# 1. Configure every build, and build the plain one (all of it: it is
# installed, as a user would have it, with the Python package importable
# from anywhere with no environment).
for run in "${runs[@]}"; do
  IFS='|' read -r dir options setup_env <<<"$run"
  options_of[$dir]=$options
  if [ "$build" = 1 ]; then
    rm -rf "$dir"
    # NAME=value words; an @ in a value stands for a space.
    read -ra setup_vars <<<"$setup_env"
    setup_vars=("${setup_vars[@]//@/ }")
    # shellcheck disable=SC2086
    if ! env "${setup_vars[@]}" meson setup "$dir" $options >"$dir.setup.log" 2>&1; then
      cat "$dir.setup.log"; echo "setup of $dir failed"; broken=$((broken + 1)); continue
    fi
  elif [ ! -f "$dir/build.ninja" ]; then
    echo "--no-build: $dir is not built"; broken=$((broken + 1)); continue
  fi
  if [ -n "$options" ]; then sanitized_dirs+=("$dir"); else plain_dir=$dir; fi
done
if [ -n "$plain_dir" ]; then
  echo "=== $plain_dir (plain): build"
  if ! build_for_tests "$plain_dir" ""; then
    echo "build of $plain_dir failed"; broken=$((broken + 1)); plain_dir=""
  elif [ "$build" = 1 ]; then
    if install_build "$plain_dir" && (cd / && env -i /usr/bin/python3 -c \
        "import latestframe; print('installed: latestframe', latestframe.__version__)"); then :
    else
      echo "installing $plain_dir, or importing the installed latestframe, failed"; broken=$((broken + 1))
    fi
  fi
fi

# 2. The plain build's tests, while the sanitizer builds compile beside
# them, one after the other, niced: many plain tests wait on real time (an
# RTSP camera at 30 fps, a broker, a stall) and leave the cores to the
# compilers. Each build's log is kept (DIR.build.log).
for dir in "${sanitized_dirs[@]}"; do rm -f "$dir.build.status"; done
(
  renice -n 10 -p "$BASHPID" >/dev/null
  for dir in "${sanitized_dirs[@]}"; do
    if build_for_tests "$dir" "${options_of[$dir]}" >"$dir.build.log" 2>&1; then
      echo ok >"$dir.build.status"
    else
      echo failed >"$dir.build.status"
    fi
  done
) &
sanitizer_builds=$!
if [ -n "$plain_dir" ]; then
  echo "=== $plain_dir (plain): tests"
  # Three at a time on two cores: the long ones wait on real time.
  meson test -C "$plain_dir" --print-errorlogs --num-processes 3 --no-rebuild
  logs+=("$plain_dir/meson-logs/testlog.json")
fi

# 3. The sanitizer builds' tests, one build at a time, each once it is
# built (the later builds keep compiling, niced, beside the earlier ones'
# tests; tests with real-time bounds, the storm's 5 s, never share the
# cores with another build's tests).
for dir in "${sanitized_dirs[@]}"; do
  echo "=== $dir ${options_of[$dir]}"
  while [ ! -f "$dir.build.status" ] && kill -0 "$sanitizer_builds" 2>/dev/null; do sleep 1; done
  if [ "$(cat "$dir.build.status" 2>/dev/null)" != ok ]; then
    tail -n 60 "$dir.build.log"; echo "build of $dir failed"; broken=$((broken + 1)); continue
  fi
  # Built for their tests only: meson test would build everything first.
  meson test -C "$dir" --print-errorlogs --num-processes 2 --no-rebuild
  logs+=("$dir/meson-logs/testlog.json")
done
wait "$sanitizer_builds"

"$(system_python)" tests/summarize.py --broken "$broken" "${logs[@]}"
