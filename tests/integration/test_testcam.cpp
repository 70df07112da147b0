/* Integration tests of latestframe-testcam: a real RTSP server on
 * 127.0.0.1 read by rtspsrc and a real H.264 decoder. */
#include "common/frame_stamp.h"
#include "common/sample_data.h"
#include "common/testcam.h"
#include "latestframe/stamp.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace stamp = latestframe::stamp;
using latestframe::percentile;
using latestframe::testcam;

namespace
{

struct stamp_tally
{
  int frames = 0;
  int decoded = 0;
  std::vector<double> ages_ms;
};

/* Reads `frames` frames of `url` as I420 and decodes each one's stamp. */
stamp_tally
read_stamps (const std::string &url, int frames, const char *protocols = "tcp")
{
  std::string launch
      = "rtspsrc location=" + url + " latency=0 protocols=" + protocols
        + " ! decodebin ! videoconvert ! video/x-raw,format=I420 "
          "! appsink name=sink sync=false max-buffers=400";
  GstElement *pipeline = gst_parse_launch (launch.c_str (), NULL);
  EXPECT_TRUE (pipeline != NULL);
  stamp_tally tally;
  if (!pipeline)
    return tally;
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  while (tally.frames < frames)
    {
      GstSample *sample
          = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 20 * GST_SECOND);
      if (!sample)
        break;
      const std::uint64_t now = stamp::monotonic_now_ns ();
      std::optional<std::uint64_t> captured = latestframe::read_frame_stamp (
          gst_sample_get_buffer (sample), gst_sample_get_caps (sample));
      if (captured && *captured <= now)
        {
          tally.decoded++;
          tally.ages_ms.push_back ((now - *captured) / 1e6);
        }
      tally.frames++;
      gst_sample_unref (sample);
    }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  return tally;
}

/* A pipeline over the camera, run for a while with a probe reading each
 * frame's stamp where the analysis starts (the pad named `probe_at`'s
 * sink pad). */
struct watched_run
{
  std::vector<double> ages_ms;
  int frames = 0;
  int analysis_messages = 0;
  int detections = 0;
  bool ended = false; /* an error or EOS came */
  std::vector<int> widths;
  /* The stats of the element named "latest", if any, at the end. */
  guint64 received = 0;
  guint64 pushed = 0;
  guint64 dropped_overflow = 0;
  gboolean upstream_live = FALSE;
};

GstPadProbeReturn
read_stamp_at (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  auto *run = static_cast<watched_run *> (data);
  GstCaps *caps = gst_pad_get_current_caps (pad);
  if (!caps)
    return GST_PAD_PROBE_OK;
  gint width = 0;
  gst_structure_get_int (gst_caps_get_structure (caps, 0), "width", &width);
  const std::uint64_t now = stamp::monotonic_now_ns ();
  std::optional<std::uint64_t> captured
      = latestframe::read_frame_stamp (GST_PAD_PROBE_INFO_BUFFER (info), caps);
  gst_caps_unref (caps);
  if (captured && *captured <= now)
    run->ages_ms.push_back ((now - *captured) / 1e6);
  run->frames++;
  if (run->widths.empty () || run->widths.back () != width)
    run->widths.push_back (width);
  return GST_PAD_PROBE_OK;
}

/* Runs `launch` (with an element named `analysis`) for `seconds`, or until
 * an error or EOS when `until_end`. */
watched_run
watch (const std::string &launch, double seconds, bool until_end = false)
{
  watched_run run;
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (launch.c_str (), &error);
  EXPECT_TRUE (pipeline != NULL && error == NULL)
      << (error ? error->message : "");
  g_clear_error (&error);
  if (!pipeline)
    return run;
  GstElement *analysis = gst_bin_get_by_name (GST_BIN (pipeline), "analysis");
  GstPad *sink = gst_element_get_static_pad (analysis, "sink");
  gst_pad_add_probe (sink, GST_PAD_PROBE_TYPE_BUFFER, read_stamp_at, &run,
                     NULL);
  gst_object_unref (sink);
  gst_object_unref (analysis);
  GstBus *bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  const gint64 end
      = g_get_monotonic_time () + static_cast<gint64> (seconds * 1e6);
  for (;;)
    {
      gint64 left = end - g_get_monotonic_time ();
      if (left <= 0)
        break;
      GstMessage *msg = gst_bus_timed_pop_filtered (
          bus, left * GST_USECOND,
          static_cast<GstMessageType> (GST_MESSAGE_EOS | GST_MESSAGE_ERROR
                                       | GST_MESSAGE_ELEMENT));
      if (!msg)
        break;
      if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT)
        {
          const GstStructure *s = gst_message_get_structure (msg);
          if (gst_structure_has_name (s, "cvmotion")
              || gst_structure_has_name (s, "cvpeopledetect"))
            {
              run.analysis_messages++;
              run.detections += gst_value_list_get_size (
                  gst_structure_get_value (s, "detections"));
            }
        }
      else
        run.ended = true;
      gst_message_unref (msg);
      if (run.ended && until_end)
        break;
    }
  if (GstElement *latest = gst_bin_get_by_name (GST_BIN (pipeline), "latest"))
    {
      GstStructure *stats = NULL;
      g_object_get (latest, "stats", &stats, NULL);
      gst_structure_get_uint64 (stats, "received", &run.received);
      gst_structure_get_uint64 (stats, "pushed", &run.pushed);
      gst_structure_get_uint64 (stats, "dropped-overflow",
                                &run.dropped_overflow);
      gst_structure_get_boolean (stats, "upstream-live", &run.upstream_live);
      gst_structure_free (stats);
      gst_object_unref (latest);
    }
  /* Teardown must be prompt and clean whatever happened (the suite's
   * timeout catches a hang). */
  EXPECT_EQ (gst_element_set_state (pipeline, GST_STATE_NULL),
             GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return run;
}

std::string
camera_source (const testcam &camera, const char *protocols)
{
  return "rtspsrc location=" + camera.url ()
         + " latency=0 protocols=" + protocols + " ! decodebin ";
}
} // namespace

// Every frame of a 720p30 stream at the default bitrate carries a stamp
// that decodes, and says the frame is young.
TEST (Testcam, StampsDecodeOnEveryFrameOf720p30)
{
  testcam camera ({});
  ASSERT_FALSE (camera.url ().empty ());
  stamp_tally tally = read_stamps (camera.url (), 90);
  ASSERT_EQ (tally.frames, 90);
  EXPECT_EQ (tally.decoded, tally.frames);
  std::sort (tally.ages_ms.begin (), tally.ages_ms.end ());
  ASSERT_FALSE (tally.ages_ms.empty ());
  EXPECT_LT (tally.ages_ms[tally.ages_ms.size () / 2], 1000.0)
      << "a stamp from another clock?";
}

// The looped file source (vtest.avi) is served and stamped too, over UDP.
TEST (Testcam, ServesLoopedFileOverUdp)
{
  const std::string file = latestframe::sample ("vtest.avi");
  testcam camera ({ "--file=" + file, "--width=768", "--height=576" });
  ASSERT_FALSE (camera.url ().empty ());
  stamp_tally tally = read_stamps (camera.url (), 30, "udp");
  ASSERT_EQ (tally.frames, 30);
  EXPECT_EQ (tally.decoded, tally.frames);
}

// Motion detections arrive over RTSP, on TCP and on UDP.
TEST (Rtsp, DetectionsArriveOverTcpAndUdp)
{
  testcam camera ({ "--width=640", "--height=360" });
  ASSERT_FALSE (camera.url ().empty ());
  for (const char *protocols : { "tcp", "udp" })
    {
      watched_run run = watch (camera_source (camera, protocols)
                                   + "! latestframe ! videoconvert "
                                     "! cvmotion name=analysis ! fakesink",
                               4);
      EXPECT_GT (run.analysis_messages, 30) << protocols;
      EXPECT_GT (run.detections, 10) << protocols;
    }
}

// With a 100 ms analysis on a 720p30 camera, latestframe keeps the analysed
// frames young (p95 well under 250 ms, from the stamps), while a default
// queue in the same test lets them grow past a second.
TEST (Rtsp, LatestframeBoundsFrameAgeWhereQueueDoesNot)
{
  testcam camera ({});
  ASSERT_FALSE (camera.url ().empty ());
  const std::string slow
      = "! identity name=analysis sleep-time=100000 ! fakesink sync=false";
  watched_run latest
      = watch (camera_source (camera, "tcp") + "! latestframe " + slow, 6);
  watched_run queue
      = watch (camera_source (camera, "tcp") + "! queue " + slow, 6);
  ASSERT_GT (latest.ages_ms.size (), 20u);
  ASSERT_GT (queue.ages_ms.size (), 20u);
  EXPECT_LT (percentile (latest.ages_ms, 0.95), 250.0);
  EXPECT_GT (percentile (queue.ages_ms, 1.0), 1000.0);
  g_print ("frame age at analysis, p50/p95/max ms: latestframe %.1f/%.1f/%.1f, "
           "queue %.1f/%.1f/%.1f\n",
           percentile (latest.ages_ms, 0.5), percentile (latest.ages_ms, 0.95),
           percentile (latest.ages_ms, 1.0), percentile (queue.ages_ms, 0.5),
           percentile (queue.ages_ms, 0.95), percentile (queue.ages_ms, 1.0));
}

// The pipeline that analyses a file completely (see the cv element tests)
// still drops to the newest frame when its source is a live camera: the
// test camera plays vtest.avi at 30 fps, people detection at full size
// takes far longer than a frame interval.
TEST (Rtsp, LiveCameraStillDropsToTheNewest)
{
  testcam camera ({ "--file=" + latestframe::sample ("vtest.avi"), "--fps=30" });
  ASSERT_FALSE (camera.url ().empty ());
  watched_run run = watch (camera_source (camera, "tcp")
                               + "! latestframe name=latest ! videoconvert "
                                 "! cvpeopledetect name=analysis ! fakesink",
                           4);
  EXPECT_TRUE (run.upstream_live);
  EXPECT_GT (run.received, 30u);
  EXPECT_GT (run.dropped_overflow, 0u);
  EXPECT_LT (run.pushed, run.received);
  g_print ("live camera: received %" G_GUINT64_FORMAT ", analysed %"
           G_GUINT64_FORMAT ", dropped %" G_GUINT64_FORMAT "\n",
           run.received, run.pushed, run.dropped_overflow);
}

// A camera that stops mid-stream ends the pipeline with an error or EOS
// within the configured timeout, and the teardown is clean.
TEST (Rtsp, StoppedCameraEndsThePipeline)
{
  testcam camera ({ "--width=320", "--height=240", "--duration=2" });
  ASSERT_FALSE (camera.url ().empty ());
  watched_run run = watch ("rtspsrc location=" + camera.url ()
                               + " latency=0 protocols=tcp timeout=3000000 "
                                 "tcp-timeout=3000000 ! decodebin "
                                 "! latestframe ! identity name=analysis "
                                 "! fakesink",
                           20, true);
  EXPECT_GT (run.frames, 10);
  EXPECT_TRUE (run.ended) << "no error or EOS within 18 s of the stop";
}

// A resolution change mid-stream keeps frames flowing through the analysis.
TEST (Rtsp, ResolutionChangeKeepsFramesFlowing)
{
  testcam camera ({ "--width=640", "--height=360", "--resize-after=1.5",
                    "--resize=320x240" });
  ASSERT_FALSE (camera.url ().empty ());
  watched_run run = watch (camera_source (camera, "tcp")
                               + "! latestframe ! videoconvert "
                                 "! cvmotion name=analysis ! fakesink",
                           5);
  ASSERT_GE (run.widths.size (), 2u) << "no resolution change seen";
  EXPECT_EQ (run.widths.front (), 640);
  EXPECT_EQ (run.widths.back (), 320);
  EXPECT_GT (run.analysis_messages, 40);
}

// The stall switch stops frames without closing the connection; frames
// come back after it, newer.
TEST (Testcam, StallPausesFramesThenResumes)
{
  testcam camera (
      { "--width=320", "--height=240", "--pause-after=1", "--pause-for=2" });
  ASSERT_FALSE (camera.url ().empty ());
  watched_run run = watch (camera_source (camera, "tcp")
                               + "! latestframe ! identity name=analysis "
                                 "! fakesink sync=false",
                           5);
  EXPECT_FALSE (run.ended) << "the stall closed the stream";
  /* About 30 frames before the stall, about 60 after it. */
  EXPECT_GT (run.frames, 60);
  EXPECT_LT (run.frames, 130) << "no stall seen";
}

// Scrambled packets degrade frames but never stop the stream.
TEST (Testcam, CorruptPacketsKeepTheStreamGoing)
{
  testcam camera ({ "--width=320", "--height=240", "--corrupt=0.05" });
  ASSERT_FALSE (camera.url ().empty ());
  watched_run run = watch (camera_source (camera, "udp")
                               + "! latestframe ! identity name=analysis "
                                 "! fakesink sync=false",
                           4);
  EXPECT_GT (run.frames, 50);
}

// A camera refusing connections ends the pipeline with an error.
TEST (Testcam, RefusedConnectionIsAnError)
{
  testcam camera ({ "--refuse" });
  ASSERT_FALSE (camera.url ().empty ());
  watched_run run = watch ("rtspsrc location=" + camera.url ()
                               + " ! decodebin ! identity name=analysis "
                                 "! fakesink",
                           20, true);
  EXPECT_TRUE (run.ended);
  EXPECT_EQ (run.frames, 0);
}
