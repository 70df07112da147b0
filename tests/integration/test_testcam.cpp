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
#include <functional>
#include <map>
#include <mutex>
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

/* Reads `frames` frames of `url` as I420 and decodes each one's stamp,
 * counting those that read and lie between `not_before` (the camera's
 * start, on CLOCK_MONOTONIC) and the moment the frame was read: stamps of
 * this camera, from this clock. */
stamp_tally
read_stamps (const std::string &url, std::uint64_t not_before, int frames,
             const char *protocols = "tcp")
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
        if (captured && *captured >= not_before && *captured <= now)
          tally.decoded++;
      });
  return tally;
}

/* A pipeline over the camera, watched where the analysis starts (the sink
 * pad of the element named "analysis"): each frame's stamp and size, and,
 * with an element named "x" before the analysis, each frame's lag: how
 * many frames reached x after it and before it reached the analysis. */
struct watched_run
{
  std::vector<double> ages_ms;
  std::vector<double> lags;
  int frames = 0;
  int analysis_messages = 0;
  int detections = 0;
  bool ended = false; /* an error or EOS came */
  std::vector<int> widths;
  int frames_at_last_width = 0;
  /* Between the stamps of consecutive frames: the longest gap, the frames
   * after it, and frames not newer than the one before. */
  double longest_gap_ms = 0;
  int frames_after_gap = 0;
  int not_newer = 0;
  std::uint64_t last_stamp = 0;
  /* The stats of the element named "latest", if any: at each frame, and
   * at the end. */
  guint64 received = 0;
  guint64 pushed = 0;
  guint64 dropped_overflow = 0;
  gboolean upstream_live = FALSE;
};

/* What the pad probes share with the test's thread. */
struct watch_state
{
  std::mutex lock;
  watched_run run;
  std::function<bool (const watched_run &)> done;
  bool done_told = false;
  GstElement *pipeline = nullptr;
  GstElement *latest = nullptr;
  /* Frames that reached x, by timestamp: their arrival number. */
  std::map<GstClockTime, int> arrivals;
  int arrived = 0;

  /* Under the lock: whether `done` just came true (told once). */
  bool just_done_locked ()
  {
    if (done_told || !done || !done (run))
      return false;
    done_told = true;
    return true;
  }
};

void
read_latest_stats (GstElement *latest, watched_run &run)
{
  GstStructure *stats = NULL;
  g_object_get (latest, "stats", &stats, NULL);
  gst_structure_get_uint64 (stats, "received", &run.received);
  gst_structure_get_uint64 (stats, "pushed", &run.pushed);
  gst_structure_get_uint64 (stats, "dropped-overflow", &run.dropped_overflow);
  gst_structure_get_boolean (stats, "upstream-live", &run.upstream_live);
  gst_structure_free (stats);
}

/* Tells the test's thread that what it waits for happened: a bus message. */
void
tell_done (watch_state *state)
{
  gst_element_post_message (
      state->pipeline,
      gst_message_new_application (GST_OBJECT (state->pipeline),
                                   gst_structure_new_empty ("watch-done")));
}

GstPadProbeReturn
arrive_at_x (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  (void)pad;
  auto *state = static_cast<watch_state *> (data);
  const GstClockTime pts = GST_BUFFER_PTS (GST_PAD_PROBE_INFO_BUFFER (info));
  std::lock_guard<std::mutex> guard (state->lock);
  state->arrived++;
  if (GST_CLOCK_TIME_IS_VALID (pts))
    state->arrivals[pts] = state->arrived;
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn
read_stamp_at (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  auto *state = static_cast<watch_state *> (data);
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  GstCaps *caps = gst_pad_get_current_caps (pad);
  if (!caps)
    return GST_PAD_PROBE_OK;
  gint width = 0;
  gst_structure_get_int (gst_caps_get_structure (caps, 0), "width", &width);
  const std::uint64_t now = stamp::monotonic_now_ns ();
  std::optional<std::uint64_t> captured
      = latestframe::read_frame_stamp (buffer, caps);
  gst_caps_unref (caps);
  watched_run stats;
  if (state->latest)
    read_latest_stats (state->latest, stats);
  bool done;
  {
    std::lock_guard<std::mutex> guard (state->lock);
    watched_run &run = state->run;
    if (captured && *captured <= now)
      {
        run.ages_ms.push_back ((now - *captured) / 1e6);
        if (run.last_stamp != 0)
          {
            const double gap_ms
                = (static_cast<double> (*captured) - run.last_stamp) / 1e6;
            if (gap_ms <= 0)
              run.not_newer++;
            if (gap_ms > run.longest_gap_ms)
              {
                run.longest_gap_ms = gap_ms;
                run.frames_after_gap = 0;
              }
          }
        run.frames_after_gap++;
        run.last_stamp = std::max (run.last_stamp, *captured);
      }
    const auto found = state->arrivals.find (GST_BUFFER_PTS (buffer));
    if (found != state->arrivals.end ())
      {
        run.lags.push_back (state->arrived - found->second);
        state->arrivals.erase (state->arrivals.begin (), std::next (found));
      }
    run.frames++;
    if (run.widths.empty () || run.widths.back () != width)
      {
        run.widths.push_back (width);
        run.frames_at_last_width = 0;
      }
    run.frames_at_last_width++;
    if (state->latest)
      {
        run.received = stats.received;
        run.pushed = stats.pushed;
        run.dropped_overflow = stats.dropped_overflow;
        run.upstream_live = stats.upstream_live;
      }
    done = state->just_done_locked ();
  }
  if (done)
    tell_done (state);
  return GST_PAD_PROBE_OK;
}

/* Runs `launch` (with an element named "analysis") until `done` holds for
 * what was seen (checked at each frame the analysis gets and each analysis
 * message), until an error or EOS when `until_end`, or at most
 * `deadline_s`: a bound for failing, not an expectation. */
watched_run
watch (const std::string &launch,
       std::function<bool (const watched_run &)> done, double deadline_s = 60,
       bool until_end = false)
{
  watch_state state;
  state.done = std::move (done);
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (launch.c_str (), &error);
  EXPECT_TRUE (pipeline != NULL && error == NULL)
      << (error ? error->message : "");
  g_clear_error (&error);
  if (!pipeline)
    return state.run;
  state.pipeline = pipeline;
  state.latest = gst_bin_get_by_name (GST_BIN (pipeline), "latest");
  GstElement *analysis = gst_bin_get_by_name (GST_BIN (pipeline), "analysis");
  GstPad *sink = gst_element_get_static_pad (analysis, "sink");
  gst_pad_add_probe (sink, GST_PAD_PROBE_TYPE_BUFFER, read_stamp_at, &state,
                     NULL);
  gst_object_unref (sink);
  gst_object_unref (analysis);
  if (GstElement *x = gst_bin_get_by_name (GST_BIN (pipeline), "x"))
    {
      GstPad *x_sink = gst_element_get_static_pad (x, "sink");
      gst_pad_add_probe (x_sink, GST_PAD_PROBE_TYPE_BUFFER, arrive_at_x, &state,
                         NULL);
      gst_object_unref (x_sink);
      gst_object_unref (x);
    }
  GstBus *bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  const gint64 end
      = g_get_monotonic_time () + static_cast<gint64> (deadline_s * 1e6);
  for (bool finished = false; !finished;)
    {
      gint64 left = end - g_get_monotonic_time ();
      if (left <= 0)
        break;
      GstMessage *msg = gst_bus_timed_pop_filtered (
          bus, left * GST_USECOND,
          static_cast<GstMessageType> (GST_MESSAGE_EOS | GST_MESSAGE_ERROR
                                       | GST_MESSAGE_ELEMENT
                                       | GST_MESSAGE_APPLICATION));
      if (!msg)
        break;
      std::lock_guard<std::mutex> guard (state.lock);
      const GstStructure *s = gst_message_get_structure (msg);
      switch (GST_MESSAGE_TYPE (msg))
        {
        case GST_MESSAGE_APPLICATION:
          finished = gst_structure_has_name (s, "watch-done");
          break;
        case GST_MESSAGE_ELEMENT:
          if (gst_structure_has_name (s, "cvmotion")
              || gst_structure_has_name (s, "cvpeopledetect"))
            {
              state.run.analysis_messages++;
              state.run.detections += gst_value_list_get_size (
                  gst_structure_get_value (s, "detections"));
              finished = state.just_done_locked ();
            }
          break;
        default:
          state.run.ended = true;
          finished = until_end;
          break;
        }
      gst_message_unref (msg);
    }
  watched_run final_stats;
  if (state.latest)
    read_latest_stats (state.latest, final_stats);
  /* Teardown must be prompt and clean whatever happened (the suite's
   * timeout catches a hang). */
  EXPECT_EQ (gst_element_set_state (pipeline, GST_STATE_NULL),
             GST_STATE_CHANGE_SUCCESS);
  watched_run run;
  {
    std::lock_guard<std::mutex> guard (state.lock);
    run = state.run;
  }
  if (state.latest)
    {
      run.received = final_stats.received;
      run.pushed = final_stats.pushed;
      run.dropped_overflow = final_stats.dropped_overflow;
      run.upstream_live = final_stats.upstream_live;
      gst_object_unref (state.latest);
    }
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
// that decodes, from this host's clock: it lies between the camera's start
// and the moment the frame is read.
TEST (Testcam, StampsDecodeOnEveryFrameOf720p30)
{
  const std::uint64_t started = stamp::monotonic_now_ns ();
  testcam camera ({});
  ASSERT_FALSE (camera.url ().empty ());
  stamp_tally tally = read_stamps (camera.url (), started, 90);
  ASSERT_EQ (tally.frames, 90);
  EXPECT_EQ (tally.decoded, tally.frames)
      << "stamps that do not read, or from another clock";
}

// The looped file source (vtest.avi) is served and stamped too, over UDP.
TEST (Testcam, ServesLoopedFileOverUdp)
{
  const std::string file = latestframe::sample ("vtest.avi");
  const std::uint64_t started = stamp::monotonic_now_ns ();
  testcam camera ({ "--file=" + file, "--width=768", "--height=576" });
  ASSERT_FALSE (camera.url ().empty ());
  stamp_tally tally = read_stamps (camera.url (), started, 30, "udp");
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
      watched_run run
          = watch (camera_source (camera, protocols)
                       + "! latestframe ! videoconvert "
                         "! cvmotion name=analysis ! fakesink",
                   [] (const watched_run &seen) {
                     return seen.analysis_messages > 30 && seen.detections > 10;
                   });
      EXPECT_GT (run.analysis_messages, 30) << protocols;
      EXPECT_GT (run.detections, 10) << protocols;
    }
}

// A 100 ms analysis on a 720p30 camera, for 40 frames: latestframe hands it
// the newest frame each time (no frame reached latestframe after the one
// analysed, bar one during the hand-over, at p95), while a default queue
// fills (10 MB: seven 720p frames) and the analysis works that far behind.
// In age, from the stamps, side by side: latestframe's p95 below the queue's.
// (Counted in frames, not in time: the figure holds on a loaded machine.)
TEST (Rtsp, LatestframeKeepsTheAnalysisOnTheNewestFrameWhereQueueDoesNot)
{
  testcam camera ({});
  ASSERT_FALSE (camera.url ().empty ());
  const std::string slow
      = "! identity name=analysis sleep-time=100000 ! fakesink sync=false";
  auto forty = [] (const watched_run &seen) { return seen.lags.size () >= 40; };
  watched_run latest = watch (
      camera_source (camera, "tcp") + "! latestframe name=x " + slow, forty);
  watched_run queue
      = watch (camera_source (camera, "tcp") + "! queue name=x " + slow, forty);
  g_print ("at the analysis, age p50/p95/max ms and frames behind p50/p95/max: "
           "latestframe %.1f/%.1f/%.1f, %.0f/%.0f/%.0f; queue %.1f/%.1f/%.1f, "
           "%.0f/%.0f/%.0f\n",
           percentile (latest.ages_ms, 0.5), percentile (latest.ages_ms, 0.95),
           percentile (latest.ages_ms, 1.0), percentile (latest.lags, 0.5),
           percentile (latest.lags, 0.95), percentile (latest.lags, 1.0),
           percentile (queue.ages_ms, 0.5), percentile (queue.ages_ms, 0.95),
           percentile (queue.ages_ms, 1.0), percentile (queue.lags, 0.5),
           percentile (queue.lags, 0.95), percentile (queue.lags, 1.0));
  ASSERT_GE (latest.lags.size (), 40u) << "too few frames analysed";
  ASSERT_GE (queue.lags.size (), 40u) << "too few frames analysed";
  EXPECT_LE (percentile (latest.lags, 0.95), 1.0);
  EXPECT_GE (percentile (queue.lags, 1.0), 5.0);
  ASSERT_FALSE (latest.ages_ms.empty () || queue.ages_ms.empty ());
  EXPECT_LT (percentile (latest.ages_ms, 0.95),
             percentile (queue.ages_ms, 0.95));
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
  watched_run run
      = watch (camera_source (camera, "tcp")
                   + "! latestframe name=latest ! videoconvert "
                     "! cvpeopledetect name=analysis ! fakesink",
               [] (const watched_run &seen) {
                 return seen.received > 30 && seen.dropped_overflow > 0;
               });
  EXPECT_TRUE (run.upstream_live);
  EXPECT_GT (run.received, 30u);
  EXPECT_GT (run.dropped_overflow, 0u);
  EXPECT_LT (run.pushed, run.received);
  g_print ("live camera: received %" G_GUINT64_FORMAT
           ", analysed %" G_GUINT64_FORMAT ", dropped %" G_GUINT64_FORMAT "\n",
           run.received, run.pushed, run.dropped_overflow);
}

// A camera that stops mid-stream ends the pipeline with an error or EOS
// (rtspsrc's timeouts: 3 s), and the teardown is clean. The camera stops 4 s
// after it started: frames flow first, however long connecting took.
TEST (Rtsp, StoppedCameraEndsThePipeline)
{
  testcam camera ({ "--width=320", "--height=240", "--duration=4" });
  ASSERT_FALSE (camera.url ().empty ());
  watched_run run = watch ("rtspsrc location=" + camera.url ()
                               + " latency=0 protocols=tcp timeout=3000000 "
                                 "tcp-timeout=3000000 ! decodebin "
                                 "! latestframe ! identity name=analysis "
                                 "! fakesink",
                           nullptr, 60, true);
  EXPECT_GT (run.frames, 10);
  EXPECT_TRUE (run.ended) << "no error or EOS within 60 s";
}

// A resolution change mid-stream keeps frames flowing through the analysis:
// 30 frames of the new size analysed after it. (The camera changes at 3 s,
// so that frames of the first size came first, however long connecting
// took.)
TEST (Rtsp, ResolutionChangeKeepsFramesFlowing)
{
  testcam camera ({ "--width=640", "--height=360", "--resize-after=3",
                    "--resize=320x240" });
  ASSERT_FALSE (camera.url ().empty ());
  watched_run run = watch (camera_source (camera, "tcp")
                               + "! latestframe ! videoconvert "
                                 "! cvmotion name=analysis ! fakesink",
                           [] (const watched_run &seen) {
                             return seen.widths.size () >= 2
                                    && seen.widths.back () == 320
                                    && seen.frames_at_last_width >= 30
                                    && seen.analysis_messages > 40;
                           });
  ASSERT_GE (run.widths.size (), 2u) << "no resolution change seen";
  EXPECT_EQ (run.widths.front (), 640);
  EXPECT_EQ (run.widths.back (), 320);
  EXPECT_GE (run.frames_at_last_width, 30);
  EXPECT_GT (run.analysis_messages, 40);
}

// The stall switch stops frames without closing the connection; frames
// come back after it, newer: between two frames' stamps a gap of about the
// stall (2 s), then 30 more frames, no stamp ever older than the one
// before. (The stall starts at 3 s, so that frames came first.)
TEST (Testcam, StallPausesFramesThenResumes)
{
  testcam camera (
      { "--width=320", "--height=240", "--pause-after=3", "--pause-for=2" });
  ASSERT_FALSE (camera.url ().empty ());
  watched_run run = watch (camera_source (camera, "tcp")
                               + "! latestframe ! identity name=analysis "
                                 "! fakesink sync=false",
                           [] (const watched_run &seen) {
                             return seen.longest_gap_ms >= 1000
                                    && seen.frames_after_gap >= 30;
                           });
  EXPECT_FALSE (run.ended) << "the stall closed the stream";
  EXPECT_GE (run.longest_gap_ms, 1000) << "no stall seen";
  EXPECT_GE (run.frames_after_gap, 30) << "frames did not come back";
  EXPECT_EQ (run.not_newer, 0) << "a frame not newer than the one before";
}

// Scrambled packets degrade frames but never stop the stream.
TEST (Testcam, CorruptPacketsKeepTheStreamGoing)
{
  testcam camera ({ "--width=320", "--height=240", "--corrupt=0.05" });
  ASSERT_FALSE (camera.url ().empty ());
  watched_run run
      = watch (camera_source (camera, "udp")
                   + "! latestframe ! identity name=analysis "
                     "! fakesink sync=false",
               [] (const watched_run &seen) { return seen.frames > 50; });
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
                           nullptr, 60, true);
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

namespace
{

/* One pipeline per mount of `camera`, playing: rtspsrc over TCP with the
 * capture times as reference timestamp metas, its video, then `rest`
 * (which names its appsink "sink"). Fewer if one cannot be made. */
std::vector<GstElement *>
play_every_mount (const testcam &camera, const std::string &rest)
{
  std::vector<GstElement *> pipelines;
  for (const std::string &url : camera.urls ())
    {
      GError *error = NULL;
      GstElement *pipeline = gst_parse_launch (
          ("rtspsrc location=" + url
           + " latency=0 protocols=tcp add-reference-timestamp-meta=true "
             "! application/x-rtp,media=video ! "
           + rest)
              .c_str (),
          &error);
      EXPECT_TRUE (pipeline != NULL && error == NULL)
          << (error ? error->message : "");
      g_clear_error (&error);
      if (!pipeline)
        break;
      pipelines.push_back (pipeline);
      gst_element_set_state (pipeline, GST_STATE_PLAYING);
    }
  return pipelines;
}

void
stop_every_mount (std::vector<GstElement *> &pipelines)
{
  for (GstElement *pipeline : pipelines)
    {
      gst_element_set_state (pipeline, GST_STATE_NULL);
      gst_object_unref (pipeline);
    }
  pipelines.clear ();
}

} // namespace

// Each mount of --mounts is a camera of its own: read all at once, each by
// a pipeline of its own as the service reads its cameras, every mount's
// frames are aged from the capture times it sends, and none comes so late
// that latestframe cannot use its capture time (capture-time-unused: a
// frame over 3 s old). Key units 2 s apart:
// preparing a mount's stream waits for its next one, and the mounts' clients
// must not wait for each other's.
TEST (Testcam, EveryMountAgesItsFramesFromItsCaptureTimes)
{
  const int mounts = 8;
  testcam camera ({ "--width=320", "--height=240", "--gop=60" }, mounts);
  ASSERT_EQ (camera.urls ().size (), static_cast<size_t> (mounts));
  std::vector<GstElement *> pipelines = play_every_mount (
      camera, "parsebin ! latestframe name=latest "
              "! appsink name=sink sync=false max-buffers=1 drop=true");
  ASSERT_EQ (pipelines.size (), static_cast<size_t> (mounts));
  for (int mount = 0; mount < mounts; mount++)
    {
      GstElement *latest
          = gst_bin_get_by_name (GST_BIN (pipelines[mount]), "latest");
      GstElement *sink
          = gst_bin_get_by_name (GST_BIN (pipelines[mount]), "sink");
      /* 30 frames through latestframe, each judged as it arrived. */
      guint64 received = 0, capture_time_frames = 0, capture_time_unused = 0;
      gboolean fallback = FALSE;
      while (received < 30)
        {
          GstSample *sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
                                                            20 * GST_SECOND);
          if (!sample)
            break;
          gst_sample_unref (sample);
          GstStructure *stats = NULL;
          g_object_get (latest, "stats", &stats, NULL);
          gst_structure_get_uint64 (stats, "received", &received);
          gst_structure_get_uint64 (stats, "capture-time-frames",
                                    &capture_time_frames);
          gst_structure_get_uint64 (stats, "capture-time-unused",
                                    &capture_time_unused);
          gst_structure_get_boolean (stats, "capture-clock-fallback",
                                     &fallback);
          gst_structure_free (stats);
        }
      g_print ("mount %d: %" G_GUINT64_FORMAT " frames, %" G_GUINT64_FORMAT
               " aged from their capture time, %" G_GUINT64_FORMAT
               " with one too far off to use%s\n",
               mount, received, capture_time_frames, capture_time_unused,
               fallback ? ", then the clock taken for one out of step" : "");
      EXPECT_GE (received, 30u) << camera.urls ()[mount];
      EXPECT_EQ (capture_time_unused, 0u) << camera.urls ()[mount];
      EXPECT_FALSE (fallback) << camera.urls ()[mount];
      EXPECT_GT (capture_time_frames, 0u) << camera.urls ()[mount];
      gst_object_unref (sink);
      gst_object_unref (latest);
    }
  stop_every_mount (pipelines);
}

// --mounts spreads the cameras' frames over the frame interval too, as
// real cameras' are: mount k sends each access unit k x GOP / N frame
// intervals after it was made. With 2 mounts and a GOP of 31 frames at
// 30 fps, mount 1 sends 15.5 frame intervals later, so its frames' capture
// times (the NTP-64 extension, timed when sent) fall half an interval,
// 16.7 ms, after mount 0's. Frames sent in step (as before) were 0 ms
// apart: 48 mounts woke 48 receivers at once.
TEST (Testcam, MountsSendTheirFramesOutOfStep)
{
  const int fps = 30, gop = 31, mounts = 2;
  testcam camera ({ "--width=320", "--height=240",
                    "--fps=" + std::to_string (fps),
                    "--gop=" + std::to_string (gop) },
                  mounts);
  ASSERT_EQ (camera.urls ().size (), static_cast<size_t> (mounts));
  GstCaps *ntp = gst_caps_new_empty_simple ("timestamp/x-ntp");
  std::vector<GstElement *> pipelines
      = play_every_mount (camera, "appsink name=sink sync=false");
  ASSERT_EQ (pipelines.size (), static_cast<size_t> (mounts));
  /* Each mount's capture times, one per frame (a frame's packets share
   * theirs), over 40 frames. */
  std::vector<std::vector<GstClockTime>> sent (mounts);
  for (int mount = 0; mount < mounts; mount++)
    {
      GstElement *sink
          = gst_bin_get_by_name (GST_BIN (pipelines[mount]), "sink");
      while (sent[mount].size () < 40)
        {
          GstSample *sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
                                                            20 * GST_SECOND);
          if (!sample)
            break;
          GstReferenceTimestampMeta *meta
              = gst_buffer_get_reference_timestamp_meta (
                  gst_sample_get_buffer (sample), ntp);
          if (meta
              && (sent[mount].empty ()
                  || sent[mount].back () != meta->timestamp))
            sent[mount].push_back (meta->timestamp);
          gst_sample_unref (sample);
        }
      gst_object_unref (sink);
    }
  stop_every_mount (pipelines);
  gst_caps_unref (ntp);
  ASSERT_EQ (sent[0].size (), 40u);
  ASSERT_EQ (sent[1].size (), 40u);
  /* How far each of mount 1's frames is from the expected place in the
   * interval after each of mount 0's: all frames come from one encoder's
   * instants, so every pair differs by the offset and the encoder's
   * jitter, modulo the interval. */
  const gint64 interval = GST_SECOND / fps;
  const gint64 expected = gint64 (gop % mounts) * GST_SECOND / (mounts * fps);
  std::vector<double> off_ms;
  for (GstClockTime one : sent[1])
    for (GstClockTime zero : sent[0])
      {
        gint64 rest = (gint64 (one) - gint64 (zero) - expected) % interval;
        if (rest < 0)
          rest += interval;
        if (rest > interval / 2)
          rest -= interval;
        off_ms.push_back (std::abs (rest) / 1e6);
      }
  const double median = percentile (off_ms, 0.5);
  g_print ("mount 1's frames %.1f ms (median) from %.1f ms after mount 0's\n",
           median, expected / 1e6);
  EXPECT_LT (median, 5.0);
}
