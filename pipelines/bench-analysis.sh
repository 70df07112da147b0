#!/usr/bin/env bash
# Each cv* element's time per frame against the same analysis on a bare
# cv::Mat of the same frames (vtest.avi, messi5.jpg), as a Markdown table.
#   ./pipelines/bench-analysis.sh [--rounds N] [--quick]
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
build_dir=${LATESTFRAME_BUILD_DIR:-$LATESTFRAME_ROOT/build}
ensure_packages
ensure_build "$build_dir"
export GST_PLUGIN_PATH="$build_dir${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
exec "$build_dir/tests/bench_analysis" "$@"
