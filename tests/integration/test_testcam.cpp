/* Integration tests of latestframe-testcam: a real RTSP server on
 * 127.0.0.1 read by rtspsrc and a real H.264 decoder. */
#include "common/frame_stamp.h"
#include "common/luma_plane.h"
#include "common/sample_data.h"
#include "common/testcam.h"
#include "latestframe/scene.h"
#include "latestframe/stamp.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

namespace scene = latestframe::scene;
namespace stamp = latestframe::stamp;
using latestframe::luma_plane;
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

/* Pulls `count` samples from the appsink named "sink" of `launch` (fewer if
 * none comes for 20 s) and hands each to `look`. */
template <typename Look>
int
pull_samples (const std::string &launch, int count, Look look)
{
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (launch.c_str (), &error);
  EXPECT_TRUE (pipeline != NULL && error == NULL)
      << (error ? error->message : "");
  g_clear_error (&error);
  if (!pipeline)
    return 0;
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  int pulled = 0;
  for (; pulled < count; pulled++)
    {
      GstSample *sample
          = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 20 * GST_SECOND);
      if (!sample)
        break;
      look (sample);
      gst_sample_unref (sample);
    }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  return pulled;
}

/* Reads `frames` frames of `url` as I420 and decodes each one's stamp. */
stamp_tally
read_stamps (const std::string &url, int frames, const char *protocols = "tcp")
{
  stamp_tally tally;
  tally.frames = pull_samples (
      "rtspsrc location=" + url + " latency=0 protocols=" + protocols
          + " ! decodebin ! videoconvert ! video/x-raw,format=I420 "
            "! appsink name=sink sync=false max-buffers=400",
      frames, [&] (GstSample *sample) {
        const std::uint64_t now = stamp::monotonic_now_ns ();
        std::optional<std::uint64_t> captured = latestframe::read_frame_stamp (
            gst_sample_get_buffer (sample), gst_sample_get_caps (sample));
        if (captured && *captured <= now)
          {
            tally.decoded++;
            tally.ages_ms.push_back ((now - *captured) / 1e6);
          }
      });
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

/* The camera's H.264 as it arrives, one Annex B access unit per buffer. */
std::string
access_units_of (const testcam &camera)
{
  return "rtspsrc location=" + camera.url ()
         + " latency=0 protocols=tcp ! rtph264depay ! h264parse "
           "! video/x-h264,stream-format=byte-stream,alignment=au "
           "! appsink name=sink sync=false max-buffers=400";
}

/* One access unit: whether it is a key unit, when it is shown, and whether
 * other frames may predict from it. */
struct access_unit
{
  bool key_unit = false;
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  int slices = 0;
  int reference_slices = 0; /* nal_ref_idc != 0 */
};

/* Reads the NAL headers of an Annex B access unit. Emulation prevention
 * keeps 00 00 01 out of NAL payloads, so every one starts a NAL unit (a
 * four-byte start code ends in it too). */
access_unit
parse_access_unit (GstBuffer *buffer)
{
  access_unit unit;
  unit.key_unit = !GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  unit.pts = GST_BUFFER_PTS (buffer);
  GstMapInfo map;
  if (!gst_buffer_map (buffer, &map, GST_MAP_READ))
    return unit;
  for (gsize i = 0; i + 3 < map.size; i++)
    {
      if (map.data[i] != 0 || map.data[i + 1] != 0 || map.data[i + 2] != 1)
        continue;
      const guint8 header = map.data[i + 3];
      const int type = header & 0x1f;
      const int ref_idc = (header >> 5) & 0x3;
      /* Coded slices: 1 (non-IDR), 5 (IDR). */
      if (type == 1 || type == 5)
        {
          unit.slices++;
          if (ref_idc != 0)
            unit.reference_slices++;
        }
      i += 3;
    }
  gst_buffer_unmap (buffer, &map);
  return unit;
}

std::vector<access_unit>
read_access_units (const testcam &camera, int count)
{
  std::vector<access_unit> units;
  pull_samples (access_units_of (camera), count, [&] (GstSample *sample) {
    units.push_back (parse_access_unit (gst_sample_get_buffer (sample)));
  });
  return units;
}

/* How faithful the decoded frames are to the scene their stamps name. */
struct fidelity
{
  int frames = 0;
  int unstamped = 0;
  std::vector<double> psnr_db;
  std::vector<double> worst_block_psnr_db;
};

/* Decodes `count` frames of the camera (as an analysis would see them)
 * and compares each with the scene at its capture time. */
fidelity
measure_fidelity (const testcam &camera, int count)
{
  fidelity seen;
  seen.frames = pull_samples (
      "rtspsrc location=" + camera.url ()
          + " latency=0 protocols=tcp ! rtph264depay ! h264parse "
            "! avdec_h264 ! videoconvert ! video/x-raw,format=I420 "
            "! appsink name=sink sync=false max-buffers=400",
      count, [&] (GstSample *sample) {
        const luma_plane luma (sample);
        if (!luma.mapped ())
          {
            ADD_FAILURE () << "an unreadable frame";
            return;
          }
        const std::optional<double> whole = scene::psnr_against_scene (
            luma.data, luma.stride, luma.width, luma.height);
        const std::optional<double> worst_block
            = scene::worst_block_psnr_against_scene (luma.data, luma.stride,
                                                     luma.width, luma.height);
        if (!whole || !worst_block)
          {
            seen.unstamped++;
            return;
          }
        seen.psnr_db.push_back (*whole);
        seen.worst_block_psnr_db.push_back (*worst_block);
      });
  return seen;
}

double
mean (const std::vector<double> &values)
{
  return std::accumulate (values.begin (), values.end (), 0.0) / values.size ();
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
  testcam camera (
      { "--file=" + latestframe::sample ("vtest.avi"), "--fps=30" });
  ASSERT_FALSE (camera.url ().empty ());
  watched_run run = watch (camera_source (camera, "tcp")
                               + "! latestframe name=latest ! videoconvert "
                                 "! cvpeopledetect name=analysis ! fakesink",
                           4);
  EXPECT_TRUE (run.upstream_live);
  EXPECT_GT (run.received, 30u);
  EXPECT_GT (run.dropped_overflow, 0u);
  EXPECT_LT (run.pushed, run.received);
  g_print ("live camera: received %" G_GUINT64_FORMAT
           ", analysed %" G_GUINT64_FORMAT ", dropped %" G_GUINT64_FORMAT "\n",
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

// --gop sets the key-unit interval: a key unit every 15 frames exactly.
TEST (Testcam, GopSetsTheKeyUnitInterval)
{
  testcam camera ({ "--width=320", "--height=240", "--gop=15" });
  ASSERT_FALSE (camera.url ().empty ());
  const std::vector<access_unit> units = read_access_units (camera, 100);
  ASSERT_EQ (units.size (), 100u);
  std::vector<size_t> key_units;
  for (size_t i = 0; i < units.size (); i++)
    if (units[i].key_unit)
      key_units.push_back (i);
  ASSERT_GE (key_units.size (), 6u);
  for (size_t k = 1; k < key_units.size (); k++)
    EXPECT_EQ (key_units[k] - key_units[k - 1], 15u) << "key unit " << k;
}

// --b-frames 1 makes every other frame a B-frame no other frame refers to
// (nal_ref_idc 0 in its slices), sent before the frame shown ahead of it;
// without it every frame is a reference, sent in display order.
TEST (Testcam, BFramesAreNotReferences)
{
  for (int b_frames : { 0, 1 })
    {
      testcam camera ({ "--width=320", "--height=240",
                        "--b-frames=" + std::to_string (b_frames) });
      ASSERT_FALSE (camera.url ().empty ());
      const std::vector<access_unit> units = read_access_units (camera, 90);
      ASSERT_EQ (units.size (), 90u) << b_frames;
      int non_reference = 0, reordered = 0;
      for (size_t i = 0; i < units.size (); i++)
        {
          const access_unit &unit = units[i];
          ASSERT_GT (unit.slices, 0) << "access unit " << i;
          /* A frame is a reference in all its slices or in none. */
          EXPECT_TRUE (unit.reference_slices == 0
                       || unit.reference_slices == unit.slices);
          if (unit.reference_slices == 0)
            {
              non_reference++;
              EXPECT_FALSE (unit.key_unit) << "a key unit no one refers to";
            }
          if (i > 0 && GST_CLOCK_TIME_IS_VALID (unit.pts)
              && GST_CLOCK_TIME_IS_VALID (units[i - 1].pts)
              && unit.pts < units[i - 1].pts)
            reordered++;
        }
      g_print ("--b-frames=%d: %d of %zu frames are not references, %d sent "
               "before the frame shown ahead of them\n",
               b_frames, non_reference, units.size (), reordered);
      if (b_frames == 0)
        {
          EXPECT_EQ (non_reference, 0);
          EXPECT_EQ (reordered, 0);
        }
      else
        {
          /* One of each pair, less the P-frame that closes each GOP: 14
           * of every 30 frames (42 of 90 in the runs seen). */
          EXPECT_GE (non_reference, 36);
          EXPECT_GE (reordered, 36);
        }
    }
}

// Every decoded frame of the camera is the scene its stamp names, up to
// coding noise, with and without B-frames.
TEST (Testcam, DecodedFramesMatchTheScene)
{
  for (int b_frames : { 0, 1 })
    {
      testcam camera ({ "--b-frames=" + std::to_string (b_frames) });
      ASSERT_FALSE (camera.url ().empty ());
      const fidelity seen = measure_fidelity (camera, 150);
      ASSERT_EQ (seen.frames, 150) << b_frames;
      EXPECT_EQ (seen.unstamped, 0) << b_frames;
      ASSERT_FALSE (seen.psnr_db.empty ());
      const double lowest
          = *std::min_element (seen.psnr_db.begin (), seen.psnr_db.end ());
      const double lowest_block = *std::min_element (
          seen.worst_block_psnr_db.begin (), seen.worst_block_psnr_db.end ());
      g_print ("--b-frames=%d, %zu frames: PSNR min %.2f mean %.2f dB; "
               "worst 16x16 block min %.2f mean %.2f dB\n",
               b_frames, seen.psnr_db.size (), lowest, mean (seen.psnr_db),
               lowest_block, mean (seen.worst_block_psnr_db));
      EXPECT_GE (lowest, scene::decoded_psnr_floor_db) << b_frames;
      EXPECT_GE (lowest_block, scene::decoded_worst_block_psnr_floor_db)
          << b_frames;
    }
}
