/* Integration tests of latestframe on encoded video (issue 14): between
 * h264parse and avdec_h264, with a consumer slower than the camera, every
 * decoded frame is the scene its stamp names, in every decode mode, while
 * latestframe drops frames. The test camera renders its scene from each
 * frame's capture time (latestframe::scene), so a frame decoded from a
 * missing or wrong reference shows as a block far from the scene.
 *
 * The camera runs at its default 1280x720 and 30 frames a second: the
 * consumer's pace, not the machine, sets how long a case takes (300 frames
 * at 50 ms each: 15 s). */
#include "common/luma_plane.h"
#include "frameinfometa.h"
#include "common/testcam.h"
#include "latestframe/scene.h"
#include "latestframe/stamp.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace scene = latestframe::scene;
namespace stamp = latestframe::stamp;
using latestframe::luma_plane;
using latestframe::testcam;

namespace
{

/* How long the consumer keeps each decoded frame before it takes the next
 * (checking it included): 20 frames a second against a camera sending 30,
 * so that latestframe has to drop. This is the consumer's slowness; no
 * test measures time against it. */
constexpr gint64 consumer_hold_us = 50 * 1000;

struct structure_free
{
  void operator() (GstStructure *s) const { gst_structure_free (s); }
};
using stats_ptr = std::unique_ptr<GstStructure, structure_free>;

guint64
stat (const stats_ptr &stats, const char *field)
{
  guint64 value = 0;
  EXPECT_TRUE (gst_structure_get_uint64 (stats.get (), field, &value)) << field;
  return value;
}

std::string
stat_text (const stats_ptr &stats, const char *field)
{
  const gchar *value = gst_structure_get_string (stats.get (), field);
  return value ? value : "";
}

stats_ptr
read_stats (GstElement *latest)
{
  GstStructure *stats = NULL;
  g_object_get (latest, "stats", &stats, NULL);
  return stats_ptr (stats);
}

/* What a slow consumer saw of one run, and latestframe's stats. */
struct decode_run
{
  int frames = 0;    /* decoded frames checked */
  int unstamped = 0; /* their stamp did not read */
  int damaged = 0;   /* below a floor of scene.h, or unstamped */
  int out_of_order = 0;
  /* Frames that reached the consumer without latestframe's info meta: a
   * frame it pushed to be shown carries one, a decode-only frame does not
   * (and is never shown). */
  int without_info = 0;
  /* Over every frame; for an unstamped one, its best fit (see
   * best_fit_unstamped). */
  double min_psnr_db = std::numeric_limits<double>::infinity ();
  double min_worst_block_db = std::numeric_limits<double>::infinity ();
  std::string first_damage;
  std::vector<std::string> messages; /* errors and warnings from the bus */
  /* Taken while playing, just before the stop (the level may be non-zero
   * then; the keeper takes them under its lock, so they add up), and
   * after the pipeline went to NULL (the held frames counted as flushed). */
  stats_ptr playing_stats;
  stats_ptr final_stats;
  /* Stamped capture time less the one sent (sent_capture_time) of each
   * frame whose stamp read and that carried one. */
  std::vector<std::int64_t> capture_offsets_ns;
  /* Of each frame whose stamp read: when the consumer took it less the
   * stamped capture time (CLOCK_MONOTONIC, the test camera's host being
   * this one). */
  std::vector<std::int64_t> ages_ns;
};

/* The capture time the camera sent with a frame (RTCP and the NTP-64
 * header extension, on the wall clock; rtspsrc add-reference-timestamp-meta
 * puts it on the buffer and the decoder keeps it), if any. */
std::optional<std::int64_t>
sent_capture_time (GstBuffer *buffer)
{
  static GstCaps *const ntp = gst_caps_new_empty_simple ("timestamp/x-ntp");
  const GstReferenceTimestampMeta *meta
      = gst_buffer_get_reference_timestamp_meta (buffer, ntp);
  if (!meta)
    return std::nullopt;
  return static_cast<std::int64_t> (meta->timestamp);
}

/* For a frame whose stamp does not read: its PSNR (whole plane, worst
 * block) against the scene at the capture time that fits it best, near the
 * one it was sent with. That time is on the wall clock, the stamps on
 * CLOCK_MONOTONIC: the median offset of the stamped frames so far maps one
 * onto the other (within 13 us for half of the frames, 1.6 ms at most, in
 * the runs seen; the PTS, from the arrival times, was up to 245 ms out on a
 * loaded machine). The stamp is written into a copy of the plane for each
 * time tried, so that the library's comparison can name the time: the
 * figures are of the rest of the picture. Taken at the time that fits the
 * plane best, they are the most favourable to the frame: a low one is
 * damage, not a wrong guess of the time. */
std::optional<std::pair<double, double>>
best_fit_unstamped (const decode_run &run, GstBuffer *buffer,
                    const std::uint8_t *luma, int stride, int width, int height)
{
  const std::optional<std::int64_t> sent = sent_capture_time (buffer);
  if (run.capture_offsets_ns.empty () || !sent)
    return std::nullopt;
  std::vector<std::int64_t> offsets = run.capture_offsets_ns;
  std::nth_element (offsets.begin (), offsets.begin () + offsets.size () / 2,
                    offsets.end ());
  const std::int64_t centre = *sent + offsets[offsets.size () / 2];
  std::vector<std::uint8_t> copy (static_cast<size_t> (width) * height);
  for (int y = 0; y < height; y++)
    std::copy_n (luma + static_cast<size_t> (y) * stride, width,
                 copy.begin () + static_cast<size_t> (y) * width);
  auto stamp_copy = [&] (std::int64_t time) {
    stamp::write (copy.data (), width, width, height,
                  static_cast<std::uint64_t> (time));
  };
  auto whole_at = [&] (std::int64_t time) {
    stamp_copy (time);
    return scene::psnr_against_scene (copy.data (), width, width, height)
        .value_or (0.0);
  };
  /* The whole plane's PSNR is highest at the time that renders the same
   * pixels: a window that can be narrower than a tenth of a millisecond
   * (the gradient and the box move by whole pixels, each at its own
   * moments; the box about 500 pixels a second at 720p). So the search
   * narrows down: 250 us steps 5 ms either side, then 20 us steps around
   * the best. */
  constexpr std::int64_t us = 1000;
  const std::int64_t phases[][2] = { /* reach, step */
                                     { 5000 * us, 250 * us },
                                     { 250 * us, 20 * us }
  };
  std::int64_t best = centre;
  double best_whole = whole_at (centre);
  for (const auto &phase : phases)
    {
      const std::int64_t around = best;
      for (std::int64_t time = around - phase[0]; time <= around + phase[0];
           time += phase[1])
        {
          const double db = whole_at (time);
          if (db > best_whole)
            {
              best_whole = db;
              best = time;
            }
        }
    }
  stamp_copy (best);
  const double best_block = scene::worst_block_psnr_against_scene (
                                copy.data (), width, width, height)
                                .value_or (0.0);
  return std::make_pair (best_whole, best_block);
}

/* Checks one decoded frame against the scene its stamp names. */
void
check_frame (GstSample *sample, decode_run &run,
             std::optional<std::uint64_t> &previous_capture)
{
  const std::uint64_t taken_ns = stamp::monotonic_now_ns ();
  GstBuffer *buffer = gst_sample_get_buffer (sample);
  const LatestFrameInfoMeta *info = latest_frame_info_meta_get (buffer);
  if (!info || info->sequence == 0)
    run.without_info++;
  std::optional<std::uint64_t> captured;
  std::optional<double> whole, worst_block;
  bool stamped = false;
  {
    const luma_plane luma (sample);
    if (!luma.mapped ())
      {
        ADD_FAILURE () << "an unreadable frame";
        return;
      }
    captured = stamp::read (luma.data, luma.stride, luma.width, luma.height);
    whole = scene::psnr_against_scene (luma.data, luma.stride, luma.width,
                                       luma.height);
    worst_block = scene::worst_block_psnr_against_scene (
        luma.data, luma.stride, luma.width, luma.height);
    stamped = captured && whole && worst_block;
    if (!stamped)
      if (const auto fit = best_fit_unstamped (run, buffer, luma.data,
                                               luma.stride, luma.width,
                                               luma.height))
        {
          whole = fit->first;
          worst_block = fit->second;
        }
  }
  const int index = run.frames++;
  if (stamped)
    {
      /* A frame shown twice, or one decoded late from a stale reference
       * picture, would not be newer than the one before. */
      if (previous_capture && *captured <= *previous_capture)
        run.out_of_order++;
      previous_capture = captured;
      run.ages_ns.push_back (static_cast<std::int64_t> (taken_ns - *captured));
      if (const std::optional<std::int64_t> sent = sent_capture_time (buffer))
        run.capture_offsets_ns.push_back (static_cast<std::int64_t> (*captured)
                                          - *sent);
    }
  else
    run.unstamped++;
  if (whole && worst_block)
    {
      run.min_psnr_db = std::min (run.min_psnr_db, *whole);
      run.min_worst_block_db = std::min (run.min_worst_block_db, *worst_block);
    }
  /* The stamp is in the picture too: a frame whose stamp does not read is
   * damaged there. */
  const bool damaged
      = !stamped || !whole || !worst_block
        || *whole < scene::decoded_psnr_floor_db
        || *worst_block < scene::decoded_worst_block_psnr_floor_db;
  if (damaged && run.damaged++ == 0)
    {
      std::ostringstream text;
      text << "frame " << index << ": ";
      if (!stamped)
        text << "stamp unreadable, ";
      if (whole && worst_block)
        text << (stamped ? "" : "at the best-fitting time: ") << "PSNR "
             << *whole << " dB, worst block " << *worst_block << " dB";
      else
        text << "no capture time to compare it at";
      run.first_damage = text.str ();
    }
}

/* Runs the camera's H.264 through `rtph264depay ! h264parse ! latestframe
 * <settings> ! avdec_h264` into a consumer that takes consumer_hold_us per
 * frame, and checks every frame decoded until `count` (fewer if none comes
 * for 20 s). Over TCP: a packet lost on UDP would damage frames whatever
 * latestframe does. The reference timestamp meta is for the test
 * (best_fit_unstamped); age-from=running-time makes latestframe ignore it,
 * as it would be without. */
decode_run
run_slow_consumer (const testcam &camera, const std::string &settings,
                   int count)
{
  decode_run run;
  const std::string launch
      = "rtspsrc location=" + camera.url ()
        + " latency=0 protocols=tcp add-reference-timestamp-meta=true "
          "! rtph264depay ! h264parse "
          "! latestframe name=lf age-from=running-time "
        + settings
        + " ! avdec_h264 ! videoconvert ! video/x-raw,format=I420 "
          "! appsink name=sink sync=false max-buffers=1 drop=false "
          "emit-signals=false";
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (launch.c_str (), &error);
  EXPECT_TRUE (pipeline != NULL && error == NULL)
      << (error ? error->message : "");
  g_clear_error (&error);
  if (!pipeline)
    return run;
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  GstElement *latest = gst_bin_get_by_name (GST_BIN (pipeline), "lf");
  GstBus *bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  std::optional<std::uint64_t> previous_capture;
  while (run.frames < count)
    {
      GstSample *sample
          = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 20 * GST_SECOND);
      if (!sample)
        break;
      const gint64 taken = g_get_monotonic_time ();
      check_frame (sample, run, previous_capture);
      /* The slowness: the decoder waits on the full appsink meanwhile, so
       * latestframe's thread waits in its push and frames pile up. */
      const gint64 left = taken + consumer_hold_us - g_get_monotonic_time ();
      if (left > 0)
        g_usleep (left);
      gst_sample_unref (sample);
    }
  run.playing_stats = read_stats (latest);
  /* A decoder fed a broken chain warns or fails; latestframe warns when it
   * cannot make frames decode-only. */
  while (GstMessage *message = gst_bus_pop_filtered (
             bus, static_cast<GstMessageType> (GST_MESSAGE_ERROR
                                               | GST_MESSAGE_WARNING)))
    {
      GError *bus_error = NULL;
      if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR)
        gst_message_parse_error (message, &bus_error, NULL);
      else
        gst_message_parse_warning (message, &bus_error, NULL);
      run.messages.push_back (std::string (GST_MESSAGE_SRC_NAME (message))
                              + ": " + bus_error->message);
      g_clear_error (&bus_error);
      gst_message_unref (message);
    }
  EXPECT_EQ (gst_element_set_state (pipeline, GST_STATE_NULL),
             GST_STATE_CHANGE_SUCCESS);
  run.final_stats = read_stats (latest);
  gst_object_unref (bus);
  gst_object_unref (latest);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  return run;
}

/* received == pushed + dropped + held, and the drops by reason add up to
 * the drops: no frame went uncounted. */
void
expect_frames_accounted (const stats_ptr &stats, const char *when)
{
  const guint64 received = stat (stats, "received");
  const guint64 pushed = stat (stats, "pushed");
  const guint64 dropped = stat (stats, "dropped");
  guint held = 0;
  EXPECT_TRUE (
      gst_structure_get_uint (stats.get (), "current-level-buffers", &held));
  EXPECT_EQ (received, pushed + dropped + held) << when;
  guint64 by_reason = 0;
  for (const char *reason :
       { "dropped-overflow", "dropped-age", "dropped-budget", "dropped-flush",
         "dropped-superseded", "dropped-broken-chain",
         "dropped-skipped-delta" })
    by_reason += stat (stats, reason);
  EXPECT_EQ (by_reason, dropped) << when;
}

/* The common verdict: `count` frames decoded, each with its stamp and
 * above both floors, newer each time, the frames accounted for, and no
 * error or warning on the bus but `known_warning` (printed, not failed).
 * With `decode_only_may_show`, frames handed over decode-only may have
 * been shown (they count among the frames shown without the info meta). */
void
expect_no_corrupt_frame (const decode_run &run, int count, const char *name,
                         const std::string &known_warning = "",
                         bool decode_only_may_show = false)
{
  g_print (
      "%s: %d frames (%d damaged, %d with an unreadable stamp), PSNR min "
      "%.2f dB, worst 16x16 block min %.2f dB; "
      "received %" G_GUINT64_FORMAT ", pushed %" G_GUINT64_FORMAT
      ", decode-only %" G_GUINT64_FORMAT ", dropped %" G_GUINT64_FORMAT
      " (overflow %" G_GUINT64_FORMAT ", superseded %" G_GUINT64_FORMAT
      ", broken-chain %" G_GUINT64_FORMAT ", skipped-delta %" G_GUINT64_FORMAT
      ", flush %" G_GUINT64_FORMAT "), decoding %s\n",
      name, run.frames, run.damaged, run.unstamped, run.min_psnr_db,
      run.min_worst_block_db, stat (run.final_stats, "received"),
      stat (run.final_stats, "pushed"), stat (run.final_stats, "decode-only"),
      stat (run.final_stats, "dropped"),
      stat (run.final_stats, "dropped-overflow"),
      stat (run.final_stats, "dropped-superseded"),
      stat (run.final_stats, "dropped-broken-chain"),
      stat (run.final_stats, "dropped-skipped-delta"),
      stat (run.final_stats, "dropped-flush"),
      stat_text (run.playing_stats, "decoding").c_str ());
  for (const std::string &message : run.messages)
    if (!known_warning.empty () && message == known_warning)
      g_print ("%s: known warning: %s\n", name, message.c_str ());
    else
      ADD_FAILURE () << message;
  ASSERT_EQ (run.frames, count) << "no frame for 20 s";
  EXPECT_EQ (run.damaged, 0)
      << "corrupt frames (" << run.unstamped
      << " of them with an unreadable stamp), the first: " << run.first_damage;
  EXPECT_GE (run.min_psnr_db, scene::decoded_psnr_floor_db);
  EXPECT_GE (run.min_worst_block_db, scene::decoded_worst_block_psnr_floor_db);
  EXPECT_EQ (run.out_of_order, 0) << "frames not newer than the one before";
  /* Every frame shown was counted as handed over to be shown: it carries
   * the info meta latestframe gives those, and there are no more of them
   * than frames pushed and not decode-only. */
  const guint64 decode_only = stat (run.final_stats, "decode-only");
  const guint64 may_show = decode_only_may_show ? decode_only : 0;
  EXPECT_LE (static_cast<guint64> (run.without_info), may_show)
      << "frames shown without the info meta of a frame pushed to be shown";
  EXPECT_LE (static_cast<guint64> (run.frames),
             stat (run.final_stats, "pushed") - decode_only + may_show)
      << "more frames shown than pushed to be shown";
  expect_frames_accounted (run.playing_stats, "while playing");
  expect_frames_accounted (run.final_stats, "after the stop");
  guint held = 1;
  gst_structure_get_uint (run.final_stats.get (), "current-level-buffers",
                          &held);
  EXPECT_EQ (held, 0u) << "frames still held after the stop";
}

} // namespace

// decode=all, no B-frames: the slow consumer makes latestframe drop (whole
// chains), and none of 300 decoded frames is corrupt.
TEST (DecodeModes, AllDecodesNoCorruptFrame)
{
  testcam camera ({ "--b-frames=0" });
  ASSERT_FALSE (camera.url ().empty ());
  const decode_run run = run_slow_consumer (camera, "", 300);
  expect_no_corrupt_frame (run, 300, "decode=all, --b-frames=0");
  EXPECT_GT (stat (run.final_stats, "dropped-overflow")
                 + stat (run.final_stats, "dropped-broken-chain"),
             0u)
      << "no drop: the consumer was not slow";
}

// decode=all with non-reference B-frames (each sent after the P-frame shown
// after it): drops, and none of 300 decoded frames is corrupt.
TEST (DecodeModes, AllWithBFramesDecodesNoCorruptFrame)
{
  testcam camera ({ "--b-frames=1" });
  ASSERT_FALSE (camera.url ().empty ());
  const decode_run run = run_slow_consumer (camera, "", 300);
  expect_no_corrupt_frame (run, 300, "decode=all, --b-frames=1");
  EXPECT_GT (stat (run.final_stats, "dropped-overflow")
                 + stat (run.final_stats, "dropped-broken-chain"),
             0u)
      << "no drop: the consumer was not slow";
}

// decode=on-demand at 10 frames a second: each frame handed over comes with
// the frames of its chain since the one before as decode-only (about two of
// every three frames pushed), and none of the 150 frames shown is corrupt.
// 150, not 300: at 10 a second 300 would take 30 s per case.
TEST (DecodeModes, OnDemandDecodesNoCorruptFrame)
{
  testcam camera ({ "--b-frames=0" });
  ASSERT_FALSE (camera.url ().empty ());
  const decode_run run
      = run_slow_consumer (camera, "decode=on-demand analysis-rate=10", 150);
  expect_no_corrupt_frame (run, 150, "decode=on-demand, --b-frames=0");
  /* Batches: more decode-only frames than frames to show. The camera's 30
   * frames a second against the rate of 10 make it so, however slow the
   * machine. */
  const guint64 decode_only = stat (run.final_stats, "decode-only");
  EXPECT_GT (decode_only, stat (run.final_stats, "pushed") - decode_only);
  EXPECT_GT (stat (run.final_stats, "dropped"), 0u);
}

// decode=on-demand with B-frames (each sent after the P-frame shown after
// it): none of 150 frames shown is corrupt, and every one was counted as
// handed over to be shown (not decode-only), with its info meta.
TEST (DecodeModes, OnDemandWithBFramesDecodesNoCorruptFrame)
{
  testcam camera ({ "--b-frames=1" });
  ASSERT_FALSE (camera.url ().empty ());
  const decode_run run
      = run_slow_consumer (camera, "decode=on-demand analysis-rate=10", 150);
  /* A stream sent out of display order (each B-frame after the P-frame
   * shown after it): a segment moved past a decode-only P-frame would cut
   * off the B-frame to show, so latestframe does not make frames
   * decode-only there and says so, once; every frame passed on is decoded
   * and shown, counted as pushed (not decode-only), aged and paced; none
   * corrupt. (h264parse of GStreamer 1.22 does not mark these B-frames
   * DROPPABLE, so latestframe keeps them as references.) Frames handed
   * over before the first B-frame told the order may be decode-only, and
   * the decoder, reordering, may show such a frame anyway (seen once in a
   * clean-clone run: decode-only 1, one frame shown without the info
   * meta); so these may be shown, no others. */
  expect_no_corrupt_frame (
      run, 150, "decode=on-demand, --b-frames=1",
      "lf: cannot make frames decode-only in a stream sent out of display "
      "order: they are decoded and shown",
      true);
  EXPECT_GT (stat (run.final_stats, "dropped"), 0u);
}

// decode=key-units: the decoder gets key units only (the delta units
// dropped as skipped-delta), and none of them decodes corrupt. A key unit
// every 5 frames gives 6 a second: 60 frames (10 s), not 300 (50 s). At
// the default 2000 kbit/s so many key units code at 31-37 dB, next to the
// whole-plane floor of 30 dB (set for a key unit every 30 frames); at 4000
// at 43-45 dB, so that only damage goes below it.
TEST (DecodeModes, KeyUnitsDecodesNoCorruptFrame)
{
  testcam camera ({ "--gop=5", "--bitrate=4000" });
  ASSERT_FALSE (camera.url ().empty ());
  const decode_run run = run_slow_consumer (camera, "decode=key-units", 60);
  expect_no_corrupt_frame (run, 60, "decode=key-units, --gop=5 --bitrate=4000");
  EXPECT_GT (stat (run.final_stats, "dropped-skipped-delta"), 0u);
}

// decode=key-units on a stream with B-frames: each key unit comes out of
// the decoder at once. The decoder holds a picture back for the B-frames it
// expects after it; with none coming, it held each key unit until the next
// one, a key interval (1 s here) late, until latestframe marked its
// segment as key units alone (GstVideoDecoder then drains after each).
// Fixed, the median age is the encoder's B-frame lag and the transport, ~0.1
// s; the bound is half the key interval.
TEST (DecodeModes, KeyUnitsWithBFramesComeOutAtOnce)
{
  testcam camera ({ "--b-frames=1", "--gop=30" });
  ASSERT_FALSE (camera.url ().empty ());
  const decode_run run = run_slow_consumer (camera, "decode=key-units", 5);
  expect_no_corrupt_frame (run, 5, "decode=key-units, --b-frames=1 --gop=30");
  ASSERT_FALSE (run.ages_ns.empty ());
  std::vector<std::int64_t> ages = run.ages_ns;
  std::sort (ages.begin (), ages.end ());
  const std::int64_t median = ages[ages.size () / 2];
  g_print ("key units with B-frames: median age %.1f ms over %zu frames\n",
           median / 1e6, ages.size ());
  EXPECT_LT (median, 500 * static_cast<std::int64_t> (GST_MSECOND))
      << "key units came out a key interval late";
}

// decode=auto at one frame a second with a key unit every half second
// settles on key units, and none of the frames decodes corrupt. 10 frames:
// one a second.
TEST (DecodeModes, AutoAtOneFrameASecondDecodesKeyUnits)
{
  testcam camera ({ "--gop=15" });
  ASSERT_FALSE (camera.url ().empty ());
  const decode_run run
      = run_slow_consumer (camera, "decode=auto analysis-rate=1", 10);
  expect_no_corrupt_frame (run, 10, "decode=auto analysis-rate=1, --gop=15");
  EXPECT_EQ (stat_text (run.playing_stats, "decoding"), "key-units");
  EXPECT_GT (stat (run.final_stats, "dropped-skipped-delta"), 0u);
}
