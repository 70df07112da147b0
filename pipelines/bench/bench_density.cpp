/* Benchmark (section 6 of pipelines/bench.sh): N cameras in one process,
 * each its own pipeline in one of four shapes, and what each costs.
 *
 *   decode-everything: rtspsrc ! rtph264depay ! h264parse ! avdec_h264
 *                      ! latestframe analysis-rate=R ! videoconvert
 *                      ! cvmotion analysis-width=320 ! fakesink
 *   on-demand, key-units, auto: rtspsrc ! rtph264depay ! h264parse
 *                      ! latestframe decode=MODE analysis-rate=R
 *                      ! avdec_h264 ! videoconvert
 *                      ! cvmotion analysis-width=320 ! fakesink
 *
 * The window: once every camera has had a frame analysed (or the start-up
 * time is out), and a warm-up after that, S seconds are measured. Start-up
 * (plugin loading, RTSP set-up, the wait for a first key unit) would
 * otherwise weigh on short runs and more on the shapes that decode less.
 * Prints one line of figures for the window:
 *   cpu_per_camera  user+sys CPU-seconds of this process (getrusage), per
 *                   camera per second of wall time;
 *   age_p50/p95/max time from capture (the pixel stamp of latestframe-testcam,
 *                   read from the luma plane) to the buffer reaching
 *                   cvmotion's sink pad, over all cameras, in ms;
 *                   unreadable counts analysed frames without a stamp;
 *   analyses_min    analyses per second of the camera that got fewest,
 *                   analyses_mean the mean over cameras, analyses_max the
 *                   most (above R: frames meant to be decode-only were
 *                   analysed too; see analyses_per_second());
 *   to_decoder      frames into avdec_h264 per camera per second (what is
 *                   decoded, decode-only frames included), without_pts
 *                   those of them without a PTS, summed over cameras
 *                   (latestframe cannot make those decode-only: they are
 *                   shown), decoded the pictures out of it (what reaches
 *                   videoconvert);
 *   rss_mb          peak RSS of this process (ru_maxrss, whole run);
 *   testcam_cpu     CPU-seconds per second of the test camera over the same
 *                   window (/proc/PID/stat), when its pid is given: it runs
 *                   on the same cores, nothing is subtracted;
 *   decoding, decode_only, broken_chain, skipped_delta, superseded
 *                   from the latestframe elements' stats over the window
 *                   (the mode in force, and the frames handed over only to
 *                   be decoded or dropped for each reason), summed;
 *   errors, warnings posted on the bus during the whole run (the first of
 *                   each distinct one is printed on stderr);
 *   startup_s, teardown_s how long it took every camera to have a frame
 *                   analysed, and the change to NULL at the end;
 *   bound           met when every camera kept >= 90% of R analyses per
 *                   second, age p95 <= --age-bound-ms, every stamp was
 *                   readable and no element posted an error.
 *
 * Usage: bench_density --uri URL --shape SHAPE [--cameras N] [--rate R]
 *        [--seconds S] [--warm-up S] [--max-threads T] [--protocols P]
 *        [--testcam-pid PID] [--age-bound-ms A] [--part NAME] [--round K]
 * (--part and --round only label the line.)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "common/frame_stamp.h"
#include "common/percentile.h"
#include "latestframe/stamp.h"

#include <gst/gst.h>
#include <gst/video/video.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace stamp = latestframe::stamp;
using latestframe::percentile;

namespace
{

const char *const shapes[]
    = { "decode-everything", "on-demand", "key-units", "auto" };

/* One frame that reached cvmotion: when, and its capture time if the stamp
 * could be read. */
struct analysis
{
  std::uint64_t at_ns;
  std::optional<std::uint64_t> captured_ns;
};

/* What the pad probes of one camera's pipeline count; written from its
 * streaming threads, read by the main thread. */
struct camera_figures
{
  std::atomic<std::uint64_t> to_decoder{ 0 };
  /* Of those, frames without a PTS: latestframe cannot make them
   * decode-only (it warns), so the decoder shows them. */
  std::atomic<std::uint64_t> to_decoder_without_pts{ 0 };
  std::atomic<std::uint64_t> decoded{ 0 };
  std::mutex lock; /* guards analyses and format */
  std::vector<analysis> analyses;
  std::string format;
};

/* The latestframe stats summed over the window, per camera. */
struct keeper_counts
{
  std::uint64_t decode_only = 0, broken_chain = 0, skipped_delta = 0,
                superseded = 0;
};

GstPadProbeReturn
count_into_decoder (GstPad *, GstPadProbeInfo *info, gpointer data)
{
  camera_figures &camera = *static_cast<camera_figures *> (data);
  camera.to_decoder++;
  if (!GST_BUFFER_PTS_IS_VALID (GST_PAD_PROBE_INFO_BUFFER (info)))
    camera.to_decoder_without_pts++;
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn
count_out_of_decoder (GstPad *, GstPadProbeInfo *, gpointer data)
{
  static_cast<camera_figures *> (data)->decoded++;
  return GST_PAD_PROBE_OK;
}

/* At cvmotion's sink pad, after videoconvert: the frame is about to be
 * analysed. The stamp is read from the luma plane (I420/NV12 as negotiated
 * here); reading it costs well under a millisecond, and every shape pays it
 * alike. */
GstPadProbeReturn
record_analysis (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  camera_figures &camera = *static_cast<camera_figures *> (data);
  GstCaps *caps = gst_pad_get_current_caps (pad);
  std::optional<std::uint64_t> captured
      = latestframe::read_frame_stamp (GST_PAD_PROBE_INFO_BUFFER (info), caps);
  const std::uint64_t now = stamp::monotonic_now_ns ();
  std::string format;
  if (caps)
    {
      const char *name = gst_structure_get_string (
          gst_caps_get_structure (caps, 0), "format");
      format = name ? name : "?";
      gst_caps_unref (caps);
    }
  if (captured && *captured > now)
    captured.reset (); /* not a capture time of this machine's clock */
  std::lock_guard<std::mutex> guard (camera.lock);
  camera.analyses.push_back ({ now, captured });
  camera.format = format;
  return GST_PAD_PROBE_OK;
}

/* The launch line of camera `index` in `shape`. protocols=tcp by default,
 * as section 1 does: over UDP on a saturated machine the kernel drops
 * packets, and lost slices would show as unreadable stamps rather than as
 * the cost of the shape. */
std::string
launch_line (const std::string &shape, int index, const std::string &uri,
             double rate, int max_threads, const std::string &protocols)
{
  const std::string n = std::to_string (index);
  const std::string source = "rtspsrc location=" + uri + " latency=0 protocols="
                             + protocols + " ! rtph264depay ! h264parse ! ";
  const std::string decoder = "avdec_h264 name=decoder" + n + " max-threads="
                              + std::to_string (max_threads) + " ! ";
  char pace[64];
  std::snprintf (pace, sizeof pace, "analysis-rate=%g", rate);
  const std::string analysis = "videoconvert ! cvmotion name=motion" + n
                               + " analysis-width=320 ! fakesink sync=false ";
  if (shape == "decode-everything")
    return source + decoder + "latestframe name=keeper" + n + " " + pace + " ! "
           + analysis;
  return source + "latestframe name=keeper" + n + " decode=" + shape + " "
         + pace + " ! " + decoder + analysis;
}

double
cpu_seconds_of_this_process ()
{
  rusage usage;
  getrusage (RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6
         + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

/* utime + stime of another process, in seconds (clock-tick resolution,
 * 10 ms on Debian), or nothing when it cannot be read. */
std::optional<double>
cpu_seconds_of (long pid)
{
  std::ifstream file ("/proc/" + std::to_string (pid) + "/stat");
  std::string line;
  if (!std::getline (file, line))
    return std::nullopt;
  /* The command name (field 2) may hold spaces: count from after it. */
  const std::size_t after_name = line.rfind (')');
  if (after_name == std::string::npos)
    return std::nullopt;
  std::istringstream fields (line.substr (after_name + 1));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; i++)
    if (i == 14 || i == 15) /* utime, stime */
      ticks += std::atof (field.c_str ());
  return ticks / sysconf (_SC_CLK_TCK);
}

/* Analyses per second of one camera over the window [start, end]. Counting
 * k analyses in S seconds is off by up to one either way (at R = 1 and
 * S = 5, 4 of 5 would read as 80%), so the rate is taken between the first
 * and the last analysis in the window, (k - 1) / (t_k - t_1), when neither
 * end of the window went longer than 1.5 periods without one; otherwise (a
 * camera starved at the start or the end) it is k / S, which shows the
 * starvation. */
double
analyses_per_second (const std::vector<std::uint64_t> &times,
                     std::uint64_t start, std::uint64_t end, double rate)
{
  const double window = (end - start) / 1e9;
  if (times.size () < 2 || rate <= 0)
    return times.size () / window;
  const double longest_end_gap = 1.5 / rate;
  if ((times.front () - start) / 1e9 > longest_end_gap
      || (end - times.back ()) / 1e9 > longest_end_gap)
    return times.size () / window;
  return (times.size () - 1) / ((times.back () - times.front ()) / 1e9);
}

GstElement *
element_of (GstElement *pipeline, const std::string &name)
{
  return gst_bin_get_by_name (GST_BIN (pipeline), name.c_str ());
}

void
probe (GstElement *pipeline, const std::string &element, const char *pad_name,
       GstPadProbeCallback callback, camera_figures *camera)
{
  GstElement *found = element_of (pipeline, element);
  GstPad *pad = gst_element_get_static_pad (found, pad_name);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, callback, camera, NULL);
  gst_object_unref (pad);
  gst_object_unref (found);
}

/* The counts of one latestframe's stats now; decoding gets the mode in
 * force ("all" on raw video). */
keeper_counts
read_keeper (GstElement *pipeline, int index, std::string *decoding)
{
  keeper_counts counts;
  GstElement *keeper = element_of (pipeline, "keeper" + std::to_string (index));
  GstStructure *stats = NULL;
  g_object_get (keeper, "stats", &stats, NULL);
  gst_object_unref (keeper);
  if (!stats)
    return counts;
  gst_structure_get_uint64 (stats, "decode-only", &counts.decode_only);
  gst_structure_get_uint64 (stats, "dropped-broken-chain",
                            &counts.broken_chain);
  gst_structure_get_uint64 (stats, "dropped-skipped-delta",
                            &counts.skipped_delta);
  gst_structure_get_uint64 (stats, "dropped-superseded", &counts.superseded);
  if (decoding)
    {
      const char *mode = gst_structure_get_string (stats, "decoding");
      *decoding = mode ? mode : "?";
    }
  gst_structure_free (stats);
  return counts;
}

/* The errors and warnings posted during a run. */
struct bus_report
{
  int errors = 0, warnings = 0;
  /* Each distinct message (kind and text, not the element: N cameras post
   * the same one N times), with how many times it was posted. */
  std::map<std::string, int> distinct;
};

/* Counts an error or a warning, printing the first of each distinct one
 * with its element and debug text; other messages are ignored. */
void
count_message (GstMessage *message, bus_report &report)
{
  const bool error = GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR;
  if (!error && GST_MESSAGE_TYPE (message) != GST_MESSAGE_WARNING)
    return;
  GError *gerror = NULL;
  gchar *debug = NULL;
  if (error)
    gst_message_parse_error (message, &gerror, &debug);
  else
    gst_message_parse_warning (message, &gerror, &debug);
  (error ? report.errors : report.warnings)++;
  const std::string text
      = std::string (error ? "error: " : "warning: ") + gerror->message;
  if (report.distinct[text]++ == 0)
    std::fprintf (stderr, "%s (first from %s: %s)\n", text.c_str (),
                  GST_OBJECT_NAME (message->src), debug ? debug : "");
  g_free (debug);
  g_clear_error (&gerror);
}

/* Empties every camera's bus every 20 ms until `deadline`, counting errors
 * and warnings. An error stops one camera, not the others: they are still
 * measured, and the stopped camera shows as starved. The messages cvmotion
 * posts with each frame's results are popped too, so the buses do not
 * grow. */
void
watch_buses (const std::vector<GstBus *> &buses,
             std::chrono::steady_clock::time_point deadline, bus_report &report)
{
  while (std::chrono::steady_clock::now () < deadline)
    {
      for (GstBus *bus : buses)
        while (GstMessage *message = gst_bus_pop (bus))
          {
            count_message (message, report);
            gst_message_unref (message);
          }
      g_usleep (20000);
    }
}

std::chrono::steady_clock::time_point
seconds_after (std::chrono::steady_clock::time_point from, double seconds)
{
  return from
         + std::chrono::duration_cast<std::chrono::steady_clock::duration> (
             std::chrono::duration<double> (seconds));
}

int
usage (const char *program)
{
  std::fprintf (stderr,
                "usage: %s --uri URL --shape "
                "decode-everything|on-demand|key-units|auto [--cameras N] "
                "[--rate R] [--seconds S] [--warm-up S] [--max-threads T] "
                "[--protocols tcp|udp] [--testcam-pid PID] "
                "[--age-bound-ms A] [--part NAME] [--round K]\n",
                program);
  return 2;
}

} // namespace

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  std::string uri, shape, protocols = "tcp", part = "-", round = "-";
  int cameras = 1, max_threads = 1;
  long testcam_pid = 0;
  double rate = 1, seconds = 5, warm_up = 2, age_bound_ms = 1500;
  for (int i = 1; i < argc; i += 2)
    {
      if (i + 1 >= argc)
        return usage (argv[0]);
      const std::string key = argv[i], value = argv[i + 1];
      if (key == "--uri")
        uri = value;
      else if (key == "--shape")
        shape = value;
      else if (key == "--cameras")
        cameras = std::atoi (value.c_str ());
      else if (key == "--rate")
        rate = std::atof (value.c_str ());
      else if (key == "--seconds")
        seconds = std::atof (value.c_str ());
      else if (key == "--warm-up")
        warm_up = std::atof (value.c_str ());
      else if (key == "--max-threads")
        max_threads = std::atoi (value.c_str ());
      else if (key == "--protocols")
        protocols = value;
      else if (key == "--testcam-pid")
        testcam_pid = std::atol (value.c_str ());
      else if (key == "--age-bound-ms")
        age_bound_ms = std::atof (value.c_str ());
      else if (key == "--part")
        part = value;
      else if (key == "--round")
        round = value;
      else
        return usage (argv[0]);
    }
  if (uri.empty () || cameras < 1 || seconds <= 0
      || std::find (std::begin (shapes), std::end (shapes), shape)
             == std::end (shapes))
    return usage (argv[0]);

  /* One pipeline per camera, in this one process, as a recorder that
   * supervises each camera has it: a camera whose RTSP set-up fails stops
   * alone. With one pipeline for all, a few sessions the test camera did
   * not set up in time (at N=128-160) held every other camera still, and
   * the run measured nothing. */
  std::vector<GstElement *> pipelines;
  std::vector<GstBus *> buses;
  std::vector<std::unique_ptr<camera_figures>> figures;
  for (int i = 0; i < cameras; i++)
    {
      GError *error = NULL;
      GstElement *pipeline = gst_parse_launch (
          launch_line (shape, i, uri, rate, max_threads, protocols).c_str (),
          &error);
      if (!pipeline || error)
        {
          std::fprintf (stderr, "cannot build the pipeline: %s\n",
                        error ? error->message : "?");
          return 1;
        }
      pipelines.push_back (pipeline);
      buses.push_back (gst_element_get_bus (pipeline));
      figures.push_back (std::make_unique<camera_figures> ());
      const std::string n = std::to_string (i);
      camera_figures *camera = figures.back ().get ();
      probe (pipeline, "decoder" + n, "sink", count_into_decoder, camera);
      probe (pipeline, "decoder" + n, "src", count_out_of_decoder, camera);
      probe (pipeline, "motion" + n, "sink", record_analysis, camera);
    }

  bus_report posted;
  using clock = std::chrono::steady_clock;
  const auto playing = clock::now ();
  /* The cameras are opened one after the other, 20 ms apart, rather than
   * N RTSP sessions asked of the server in the same instant. */
  for (GstElement *pipeline : pipelines)
    {
      gst_element_set_state (pipeline, GST_STATE_PLAYING);
      watch_buses (buses, clock::now () + std::chrono::milliseconds (20),
                   posted);
    }

  /* Start-up: every camera analysed once, within a limit that grows with N
   * (N RTSP sessions set up against one server, each then waiting up to a
   * key interval for its first key unit). An error ends the wait: the
   * camera it stopped would never start. */
  auto camera_started = [] (const std::unique_ptr<camera_figures> &camera) {
    std::lock_guard<std::mutex> guard (camera->lock);
    return !camera->analyses.empty ();
  };
  const auto start_limit = seconds_after (clock::now (), 10 + 0.05 * cameras);
  while (posted.errors == 0 && clock::now () < start_limit
         && !std::all_of (figures.begin (), figures.end (), camera_started))
    watch_buses (buses, clock::now () + std::chrono::milliseconds (100),
                 posted);
  const long started
      = std::count_if (figures.begin (), figures.end (), camera_started);
  const double startup
      = std::chrono::duration<double> (clock::now () - playing).count ();
  watch_buses (buses, seconds_after (clock::now (), warm_up), posted);

  /* The window. */
  std::vector<keeper_counts> keepers_before;
  for (int i = 0; i < cameras; i++)
    keepers_before.push_back (read_keeper (pipelines[i], i, nullptr));
  std::vector<std::uint64_t> to_decoder_before, without_pts_before,
      decoded_before;
  for (const auto &camera : figures)
    {
      to_decoder_before.push_back (camera->to_decoder);
      without_pts_before.push_back (camera->to_decoder_without_pts);
      decoded_before.push_back (camera->decoded);
    }
  const std::optional<double> testcam_before
      = testcam_pid ? cpu_seconds_of (testcam_pid) : std::nullopt;
  const double cpu_before = cpu_seconds_of_this_process ();
  const auto wall_before = clock::now ();
  const std::uint64_t window_start = stamp::monotonic_now_ns ();
  watch_buses (buses, seconds_after (wall_before, seconds), posted);
  const std::uint64_t window_end = stamp::monotonic_now_ns ();
  const double cpu = cpu_seconds_of_this_process () - cpu_before;
  const double wall
      = std::chrono::duration<double> (clock::now () - wall_before).count ();
  const std::optional<double> testcam_after
      = testcam_pid ? cpu_seconds_of (testcam_pid) : std::nullopt;
  std::set<std::string> decodings;
  keeper_counts keepers;
  double to_decoder = 0, decoded = 0;
  std::uint64_t without_pts = 0;
  for (int i = 0; i < cameras; i++)
    {
      std::string decoding;
      const keeper_counts after = read_keeper (pipelines[i], i, &decoding);
      decodings.insert (decoding);
      keepers.decode_only += after.decode_only - keepers_before[i].decode_only;
      keepers.broken_chain
          += after.broken_chain - keepers_before[i].broken_chain;
      keepers.skipped_delta
          += after.skipped_delta - keepers_before[i].skipped_delta;
      keepers.superseded += after.superseded - keepers_before[i].superseded;
      to_decoder += figures[i]->to_decoder - to_decoder_before[i];
      without_pts += figures[i]->to_decoder_without_pts - without_pts_before[i];
      decoded += figures[i]->decoded - decoded_before[i];
    }
  const auto stopping = clock::now ();
  for (GstElement *pipeline : pipelines)
    gst_element_set_state (pipeline, GST_STATE_NULL);
  const double teardown
      = std::chrono::duration<double> (clock::now () - stopping).count ();
  for (GstBus *bus : buses)
    gst_object_unref (bus);
  for (GstElement *pipeline : pipelines)
    gst_object_unref (pipeline);

  std::vector<double> ages_ms;
  std::set<std::string> formats;
  long unreadable = 0;
  double analyses_min = 1e9, analyses_max = 0, analyses_sum = 0;
  int cameras_named = 0;
  for (std::size_t i = 0; i < figures.size (); i++)
    {
      camera_figures &camera = *figures[i];
      std::lock_guard<std::mutex> guard (camera.lock);
      std::vector<std::uint64_t> times;
      long camera_unreadable = 0;
      for (const analysis &a : camera.analyses)
        {
          if (a.at_ns < window_start || a.at_ns > window_end)
            continue;
          times.push_back (a.at_ns);
          if (a.captured_ns)
            ages_ms.push_back ((a.at_ns - *a.captured_ns) / 1e6);
          else
            camera_unreadable++;
        }
      unreadable += camera_unreadable;
      if (!camera.format.empty ())
        formats.insert (camera.format);
      const double per_second
          = analyses_per_second (times, window_start, window_end, rate);
      /* A camera that was starved, over-served or saw a frame without a
       * stamp is named on stderr, to be looked into (the first few). */
      if ((camera_unreadable > 0 || per_second < 0.9 * rate
           || (rate > 0 && per_second > 1.1 * rate))
          && ++cameras_named <= 8)
        std::fprintf (stderr,
                      "camera %zu: %.2f analyses/s, %ld unreadable of %zu in "
                      "the window, %zu analysed in the whole run\n",
                      i, per_second, camera_unreadable, times.size (),
                      camera.analyses.size ());
      analyses_min = std::min (analyses_min, per_second);
      analyses_max = std::max (analyses_max, per_second);
      analyses_sum += per_second;
    }
  if (cameras_named > 8)
    std::fprintf (stderr, "... and %d more such cameras\n", cameras_named - 8);
  auto joined = [] (const std::set<std::string> &values) {
    std::string text;
    for (const std::string &value : values)
      text += (text.empty () ? "" : "+") + value;
    return text.empty () ? std::string ("-") : text;
  };
  const double age_p95 = percentile (ages_ms, 0.95);
  const bool bound_met = analyses_min >= 0.9 * rate && !ages_ms.empty ()
                         && age_p95 <= age_bound_ms && unreadable == 0
                         && posted.errors == 0;
  rusage usage;
  getrusage (RUSAGE_SELF, &usage);
  char testcam_cpu[32] = "n/a";
  if (testcam_before && testcam_after)
    std::snprintf (testcam_cpu, sizeof testcam_cpu, "%.3f",
                   (*testcam_after - *testcam_before) / wall);
  std::printf (
      "density part=%s round=%s shape=%s cameras=%d rate=%g seconds=%.2f "
      "max_threads=%d protocols=%s started=%ld cpu_per_camera=%.4f "
      "age_p50=%.1f age_p95=%.1f age_max=%.1f ages=%zu unreadable=%ld "
      "analyses_min=%.2f analyses_mean=%.2f analyses_max=%.2f "
      "to_decoder=%.2f without_pts=%llu decoded=%.2f "
      "rss_mb=%.1f testcam_cpu=%s format=%s decoding=%s decode_only=%llu "
      "broken_chain=%llu skipped_delta=%llu superseded=%llu errors=%d "
      "warnings=%d startup_s=%.1f teardown_s=%.1f age_bound_ms=%g bound=%s\n",
      part.c_str (), round.c_str (), shape.c_str (), cameras, rate, wall,
      max_threads, protocols.c_str (), started, cpu / cameras / wall,
      percentile (ages_ms, 0.5), age_p95, percentile (ages_ms, 1.0),
      ages_ms.size (), unreadable, analyses_min, analyses_sum / cameras,
      analyses_max, to_decoder / cameras / wall,
      static_cast<unsigned long long> (without_pts), decoded / cameras / wall,
      usage.ru_maxrss / 1024.0, testcam_cpu, joined (formats).c_str (),
      joined (decodings).c_str (),
      static_cast<unsigned long long> (keepers.decode_only),
      static_cast<unsigned long long> (keepers.broken_chain),
      static_cast<unsigned long long> (keepers.skipped_delta),
      static_cast<unsigned long long> (keepers.superseded), posted.errors,
      posted.warnings, startup, teardown, age_bound_ms,
      bound_met ? "met" : "missed");
  gst_deinit ();
  return 0;
}
