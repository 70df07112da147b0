#!/usr/bin/env bash
# Build-time check that a folder keeps to its dependencies: fails, naming the
# file and line, when one of the files includes a header matching the
# pattern (an extended regular expression on the header's path).
#   check-includes.sh STAMP PATTERN FILE...
set -euo pipefail
stamp=$1 pattern=$2
shift 2
if grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($pattern)" "$@"; then
  echo "error: the files above include headers this folder must not depend on ($pattern)" >&2
  exit 1
fi
touch "$stamp"
