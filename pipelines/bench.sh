#!/usr/bin/env bash
# The side-by-side benchmarks: frame age, memory and CPU of the consumers of
# a live RTSP camera, the hand-off cost of latestframe, the analysis cost of
# the cv* elements, density, and the newest frame in Python (the seed
# pattern against the Python binding and the C++ capture). Writes results.md
# and PNG plots to the results folder and prints the table. At most about 8
# minutes on 2 cores.
#   ./pipelines/bench.sh [--quick] [--out DIR] [--seconds S] [--section N]...
# --section N runs only section N (1-5; repeat it for several); the results
# folder then holds only what this run measured. Sections 1, 4 and 5 start
# the RTSP test camera; 2 and 3 do not need it.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
out=bench-results seconds=10 quick=0 sections="" seconds_given=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 seconds=2; shift ;;
    --out) out=$2; shift 2 ;;
    --seconds) seconds=$2 seconds_given=1; shift 2 ;;
    --section)
      case $2 in [1-5]) sections="$sections $2" ;; *) echo "no section $2 (1-5)" >&2; exit 2 ;; esac
      shift 2 ;;
    *) echo "usage: $0 [--quick] [--out DIR] [--seconds S] [--section N]..." >&2; exit 2 ;;
  esac
done
[ -n "$sections" ] || sections="1 2 3 4 5"
section() { case " $sections " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
prepare_build
mkdir -p "$out"
rm -f "$out"/*.dat "$out"/*.png "$out"/runs.txt "$out"/handoff.txt "$out"/analysis.md "$out"/results.md "$out"/core.json \
  "$out"/readers.txt

trap stop_testcam EXIT

rtsp() { # consumer analysis-ms [extra args]
  local consumer=$1 ms=$2; shift 2
  "$build_dir/pipelines/bench/bench_rtsp" --uri "$url" --consumer "$consumer" --analysis-ms "$ms" \
    --seconds "$seconds" --timeline "$out/age-$consumer-$ms.dat" "$@" | tee -a "$out/runs.txt"
}

if section 1; then
  start_testcam --width 1280 --height 720 --fps 30
  echo "== 1. slow analysis over RTSP (1280x720@30 H.264 on 127.0.0.1), $seconds s each"
  # Compared consumers run in pairs, at the same time, on the same camera: the
  # network's stalls (rtspsrc's RTCP every few seconds) hit both alike.
  together() { # consumer analysis-ms consumer analysis-ms
    rtsp "$1" "$2" & local first=$!
    rtsp "$3" "$4"
    wait "$first"
  }
  cv2_loop() { # analysis-ms: the loop people write with OpenCV, where present
    if "$(system_python)" -c "import cv2" 2>/dev/null; then
      "$(system_python)" "$LATESTFRAME_ROOT/pipelines/bench/bench_cv2.py" --uri "$url" --analysis-ms "$1" \
        --seconds "$seconds" --timeline "$out/age-cv2-videocapture-$1.dat" | tee -a "$out/runs.txt"
    else
      echo "cv2.VideoCapture loop skipped: python3-opencv is not installed" | tee -a "$out/runs.txt"
    fi
  }
  analyses=(100 20)
  [ $quick = 1 ] && analyses=(100)
  for ms in "${analyses[@]}"; do
    together latestframe "$ms" queue-leaky "$ms"
    together floor 0 latestframe-maxage "$ms"
    [ $quick = 1 ] && continue
    together appsink-drop "$ms" queue "$ms"
    cv2_loop "$ms"
  done
  if [ $quick = 0 ]; then
    rtsp latestframe-before-convert 100
    rtsp latestframe-after-convert 100
  fi
  # The camera's CPU would slow what follows: stop it until density needs it.
  stop_testcam
fi

if section 2; then
  echo "== 2. hand-off cost: queue and latestframe side by side, interleaved rounds"
  # One process per run (bench_handoff); each prints one line. Every
  # configuration runs once a round, in an order reversed every other round,
  # once with GLib's default g_slice and once with G_SLICE=always-malloc
  # (that run counts allocations; a fifth of the buffers is enough). The
  # allocation counter is preloaded into every run alike.
  # About 1-2 s a run here (a buffer costs 0.4-2 µs either way: no pixels are
  # touched); the warm-up, a fifth more, comes on top.
  rounds=5 small=1500000 frames=1000000
  [ $quick = 1 ] && rounds=1 small=20000 frames=5000
  shim=$build_dir/pipelines/bench/libbench_alloc_count.so
  if [ ! -f "$shim" ]; then
    echo "allocation counter $shim not built: allocations not counted" >&2
    shim=""
  fi
  configurations=("none" "queue blocking" "latestframe blocking" "latestframe blocking --budget"
    "queue leaky" "latestframe leaky" "latestframe leaky --budget")
  runs=()
  for payload in 16B 720p; do
    for configuration in "${configurations[@]}"; do
      for slice in default always-malloc; do runs+=("$payload $slice $configuration"); done
    done
  done
  handoff() { # round payload slice element [regime] [--budget]
    local round=$1 payload=$2 slice=$3 element=$4 regime=${5:-blocking} buffers
    buffers=$([ "$payload" = 16B ] && echo $small || echo $frames)
    [ "$slice" = always-malloc ] && buffers=$((buffers / 5))
    local preload=$shim${LD_PRELOAD:+:$LD_PRELOAD} settings=() line
    [ "$slice" = always-malloc ] && settings=(G_SLICE=always-malloc)
    line=$(env -u G_SLICE "${settings[@]}" LD_PRELOAD="${preload#:}" \
      "$build_dir/pipelines/bench/bench_handoff" --element "$element" --payload "$payload" \
      --regime "$regime" --buffers "$buffers" "${@:6}")
    echo "round=$round ${line#handoff }" | tee -a "$out/handoff.txt"
  }
  # The core alone, with Google Benchmark (where libbenchmark-dev was there
  # at build time).
  if [ -x "$build_dir/pipelines/bench/bench_core" ]; then
    "$build_dir/pipelines/bench/bench_core" --benchmark_min_time=$([ $quick = 1 ] && echo 0.01 || echo 0.5) \
      --benchmark_out="$out/core.json" --benchmark_out_format=json
  fi
  for round in $(seq $rounds); do
    order=("${runs[@]}")
    if [ $((round % 2)) = 0 ]; then
      order=()
      for ((i = ${#runs[@]} - 1; i >= 0; i--)); do order+=("${runs[i]}"); done
    fi
    for run in "${order[@]}"; do
      # shellcheck disable=SC2086
      handoff "$round" $run
    done
  done
fi

if section 3; then
  echo "== 3. analysis cost"
  "$build_dir/pipelines/bench/bench_analysis" $([ $quick = 1 ] && echo --quick || echo --rounds 5) | tee "$out/analysis.md"
fi

if section 4 && [ $quick = 0 ]; then
  start_testcam --width 1280 --height 720 --fps 30
  echo "== 4. density: cameras in one process, each rtspsrc ! decodebin ! latestframe ! cvmotion"
  for cameras in 1 2 4; do rtsp density 0 --cameras "$cameras"; done
  stop_testcam
fi

if section 5; then
  # Quick: one round, and 4 s rather than 2 (the seed pattern's stack fills
  # and is wiped every 3.3 s).
  rounds=3 reader_seconds=$seconds
  [ $quick = 1 ] && rounds=1 && [ $seconds_given = 0 ] && reader_seconds=4
  start_testcam --width 1280 --height 720 --fps 30
  echo "== 5. the newest frame in Python: the seed pattern, the Python binding, the C++ capture;" \
    "$rounds round(s) x $reader_seconds s, 100 ms step"
  # One reader at a time on the camera, each once a round, the order turned
  # by one every round. bench_tree.py measures each reader's processes.
  python=$(system_python)
  # The package latestframe as built, unless one on PYTHONPATH comes first.
  pythonpath=${PYTHONPATH:+$PYTHONPATH:}$build_dir/src/capture/python
  readers=()
  if "$python" -c "import cv2" 2>/dev/null; then
    readers+=(seed-stack)
  else
    echo "seed-stack skipped: python3-opencv is not installed" | tee -a "$out/readers.txt"
  fi
  if PYTHONPATH=$pythonpath "$python" -c "import latestframe" 2>/dev/null; then
    readers+=(python-binding)
  else
    echo "python-binding skipped: the package latestframe is not built (pybind11-dev; not under sanitizers)" \
      | tee -a "$out/readers.txt"
  fi
  if [ -x "$build_dir/pipelines/bench/bench_capture" ]; then
    readers+=(cpp-capture)
  else
    echo "cpp-capture skipped: pipelines/bench/bench_capture is not built" | tee -a "$out/readers.txt"
  fi
  reader() { # round reader
    local command
    case $2 in
      seed-stack) command=("$python" "$LATESTFRAME_ROOT/pipelines/bench/bench_seed.py") ;;
      python-binding) command=(env PYTHONPATH="$pythonpath" "$python" "$LATESTFRAME_ROOT/pipelines/bench/bench_binding.py") ;;
      cpp-capture) command=("$build_dir/pipelines/bench/bench_capture") ;;
    esac
    "$python" "$LATESTFRAME_ROOT/pipelines/bench/bench_tree.py" --round "$1" \
      --timeout "$(awk -v s="$reader_seconds" 'BEGIN { print s + 60 }')" -- \
      "${command[@]}" --uri "$url" --step-ms 100 --seconds "$reader_seconds" | tee -a "$out/readers.txt"
  }
  for round in $(seq $rounds); do
    for ((i = 0; i < ${#readers[@]}; i++)); do
      reader "$round" "${readers[(i + round - 1) % ${#readers[@]}]}"
    done
  done
  stop_testcam
fi

"$(system_python)" "$LATESTFRAME_ROOT/pipelines/bench/bench_report.py" "$out" --seconds "$seconds"
