# Shared by the project's scripts: install what is missing, build if needed.
# Source it; it changes nothing until a function is called.

LATESTFRAME_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Every Debian package the project needs to build, test and run its demo.
LATESTFRAME_PACKAGES=(
  meson ninja-build pkg-config g++ python3
  libglib2.0-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  libgtest-dev libbenchmark-dev
  libopencv-dev opencv-data opencv-doc libzbar-dev gstreamer1.0-libav
  libgstrtspserver-1.0-dev gstreamer1.0-rtsp gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad
  gnuplot-nox
  stress-ng
  python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 python3-gst-1.0
  python3-numpy python3-dev pybind11-dev python3-pytest python3-mesonpy
  python3-venv python3-pip python3-opencv
  clang-14 libclang-rt-14-dev  # libFuzzer: tests/fuzz, pipelines/fuzz.sh
  # latestframe-service and mqttpublish; the broker and checks in the tests
  libyaml-cpp-dev libmosquitto-dev nlohmann-json3-dev
  libjpeg-dev  # latest.jpg by libjpeg itself, not OpenCV's imgcodecs (GDAL and 75 more)
  mosquitto mosquitto-clients python3-paho-mqtt python3-jsonschema python3-yaml
)

# Bench-only: what a benchmark compares the project with, installed by the
# bench that needs it (ensure_packages "${LATESTFRAME_BENCH_PACKAGES[@]}"),
# never by the build or the suite. ffmpeg: pipelines/bench-service.sh
# --peer ffmpeg; linux-perf (perf) and heaptrack: pipelines/bench-profile.sh.
LATESTFRAME_BENCH_PACKAGES=(ffmpeg linux-perf heaptrack)

# A command as a shell would take it back: the words, each with spaces or
# quotes single-quoted (the run line a bench publishes, to be re-run as it
# reads: --analyses "cvmotion mixtures=1").
command_line() {
  local line="" word
  for word in "$@"; do
    case $word in
      ""|*[[:space:]\'\"\$\\]*) line+=" '${word//\'/\'\\\'\'}'" ;;
      *) line+=" $word" ;;
    esac
  done
  printf '%s' "${line# }"
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the packages that are not installed yet (apt-get), and nothing
# when all are there: the project's, and the extra ones named.
ensure_packages() {
  local missing=() package
  for package in "${LATESTFRAME_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
      || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing missing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Configures (when needed) and builds $1 with the meson options that follow.
ensure_build() {
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$LATESTFRAME_ROOT" "$@" >"$dir.setup.log" 2>&1 \
      || { cat "$dir.setup.log"; return 1; }
  fi
  ninja -C "$dir" >/dev/null || ninja -C "$dir"
}

# Installs the build where users expect it (sudo when not root): the plugins
# into GStreamer's plugin directory, the capture library, its header and
# pkg-config file under /usr/local, the Python package where Debian's
# python3 finds it (/usr/local/lib/python3.*/dist-packages), so that
# `import latestframe` works from anywhere with no environment variables.
install_build() {
  as_root meson install -C "$1" --quiet >"$1.install.log" 2>&1 \
    || { cat "$1.install.log"; return 1; }
  as_root ldconfig
}

# Debian's own python3, which has PyGObject (python3-gi); a python3 earlier
# in PATH (pyenv, venv) may not.
system_python() {
  if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else command -v python3; fi
}

# Installs what is missing, builds if needed (LATESTFRAME_BUILD_DIR, or
# build/), and points GStreamer at the build's plugins. Sets build_dir.
# Their folder, gst/, rather than the whole build: GStreamer would try every
# .so below it as a plugin, the Python extension too, which cannot load
# outside python3 and makes it print a warning.
prepare_build() {
  build_dir=${LATESTFRAME_BUILD_DIR:-$LATESTFRAME_ROOT/build}
  ensure_packages
  ensure_build "$build_dir"
  # gst/ only: GStreamer's scanner would try the Python extension as a
  # plugin, and warn about it, anywhere else in the build.
  export GST_PLUGIN_PATH="$build_dir/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
}

# Starts the test camera (LATESTFRAME_TESTCAM, or the build's) in the
# background on a free port of 127.0.0.1 with the options given. Sets
# camera (its pid) and url; fails, saying why, if it does not serve.
start_testcam() {
  local program=${LATESTFRAME_TESTCAM:-$build_dir/src/testcam/latestframe-testcam}
  local log
  log=$(mktemp)
  "$program" --port=0 "$@" >"$log" 2>&1 &
  camera=$!
  for _ in $(seq 100); do [ -s "$log" ] && break; sleep 0.1; done
  url=$(head -1 "$log")
  case $url in
    rtsp://*) rm -f "$log" ;;
    *) echo "the test camera did not start: $(cat "$log")" >&2; rm -f "$log"; return 1 ;;
  esac
}

# Stops the camera start_testcam started, if any.
stop_testcam() {
  if [ -n "${camera:-}" ]; then
    kill "$camera" 2>/dev/null || true
    wait "$camera" 2>/dev/null || true
  fi
  camera=""
}
