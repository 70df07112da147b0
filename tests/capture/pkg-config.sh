#!/usr/bin/env bash
# The capture library as an application sees it once installed: installs
# the build into a scratch DESTDIR, then compiles and links the C++ example
# with nothing but `pkg-config --cflags --libs latestframe-capture`, and runs
# it (its usage message: it loaded the installed library).
#   pkg-config.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 source=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
DESTDIR="$scratch/root" meson install -C "$build" --no-rebuild --quiet >/dev/null
pc=$(find "$scratch/root" -name latestframe-capture.pc | head -1)
[ -n "$pc" ] || { echo "no latestframe-capture.pc installed"; exit 1; }
# The .pc file names its install prefix; point it at the scratch copy.
mkdir "$scratch/pc"
prefix=$(sed -n 's/^prefix=//p' "$pc")
sed "s|^prefix=.*|prefix=$scratch/root$prefix|" "$pc" >"$scratch/pc/latestframe-capture.pc"
export PKG_CONFIG_PATH="$scratch/pc"
flags=$(pkg-config --cflags --libs latestframe-capture)
echo "pkg-config: $flags"
g++ -std=c++17 -Wall -Wextra -Werror "$source/src/capture/examples/newest_frame.cpp" \
  $flags -o "$scratch/example"
libdir=$(pkg-config --variable=libdir latestframe-capture)
status=0
LD_LIBRARY_PATH="$libdir" "$scratch/example" >"$scratch/out" 2>&1 || status=$?
cat "$scratch/out"
# Without a URI the example prints its usage and exits 2.
[ "$status" -eq 2 ] && grep -q usage "$scratch/out"
