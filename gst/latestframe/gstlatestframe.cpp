/* latestframe — keeps the newest frames for a slow consumer.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/**
 * SECTION:element-latestframe
 * @title: latestframe
 *
 * A leaky, bounded queue for live video analysis, and a drop-in for `queue`.
 * It holds at most #GstLatestFrame:max-size-buffers frames (and, when set, at
 * most #GstLatestFrame:max-size-bytes bytes and #GstLatestFrame:max-size-time
 * of span between the oldest and the newest held frame) and pushes them from
 * its own streaming thread. When the consumer is slower than a live source,
 * the oldest held frames are dropped (#GstLatestFrame:leaky=downstream, the
 * default), so the consumer always gets the newest frame and the source is
 * never held up. When upstream is not live (a file), nothing is dropped:
 * upstream is held up and every frame is analysed at the consumer's pace
 * (#GstLatestFrame:leaky-non-live turns dropping on for files too).
 *
 * Only frames are ever dropped: events and serialized queries keep their
 * order, sticky events (stream-start, caps, segment, tags) are never lost, and
 * the first frame pushed after a drop carries %GST_BUFFER_FLAG_DISCONT. The
 * pushed buffer is the very buffer that arrived: frames are never copied.
 * Every drop is counted by reason (#GstLatestFrame:stats), and the bytes of
 * the frames held and still alive downstream are accounted.
 *
 * It has `queue`'s signals (#GstLatestFrame::overrun,
 * #GstLatestFrame::underrun, #GstLatestFrame::running,
 * #GstLatestFrame::pushing) and properties (#GstLatestFrame:silent,
 * #GstLatestFrame:min-threshold-buffers, ..., #GstLatestFrame:flush-on-eos)
 * with their meaning and threading, so code written for
 * `queue leaky=downstream` works with it unchanged. Its defaults differ:
 * one frame, no byte or time limit, leaky=downstream.
 *
 * With #GstLatestFrame:delivery=on-request nothing is pushed: the element is
 * the pipeline's sink and an application thread takes the newest frame when
 * it is ready for one, with the #GstLatestFrame::try-pull-frame action
 * (older frames are dropped as `superseded`, never handed over twice;
 * #GstLatestFrame:max-age holds at that moment; the sample tells the frame's
 * sequence number and how many were skipped). Convert only the frames taken.
 * This is how the latestframe capture library (C++ and Python) reads a
 * camera.
 *
 * Each pushed frame carries a `LatestFrameInfoMeta` (gst/common/
 * frameinfometa.h: plain fields, API `LatestFrameInfoMetaAPI`) with what a
 * pulled sample's info below says but `skipped`: `sequence`,
 * `running_time`, `age` and, when the frame was aged from its capture
 * time, `capture_time` (Unix ns on this host's clock). Its API has no
 * tags, so videoconvert and the analyses keep it; mqttpublish puts the
 * sequence and capture time in its messages. In Python with PyGObject:
 * |[
 * pipeline = Gst.parse_launch("rtspsrc location=rtsp://127.0.0.1:8554/cam "
 *     "add-reference-timestamp-meta=true "
 *     "! decodebin ! latestframe name=latest delivery=on-request")
 * pipeline.set_state(Gst.State.PLAYING)
 * latest = pipeline.get_by_name("latest")
 * while True:
 *     sample = latest.emit("try-pull-frame", Gst.SECOND)  # newest, or None
 *     ...  # analyse sample.get_buffer(); sample.get_info()["skipped"]
 * ]|
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,framerate=30/1 !
 * latestframe ! identity sleep-time=100000 ! fakesink
 * ]| A live source at 30 fps read by a consumer that takes 100 ms a frame:
 * the consumer gets about 10 fps, always the newest frame; the source keeps
 * its rate.
 * |[
 * gst-launch-1.0 rtspsrc location=rtsp://127.0.0.1:8554/cam
 * add-reference-timestamp-meta=true ! decodebin !
 * latestframe ! videoconvert ! autovideosink
 * ]| Put latestframe right after the decoder, so that conversion runs only on
 * the frames that will be used; add-reference-timestamp-meta=true carries
 * the camera's capture time (RTCP sender reports) to it, so that ages and
 * #GstLatestFrame:max-age run from the moment the picture was taken (see
 * #GstLatestFrame:age-from).
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! latestframe max-size-buffers=0
 * max-size-time=200000000 ! identity sleep-time=50000 ! fakesink
 * ]| Keep up to 200 ms of frames instead of a single one.
 * |[
 * gst-launch-1.0 rtspsrc location=rtsp://127.0.0.1:8554/cam latency=0 !
 * rtph264depay ! h264parse ! latestframe decode=auto analysis-rate=1 !
 * avdec_h264 ! videoconvert ! cvmotion analysis-width=320 ! fakesink
 * ]| Between the parser and the decoder, on encoded video: one analysis per
 * second, and only what it needs is decoded (here, with a camera sending a
 * key unit every second, the key units alone). latestframe never passes on
 * a frame whose reference it dropped (#GstLatestFrame:decode).
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstlatestframe.h"

#include "element_helpers.h"
#include "frameinfometa.h"

#include "flightmeta.h"
#include "latestframe/capture_clock.h"
#include "latestframe/frame_keeper.h"
#include "latestframe/key_unit_marking.h"
#include "latestframe/nal_units.h"
#include "latestframe/thread_annotations.h"
#include "lazypool.h"
#include "miniobject.h"

#include <gst/video/video.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <optional>
#include <array>
#include <string>

GST_DEBUG_CATEGORY_STATIC (latest_frame_debug);
GST_DEBUG_CATEGORY_STATIC (latest_frame_dataflow);
#define GST_CAT_DEFAULT latest_frame_debug

namespace lf = latestframe;
using keeper_t = lf::frame_keeper<lf::held_object>;
using steady_clock = std::chrono::steady_clock;

struct _GstLatestFrameState
{
  /* Everything that decides a frame's fate, every setting it decides by,
   * and the counts. The element keeps only what the keeper does not:
   * how it describes frames (age-from), its signals (silent), its stats
   * messages (stats-interval), and the GStreamer side of the hand-over. */
  keeper_t keeper;

  /* Sink streaming thread only (under the sink pad's stream lock): the
   * segment that gives frames their running time, and whether upstream's
   * liveness was asked for this stream. */
  GstSegment sink_segment;
  bool liveness_known = false;

  /* What ages run from (GstLatestFrameAgeFrom). */
  std::atomic<int> age_from{ GST_LATEST_FRAME_AGE_FROM_AUTO };
  /* The capture times the stream tells, placed on the running clock. */
  lf::capture_clock capture_clock;

  /* Whether the frames arriving have running times: without, the loop
   * does not read the pipeline clock. */
  std::atomic<bool> timed_frames{ false };
  std::atomic<bool> silent{ false };
  std::atomic<guint> stats_interval_ms{ 0 };
  /* Task thread only: when the next stats message is due. */
  steady_clock::time_point next_stats;

  /* The caps and segment of the entries handed over so far, by the task
   * (pushed downstream) or a reader (delivery=on-request): a reader's
   * sample carries them, and the task moves the segment past decode-only
   * frames. Whichever takes them, both stay current, so that delivery may
   * change at any time. */
  lf::checked_mutex handed_lock;
  GstCaps *handed_caps LF_GUARDED_BY (handed_lock) = nullptr;
  GstSegment handed_segment LF_GUARDED_BY (handed_lock);
  /* Whether handed_segment carries GST_SEGMENT_FLAG_TRICKMODE_KEY_UNITS
   * for the decoder (mark_key_units_alone()). */
  lf::key_unit_marking key_unit_marking LF_GUARDED_BY (handed_lock);
  /* From handed_caps: H.264 or H.265 key units are read to tell a random
   * access unit (key_unit_decodes_alone()); other encodings' are not. */
  std::optional<std::pair<lf::video_codec, lf::nal_framing> >
      key_unit_reading LF_GUARDED_BY (handed_lock);

  /* Readers take frames one at a time, under this lock. */
  lf::checked_mutex pull_lock;
  /* The sequence number of the frame taken last (0: none yet). */
  std::uint64_t last_pulled_sequence LF_GUARDED_BY (pull_lock) = 0;
  /* The reader took the end of the stream: no frame comes until a flush or
   * a new stream. */
  std::atomic<bool> pulled_eos{ false };
  std::atomic<bool> warned_pull_in_push_mode{ false };

  ~_GstLatestFrameState ()
  {
    lf::checked_lock lock (handed_lock);
    gst_caps_replace (&handed_caps, NULL);
  }
};

/* Logs the level; reads it (a lock and a scan) only when logging. */
#define STATUS(self, what)                                                     \
  G_STMT_START                                                                 \
  if (gst_debug_category_get_threshold (latest_frame_dataflow)                 \
      >= GST_LEVEL_LOG)                                                        \
    {                                                                          \
      lf::queue_level level_ = (self)->state->keeper.level_approx ();          \
      GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,                         \
                          "%s: %u frames, %" G_GUINT64_FORMAT                  \
                          " bytes, %" GST_TIME_FORMAT " held",                 \
                          what, level_.frames, level_.bytes,                   \
                          GST_TIME_ARGS (level_.span_ns));                     \
    }                                                                          \
  G_STMT_END

enum
{
  SIGNAL_UNDERRUN,
  SIGNAL_RUNNING,
  SIGNAL_OVERRUN,
  SIGNAL_PUSHING,
  SIGNAL_TRY_PULL_FRAME,
  LAST_SIGNAL
};

static guint latest_frame_signals[LAST_SIGNAL];

enum
{
  PROP_0,
  PROP_MAX_SIZE_BUFFERS,
  PROP_MAX_SIZE_BYTES,
  PROP_MAX_SIZE_TIME,
  PROP_LEAKY,
  PROP_LEAKY_NON_LIVE,
  PROP_CURRENT_LEVEL_BUFFERS,
  PROP_CURRENT_LEVEL_BYTES,
  PROP_CURRENT_LEVEL_TIME,
  PROP_MIN_THRESHOLD_BUFFERS,
  PROP_MIN_THRESHOLD_BYTES,
  PROP_MIN_THRESHOLD_TIME,
  PROP_SILENT,
  PROP_FLUSH_ON_EOS,
  PROP_MAX_AGE,
  PROP_DELIVERY,
  PROP_AGE_FROM,
  PROP_DECODE,
  PROP_ANALYSIS_RATE,
  PROP_MEMORY_BUDGET,
  PROP_MEMORY_BUDGET_BYTES,
  PROP_STATS_INTERVAL,
  PROP_IN_FLIGHT_BUFFERS,
  PROP_IN_FLIGHT_BYTES,
  PROP_PEAK_BYTES,
  PROP_DROPPED,
  PROP_STATS,
};

#define DEFAULT_MAX_SIZE_BUFFERS 1
#define DEFAULT_MAX_SIZE_BYTES 0
#define DEFAULT_MAX_SIZE_TIME 0
#define DEFAULT_LEAKY GST_LATEST_FRAME_LEAKY_DOWNSTREAM
#define DEFAULT_LEAKY_NON_LIVE FALSE
#define DEFAULT_MIN_THRESHOLD_BUFFERS 0
#define DEFAULT_MIN_THRESHOLD_BYTES 0
#define DEFAULT_MIN_THRESHOLD_TIME 0
#define DEFAULT_SILENT FALSE
#define DEFAULT_FLUSH_ON_EOS FALSE
#define DEFAULT_MAX_AGE 0
#define DEFAULT_DELIVERY GST_LATEST_FRAME_DELIVERY_PUSH
#define DEFAULT_AGE_FROM GST_LATEST_FRAME_AGE_FROM_AUTO
#define DEFAULT_DECODE GST_LATEST_FRAME_DECODE_ALL
#define DEFAULT_ANALYSIS_RATE 0.0
#define FRAME_INFO_NAME "latestframe-frame"
#define DEFAULT_MEMORY_BUDGET NULL
#define DEFAULT_MEMORY_BUDGET_BYTES 0
#define DEFAULT_STATS_INTERVAL 0
#define STATS_NAME "latestframe-stats"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

GType
gst_latest_frame_leaky_get_type (void)
{
  static GType leaky_type = 0;
  static const GEnumValue leaky_values[] = {
    { GST_LATEST_FRAME_LEAKY_NO, "Not leaky: block upstream while full", "no" },
    { GST_LATEST_FRAME_LEAKY_UPSTREAM,
      "Leaky on upstream: drop the arriving frame when full", "upstream" },
    { GST_LATEST_FRAME_LEAKY_DOWNSTREAM,
      "Leaky on downstream: drop the oldest held frames when full",
      "downstream" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&leaky_type))
    {
      GType type = g_enum_register_static ("GstLatestFrameLeaky", leaky_values);
      g_once_init_leave (&leaky_type, type);
    }
  return leaky_type;
}

GType
gst_latest_frame_delivery_get_type (void)
{
  static GType delivery_type = 0;
  static const GEnumValue delivery_values[] = {
    { GST_LATEST_FRAME_DELIVERY_PUSH,
      "Push: the element's thread pushes the held frames on its src pad",
      "push" },
    { GST_LATEST_FRAME_DELIVERY_ON_REQUEST,
      "On request: an application takes the newest frame with the "
      "try-pull-frame action; nothing is pushed",
      "on-request" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&delivery_type))
    {
      GType type
          = g_enum_register_static ("GstLatestFrameDelivery", delivery_values);
      g_once_init_leave (&delivery_type, type);
    }
  return delivery_type;
}

GType
gst_latest_frame_age_from_get_type (void)
{
  static GType age_from_type = 0;
  static const GEnumValue age_from_values[] = {
    { GST_LATEST_FRAME_AGE_FROM_AUTO,
      "The capture time when the frame carries one (timestamp/x-ntp or "
      "timestamp/x-unix reference timestamp meta), else the running time",
      "auto" },
    { GST_LATEST_FRAME_AGE_FROM_CAPTURE,
      "The capture time only: a frame without one has no age", "capture" },
    { GST_LATEST_FRAME_AGE_FROM_RUNNING_TIME,
      "The frame's running time (for RTSP: when the receiver got it)",
      "running-time" },
    { GST_LATEST_FRAME_AGE_FROM_ARRIVAL, "When the frame reached this element",
      "arrival" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&age_from_type))
    {
      GType type
          = g_enum_register_static ("GstLatestFrameAgeFrom", age_from_values);
      g_once_init_leave (&age_from_type, type);
    }
  return age_from_type;
}

/* The enum's values, nicks and descriptions from the core's list of the
 * decode modes (decode_modes.h); built once, and static as a registered
 * enum's values must be. */
GType
gst_latest_frame_decode_get_type (void)
{
  static GType decode_type = 0;
  if (g_once_init_enter (&decode_type))
    {
      static std::array<GEnumValue, lf::decode_modes.size () + 1> values{};
      for (std::size_t i = 0; i < lf::decode_modes.size (); i++)
        values[i] = { static_cast<gint> (lf::decode_modes[i].mode),
                      lf::decode_modes[i].meaning, lf::decode_modes[i].name };
      GType type
          = g_enum_register_static ("GstLatestFrameDecode", values.data ());
      g_once_init_leave (&decode_type, type);
    }
  return decode_type;
}

static_assert (static_cast<int> (lf::decode_mode::all)
                       == GST_LATEST_FRAME_DECODE_ALL
                   && static_cast<int> (lf::decode_mode::on_demand)
                          == GST_LATEST_FRAME_DECODE_ON_DEMAND
                   && static_cast<int> (lf::decode_mode::key_units)
                          == GST_LATEST_FRAME_DECODE_KEY_UNITS
                   && static_cast<int> (lf::decode_mode::automatic)
                          == GST_LATEST_FRAME_DECODE_AUTO,
               "GstLatestFrameDecode follows latestframe::decode_mode");

#define gst_latest_frame_parent_class parent_class
G_DEFINE_TYPE (GstLatestFrame, gst_latest_frame, GST_TYPE_ELEMENT);

GST_ELEMENT_REGISTER_DEFINE (latestframe, "latestframe", GST_RANK_NONE,
                             GST_TYPE_LATEST_FRAME);

static void gst_latest_frame_finalize (GObject *object);
static void gst_latest_frame_set_property (GObject *object, guint prop_id,
                                           const GValue *value,
                                           GParamSpec *pspec);
static void gst_latest_frame_get_property (GObject *object, guint prop_id,
                                           GValue *value, GParamSpec *pspec);
static GstFlowReturn gst_latest_frame_chain (GstPad *pad, GstObject *parent,
                                             GstBuffer *buffer);
static GstFlowReturn
gst_latest_frame_sink_event (GstPad *pad, GstObject *parent, GstEvent *event);
static gboolean gst_latest_frame_sink_query (GstPad *pad, GstObject *parent,
                                             GstQuery *query);
static gboolean gst_latest_frame_src_event (GstPad *pad, GstObject *parent,
                                            GstEvent *event);
static gboolean gst_latest_frame_src_query (GstPad *pad, GstObject *parent,
                                            GstQuery *query);
static gboolean gst_latest_frame_sink_activate_mode (GstPad *pad,
                                                     GstObject *parent,
                                                     GstPadMode mode,
                                                     gboolean active);
static gboolean gst_latest_frame_src_activate_mode (GstPad *pad,
                                                    GstObject *parent,
                                                    GstPadMode mode,
                                                    gboolean active);
static void gst_latest_frame_loop (GstPad *pad);
static GstSample *gst_latest_frame_try_pull_frame (GstLatestFrame *self,
                                                   GstClockTime timeout);

static lf::leak_policy
leak_policy_for (int leaky)
{
  switch (leaky)
    {
    case GST_LATEST_FRAME_LEAKY_NO:
      return lf::leak_policy::none;
    case GST_LATEST_FRAME_LEAKY_UPSTREAM:
      return lf::leak_policy::drop_arriving;
    default:
      return lf::leak_policy::drop_oldest;
    }
}

/* The leaky property for the keeper's policy (the one place it is kept). */
static GstLatestFrameLeaky
leaky_for (lf::leak_policy policy)
{
  switch (policy)
    {
    case lf::leak_policy::none:
      return GST_LATEST_FRAME_LEAKY_NO;
    case lf::leak_policy::drop_arriving:
      return GST_LATEST_FRAME_LEAKY_UPSTREAM;
    case lf::leak_policy::drop_oldest:
      break;
    }
  return GST_LATEST_FRAME_LEAKY_DOWNSTREAM;
}

/* The keeper's hooks, at the points where `queue` emits its signals: the
 * keeper calls them with its lock released. */
struct queue_signals
{
  GstLatestFrame *self;

  bool active () const
  {
    return !self->state->silent.load (std::memory_order_relaxed);
  }
  void full ()
  {
    g_signal_emit (self, latest_frame_signals[SIGNAL_OVERRUN], 0);
  }
  void room_after_wait ()
  {
    g_signal_emit (self, latest_frame_signals[SIGNAL_RUNNING], 0);
  }
  void empty ()
  {
    g_signal_emit (self, latest_frame_signals[SIGNAL_UNDERRUN], 0);
  }
  void refilled ()
  {
    g_signal_emit (self, latest_frame_signals[SIGNAL_RUNNING], 0);
    g_signal_emit (self, latest_frame_signals[SIGNAL_PUSHING], 0);
  }
};

/* The pipeline clock's running time now (no_time without a clock), for
 * the keeper's ages: read with no lock of the keeper's held, by the loop
 * and by the keeper (set_running_clock). */
static std::int64_t
read_running_clock (void *element_pointer)
{
  GstElement *element = GST_ELEMENT_CAST (element_pointer);
  /* With the object lock held, which keeps the clock alive (it is only
   * replaced under that lock): no reference taken per frame. */
  GST_OBJECT_LOCK (element);
  const GstClockTime now = element->clock ? gst_clock_get_time (element->clock)
                                          : GST_CLOCK_TIME_NONE;
  const GstClockTime base = element->base_time;
  GST_OBJECT_UNLOCK (element);
  if (!GST_CLOCK_TIME_IS_VALID (now) || now < base || now - base > G_MAXINT64)
    return lf::no_time;
  return static_cast<std::int64_t> (now - base);
}

/* The 'stats' blurb, its drop reasons from the core's one list. Built once,
 * kept for the life of the process as GParamSpec blurbs are. */
static const char *
stats_blurb ()
{
  static const std::string blurb = [] {
    std::string text = "A '" STATS_NAME "' structure: received, pushed, "
                       "dropped (and by reason:";
    const char *separator = " -";
    for (const lf::drop_reason_info &reason : lf::drop_reasons)
      {
        text += separator;
        text += reason.name;
        separator = ", -";
      }
    return text
           + "; -bytes), decode-only (frames passed on only to be decoded), "
             "decoding (the decode mode in force), key-interval (ns, "
             "measured; 0 = not known), current-level-chains, current "
             "levels, in-flight frames and bytes, peak-bytes, "
             "age-p50/-p95/-max (ns, recent frames; see age-from), age-from, "
             "capture-time-frames (frames aged from their capture time), "
             "capture-time-unused (frames whose capture time was not used: "
             "too far from this host's clock, see age-from), "
             "capture-clock-fallback (the stream's clock is out of step now), "
             "timestamp-age-p50/-p95/-max (those frames' ages by their own "
             "running time, beside), upstream-live, and memory-budget, "
             "-bytes, -used when a budget is set";
  }();
  return blurb.c_str ();
}

static void
gst_latest_frame_class_init (GstLatestFrameClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (latest_frame_debug, "latestframe", 0,
                           "latestframe element");
  GST_DEBUG_CATEGORY_INIT (latest_frame_dataflow, "latestframe_dataflow", 0,
                           "latestframe dataflow (per frame)");
  /* mqttpublish registers it too, whichever loads first. */
  latest_frame_info_meta_get_info ();

  gobject_class->finalize = gst_latest_frame_finalize;
  gobject_class->set_property = gst_latest_frame_set_property;
  gobject_class->get_property = gst_latest_frame_get_property;

  /**
   * GstLatestFrame::underrun:
   *
   * As `queue`'s: emitted from the element's streaming thread when it finds
   * nothing to push (below the min-threshold-* levels, if set), before it
   * waits; once per transition to empty.
   */
  latest_frame_signals[SIGNAL_UNDERRUN]
      = g_signal_new ("underrun", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_FIRST,
                      0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /**
   * GstLatestFrame::running:
   *
   * As `queue`'s: emitted when there is enough to push again after an
   * underrun (streaming thread), and when an upstream thread that was
   * blocked by a full element (leaky=no, or a paced non-live upstream) got
   * room (upstream's thread).
   */
  latest_frame_signals[SIGNAL_RUNNING]
      = g_signal_new ("running", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_FIRST,
                      0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /**
   * GstLatestFrame::overrun:
   *
   * As `queue`'s: emitted from upstream's streaming thread when a frame
   * arrives and the held frames are at a limit, before the frame is dropped
   * (leaky) or upstream blocks; the limits are checked again after it, so a
   * handler may raise them.
   */
  latest_frame_signals[SIGNAL_OVERRUN]
      = g_signal_new ("overrun", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_FIRST,
                      0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /**
   * GstLatestFrame::pushing:
   *
   * As `queue`'s: emitted from the element's streaming thread when it has
   * something to push again after an underrun.
   */
  latest_frame_signals[SIGNAL_PUSHING]
      = g_signal_new ("pushing", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_FIRST,
                      0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /**
   * GstLatestFrame::try-pull-frame:
   * @self: the element
   * @timeout: how long to wait for a frame, in nanoseconds
   *   (%GST_CLOCK_TIME_NONE: until one comes or the element stops)
   *
   * With #GstLatestFrame:delivery=on-request: takes the newest frame held,
   * waiting up to @timeout while there is none. The frames older than it
   * are dropped (reason `superseded`), a frame older than
   * #GstLatestFrame:max-age is dropped (reason `age`) and the wait goes on,
   * and no frame is ever returned twice.
   *
   * The sample holds the only reference to the frame's buffer (the very
   * buffer that arrived; its memory is never copied): take it with
   * gst_sample_get_buffer() and gst_buffer_ref(), drop the sample, and the
   * buffer is the caller's alone and writable. It stays counted in flight
   * (#GstLatestFrame:in-flight-bytes) until its last reference goes. The
   * sample's caps and segment are the frame's; its info is a
   * `latestframe-frame` structure: `sequence` (guint64, 1 for the first frame
   * received), `skipped` (guint64, frames received since the previous frame
   * taken that will never be taken), `running-time` (guint64, ns, or
   * %GST_CLOCK_TIME_NONE) and `age` (gint64, ns: the pipeline clock's running
   * time now minus the frame's; -1 when unknown).
   *
   * Call it from one thread at a time or from several (they take turns).
   *
   * Returns: (transfer full) (nullable): the frame, or %NULL on timeout,
   * while flushing or stopped, at the end of the stream (the element then
   * posts EOS, as a sink does), or with #GstLatestFrame:delivery=push.
   */
  latest_frame_signals[SIGNAL_TRY_PULL_FRAME] = g_signal_new (
      "try-pull-frame", G_TYPE_FROM_CLASS (klass),
      static_cast<GSignalFlags> (G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
      G_STRUCT_OFFSET (GstLatestFrameClass, try_pull_frame), NULL, NULL, NULL,
      GST_TYPE_SAMPLE, 1, GST_TYPE_CLOCK_TIME);
  klass->try_pull_frame = gst_latest_frame_try_pull_frame;

  const GParamFlags settable = static_cast<GParamFlags> (
      G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING | G_PARAM_STATIC_STRINGS);
  const GParamFlags readable
      = static_cast<GParamFlags> (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_property (
      gobject_class, PROP_MAX_SIZE_BUFFERS,
      g_param_spec_uint (
          "max-size-buffers", "Max. size (frames)",
          "Most frames held; frames over it are handled as 'leaky' says "
          "(0 = no limit on frames)",
          0, G_MAXUINT, DEFAULT_MAX_SIZE_BUFFERS, settable));
  g_object_class_install_property (
      gobject_class, PROP_MAX_SIZE_BYTES,
      g_param_spec_uint (
          "max-size-bytes", "Max. size (bytes)",
          "Most bytes of frames held; a single frame is always accepted even "
          "when larger (0 = no limit on bytes)",
          0, G_MAXUINT, DEFAULT_MAX_SIZE_BYTES, settable));
  g_object_class_install_property (
      gobject_class, PROP_MAX_SIZE_TIME,
      g_param_spec_uint64 (
          "max-size-time", "Max. size (ns)",
          "Longest span, in nanoseconds of running time, between the oldest "
          "and the newest held frame (0 = no limit on time)",
          0, G_MAXUINT64, DEFAULT_MAX_SIZE_TIME, settable));
  g_object_class_install_property (
      gobject_class, PROP_LEAKY,
      g_param_spec_enum (
          "leaky", "Leaky",
          "What to do with a frame that does not fit: drop the oldest held "
          "frames (downstream), drop the arriving frame (upstream), or block "
          "upstream until there is room (no). Applies to live upstreams; see "
          "leaky-non-live",
          GST_TYPE_LATEST_FRAME_LEAKY, DEFAULT_LEAKY, settable));
  g_object_class_install_property (
      gobject_class, PROP_LEAKY_NON_LIVE,
      g_param_spec_boolean (
          "leaky-non-live", "Leaky when not live",
          "Also drop frames (leaky, max-age) when upstream is not live (a "
          "file). FALSE: a non-live upstream is held up instead, so every "
          "frame is analysed at the consumer's pace. Liveness is asked of "
          "upstream (LATENCY query) at the start of each stream; no answer "
          "counts as live",
          DEFAULT_LEAKY_NON_LIVE, settable));
  g_object_class_install_property (
      gobject_class, PROP_CURRENT_LEVEL_BUFFERS,
      g_param_spec_uint ("current-level-buffers", "Current level (frames)",
                         "Frames held now, waiting to be pushed", 0, G_MAXUINT,
                         0, readable));
  g_object_class_install_property (
      gobject_class, PROP_CURRENT_LEVEL_BYTES,
      g_param_spec_uint ("current-level-bytes", "Current level (bytes)",
                         "Bytes of the frames held now", 0, G_MAXUINT, 0,
                         readable));
  g_object_class_install_property (
      gobject_class, PROP_CURRENT_LEVEL_TIME,
      g_param_spec_uint64 (
          "current-level-time", "Current level (ns)",
          "Span in nanoseconds of running time between the oldest and the "
          "newest frame held now (0 with fewer than two timestamped frames)",
          0, G_MAXUINT64, 0, readable));
  g_object_class_install_property (
      gobject_class, PROP_MIN_THRESHOLD_BUFFERS,
      g_param_spec_uint (
          "min-threshold-buffers", "Min. threshold (frames)",
          "As queue's: frames to hold before pushing any, unless a limit is "
          "reached, EOS arrived or an event or query waits behind them "
          "(0 = no threshold)",
          0, G_MAXUINT, DEFAULT_MIN_THRESHOLD_BUFFERS, settable));
  g_object_class_install_property (
      gobject_class, PROP_MIN_THRESHOLD_BYTES,
      g_param_spec_uint (
          "min-threshold-bytes", "Min. threshold (bytes)",
          "As queue's: bytes of frames to hold before pushing any (0 = no "
          "threshold)",
          0, G_MAXUINT, DEFAULT_MIN_THRESHOLD_BYTES, settable));
  g_object_class_install_property (
      gobject_class, PROP_MIN_THRESHOLD_TIME,
      g_param_spec_uint64 (
          "min-threshold-time", "Min. threshold (ns)",
          "As queue's: span in nanoseconds of held frames to reach before "
          "pushing any; also added to the minimum latency (0 = no "
          "threshold)",
          0, G_MAXUINT64, DEFAULT_MIN_THRESHOLD_TIME, settable));
  g_object_class_install_property (
      gobject_class, PROP_SILENT,
      g_param_spec_boolean (
          "silent", "Silent",
          "Don't emit the overrun, underrun, running and pushing signals",
          DEFAULT_SILENT, settable));
  g_object_class_install_property (
      gobject_class, PROP_FLUSH_ON_EOS,
      g_param_spec_boolean (
          "flush-on-eos", "Flush on EOS",
          "Drop the held frames when EOS arrives (counted as flushed) and "
          "push EOS at once",
          DEFAULT_FLUSH_ON_EOS, settable));
  g_object_class_install_property (
      gobject_class, PROP_MAX_AGE,
      g_param_spec_uint64 (
          "max-age", "Max. age (ns)",
          "Drop a frame older than this many nanoseconds when it is about to "
          "be pushed, and wait for a fresher one; age = see age-from (by "
          "default from the camera's capture time when the frame carries it, "
          "else its running time; the time since it arrived here, without a "
          "clock or timestamp). If frames already arrive older, the newest "
          "is pushed anyway unless it was held here longer than the limit, "
          "and a warning is posted once. Not applied to a non-live upstream "
          "unless leaky-non-live (0 = off)",
          0, G_MAXUINT64, DEFAULT_MAX_AGE, settable));
  g_object_class_install_property (
      gobject_class, PROP_AGE_FROM,
      g_param_spec_enum (
          "age-from", "Age from",
          "What a frame's age (max-age, age-p50/p95/max) runs from: auto = "
          "its capture time when it carries one (a timestamp/x-ntp or "
          "timestamp/x-unix reference timestamp meta: rtspsrc "
          "add-reference-timestamp-meta=true), else its running time; "
          "capture = the capture time only; running-time; arrival (here). A "
          "capture time more than 100 ms ahead of this host's clock or more "
          "than 3 s behind it is not used (the frame is aged as one without "
          "any); when a stream's capture times stay so for 2 s, its clock is "
          "out of step: a warning, and running time until they stay within "
          "those limits for 2 s again (an info message)",
          GST_TYPE_LATEST_FRAME_AGE_FROM, DEFAULT_AGE_FROM, settable));
  g_object_class_install_property (
      gobject_class, PROP_DELIVERY,
      g_param_spec_enum (
          "delivery", "Delivery",
          "Who takes the held frames: push = this element's thread pushes "
          "them on the src pad; on-request = an application takes the newest "
          "one with the try-pull-frame action (nothing is pushed, the element "
          "is a sink, the src pad is normally left unlinked). May change in "
          "any state: the held frames and events go to whoever takes them "
          "next, sticky events reach downstream before the next frame pushed",
          GST_TYPE_LATEST_FRAME_DELIVERY, DEFAULT_DELIVERY, settable));
  g_object_class_install_property (
      gobject_class, PROP_DECODE,
      g_param_spec_enum (
          "decode", "Decode",
          "On encoded video (caps other than */x-raw: place latestframe "
          "between the parser and the decoder), how much of each dependency "
          "chain (a key unit and the delta units after it) the decoder gets. "
          "Whatever the mode, a frame is never passed on after a frame it "
          "needs was dropped (the rest of its chain is dropped too, counted "
          "as broken-chain) and max-size-buffers counts chains. all = every "
          "frame kept; on-demand = when downstream is ready, the newest chain "
          "up to the newest frame, all but that frame decode-only (a segment "
          "makes the decoder drop their pictures); key-units = key units "
          "only (delta units dropped as skipped-delta; the segment downstream "
          "marked as key-unit trick mode, so that the decoder outputs each at "
          "once, until a key unit of H.264 or H.265 that is not an IDR, IRAP "
          "or recovery point comes: decoders skip those in that mode); auto = "
          "key-units when "
          "analysis-rate and max-age allow one key interval, else on-demand. "
          "Raw video ignores it",
          GST_TYPE_LATEST_FRAME_DECODE, DEFAULT_DECODE, settable));
  g_object_class_install_property (
      gobject_class, PROP_ANALYSIS_RATE,
      g_param_spec_double (
          "analysis-rate", "Analysis rate (frames/s)",
          "Pass on at most this many frames per second, the newest held each "
          "time (the others are dropped as superseded); on encoded video, "
          "with decode other than all (0 = as fast as downstream takes them)",
          0.0, 1000.0, DEFAULT_ANALYSIS_RATE, settable));
  g_object_class_install_property (
      gobject_class, PROP_MEMORY_BUDGET,
      g_param_spec_string (
          "memory-budget", "Memory budget",
          "Name of a process-wide memory budget shared with every element "
          "naming it: their held and in-flight bytes together never exceed "
          "its cap (NULL or empty = no budget)",
          DEFAULT_MEMORY_BUDGET, settable));
  g_object_class_install_property (
      gobject_class, PROP_MEMORY_BUDGET_BYTES,
      g_param_spec_uint64 (
          "memory-budget-bytes", "Memory budget cap (bytes)",
          "This element's cap for its memory budget, in bytes; when members "
          "ask for different caps the smallest non-zero one applies "
          "(0 = no cap from this element, only accounting)",
          0, G_MAXUINT64, DEFAULT_MEMORY_BUDGET_BYTES, settable));
  g_object_class_install_property (
      gobject_class, PROP_STATS_INTERVAL,
      g_param_spec_uint (
          "stats-interval", "Stats interval (ms)",
          "Post the stats as an element message named '" STATS_NAME "' "
          "every this many milliseconds while streaming (0 = never)",
          0, G_MAXUINT, DEFAULT_STATS_INTERVAL, settable));
  g_object_class_install_property (
      gobject_class, PROP_IN_FLIGHT_BUFFERS,
      g_param_spec_uint (
          "in-flight-buffers", "In flight (frames)",
          "Frames pushed downstream that are still alive somewhere in the "
          "pipeline (referenced by an element, a sink's last-sample, an app)",
          0, G_MAXUINT, 0, readable));
  g_object_class_install_property (
      gobject_class, PROP_IN_FLIGHT_BYTES,
      g_param_spec_uint64 ("in-flight-bytes", "In flight (bytes)",
                           "Bytes of the frames in flight", 0, G_MAXUINT64, 0,
                           readable));
  g_object_class_install_property (
      gobject_class, PROP_PEAK_BYTES,
      g_param_spec_uint64 (
          "peak-bytes", "Peak bytes",
          "Highest bytes this element was responsible for at once: held plus "
          "in flight",
          0, G_MAXUINT64, 0, readable));
  g_object_class_install_property (
      gobject_class, PROP_DROPPED,
      g_param_spec_uint64 (
          "dropped", "Dropped (frames)",
          "Frames dropped for any reason: size limits, max-age, memory "
          "budget, flushes, passed over by a reader taking a newer one "
          "(see 'stats' for each)",
          0, G_MAXUINT64, 0, readable));
  g_object_class_install_property (
      gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics", stats_blurb (),
                          GST_TYPE_STRUCTURE, readable));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (
      element_class, "Latest frame queue", "Generic",
      "Leaky bounded queue that keeps the newest frames for a slow consumer, "
      "pushing them from its own thread; a drop-in for queue",
      "latestframe developers");
#ifdef LATESTFRAME_DOC_URI
  gst_element_class_add_static_metadata (element_class,
                                         GST_ELEMENT_METADATA_DOC_URI,
                                         LATESTFRAME_DOC_URI "#latestframe");
#endif

  gst_type_mark_as_plugin_api (GST_TYPE_LATEST_FRAME_LEAKY,
                               static_cast<GstPluginAPIFlags> (0));
  gst_type_mark_as_plugin_api (GST_TYPE_LATEST_FRAME_DELIVERY,
                               static_cast<GstPluginAPIFlags> (0));
  gst_type_mark_as_plugin_api (GST_TYPE_LATEST_FRAME_AGE_FROM,
                               static_cast<GstPluginAPIFlags> (0));
  gst_type_mark_as_plugin_api (GST_TYPE_LATEST_FRAME_DECODE,
                               static_cast<GstPluginAPIFlags> (0));
}

static void
gst_latest_frame_init (GstLatestFrame *self)
{
  self->state
      = new (g_malloc (sizeof (GstLatestFrameState))) GstLatestFrameState ();
  gst_segment_init (&self->state->sink_segment, GST_FORMAT_UNDEFINED);
  {
    lf::checked_lock lock (self->state->handed_lock);
    gst_segment_init (&self->state->handed_segment, GST_FORMAT_UNDEFINED);
  }
  self->state->keeper.set_limits ({ DEFAULT_MAX_SIZE_BUFFERS,
                                    DEFAULT_MAX_SIZE_BYTES,
                                    DEFAULT_MAX_SIZE_TIME });
  self->state->keeper.set_policy (leak_policy_for (DEFAULT_LEAKY));
  self->state->keeper.set_running_clock (read_running_clock, self);

  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, gst_latest_frame_chain);
  gst_pad_set_event_full_function (self->sinkpad, gst_latest_frame_sink_event);
  gst_pad_set_query_function (self->sinkpad, gst_latest_frame_sink_query);
  gst_pad_set_activatemode_function (self->sinkpad,
                                     gst_latest_frame_sink_activate_mode);
  GST_PAD_SET_PROXY_CAPS (self->sinkpad);
  GST_PAD_SET_PROXY_ALLOCATION (self->sinkpad);
  GST_PAD_SET_PROXY_SCHEDULING (self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_event_function (self->srcpad, gst_latest_frame_src_event);
  gst_pad_set_query_function (self->srcpad, gst_latest_frame_src_query);
  gst_pad_set_activatemode_function (self->srcpad,
                                     gst_latest_frame_src_activate_mode);
  GST_PAD_SET_PROXY_CAPS (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
}

static void
gst_latest_frame_finalize (GObject *object)
{
  GstLatestFrame *self = GST_LATEST_FRAME (object);

  self->state->~GstLatestFrameState ();
  g_free (self->state);
  self->state = NULL;

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static const gchar *
age_from_nick (int age_from)
{
  GEnumClass *enum_class
      = G_ENUM_CLASS (g_type_class_peek (GST_TYPE_LATEST_FRAME_AGE_FROM));
  GEnumValue *value = g_enum_get_value (enum_class, age_from);
  return value ? value->value_nick : "unknown";
}

static GstStructure *
build_stats (GstLatestFrame *self)
{
  const lf::keeper_stats stats = self->state->keeper.stats ();
  auto dropped
      = [&] (lf::drop_reason reason) { return stats.dropped_for (reason); };
  GstStructure *structure = gst_structure_new (
      STATS_NAME, "received", G_TYPE_UINT64, stats.received, "pushed",
      G_TYPE_UINT64, stats.handed_over, "dropped", G_TYPE_UINT64,
      stats.dropped (), "dropped-bytes", G_TYPE_UINT64, stats.dropped_bytes (),
      "current-level-buffers", G_TYPE_UINT, stats.held_frames,
      "current-level-bytes", G_TYPE_UINT64, stats.held_bytes,
      "current-level-time", G_TYPE_UINT64, stats.held_span_ns,
      "in-flight-buffers", G_TYPE_UINT,
      static_cast<guint> (stats.in_flight_frames), "in-flight-bytes",
      G_TYPE_UINT64, stats.in_flight_bytes, "peak-bytes", G_TYPE_UINT64,
      stats.peak_bytes, "age-p50", G_TYPE_UINT64, stats.ages.p50_ns, "age-p95",
      G_TYPE_UINT64, stats.ages.p95_ns, "age-max", G_TYPE_UINT64,
      stats.ages.max_ns, "age-samples", G_TYPE_UINT, stats.ages.samples,
      "upstream-live", G_TYPE_BOOLEAN, stats.upstream_live,
      "capture-time-frames", G_TYPE_UINT64,
      static_cast<guint64> (self->state->capture_clock.frames ()),
      "capture-time-unused", G_TYPE_UINT64,
      static_cast<guint64> (self->state->capture_clock.unused ()),
      "capture-clock-fallback", G_TYPE_BOOLEAN,
      static_cast<gboolean> (self->state->capture_clock.out_of_step ()),
      "timestamp-age-p50", G_TYPE_UINT64, stats.timestamp_ages.p50_ns,
      "timestamp-age-p95", G_TYPE_UINT64, stats.timestamp_ages.p95_ns,
      "timestamp-age-max", G_TYPE_UINT64, stats.timestamp_ages.max_ns,
      "timestamp-age-samples", G_TYPE_UINT, stats.timestamp_ages.samples, NULL);
  gst_structure_set (
      structure, "age-from", G_TYPE_STRING,
      age_from_nick (self->state->age_from), "decode-only", G_TYPE_UINT64,
      stats.decode_only, "decoding", G_TYPE_STRING,
      stats.encoded ? lf::decode_mode_name (stats.decoding) : "raw",
      "key-interval", G_TYPE_UINT64, stats.key_interval_ns,
      "current-level-chains", G_TYPE_UINT, stats.held_chains, NULL);
  for (std::size_t i = 0; i < lf::drop_reason_count; i++)
    {
      const auto reason = static_cast<lf::drop_reason> (i);
      std::string field
          = std::string ("dropped-") + lf::drop_reason_name (reason);
      gst_structure_set (structure, field.c_str (), G_TYPE_UINT64,
                         dropped (reason).frames, (field + "-bytes").c_str (),
                         G_TYPE_UINT64, dropped (reason).bytes, NULL);
    }
  if (stats.has_budget)
    gst_structure_set (structure, "memory-budget", G_TYPE_STRING,
                       stats.budget_name.c_str (), "memory-budget-bytes",
                       G_TYPE_UINT64, stats.budget_cap, "memory-budget-used",
                       G_TYPE_UINT64, stats.budget_used, NULL);
  return structure;
}

static void start_task_if_active (GstLatestFrame *self);
static void post_notice_now (GstLatestFrame *self,
                             const keeper_t::notice &note);

/* Warns about what the keeper noticed, if anything (per frame: nothing,
 * almost always). */
static inline void
post_notice (GstLatestFrame *self, const keeper_t::notice &note)
{
  if (G_UNLIKELY (note.kind != keeper_t::notice_kind::none))
    post_notice_now (self, note);
}

/* Changes what the keeper's hand-over plan is made from (`change` takes
 * latestframe::hand_over_request&), in one apply under the keeper's lock
 * (the rule is the core's: latestframe::plan_hand_over): a setting and a
 * caps change made at once cannot leave the plan out of step. When the
 * plan has the task push, the task runs. */
template <typename Change>
static void
change_hand_over (GstLatestFrame *self, Change change)
{
  post_notice (self, self->state->keeper.update_request (
                         change, [self] { start_task_if_active (self); }));
}

static void
gst_latest_frame_set_property (GObject *object, guint prop_id,
                               const GValue *value, GParamSpec *pspec)
{
  GstLatestFrame *self = GST_LATEST_FRAME (object);
  keeper_t &keeper = self->state->keeper;
  /* Frames dropped by a tighter setting, released after the keeper's lock
   * is gone. */
  keeper_t::released_list dropped;

  switch (prop_id)
    {
    case PROP_MAX_SIZE_BUFFERS:
      dropped = keeper.update_limits ([value] (lf::queue_limits &limits) {
        limits.max_frames = g_value_get_uint (value);
      });
      break;
    case PROP_MAX_SIZE_BYTES:
      dropped = keeper.update_limits ([value] (lf::queue_limits &limits) {
        limits.max_bytes = g_value_get_uint (value);
      });
      break;
    case PROP_MAX_SIZE_TIME:
      dropped = keeper.update_limits ([value] (lf::queue_limits &limits) {
        limits.max_span_ns = g_value_get_uint64 (value);
      });
      break;
    case PROP_LEAKY:
      dropped = keeper.set_policy (leak_policy_for (g_value_get_enum (value)));
      break;
    case PROP_LEAKY_NON_LIVE:
      dropped = keeper.set_leak_when_not_live (g_value_get_boolean (value));
      break;
    case PROP_MIN_THRESHOLD_BUFFERS:
      keeper.update_thresholds ([value] (lf::queue_thresholds &thresholds) {
        thresholds.frames = g_value_get_uint (value);
      });
      break;
    case PROP_MIN_THRESHOLD_BYTES:
      keeper.update_thresholds ([value] (lf::queue_thresholds &thresholds) {
        thresholds.bytes = g_value_get_uint (value);
      });
      break;
    case PROP_MIN_THRESHOLD_TIME:
      keeper.update_thresholds ([value] (lf::queue_thresholds &thresholds) {
        thresholds.span_ns = g_value_get_uint64 (value);
      });
      break;
    case PROP_SILENT:
      self->state->silent = g_value_get_boolean (value);
      break;
    case PROP_FLUSH_ON_EOS:
      keeper.set_flush_on_eos (g_value_get_boolean (value));
      break;
    case PROP_MAX_AGE:
      keeper.set_max_age (g_value_get_uint64 (value));
      break;
    case PROP_AGE_FROM:
      self->state->age_from = g_value_get_enum (value);
      break;
    case PROP_DECODE:
      change_hand_over (self, [value] (lf::hand_over_request &request) {
        request.decode
            = static_cast<lf::decode_mode> (g_value_get_enum (value));
      });
      break;
    case PROP_ANALYSIS_RATE:
      change_hand_over (self, [value] (lf::hand_over_request &request) {
        request.rate = g_value_get_double (value);
      });
      break;
    case PROP_DELIVERY:
      {
        const bool on_request
            = g_value_get_enum (value) == GST_LATEST_FRAME_DELIVERY_ON_REQUEST;
        /* Any time, in any state: the keeper stops serving the one taker
         * and serves the other (the task pauses itself, or is started
         * here), both under its lock. */
        change_hand_over (self, [on_request] (lf::hand_over_request &request) {
          request.on_request = on_request;
        });
        /* A sink to its bin: its EOS message counts towards the pipeline's
         * EOS. */
        GST_OBJECT_LOCK (self);
        if (on_request)
          GST_OBJECT_FLAG_SET (self, GST_ELEMENT_FLAG_SINK);
        else
          GST_OBJECT_FLAG_UNSET (self, GST_ELEMENT_FLAG_SINK);
        GST_OBJECT_UNLOCK (self);
        break;
      }
    case PROP_MEMORY_BUDGET:
      {
        /* NULL, the default, leaves the budget as "" does. */
        const gchar *name = g_value_get_string (value);
        keeper.set_budget (std::string (name ? name : ""), std::nullopt);
        GST_DEBUG_OBJECT (self, "memory budget '%s'", name ? name : "");
        break;
      }
    case PROP_MEMORY_BUDGET_BYTES:
      keeper.set_budget (std::nullopt, g_value_get_uint64 (value));
      break;
    case PROP_STATS_INTERVAL:
      self->state->stats_interval_ms = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      return;
    }
  if (!dropped.empty ())
    GST_CAT_DEBUG_OBJECT (latest_frame_dataflow, self,
                          "the new setting dropped %zu frames",
                          dropped.size ());
}

static void
gst_latest_frame_get_property (GObject *object, guint prop_id, GValue *value,
                               GParamSpec *pspec)
{
  GstLatestFrame *self = GST_LATEST_FRAME (object);
  const keeper_t &keeper = self->state->keeper;

  switch (prop_id)
    {
    case PROP_MAX_SIZE_BUFFERS:
      g_value_set_uint (value, keeper.limits ().max_frames);
      break;
    case PROP_MAX_SIZE_BYTES:
      g_value_set_uint (value, static_cast<guint> (keeper.limits ().max_bytes));
      break;
    case PROP_MAX_SIZE_TIME:
      g_value_set_uint64 (value, keeper.limits ().max_span_ns);
      break;
    case PROP_LEAKY:
      g_value_set_enum (value, leaky_for (keeper.policy ()));
      break;
    case PROP_LEAKY_NON_LIVE:
      g_value_set_boolean (value, keeper.leak_when_not_live ());
      break;
    case PROP_CURRENT_LEVEL_BUFFERS:
      g_value_set_uint (value, keeper.level_approx ().frames);
      break;
    case PROP_CURRENT_LEVEL_BYTES:
      g_value_set_uint (value, static_cast<guint> (MIN (
                                   keeper.level_approx ().bytes, G_MAXUINT)));
      break;
    case PROP_CURRENT_LEVEL_TIME:
      g_value_set_uint64 (value, keeper.level_approx ().span_ns);
      break;
    case PROP_MIN_THRESHOLD_BUFFERS:
      g_value_set_uint (value, keeper.thresholds ().frames);
      break;
    case PROP_MIN_THRESHOLD_BYTES:
      g_value_set_uint (value, static_cast<guint> (keeper.thresholds ().bytes));
      break;
    case PROP_MIN_THRESHOLD_TIME:
      g_value_set_uint64 (value, keeper.thresholds ().span_ns);
      break;
    case PROP_SILENT:
      g_value_set_boolean (value, self->state->silent);
      break;
    case PROP_FLUSH_ON_EOS:
      g_value_set_boolean (value, keeper.flush_on_eos ());
      break;
    case PROP_MAX_AGE:
      g_value_set_uint64 (value, keeper.max_age ());
      break;
    case PROP_AGE_FROM:
      g_value_set_enum (value, self->state->age_from);
      break;
    case PROP_DECODE:
      g_value_set_enum (value, static_cast<int> (keeper.request ().decode));
      break;
    case PROP_ANALYSIS_RATE:
      g_value_set_double (value, keeper.request ().rate);
      break;
    case PROP_DELIVERY:
      g_value_set_enum (value, keeper.request ().on_request
                                   ? GST_LATEST_FRAME_DELIVERY_ON_REQUEST
                                   : GST_LATEST_FRAME_DELIVERY_PUSH);
      break;
    case PROP_MEMORY_BUDGET:
      {
        std::string name = keeper.budget_name ();
        g_value_set_string (value, name.empty () ? NULL : name.c_str ());
        break;
      }
    case PROP_MEMORY_BUDGET_BYTES:
      g_value_set_uint64 (value, keeper.budget_cap ());
      break;
    case PROP_STATS_INTERVAL:
      g_value_set_uint (value, self->state->stats_interval_ms);
      break;
    case PROP_IN_FLIGHT_BUFFERS:
      g_value_set_uint (value,
                        static_cast<guint> (keeper.stats ().in_flight_frames));
      break;
    case PROP_IN_FLIGHT_BYTES:
      g_value_set_uint64 (value, keeper.stats ().in_flight_bytes);
      break;
    case PROP_PEAK_BYTES:
      g_value_set_uint64 (value, keeper.stats ().peak_bytes);
      break;
    case PROP_DROPPED:
      g_value_set_uint64 (value, keeper.stats ().dropped ());
      break;
    case PROP_STATS:
      g_value_take_boxed (value, build_stats (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
}

/* ---- upstream ------------------------------------------------------- */

/* With a capture time the core can place (see capture_clock), the frame's
 * time on the running clock becomes the moment it was captured, so that the
 * keeper's ages run from capture; its own running time is kept beside.
 * While the stream's clock is out of step its capture times are still
 * judged, so that one set right is used again. */
static void
age_from_capture_time (GstLatestFrame *self, GstBuffer *buffer,
                       lf::frame_desc &frame)
{
  lf::capture_clock &capture_clock = self->state->capture_clock;
  const std::optional<guint64> captured
      = latestframe::glue::reference_capture_time (buffer);
  if (!captured)
    return;
  const std::int64_t now_running = read_running_clock (self);
  if (now_running == lf::no_time)
    return;
  const lf::capture_clock::placement placed
      = capture_clock.place (static_cast<std::int64_t> (*captured),
                             g_get_real_time () * 1000, now_running);
  if (placed.out_of_step_age_ns)
    {
      const std::int64_t age = *placed.out_of_step_age_ns;
      GST_ELEMENT_WARNING (
          self, STREAM, FAILED,
          ("The camera's clock is not in step with this host's"),
          ("a frame arrived %+.3f s old by its capture time, as every frame "
           "for %.0f s (the stream's clock is %.3f s %s this host's): ages "
           "run from running time until its capture times are within %.1f s "
           "behind and %.1f s ahead of this host's clock for %.0f s. "
           "Synchronise both clocks (NTP).",
           age / 1e9, lf::capture_clock::settle_ns / 1e9, std::abs (age) / 1e9,
           age < 0 ? "ahead of" : "behind",
           lf::capture_clock::behind_limit_ns / 1e9,
           lf::capture_clock::ahead_limit_ns / 1e9,
           lf::capture_clock::settle_ns / 1e9));
    }
  if (placed.back_in_step)
    GST_ELEMENT_INFO (
        self, STREAM, FAILED,
        ("The camera's clock is back in step with this host's"),
        ("its capture times have been within %.1f s behind and %.1f s ahead "
         "of this host's clock for %.0f s: ages run from them again.",
         lf::capture_clock::behind_limit_ns / 1e9,
         lf::capture_clock::ahead_limit_ns / 1e9,
         lf::capture_clock::settle_ns / 1e9));
  if (!placed.running_ns)
    return;
  frame.timestamp_running_ns = frame.time_ns;
  frame.time_ns = *placed.running_ns;
  frame.arrival_running_ns = now_running;
}

/* What the keeper needs to know of an arriving frame, as facts: its size;
 * what it depends on and when it is presented, as its flags and PTS say
 * (the keeper tells raw caps from encoded ones, and a stream sent out of
 * presentation order); whether it could be made decode-only (see
 * make_decode_only(): a TIME segment of positive rate); its time (the axis
 * max-size-time limits, and what its age runs from: see age-from); and
 * with max-age the running time it arrived at. */
static lf::frame_desc
describe_frame (GstLatestFrame *self, GstBuffer *buffer)
{
  GstLatestFrameState *state = self->state;
  lf::frame_desc frame;
  frame.bytes = gst_buffer_get_size (buffer);
  if (GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT))
    frame.unit = GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DROPPABLE)
                     ? lf::unit_kind::non_reference
                     : lf::unit_kind::delta;
  if (GST_BUFFER_PTS_IS_VALID (buffer) && GST_BUFFER_PTS (buffer) <= G_MAXINT64)
    frame.presentation_ns = static_cast<std::int64_t> (GST_BUFFER_PTS (buffer));
  const GstSegment *segment = &state->sink_segment;
  frame.decode_only_possible
      = segment->format == GST_FORMAT_TIME && segment->rate > 0;
  const GstClockTime timestamp = GST_BUFFER_DTS_OR_PTS (buffer);
  guint64 running_time;
  /* A running time past 2^63 ns (a segment's base or rate taken to the
   * limit) is not a time the keeper can age or span: none. */
  if (segment->format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (timestamp)
      && gst_segment_to_running_time_full (segment, GST_FORMAT_TIME, timestamp,
                                           &running_time)
             == 1
      && running_time <= G_MAXINT64)
    frame.time_ns = static_cast<std::int64_t> (running_time);
  switch (state->age_from.load (std::memory_order_relaxed))
    {
    case GST_LATEST_FRAME_AGE_FROM_AUTO:
      age_from_capture_time (self, buffer, frame);
      break;
    case GST_LATEST_FRAME_AGE_FROM_CAPTURE:
      age_from_capture_time (self, buffer, frame);
      if (frame.timestamp_running_ns == lf::no_time
          && !state->capture_clock.out_of_step ())
        frame.time_ns = lf::no_time;
      break;
    case GST_LATEST_FRAME_AGE_FROM_ARRIVAL:
      frame.time_ns = read_running_clock (self);
      frame.arrival_running_ns = frame.time_ns;
      break;
    default:
      break;
    }
  const bool timed = frame.time_ns != lf::no_time;
  if (G_UNLIKELY (state->timed_frames.load (std::memory_order_relaxed)
                  != timed))
    state->timed_frames.store (timed, std::memory_order_relaxed);
  /* How old it arrives matters to max-age only: no clock read without. */
  if (timed && frame.arrival_running_ns == lf::no_time
      && state->keeper.max_age () != 0)
    frame.arrival_running_ns = read_running_clock (self);
  return frame;
}

/* Asks upstream, once per stream, whether it is live: a non-live upstream
 * (a file) is paced rather than dropped from, unless leaky-non-live. */
static void
learn_upstream_liveness (GstLatestFrame *self)
{
  GstQuery *query = gst_query_new_latency ();
  gboolean live = TRUE;
  const gboolean answered = gst_pad_peer_query (self->sinkpad, query);
  if (answered)
    gst_query_parse_latency (query, &live, NULL, NULL);
  gst_query_unref (query);
  self->state->liveness_known = true;
  self->state->keeper.set_upstream_live (live);
  GST_DEBUG_OBJECT (self, "upstream is %s",
                    !answered ? "live (no answer)"
                    : live    ? "live"
                              : "not live: paced");
}

/* The flow return a refusal in `state` stands for. */
static GstFlowReturn
flow_for_refusal (lf::stream_state state, int failure_code)
{
  switch (state)
    {
    case lf::stream_state::ended:
    case lf::stream_state::ended_downstream:
      return GST_FLOW_EOS;
    case lf::stream_state::unlinked:
      return GST_FLOW_NOT_LINKED;
    case lf::stream_state::failed:
      return static_cast<GstFlowReturn> (failure_code);
    case lf::stream_state::running:
    case lf::stream_state::flushing:
      break;
    }
  return GST_FLOW_FLUSHING;
}

static void
post_notice_now (GstLatestFrame *self, const keeper_t::notice &note)
{
  switch (note.kind)
    {
    case keeper_t::notice_kind::none:
      break;
    case keeper_t::notice_kind::unbounded:
      GST_ELEMENT_WARNING (
          self, RESOURCE, SETTINGS, ("Memory held by latestframe is unbounded"),
          ("max-size-buffers, max-size-bytes and max-size-time are all 0 and "
           "no memory budget caps this element: when the consumer is slower "
           "than the source, held frames grow without bound. Set a limit or "
           "memory-budget-bytes."));
      break;
    case keeper_t::notice_kind::frame_over_budget:
      GST_ELEMENT_WARNING (
          self, RESOURCE, SETTINGS,
          ("A frame is larger than this element's share of the memory "
           "budget"),
          ("a %" G_GUINT64_FORMAT "-byte frame arrived, but memory budget "
           "'%s' gives each member %" G_GUINT64_FORMAT
           " bytes (its cap shared by its members): every such frame is "
           "dropped (reason budget). Raise the cap, or share it among "
           "fewer elements.",
           note.value, self->state->keeper.budget_name ().c_str (),
           note.limit));
      break;
    case keeper_t::notice_kind::arrivals_too_old:
      GST_ELEMENT_WARNING (
          self, STREAM, FAILED, ("Frames arrive too old for max-age"),
          ("frames arrive %.1f ms old, more than max-age (%.1f ms): the "
           "limit is below the pipeline's latency. While this lasts the "
           "newest frame is pushed anyway, unless it was held here longer "
           "than the limit; older ones are still dropped.",
           note.value / 1e6, note.limit / 1e6));
      break;
    case keeper_t::notice_kind::rate_ignored:
      GST_ELEMENT_WARNING (
          self, STREAM, FORMAT, ("analysis-rate has no effect with decode=all"),
          ("the caps are encoded video: every frame must reach the decoder, so "
           "frames are not paced here; set decode=on-demand, key-units or auto "
           "(or pace after the decoder)"));
      break;
    case keeper_t::notice_kind::shown_not_decode_only:
      if (note.value
          == static_cast<std::uint64_t> (
              keeper_t::shown_because::out_of_presentation_order))
        GST_ELEMENT_WARNING (
            self, STREAM, FORMAT,
            ("cannot make frames decode-only in a stream sent out of display "
             "order: they are decoded and shown"),
            ("the stream sends frames out of display order (B-frames): a "
             "segment moved past a decode-only frame could cut off the frame "
             "to show; every frame passed on is shown, counted as pushed, "
             "aged and paced (more analysis, the same pictures)"));
      else
        GST_ELEMENT_WARNING (
            self, STREAM, FORMAT,
            ("cannot make frames decode-only without a TIME segment: they are "
             "decoded and shown"),
            ("decode=on-demand needs frames in a TIME segment of positive "
             "rate; every frame passed on is shown, counted as pushed, aged "
             "and paced"));
      break;
    }
}

static GstFlowReturn
gst_latest_frame_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  /* Per frame: no type-checking cast (the pad's parent is this element). */
  GstLatestFrame *self = GST_LATEST_FRAME_CAST (parent);
  GstLatestFrameState *state = self->state;
  (void)pad;

  if (G_UNLIKELY (!state->liveness_known))
    learn_upstream_liveness (self);
  const lf::frame_desc frame = describe_frame (self, buffer);
  keeper_t::admit_outcome outcome = state->keeper.admit_frame (
      lf::held_object::owning (GST_MINI_OBJECT_CAST (buffer)), frame,
      queue_signals{ self });
  post_notice (self, outcome.note);
  switch (outcome.status)
    {
    case keeper_t::admit_status::queued:
      GST_CAT_LOG_OBJECT (
          latest_frame_dataflow, self,
          "queued frame %" G_GUINT64_FORMAT " (%p, %" G_GUINT64_FORMAT
          " bytes), dropped %zu held",
          outcome.sequence, buffer, frame.bytes, outcome.held_dropped);
      STATUS (self, "after chain");
      return GST_FLOW_OK;
    case keeper_t::admit_status::dropped:
      GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                          "dropped arriving frame %" G_GUINT64_FORMAT " (%s)",
                          outcome.sequence,
                          lf::drop_reason_name (outcome.reason));
      return GST_FLOW_OK;
    case keeper_t::admit_status::refused:
      break;
    }
  const GstFlowReturn flow
      = flow_for_refusal (outcome.refused_in, outcome.failure_code);
  GST_CAT_LOG_OBJECT (latest_frame_dataflow, self, "refused buffer: %s",
                      gst_flow_get_name (flow));
  return flow;
}

/* Keeps the sticky events among released entries (but segment and EOS,
 * which a new stream brings again) on the src pad, so that they are sent
 * before the next frame, as queue does on a flush. */
static void
keep_sticky_events (GstLatestFrame *self, keeper_t::released_list &released)
{
  released.for_each ([self] (keeper_t::released_item &item) {
    GstMiniObject *object = item.item.get ();
    if (item.is_frame || !object || !GST_IS_EVENT (object))
      return;
    GstEvent *event = GST_EVENT_CAST (object);
    if (GST_EVENT_IS_STICKY (event)
        && GST_EVENT_TYPE (event) != GST_EVENT_SEGMENT
        && GST_EVENT_TYPE (event) != GST_EVENT_EOS)
      gst_pad_store_sticky_event (self->srcpad, event);
  });
}

/* Called by the keeper, under its lock, when the task has work: the keeper
 * is running and the plan has the task push. */
static void
start_task_if_active (GstLatestFrame *self)
{
  if (!gst_pad_is_active (self->srcpad))
    {
      GST_INFO_OBJECT (self, "not starting the task: src pad inactive");
      return;
    }
  gst_pad_start_task (self->srcpad, (GstTaskFunction)gst_latest_frame_loop,
                      self->srcpad, NULL);
}

/* Raw caps or encoded ones: the frames after them are all key units, or
 * key and delta units (their chains decide what may be dropped). */
static void
learn_encoding (GstLatestFrame *self, GstEvent *caps_event)
{
  GstCaps *caps = NULL;
  gst_event_parse_caps (caps_event, &caps);
  const GstStructure *structure = caps && gst_caps_get_size (caps) > 0
                                      ? gst_caps_get_structure (caps, 0)
                                      : NULL;
  const bool encoded
      = structure
        && !g_str_has_suffix (gst_structure_get_name (structure), "/x-raw");
  GST_INFO_OBJECT (self, "%s caps: %" GST_PTR_FORMAT,
                   encoded ? "encoded" : "raw", caps);
  change_hand_over (self, [encoded] (lf::hand_over_request &request) {
    request.encoded = encoded;
  });
}

static lf::marker_kind
marker_kind_for (GstEvent *event)
{
  switch (GST_EVENT_TYPE (event))
    {
    case GST_EVENT_STREAM_START:
    case GST_EVENT_SEGMENT:
      return lf::marker_kind::new_stream;
    case GST_EVENT_EOS:
      return lf::marker_kind::end_of_stream;
    default:
      return GST_EVENT_IS_STICKY (event) ? lf::marker_kind::sticky
                                         : lf::marker_kind::plain;
    }
}

static GstFlowReturn
gst_latest_frame_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstLatestFrame *self = GST_LATEST_FRAME (parent);
  GstLatestFrameState *state = self->state;
  (void)pad;

  GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                      "received event %" GST_PTR_FORMAT, event);
  switch (GST_EVENT_TYPE (event))
    {
    case GST_EVENT_FLUSH_START:
      gst_pad_push_event (self->srcpad, event);
      state->keeper.flush_start ();
      /* Waits for the loop iteration to end: from then on no queued query
       * is in use downstream. */
      gst_pad_pause_task (self->srcpad);
      GST_DEBUG_OBJECT (self, "flush start: task paused");
      return GST_FLOW_OK;
    case GST_EVENT_FLUSH_STOP:
      {
        state->pulled_eos = false;
        gst_pad_push_event (self->srcpad, event);
        keeper_t::released_list flushed = state->keeper.drain ();
        keep_sticky_events (self, flushed);
        state->keeper.resume ([self] { start_task_if_active (self); });
        GST_DEBUG_OBJECT (self, "flush stop: task restarted");
        return GST_FLOW_OK;
      }
    default:
      break;
    }
  if (!GST_EVENT_IS_SERIALIZED (event))
    return gst_pad_push_event (self->srcpad, event) ? GST_FLOW_OK
                                                    : GST_FLOW_ERROR;

  const GstEventType type = GST_EVENT_TYPE (event);
  if (type == GST_EVENT_SEGMENT)
    gst_event_copy_segment (event, &state->sink_segment);
  else if (type == GST_EVENT_CAPS)
    learn_encoding (self, event);
  else if (type == GST_EVENT_STREAM_START)
    {
      state->liveness_known = false;
      state->pulled_eos = false;
      state->capture_clock.new_stream ();
    }
  keeper_t::admit_outcome outcome = state->keeper.admit_marker (
      lf::held_object::owning (GST_MINI_OBJECT_CAST (event)),
      marker_kind_for (event));
  if (outcome.status != keeper_t::admit_status::refused)
    return GST_FLOW_OK;
  const GstFlowReturn flow
      = flow_for_refusal (outcome.refused_in, outcome.failure_code);
  if (type == GST_EVENT_EOS
      && (flow == GST_FLOW_NOT_LINKED || flow < GST_FLOW_EOS))
    /* Upstream ends here and will not see another flow return. */
    GST_ELEMENT_FLOW_ERROR (self, flow);
  GST_CAT_LOG_OBJECT (latest_frame_dataflow, self, "refused event %s: %s",
                      gst_event_type_get_name (type), gst_flow_get_name (flow));
  return flow;
}

static void reserve_room_in_pools (GstLatestFrame *self, GstQuery *query);

/* delivery=on-request: nothing downstream answers, the element does, at
 * once, as a sink would: an upstream thread never waits for a reader. */
static gboolean
answer_query_as_sink (GstLatestFrame *self, GstQuery *query)
{
  switch (GST_QUERY_TYPE (query))
    {
    case GST_QUERY_ALLOCATION:
      /* Readers map frames with their video meta: a decoder may hand over
       * its own padded frames rather than copy them. */
      gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);
      reserve_room_in_pools (self, query);
      return TRUE;
    case GST_QUERY_DRAIN:
      /* The held frames are the reader's to take: nothing to drain. */
      return TRUE;
    default:
      GST_DEBUG_OBJECT (self, "no answer to a %s query: no downstream",
                        GST_QUERY_TYPE_NAME (query));
      return FALSE;
    }
}

static gboolean
gst_latest_frame_sink_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstLatestFrame *self = GST_LATEST_FRAME (parent);

  if (!GST_QUERY_IS_SERIALIZED (query))
    return gst_pad_query_default (pad, parent, query);
  if (self->state->keeper.plan ().on_request)
    return answer_query_as_sink (self, query);

  /* Serialized queries travel in order with the frames; the query stays
   * owned by this thread, which waits until the task has answered it. */
  keeper_t::admit_outcome outcome = self->state->keeper.admit_marker (
      lf::held_object::borrowing (GST_MINI_OBJECT_CAST (query)),
      lf::marker_kind::query);
  if (outcome.status == keeper_t::admit_status::refused)
    {
      GST_DEBUG_OBJECT (self, "refused %s query", GST_QUERY_TYPE_NAME (query));
      return FALSE;
    }
  lf::ack_result result = self->state->keeper.wait_ack (outcome.ticket);
  GST_CAT_LOG_OBJECT (latest_frame_dataflow, self, "%s query answered: %d",
                      GST_QUERY_TYPE_NAME (query), static_cast<int> (result));
  return result == lf::ack_result::accepted;
}

/* ---- downstream ----------------------------------------------------- */

static gboolean
gst_latest_frame_src_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstLatestFrame *self = GST_LATEST_FRAME (parent);

  /* Downstream may be linked again: push what is held again. */
  if (GST_EVENT_TYPE (event) == GST_EVENT_RECONFIGURE
      && self->state->keeper.relink ([self] { start_task_if_active (self); }))
    GST_DEBUG_OBJECT (self, "reconfigure after not-linked: task restarted");
  return gst_pad_event_default (pad, parent, event);
}

static gboolean
gst_latest_frame_src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstLatestFrame *self = GST_LATEST_FRAME (parent);
  const keeper_t &keeper = self->state->keeper;

  if (GST_QUERY_TYPE (query) == GST_QUERY_SCHEDULING)
    {
      gst_query_add_scheduling_mode (query, GST_PAD_MODE_PUSH);
      return TRUE;
    }
  if (!gst_pad_query_default (pad, parent, query))
    return FALSE;

  switch (GST_QUERY_TYPE (query))
    {
    case GST_QUERY_LATENCY:
      {
        gboolean live;
        GstClockTime min, max;
        gst_query_parse_latency (query, &live, &min, &max);
        /* Frames are pushed as soon as the consumer takes them: no minimum
         * latency is added but the threshold's. The maximum latency is how
         * long the element can buffer: a blocking element adds its time
         * limit to upstream's, and has no bound without one; a leaky
         * element never holds upstream up, so it can hold at least its
         * time limit, and without one any. */
        const guint64 max_time = keeper.limits ().max_span_ns;
        const bool leaky = keeper.policy () != lf::leak_policy::none;
        if (max_time > 0 && !leaky && GST_CLOCK_TIME_IS_VALID (max))
          max += max_time;
        else if (max_time > 0 && leaky)
          max = GST_CLOCK_TIME_IS_VALID (max) ? MAX (max_time, max) : max;
        else
          max = GST_CLOCK_TIME_NONE;
        min += keeper.thresholds ().span_ns;
        GST_DEBUG_OBJECT (self,
                          "latency: live %d, min %" GST_TIME_FORMAT
                          ", max %" GST_TIME_FORMAT,
                          live, GST_TIME_ARGS (min), GST_TIME_ARGS (max));
        gst_query_set_latency (query, live, min, max);
        break;
      }
    case GST_QUERY_POSITION:
      {
        /* As queue: what is held has not been played yet. */
        GstFormat format;
        gint64 position;
        gst_query_parse_position (query, &format, &position);
        const lf::queue_level level = keeper.level_approx ();
        if (format == GST_FORMAT_BYTES)
          position -= static_cast<gint64> (level.bytes);
        else if (format == GST_FORMAT_TIME)
          position -= static_cast<gint64> (level.span_ns);
        else
          break;
        gst_query_set_position (query, format, MAX (position, 0));
        break;
      }
    default:
      break;
    }
  return TRUE;
}

static gboolean
gst_latest_frame_sink_activate_mode (GstPad *pad, GstObject *parent,
                                     GstPadMode mode, gboolean active)
{
  GstLatestFrame *self = GST_LATEST_FRAME (parent);
  GstLatestFrameState *state = self->state;

  if (mode != GST_PAD_MODE_PUSH)
    return FALSE;
  if (active)
    {
      gst_segment_init (&state->sink_segment, GST_FORMAT_UNDEFINED);
      state->liveness_known = false;
      /* The src pad, activated first, already resumed the keeper and
       * started the task; this one only matters when the sink pad alone
       * was deactivated. */
      state->keeper.resume_if_halted ([self] { start_task_if_active (self); });
      return TRUE;
    }
  /* Unblock a chain waiting for room, wait for it to leave, then empty. */
  state->keeper.flush_start ();
  GST_PAD_STREAM_LOCK (pad);
  state->keeper.drain ();
  GST_PAD_STREAM_UNLOCK (pad);
  return TRUE;
}

static gboolean
gst_latest_frame_src_activate_mode (GstPad *pad, GstObject *parent,
                                    GstPadMode mode, gboolean active)
{
  GstLatestFrame *self = GST_LATEST_FRAME (parent);
  GstLatestFrameState *state = self->state;

  if (mode != GST_PAD_MODE_PUSH)
    return FALSE;
  if (active)
    {
      if (state->keeper.plan ().on_request && gst_pad_is_linked (pad))
        GST_ELEMENT_WARNING (
            self, CORE, NEGOTIATION, ("Nothing is pushed on the src pad"),
            ("delivery=on-request: frames go to the application "
             "(try-pull-frame), never downstream; unlink the src pad or set "
             "delivery=push."));
      state->pulled_eos = false;
      /* A new pad is born needing reconfiguration: that flag says nothing
       * about a relink after a NOT_LINKED push, which is what the task
       * reads it for (handle_downstream_flow). */
      gst_pad_check_reconfigure (pad);
      /* The keeper starts the task if the plan has it push. */
      gboolean started = TRUE;
      state->keeper.resume ([&] {
        started = gst_pad_start_task (
            pad, (GstTaskFunction)gst_latest_frame_loop, pad, NULL);
      });
      return started;
    }
  state->keeper.flush_start ();
  const gboolean stopped = gst_pad_stop_task (pad);
  keeper_t::released_list flushed = state->keeper.drain ();
  keep_sticky_events (self, flushed);
  return stopped;
}

/* Frames this element may keep from an upstream pool, beyond what
 * downstream asks for: every frame it may hold, and the one its thread is
 * handing over. 0 when the number held is not bounded (max-size-buffers=0:
 * then only the byte or time limits bound it, which a pool cannot use). */
static guint
frames_kept_from_pool (GstLatestFrame *self)
{
  const guint max_frames = self->state->keeper.limits ().max_frames;
  return max_frames == 0 ? 0 : max_frames + 1;
}

/* With no pool proposed downstream: for raw video in system memory when
 * upstream wants a pool, a lazy one (lazypool.h) with room for `kept` frames, so that a
 * software decoder allocates the frames in use and none ahead; else none,
 * with the need alone (upstream makes its pool, sized from the caps). */
static void
propose_pool (GstQuery *query, guint kept)
{
  GstCaps *caps = NULL;
  gboolean need_pool = FALSE;
  gst_query_parse_allocation (query, &caps, &need_pool);
  /* Raw video only (gst_video_info_from_caps() takes encoded video too,
   * with no size; ANY caps have no structure), in system memory: frames in
   * other memory (DMABuf, GL, CUDA) come from their own pools. */
  const bool raw_in_system_memory
      = caps && gst_caps_get_size (caps) > 0
        && gst_structure_has_name (gst_caps_get_structure (caps, 0),
                                   "video/x-raw")
        && (!gst_caps_get_features (caps, 0)
            || gst_caps_features_is_equal (
                gst_caps_get_features (caps, 0),
                GST_CAPS_FEATURES_MEMORY_SYSTEM_MEMORY));
  GstVideoInfo info;
  if (!need_pool || !raw_in_system_memory
      || !gst_video_info_from_caps (&info, caps))
    {
      gst_query_add_allocation_pool (query, NULL, 0, kept, 0);
      return;
    }
  const guint size = static_cast<guint> (GST_VIDEO_INFO_SIZE (&info));
  GstBufferPool *pool = latestframe::lazy_video_buffer_pool_new ();
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, size, kept, 0);
  /* Upstream adds the video meta and alignment it needs to this config
   * when it takes the pool, as downstream's answer lets it. */
  gst_buffer_pool_set_config (pool, config);
  gst_query_add_allocation_pool (query, pool, size, kept, 0);
  gst_object_unref (pool);
}

/* Upstream pools are never starved by the frames this element keeps:
 * every pool proposed in the answered ALLOCATION query gets room for them
 * (min buffers, and max where the pool is bounded); with no pool proposed,
 * the element proposes one with that room (propose_pool). */
static void
reserve_room_in_pools (GstLatestFrame *self, GstQuery *query)
{
  const guint kept = frames_kept_from_pool (self);
  if (kept == 0)
    return;
  const guint pools = gst_query_get_n_allocation_pools (query);
  for (guint i = 0; i < pools; i++)
    {
      GstBufferPool *pool;
      guint size, min, max;
      gst_query_parse_nth_allocation_pool (query, i, &pool, &size, &min, &max);
      min += kept;
      if (max != 0)
        max = MAX (max + kept, min);
      gst_query_set_nth_allocation_pool (query, i, pool, size, min, max);
      if (pool)
        gst_object_unref (pool);
    }
  if (pools == 0)
    propose_pool (query, kept);
  GST_DEBUG_OBJECT (self, "allocation: room for %u more frames in %u pools",
                    kept, MAX (pools, 1u));
}

/* A frame the keeper handed over decode-only (the newer frames of its
 * chain need it; the keeper decided so only in a TIME segment of positive
 * rate, as describe_frame() told it, in a stream sent in presentation
 * order): GStreamer 1.22's decoders take no decode-only flag on input, but
 * every GstVideoDecoder drops a picture that ends before its output
 * segment starts. So the frame lasts 1 ns and the segment downstream
 * starts right after it, with its base moved so that every later running
 * time stays what it was. A frame without PTS (depayloaders leave it off
 * the first frames of a stream) takes its DTS, or the segment's start. A
 * frame that already ends before the segment's start needs no new one. */
static void
make_decode_only (GstLatestFrame *self, GstBuffer *buffer)
{
  GstLatestFrameState *state = self->state;
  GstSegment moved;
  {
    lf::checked_lock lock (state->handed_lock);
    GstSegment &segment = state->handed_segment;
    if (segment.format != GST_FORMAT_TIME || segment.rate <= 0)
      return;
    if (!GST_BUFFER_PTS_IS_VALID (buffer))
      {
        const GstClockTime dts = GST_BUFFER_DTS (buffer);
        GST_BUFFER_PTS (buffer) = GST_CLOCK_TIME_IS_VALID (dts)
                                      ? MAX (dts, segment.start)
                                      : segment.start;
      }
    GST_BUFFER_DURATION (buffer) = 1;
    const guint64 start = GST_BUFFER_PTS (buffer) + 1;
    guint64 running_time;
    if (start <= segment.start
        || gst_segment_to_running_time_full (&segment, GST_FORMAT_TIME, start,
                                             &running_time)
               != 1)
      return;
    segment.time
        = gst_segment_to_stream_time (&segment, GST_FORMAT_TIME, start);
    segment.base = running_time;
    segment.start = start;
    segment.position = start;
    moved = segment;
  }
  gst_pad_push_event (self->srcpad, gst_event_new_segment (&moved));
}

/* How to read H.264 and H.265 key units of these caps: Annex B, or NAL
 * units after their size in the bytes avcC or hvcC says (4 without codec
 * data). None for other encodings. */
static std::optional<std::pair<lf::video_codec, lf::nal_framing> >
key_unit_reading_of (GstCaps *caps)
{
  const GstStructure *structure
      = caps && gst_caps_get_size (caps) > 0 ? gst_caps_get_structure (caps, 0)
                                             : nullptr;
  if (!structure)
    return std::nullopt;
  lf::video_codec codec;
  if (gst_structure_has_name (structure, "video/x-h264"))
    codec = lf::video_codec::h264;
  else if (gst_structure_has_name (structure, "video/x-h265"))
    codec = lf::video_codec::h265;
  else
    return std::nullopt;
  lf::nal_framing framing;
  const gchar *format = gst_structure_get_string (structure, "stream-format");
  /* Without a stream-format, codec data means length-prefixed units, as
   * the parsers take it. */
  framing.length_prefixed = format ? g_strcmp0 (format, "byte-stream") != 0
                                   : gst_structure_has_field (structure,
                                                              "codec_data");
  GstBuffer *codec_data = nullptr;
  if (framing.length_prefixed
      && gst_structure_get (structure, "codec_data", GST_TYPE_BUFFER,
                            &codec_data, NULL))
    {
      std::array<guint8, lf::codec_data_bytes_read> head;
      const gsize size
          = gst_buffer_extract (codec_data, 0, head.data (), head.size ());
      framing.length_size = lf::nal_length_size (codec, head.data (), size);
      gst_buffer_unref (codec_data);
    }
  return std::make_pair (codec, framing);
}

/* Whether a key unit is one a decoder skipping all but key frames still
 * decodes (see mark_key_units_alone()): for H.264 and H.265, an IDR or IRAP
 * picture, or H.264 after a recovery point (nal_units.h), read from its
 * first 8 KiB (parameter sets and SEI come before the first slice, and are
 * small); any key unit of other encodings. */
static bool
key_unit_decodes_alone (
    const std::optional<std::pair<lf::video_codec, lf::nal_framing> > &reading,
    GstBuffer *buffer)
{
  if (!reading)
    return true;
  /* Extracted, not mapped: a map would merge a buffer of several memories
   * (a depayloader's codec data prepended) into a copy of the whole. */
  std::array<guint8, 8192> head;
  const gsize size = gst_buffer_extract (buffer, 0, head.data (), head.size ());
  return lf::is_random_access_unit (reading->first, reading->second,
                                    head.data (), size);
}

/* Marks the segment downstream as key units alone, or takes the mark off,
 * before a frame is pushed, as the core decides (key_unit_marking.h); the
 * same segment otherwise, so running times stay. The key unit is read
 * only when it went alone and the core still judges key units. */
static void
mark_key_units_alone (GstLatestFrame *self, bool key_unit_alone,
                      GstBuffer *buffer)
{
  GstLatestFrameState *state = self->state;
  lf::key_unit_marking::verdict verdict;
  GstSegment marked;
  {
    lf::checked_lock lock (state->handed_lock);
    const bool decodes_alone
        = key_unit_alone && state->key_unit_marking.judges_key_units ()
          && key_unit_decodes_alone (state->key_unit_reading, buffer);
    verdict = state->key_unit_marking.before_frame (key_unit_alone,
                                                    decodes_alone);
    if (verdict.segment != lf::key_unit_marking::change::none)
      {
        GstSegment &segment = state->handed_segment;
        segment.flags = static_cast<GstSegmentFlags> (
            verdict.segment == lf::key_unit_marking::change::mark
                ? segment.flags | GST_SEGMENT_FLAG_TRICKMODE_KEY_UNITS
                : segment.flags & ~GST_SEGMENT_FLAG_TRICKMODE_KEY_UNITS);
        marked = segment;
      }
  }
  if (verdict.warn_may_be_skipped)
    GST_ELEMENT_WARNING (
        self, STREAM, DECODE,
        ("A key unit of this stream is not an IDR picture: the decoder may "
         "skip it, and key units are no longer marked as such"),
        ("a key unit without an IDR (H.264) or IRAP (H.265) slice first, nor "
         "a recovery point, came right after one marked as a key unit alone; "
         "a decoder still in a key-unit trick mode skips those (libavcodec "
         "with skip_frame=nokey). The segment is no longer marked for this "
         "stream: on a stream with B-frames, its key units may come out of "
         "the decoder up to a key interval late."));
  if (verdict.segment == lf::key_unit_marking::change::none)
    return;
  GST_DEBUG_OBJECT (self, "%s the segment as key units alone",
                    verdict.segment == lf::key_unit_marking::change::mark
                        ? "marking"
                        : "unmarking");
  gst_pad_push_event (self->srcpad, gst_event_new_segment (&marked));
}

/* A caps or segment event was handed over (pushed by the task, or taken by
 * a reader): what the frames after it are described with, whoever takes
 * them. */
static void
note_handed_event (GstLatestFrame *self, GstEvent *event)
{
  GstLatestFrameState *state = self->state;
  if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS)
    {
      GstCaps *caps;
      gst_event_parse_caps (event, &caps);
      lf::checked_lock lock (state->handed_lock);
      gst_caps_replace (&state->handed_caps, caps);
      state->key_unit_reading = key_unit_reading_of (caps);
      state->key_unit_marking.new_caps ();
    }
  else if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT)
    {
      lf::checked_lock lock (state->handed_lock);
      GstSegment &segment = state->handed_segment;
      gst_event_copy_segment (event, &segment);
      state->key_unit_marking.new_segment (
          segment.format == GST_FORMAT_TIME && segment.rate > 0,
          segment.flags & GST_SEGMENT_FLAG_TRICKMODE_KEY_UNITS);
    }
}

/* When the camera captured a frame that was aged from its capture time,
 * Unix ns on this host's wall clock. */
static std::optional<guint64>
capture_time_of (const keeper_t::handover &frame)
{
  if (!frame.timestamp_age_ns || !frame.age_ns)
    return std::nullopt;
  return static_cast<guint64> (g_get_real_time () * 1000
                               - static_cast<gint64> (*frame.age_ns));
}

/* What a frame taken by a reader says of itself, in its sample's
 * `latestframe-frame` structure: its sequence number, running time, age
 * and, aged from its capture time, when that was. */
static void
describe_handover (const keeper_t::handover &frame, GstStructure *info)
{
  const guint64 running_time = frame.time_ns == lf::no_time
                                   ? GST_CLOCK_TIME_NONE
                                   : static_cast<guint64> (frame.time_ns);
  const gint64 age
      = frame.age_ns ? static_cast<gint64> (*frame.age_ns) : gint64 (-1);
  gst_structure_set (info, "sequence", G_TYPE_UINT64, frame.sequence,
                     "running-time", G_TYPE_UINT64, running_time, "age",
                     G_TYPE_INT64, age, NULL);
  if (const std::optional<guint64> captured = capture_time_of (frame))
    gst_structure_set (info, "capture-time", G_TYPE_UINT64, *captured, NULL);
}

/* The same for a pushed frame, as a LatestFrameInfoMeta (plain fields:
 * no allocation but the meta's slot) that elements downstream read
 * (mqttpublish puts the sequence and capture time in its messages); its
 * API has no tags, so videoconvert and the analyses keep it. A frame that
 * already carries one (from a latestframe before the decoder) gets this
 * element's figures. */
static void
attach_frame_info (GstBuffer *buffer, const keeper_t::handover &frame)
{
  LatestFrameInfoMeta *info = latest_frame_info_meta_get (buffer);
  if (!info)
    info = reinterpret_cast<LatestFrameInfoMeta *> (
        gst_buffer_add_meta (buffer, latest_frame_info_meta_get_info (), NULL));
  if (G_UNLIKELY (!info))
    return;
  info->sequence = frame.sequence;
  info->running_time = frame.time_ns == lf::no_time
                           ? GST_CLOCK_TIME_NONE
                           : static_cast<GstClockTime> (frame.time_ns);
  info->age = frame.age_ns ? static_cast<gint64> (*frame.age_ns) : -1;
  info->capture_time = capture_time_of (frame).value_or (GST_CLOCK_TIME_NONE);
}

/* Pushes a handed-over frame carrying its charge, which stays in flight
 * until the buffer's last reference goes. */
static GstFlowReturn
push_frame (GstLatestFrame *self, keeper_t::handover &frame)
{
  /* Writable for the meta: only the buffer's metadata is copied when
   * someone else holds it; its memory never is. */
  GstBuffer *buffer
      = gst_buffer_make_writable (GST_BUFFER_CAST (frame.item.release ()));
  /* The function, not the macro: see sample_for_reader. */
  if (frame.discont)
    gst_buffer_set_flags (buffer, GST_BUFFER_FLAG_DISCONT);
  mark_key_units_alone (self, frame.key_unit_alone, buffer);
  if (frame.decode_only)
    make_decode_only (self, buffer);
  else
    attach_frame_info (buffer, frame);
  lf::attach_flight_charge (buffer, std::move (frame.charge));
  GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                      "pushing frame %" G_GUINT64_FORMAT
                      " (%p)%s%s, %.1f ms old",
                      frame.sequence, buffer, frame.discont ? " (discont)" : "",
                      frame.decode_only ? " (decode-only)" : "",
                      frame.age_ns.value_or (0) / 1e6);
  return gst_pad_push (self->srcpad, buffer);
}

/* Pushes one handed-over entry downstream; returns the flow. */
static GstFlowReturn
push_handover (GstLatestFrame *self, keeper_t::handover &next)
{
  if (next.is_frame)
    return push_frame (self, next);
  GstMiniObject *object = next.item.get ();
  if (GST_IS_QUERY (object))
    {
      GstQuery *query = GST_QUERY_CAST (object);
      const gboolean answered = gst_pad_peer_query (self->srcpad, query);
      if (answered && GST_QUERY_TYPE (query) == GST_QUERY_ALLOCATION)
        reserve_room_in_pools (self, query);
      self->state->keeper.acknowledge (next.ticket, answered);
      return GST_FLOW_OK;
    }
  GstEvent *event = GST_EVENT_CAST (next.item.release ());
  note_handed_event (self, event);
  gst_pad_push_event (self->srcpad, event);
  return GST_FLOW_OK;
}

/* Tells the keeper what downstream answered to a frame, as queue does:
 * EOS skips to what can still be pushed; not-linked waits for RECONFIGURE
 * with what is held; anything fatal empties the element. Once upstream has
 * sent EOS it cannot see these returns: the element posts the error. */
static void
handle_downstream_flow (GstLatestFrame *self, GstFlowReturn flow)
{
  keeper_t &keeper = self->state->keeper;
  keeper_t::failure_outcome failure;
  switch (flow)
    {
    case GST_FLOW_EOS:
      {
        GST_CAT_DEBUG_OBJECT (latest_frame_dataflow, self, "downstream is EOS");
        keeper_t::released_list skipped = keeper.downstream_ended ();
        return;
      }
    case GST_FLOW_NOT_LINKED:
      failure = keeper.downstream_unlinked ();
      /* Relinked since that push: RECONFIGURE passed before the keeper
       * knew it was unlinked. */
      if (gst_pad_check_reconfigure (self->srcpad))
        keeper.relink ([self] { start_task_if_active (self); });
      break;
    default:
      failure = keeper.downstream_failed (flow);
      keep_sticky_events (self, failure.released);
      break;
    }
  GST_DEBUG_OBJECT (self, "downstream returned %s", gst_flow_get_name (flow));
  if (failure.stream_had_ended
      && (flow == GST_FLOW_NOT_LINKED || flow < GST_FLOW_EOS))
    {
      GST_ELEMENT_FLOW_ERROR (self, flow);
      gst_pad_push_event (self->srcpad, gst_event_new_eos ());
    }
}

/* Posts the stats on the bus when they are due; returns when the next
 * ones are, or nothing when stats-interval is 0. */
static std::optional<steady_clock::time_point>
post_stats_when_due (GstLatestFrame *self)
{
  GstLatestFrameState *state = self->state;
  const guint interval_ms = state->stats_interval_ms;
  if (interval_ms == 0)
    return std::nullopt;
  const steady_clock::time_point now = steady_clock::now ();
  const std::chrono::milliseconds interval (interval_ms);
  if (state->next_stats == steady_clock::time_point ()
      || state->next_stats > now + interval)
    state->next_stats = now + interval;
  if (now >= state->next_stats)
    {
      gst_element_post_message (
          GST_ELEMENT_CAST (self),
          gst_message_new_element (GST_OBJECT_CAST (self), build_stats (self)));
      state->next_stats = now + interval;
    }
  return state->next_stats;
}

static void
gst_latest_frame_loop (GstPad *pad)
{
  GstLatestFrame *self = GST_LATEST_FRAME_CAST (GST_PAD_PARENT (pad));
  keeper_t &keeper = self->state->keeper;

  /* Ages of frames without running times need no pipeline clock. */
  const std::int64_t now
      = self->state->timed_frames.load (std::memory_order_relaxed)
            ? read_running_clock (self)
            : lf::no_time;
  keeper_t::handover next = keeper.push_next (post_stats_when_due (self), now,
                                              queue_signals{ self });
  post_notice (self, next.note);
  if (!next.released.empty ())
    GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                        "dropped %zu frames over max-age",
                        next.released.size ());
  switch (next.status)
    {
    case keeper_t::handover_status::timed_out:
      return;
    case keeper_t::handover_status::halted:
      /* Flushing, unlinked or failed, or an application takes the frames:
       * paused under the keeper's lock, so that whatever starts the task
       * again (a resume, a relink, delivery=push) cannot come in between. */
      if (keeper.pause_pusher_if_idle ([pad] { gst_pad_pause_task (pad); }))
        GST_DEBUG_OBJECT (self, "nothing to push: task paused");
      return;
    case keeper_t::handover_status::handed_over:
      break;
    }
  const bool frame = next.is_frame;
  const GstFlowReturn flow = push_handover (self, next);
  if (frame && flow < GST_FLOW_OK)
    handle_downstream_flow (self, flow);
}

/* ---- on request ------------------------------------------------------ */

/* A reader took an event or a query (delivery=on-request): caps and segment
 * describe the frames after them; sticky events are kept on the src pad,
 * so that they reach downstream before the next frame pushed should the
 * delivery go back to push; the end of the stream is posted, as a sink
 * posts it once everything before it was rendered. */
static void
take_marker_on_request (GstLatestFrame *self, keeper_t::handover &marker)
{
  GstLatestFrameState *state = self->state;
  GstMiniObject *object = marker.item.get ();
  if (GST_IS_QUERY (object))
    {
      /* Queued while the element pushed; nothing downstream answers now. */
      state->keeper.acknowledge (marker.ticket, false);
      return;
    }
  GstEvent *event = GST_EVENT_CAST (object);
  note_handed_event (self, event);
  if (GST_EVENT_IS_STICKY (event) && GST_EVENT_TYPE (event) != GST_EVENT_EOS)
    gst_pad_store_sticky_event (self->srcpad, event);
  switch (GST_EVENT_TYPE (event))
    {
    case GST_EVENT_EOS:
      {
        state->pulled_eos = true;
        GstMessage *message = gst_message_new_eos (GST_OBJECT_CAST (self));
        gst_message_set_seqnum (message, gst_event_get_seqnum (event));
        gst_element_post_message (GST_ELEMENT_CAST (self), message);
        GST_DEBUG_OBJECT (self, "the reader reached the end of the stream");
        break;
      }
    default:
      break;
    }
}

/* The frame a reader took, as a sample holding its only reference. */
static GstSample *
sample_for_reader (GstLatestFrame *self, keeper_t::handover &frame)
    LF_REQUIRES (self->state->pull_lock)
{
  GstLatestFrameState *state = self->state;
  GstBuffer *buffer
      = gst_buffer_make_writable (GST_BUFFER_CAST (frame.item.release ()));
  /* Through GStreamer's function, not the macro: a buffer from a pool
   * comes back to the source through GStreamer's own (uninstrumented)
   * locks, and ThreadSanitizer took this write and the chain's read of
   * the recycled buffer's flags for a race (mode-switches storm, seed 2). */
  if (frame.discont)
    gst_buffer_set_flags (buffer, GST_BUFFER_FLAG_DISCONT);
  lf::attach_flight_charge (buffer, std::move (frame.charge));
  std::uint64_t &last = self->state->last_pulled_sequence;
  const std::uint64_t skipped
      = frame.sequence > last ? frame.sequence - last - 1 : 0;
  last = frame.sequence;
  const gint64 age
      = frame.age_ns ? static_cast<gint64> (*frame.age_ns) : gint64 (-1);
  GstStructure *info = gst_structure_new_empty (FRAME_INFO_NAME);
  describe_handover (frame, info);
  gst_structure_set (info, "skipped", G_TYPE_UINT64, skipped, NULL);
  GstSample *sample;
  {
    lf::checked_lock lock (state->handed_lock);
    sample = gst_sample_new (buffer, state->handed_caps, &state->handed_segment,
                             info);
  }
  gst_buffer_unref (buffer);
  GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                      "handing frame %" G_GUINT64_FORMAT
                      " (%p) to a reader, %" G_GUINT64_FORMAT
                      " skipped, %.1f ms old",
                      frame.sequence, buffer, skipped, age / 1e6);
  return sample;
}

static GstSample *
gst_latest_frame_try_pull_frame (GstLatestFrame *self, GstClockTime timeout)
{
  GstLatestFrameState *state = self->state;
  if (!state->keeper.plan ().on_request)
    {
      if (!state->warned_pull_in_push_mode.exchange (true))
        GST_ELEMENT_WARNING (
            self, CORE, FAILED, ("try-pull-frame needs delivery=on-request"),
            ("with delivery=push the element's thread pushes every frame on "
             "its src pad; set delivery=on-request (in any state) to take "
             "frames from an application."));
      return NULL;
    }
  /* A year stands for "for ever" without overflowing the clock. */
  const std::optional<steady_clock::time_point> deadline
      = GST_CLOCK_TIME_IS_VALID (timeout)
            ? std::optional<steady_clock::time_point> (
                steady_clock::now ()
                + std::chrono::nanoseconds (
                    MIN (timeout, 365 * 24 * 3600 * GST_SECOND)))
            : std::nullopt;
  lf::checked_lock one_reader (self->state->pull_lock);
  for (;;)
    {
      if (state->pulled_eos)
        return NULL;
      const std::int64_t now
          = state->timed_frames.load (std::memory_order_relaxed)
                ? read_running_clock (self)
                : lf::no_time;
      /* Halted (NULL) also once delivery went back to push. */
      keeper_t::handover next
          = state->keeper.pull_newest (deadline, now, queue_signals{ self });
      post_notice (self, next.note);
      if (next.status != keeper_t::handover_status::handed_over)
        return NULL;
      if (next.is_frame)
        return sample_for_reader (self, next);
      take_marker_on_request (self, next);
    }
}
