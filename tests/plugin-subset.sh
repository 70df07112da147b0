#!/usr/bin/env bash
# Makes DIR a plugin directory holding links to only the named system
# plugins, so that tests scanning plugins in-process (under the sanitizers)
# load what they use and nothing else: other plugins' one-off allocations
# (fontconfig threads, ...) would read as leaks.
#   plugin-subset.sh PLUGINSDIR DIR NAME...
set -eu
source_dir=$1 target=$2
shift 2
rm -rf "$target"
mkdir -p "$target"
for name in "$@"; do
  plugin="$source_dir/libgst$name.so"
  [ -e "$plugin" ] || { echo "missing GStreamer plugin: $plugin" >&2; exit 1; }
  ln -s "$plugin" "$target/"
done
