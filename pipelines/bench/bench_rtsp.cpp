/* Benchmark: one consumer of an RTSP camera, in its own process, with an
 * analysis stand-in of P ms per frame. Prints one line of figures:
 * frames analysed, frame age at analysis p50/p95/max (from the pixel
 * stamps of latestframe-testcam), peak RSS and CPU seconds of this process.
 *
 * Consumers: floor (no analysis, no queue: the transport+decode floor),
 * latestframe, latestframe-maxage, queue-leaky (queue leaky=downstream
 * max-size-buffers=1), appsink-drop (appsink drop=true max-buffers=1 and an
 * application loop), queue (a default queue), latestframe-after-convert
 * (videoconvert to BGR before latestframe, to compare with latestframe
 * before it).
 *
 * Usage: bench_rtsp --uri URL --consumer NAME [--analysis-ms P]
 *        [--seconds S] [--timeline FILE] [--max-age-ms A] */
#include "common/frame_stamp.h"
#include "common/percentile.h"
#include "latestframe/stamp.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace stamp = latestframe::stamp;
using latestframe::percentile;

namespace
{

struct figures
{
  std::mutex lock;
  std::vector<double> ages_ms;
  std::vector<std::pair<double, double>> timeline; /* seconds, age ms */
  std::uint64_t started_ns = stamp::monotonic_now_ns ();
  int frames = 0;
};

void
record_age (figures &f, GstBuffer *buffer, GstCaps *caps)
{
  std::optional<std::uint64_t> captured
      = latestframe::read_frame_stamp (buffer, caps);
  const std::uint64_t now = stamp::monotonic_now_ns ();
  std::lock_guard<std::mutex> guard (f.lock);
  f.frames++;
  if (captured && *captured <= now)
    {
      double age = (now - *captured) / 1e6;
      f.ages_ms.push_back (age);
      f.timeline.emplace_back ((now - f.started_ns) / 1e9, age);
    }
}

GstPadProbeReturn
on_analysis (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  GstCaps *caps = gst_pad_get_current_caps (pad);
  record_age (*static_cast<figures *> (data), GST_PAD_PROBE_INFO_BUFFER (info),
              caps);
  if (caps)
    gst_caps_unref (caps);
  return GST_PAD_PROBE_OK;
}

std::string
source (const std::string &uri)
{
  return "rtspsrc location=" + uri
         + " latency=0 protocols=tcp add-reference-timestamp-meta=true "
           "! decodebin ";
}

} // namespace

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  std::string uri, consumer = "latestframe", timeline_file;
  int analysis_ms = 100, max_age_ms = 7;
  double seconds = 8;
  for (int i = 1; i + 1 < argc; i += 2)
    {
      std::string key = argv[i], value = argv[i + 1];
      if (key == "--uri")
        uri = value;
      else if (key == "--consumer")
        consumer = value;
      else if (key == "--analysis-ms")
        analysis_ms = std::atoi (value.c_str ());
      else if (key == "--seconds")
        seconds = std::atof (value.c_str ());
      else if (key == "--timeline")
        timeline_file = value;
      else if (key == "--max-age-ms")
        max_age_ms = std::atoi (value.c_str ());
    }
  if (uri.empty ())
    {
      std::fprintf (stderr, "usage: %s --uri URL --consumer NAME ...\n",
                    argv[0]);
      return 2;
    }

  const std::string analysis = "identity name=analysis sleep-time="
                               + std::to_string (analysis_ms * 1000)
                               + " ! fakesink sync=false";
  std::string launch;
  bool app_loop = false;
  if (consumer == "floor")
    launch = source (uri) + "! identity name=analysis ! fakesink sync=false";
  else if (consumer == "latestframe")
    launch = source (uri) + "! latestframe ! " + analysis;
  else if (consumer == "latestframe-maxage")
    launch = source (uri) + "! latestframe max-age="
             + std::to_string (static_cast<guint64> (max_age_ms) * 1000000)
             + " ! " + analysis;
  else if (consumer == "latestframe-after-convert")
    launch = source (uri)
             + "! videoconvert ! video/x-raw,format=BGR ! latestframe ! "
             + analysis;
  else if (consumer == "latestframe-before-convert")
    launch = source (uri)
             + "! latestframe ! videoconvert ! video/x-raw,format=BGR ! "
             + analysis;
  else if (consumer == "queue-leaky")
    launch = source (uri) + "! queue leaky=downstream max-size-buffers=1 ! "
             + analysis;
  else if (consumer == "queue")
    launch = source (uri) + "! queue ! " + analysis;
  else if (consumer == "appsink-drop")
    {
      launch = source (uri)
               + "! appsink name=sink drop=true max-buffers=1 sync=false";
      app_loop = true;
    }
  else
    {
      std::fprintf (stderr, "unknown consumer %s\n", consumer.c_str ());
      return 2;
    }

  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (launch.c_str (), &error);
  if (!pipeline || error)
    {
      std::fprintf (stderr, "cannot build the pipeline: %s\n",
                    error ? error->message : "?");
      return 1;
    }
  figures f;
  if (!app_loop)
    {
      GstElement *at = gst_bin_get_by_name (GST_BIN (pipeline), "analysis");
      GstPad *pad = gst_element_get_static_pad (at, "sink");
      gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_analysis, &f, NULL);
      gst_object_unref (pad);
      gst_object_unref (at);
    }
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  const auto end = std::chrono::steady_clock::now ()
                   + std::chrono::duration<double> (seconds);
  GstBus *bus = gst_element_get_bus (pipeline);
  int status = 0;
  if (app_loop)
    {
      GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
      while (std::chrono::steady_clock::now () < end)
        {
          GstSample *sample
              = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), GST_SECOND);
          if (!sample)
            continue;
          record_age (f, gst_sample_get_buffer (sample),
                      gst_sample_get_caps (sample));
          gst_sample_unref (sample);
          std::this_thread::sleep_for (std::chrono::milliseconds (analysis_ms));
        }
      gst_object_unref (sink);
    }
  else
    {
      GstMessage *msg = gst_bus_timed_pop_filtered (
          bus, static_cast<GstClockTime> (seconds * GST_SECOND),
          GST_MESSAGE_ERROR);
      if (msg)
        {
          GError *err = NULL;
          gst_message_parse_error (msg, &err, NULL);
          std::fprintf (stderr, "error: %s\n", err->message);
          g_clear_error (&err);
          gst_message_unref (msg);
          status = 1;
        }
    }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);

  rusage usage;
  getrusage (RUSAGE_SELF, &usage);
  const double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6
                     + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
  std::printf ("consumer=%s analysis_ms=%d frames=%d stamps=%zu age_p50=%.1f "
               "age_p95=%.1f age_max=%.1f rss_mb=%.1f cpu_s=%.2f\n",
               consumer.c_str (),
               analysis_ms, f.frames, f.ages_ms.size (),
               percentile (f.ages_ms, 0.5), percentile (f.ages_ms, 0.95),
               percentile (f.ages_ms, 1.0), usage.ru_maxrss / 1024.0, cpu);
  if (!timeline_file.empty ())
    if (FILE *out = std::fopen (timeline_file.c_str (), "w"))
      {
        for (const auto &[t, age] : f.timeline)
          std::fprintf (out, "%.3f %.1f\n", t, age);
        std::fclose (out);
      }
  gst_deinit ();
  return status;
}
