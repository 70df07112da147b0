#!/usr/bin/env bash
# Build-time check of the GLib-free layer: every header and source of each
# folder given (found now, so that a file added is checked without being
# listed anywhere) must not include a header whose path matches the
# folder's pattern (an extended regular expression). Fails naming the file
# and line; a folder with no file fails too (a typo in the list).
#   check-includes.sh STAMP FOLDER=PATTERN...
set -euo pipefail
stamp=$1
shift
found=0
for rule in "$@"; do
  folder=${rule%%=*} pattern=${rule#*=}
  mapfile -t files < <(find "$folder" -type f \( -name '*.h' -o -name '*.cpp' \) | sort)
  if [ "${#files[@]}" -eq 0 ]; then
    echo "error: no header or source in $folder" >&2
    exit 1
  fi
  if grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($pattern)" "${files[@]}"; then
    echo "error: the files above include headers $folder must not depend on ($pattern)" >&2
    found=1
  fi
done
[ "$found" = 0 ] || exit 1
touch "$stamp"
