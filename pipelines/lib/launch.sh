# Shared by the launch-line scripts: option parsing and a clean, bounded run.
#   --uri URL          the camera (required)
#   --protocols P      rtspsrc transports: tcp, udp, or tcp+udp (default tcp)
#   --seconds N        stop cleanly (EOS) after N seconds (default: Ctrl-C)
#   --sink ELEMENT     where frames end (default fakesink; autovideosink to see them)
uri="" protocols=tcp seconds=0 sink=fakesink extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --uri) uri=$2; shift 2 ;;
    --protocols) protocols=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --sink) sink=$2; shift 2 ;;
    *) extra+=("$1"); shift ;;
  esac
done
[ -n "$uri" ] || { echo "usage: $0 --uri rtsp://HOST:PORT/PATH [--protocols tcp|udp] [--seconds N] [--sink ELEMENT]" >&2; exit 2; }

# Runs gst-launch-1.0 with the given launch line; -e turns Ctrl-C (or the
# --seconds timer) into EOS, so files are finished properly.
run_launch() {
  if [ "$seconds" != 0 ]; then
    timeout --preserve-status --signal=INT --kill-after=10 "$seconds" gst-launch-1.0 -e -m "$@"
  else
    gst-launch-1.0 -e -m "$@"
  fi
}
