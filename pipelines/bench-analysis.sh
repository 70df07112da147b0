#!/usr/bin/env bash
# Each cv* element's time per frame against the same analysis on a bare
# cv::Mat of the same frames (vtest.avi, messi5.jpg), as a Markdown table.
#   ./pipelines/bench-analysis.sh [--rounds N] [--quick]
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
prepare_build
exec "$build_dir/pipelines/bench/bench_analysis" "$@"
