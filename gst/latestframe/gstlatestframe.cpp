/* latestframe — keeps the newest frames for a slow consumer.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/**
 * SECTION:element-latestframe
 * @title: latestframe
 *
 * A leaky, bounded queue for live video analysis. It holds at most
 * #GstLatestFrame:max-size-buffers frames (and, when set, at most
 * #GstLatestFrame:max-size-bytes bytes and #GstLatestFrame:max-size-time of
 * span between the oldest and the newest held frame) and pushes them from its
 * own streaming thread. When the consumer is slower than the source, the
 * oldest held frames are dropped (#GstLatestFrame:leaky=downstream, the
 * default), so the consumer always gets the newest frame and the source is
 * never held up.
 *
 * Only frames are ever dropped: events and serialized queries keep their
 * order, sticky events (stream-start, caps, segment, tags) are never lost, and
 * the first frame pushed after a drop carries %GST_BUFFER_FLAG_DISCONT. The
 * pushed buffer is the very buffer that arrived: frames are never copied.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,framerate=30/1 !
 * latestframe ! identity sleep-time=100000 ! fakesink
 * ]| A live source at 30 fps read by a consumer that takes 100 ms a frame:
 * the consumer gets about 10 fps, always the newest frame; the source keeps
 * its rate.
 * |[
 * gst-launch-1.0 rtspsrc location=rtsp://127.0.0.1:8554/cam ! decodebin !
 * latestframe ! videoconvert ! autovideosink
 * ]| Put latestframe right after the decoder, so that conversion runs only on
 * the frames that will be used.
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! latestframe max-size-buffers=0
 * max-size-time=200000000 ! identity sleep-time=50000 ! fakesink
 * ]| Keep up to 200 ms of frames instead of a single one.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstlatestframe.h"

#include "flightmeta.h"
#include "latestframe/frame_ledger.h"
#include "latestframe/frame_queue.h"
#include "latestframe/freshness.h"
#include "latestframe/memory_budget.h"
#include "miniobject.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_STATIC (latest_frame_debug);
GST_DEBUG_CATEGORY_STATIC (latest_frame_dataflow);
#define GST_CAT_DEFAULT latest_frame_debug

namespace lf = latestframe;
using steady_clock = std::chrono::steady_clock;

/* What the queue holds: a buffer, event or query; for a frame, also the
 * bytes charged for it and when it arrived. */
struct queued_item
{
  lf::held_object object;
  lf::frame_charge charge;
  steady_clock::time_point arrival;
};
using frame_queue = lf::frame_queue<queued_item>;

static queued_item
marker_item (lf::held_object object)
{
  return queued_item{ std::move (object), lf::frame_charge (), {} };
}

struct _GstLatestFrameState
{
  frame_queue queue;

  /* Sink streaming thread only (under the sink pad's stream lock): the
   * segment that gives frames their running time. */
  GstSegment sink_segment;
  /* EOS was queued: frames are refused until STREAM_START or SEGMENT. */
  std::atomic<bool> eos_queued{ false };
  /* Downstream answered EOS and nothing pushable was left: frames are
   * refused until STREAM_START or SEGMENT. */
  std::atomic<bool> downstream_eos{ false };
  /* Makes "halt, then pause the task" in the task atomic with "check the
   * halt reason, resume, restart the task" in the event and activation
   * handlers; without it a restart could land between the task's halt and
   * its pause, leaving the queue running with no task. Never held while
   * waiting for the task. */
  std::mutex lifecycle;

  /* Counts and bytes; shared with the frames in flight, which may outlive
   * the element. */
  std::shared_ptr<lf::frame_ledger> ledger
      = std::make_shared<lf::frame_ledger> ();
  lf::freshness_gate freshness;

  /* The memory budget joined, if any. */
  std::mutex budget_lock;
  std::string budget_name;
  guint64 budget_cap = 0;
  std::optional<lf::budget_membership> budget;

  std::atomic<guint> stats_interval_ms{ 0 };
  /* Task thread only: when the next stats message is due. */
  steady_clock::time_point next_stats;
};

/* Logs the level; reads it (a queue lock and scan) only when logging. */
#define STATUS(self, what)                                                     \
  G_STMT_START                                                                 \
  if (gst_debug_category_get_threshold (latest_frame_dataflow)                 \
      >= GST_LEVEL_LOG)                                                        \
    {                                                                          \
      lf::queue_level level_ = (self)->state->queue.level_approx ();           \
      GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,                         \
                          "%s: %u frames, %" G_GUINT64_FORMAT                  \
                          " bytes, %" GST_TIME_FORMAT " held",                 \
                          what, level_.frames, level_.bytes,                   \
                          GST_TIME_ARGS (level_.span_ns));                     \
    }                                                                          \
  G_STMT_END

enum
{
  PROP_0,
  PROP_MAX_SIZE_BUFFERS,
  PROP_MAX_SIZE_BYTES,
  PROP_MAX_SIZE_TIME,
  PROP_LEAKY,
  PROP_CURRENT_LEVEL_BUFFERS,
  PROP_CURRENT_LEVEL_BYTES,
  PROP_CURRENT_LEVEL_TIME,
  PROP_MAX_AGE,
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
#define DEFAULT_MAX_AGE 0
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

/* The leaky property for the queue's policy (the one place it is kept). */
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

static void
gst_latest_frame_class_init (GstLatestFrameClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (latest_frame_debug, "latestframe", 0,
                           "latestframe element");
  GST_DEBUG_CATEGORY_INIT (latest_frame_dataflow, "latestframe_dataflow", 0,
                           "latestframe dataflow (per frame)");

  gobject_class->finalize = gst_latest_frame_finalize;
  gobject_class->set_property = gst_latest_frame_set_property;
  gobject_class->get_property = gst_latest_frame_get_property;

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
      g_param_spec_uint64 (
          "max-size-bytes", "Max. size (bytes)",
          "Most bytes of frames held; a single frame is always accepted even "
          "when larger (0 = no limit on bytes)",
          0, G_MAXUINT64, DEFAULT_MAX_SIZE_BYTES, settable));
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
          "upstream until there is room (no)",
          GST_TYPE_LATEST_FRAME_LEAKY, DEFAULT_LEAKY, settable));
  g_object_class_install_property (
      gobject_class, PROP_CURRENT_LEVEL_BUFFERS,
      g_param_spec_uint ("current-level-buffers", "Current level (frames)",
                         "Frames held now, waiting to be pushed", 0, G_MAXUINT,
                         0, readable));
  g_object_class_install_property (
      gobject_class, PROP_CURRENT_LEVEL_BYTES,
      g_param_spec_uint64 ("current-level-bytes", "Current level (bytes)",
                           "Bytes of the frames held now", 0, G_MAXUINT64, 0,
                           readable));
  g_object_class_install_property (
      gobject_class, PROP_CURRENT_LEVEL_TIME,
      g_param_spec_uint64 (
          "current-level-time", "Current level (ns)",
          "Span in nanoseconds between the oldest and the newest frame held "
          "now (0 with fewer than two timestamped frames)",
          0, G_MAXUINT64, 0, readable));

  g_object_class_install_property (
      gobject_class, PROP_MAX_AGE,
      g_param_spec_uint64 (
          "max-age", "Max. age (ns)",
          "Drop a frame older than this many nanoseconds when it is about to "
          "be pushed, and wait for a fresher one; age = pipeline running time "
          "now minus the frame's running time (time since arrival without "
          "clock or timestamp). If frames already arrive older, the newest "
          "is pushed anyway and a warning is posted once (0 = off)",
          0, G_MAXUINT64, DEFAULT_MAX_AGE, settable));
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
          "budget, flushes (see 'stats' for each)",
          0, G_MAXUINT64, 0, readable));
  g_object_class_install_property (
      gobject_class, PROP_STATS,
      g_param_spec_boxed (
          "stats", "Statistics",
          "A '" STATS_NAME "' structure: received, pushed, dropped (and by "
          "reason: -overflow, -age, -budget, -flush; -bytes), current levels, "
          "in-flight frames and bytes, peak-bytes, age-p50/-p95/-max (ns, "
          "recent frames), and memory-budget, -bytes, -used when a budget is "
          "set",
          GST_TYPE_STRUCTURE, readable));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (
      element_class, "Latest frame queue", "Generic",
      "Leaky bounded queue that keeps the newest frames for a slow consumer, "
      "pushing them from its own thread",
      "latestframe developers");
#ifdef LATESTFRAME_DOC_URI
  gst_element_class_add_static_metadata (element_class,
                                         GST_ELEMENT_METADATA_DOC_URI,
                                         LATESTFRAME_DOC_URI "#latestframe");
#endif

  gst_type_mark_as_plugin_api (GST_TYPE_LATEST_FRAME_LEAKY,
                               static_cast<GstPluginAPIFlags> (0));
}

static void
gst_latest_frame_init (GstLatestFrame *self)
{
  self->state
      = new (g_malloc (sizeof (GstLatestFrameState))) GstLatestFrameState ();
  gst_segment_init (&self->state->sink_segment, GST_FORMAT_UNDEFINED);
  self->state->queue.set_limits ({ DEFAULT_MAX_SIZE_BUFFERS,
                                   DEFAULT_MAX_SIZE_BYTES,
                                   DEFAULT_MAX_SIZE_TIME });
  self->state->queue.set_policy (leak_policy_for (DEFAULT_LEAKY));

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

/* Counts the frames among `released` as dropped for `reason`. */
static void
count_drops (GstLatestFrame *self,
             const std::vector<frame_queue::entry> &released,
             lf::drop_reason reason)
{
  for (const frame_queue::entry &entry : released)
    if (entry.is_frame)
      self->state->ledger->count_drop (reason, entry.bytes);
}

/* Joins, leaves or re-caps the memory budget. Frames already charged stay
 * charged to the budget they were taken under until they go. */
static void
set_budget (GstLatestFrame *self, std::optional<std::string> name,
            std::optional<guint64> cap)
{
  GstLatestFrameState *state = self->state;
  std::lock_guard<std::mutex> lock (state->budget_lock);
  if (cap)
    state->budget_cap = *cap;
  if (name && *name != state->budget_name)
    {
      state->budget_name = *name;
      state->budget.reset ();
      if (!state->budget_name.empty ())
        state->budget.emplace (state->budget_name, state->budget_cap);
    }
  else if (state->budget)
    state->budget->set_cap (state->budget_cap);
  GST_DEBUG_OBJECT (self, "memory budget '%s', cap %" G_GUINT64_FORMAT,
                    state->budget_name.c_str (), state->budget_cap);
}

static std::shared_ptr<lf::memory_budget>
current_budget (GstLatestFrameState *state)
{
  std::lock_guard<std::mutex> lock (state->budget_lock);
  return state->budget ? state->budget->budget () : nullptr;
}

static GstStructure *
build_stats (GstLatestFrame *self)
{
  GstLatestFrameState *state = self->state;
  lf::ledger_snapshot counts = state->ledger->snapshot ();
  lf::queue_level level = state->queue.level_approx ();
  GstStructure *stats = gst_structure_new (
      STATS_NAME, "received", G_TYPE_UINT64, counts.received, "pushed",
      G_TYPE_UINT64, counts.pushed, "dropped", G_TYPE_UINT64, counts.dropped (),
      "dropped-overflow", G_TYPE_UINT64, counts.overflow.frames, "dropped-age",
      G_TYPE_UINT64, counts.age.frames, "dropped-budget", G_TYPE_UINT64,
      counts.budget.frames, "dropped-flush", G_TYPE_UINT64, counts.flush.frames,
      "dropped-bytes", G_TYPE_UINT64, counts.dropped_bytes (),
      "dropped-overflow-bytes", G_TYPE_UINT64, counts.overflow.bytes,
      "dropped-age-bytes", G_TYPE_UINT64, counts.age.bytes,
      "dropped-budget-bytes", G_TYPE_UINT64, counts.budget.bytes,
      "dropped-flush-bytes", G_TYPE_UINT64, counts.flush.bytes,
      "current-level-buffers", G_TYPE_UINT, level.frames, "current-level-bytes",
      G_TYPE_UINT64, level.bytes, "current-level-time", G_TYPE_UINT64,
      level.span_ns, "in-flight-buffers", G_TYPE_UINT,
      static_cast<guint> (counts.in_flight_frames), "in-flight-bytes",
      G_TYPE_UINT64, counts.in_flight_bytes, "peak-bytes", G_TYPE_UINT64,
      counts.peak_bytes, "age-p50", G_TYPE_UINT64, counts.ages.p50_ns,
      "age-p95", G_TYPE_UINT64, counts.ages.p95_ns, "age-max", G_TYPE_UINT64,
      counts.ages.max_ns, "age-samples", G_TYPE_UINT, counts.ages.samples,
      NULL);
  std::shared_ptr<lf::memory_budget> budget = current_budget (state);
  if (budget)
    gst_structure_set (
        stats, "memory-budget", G_TYPE_STRING, budget->name ().c_str (),
        "memory-budget-bytes", G_TYPE_UINT64, budget->cap_approx (),
        "memory-budget-used", G_TYPE_UINT64, budget->used_approx (), NULL);
  return stats;
}

static void
gst_latest_frame_set_property (GObject *object, guint prop_id,
                               const GValue *value, GParamSpec *pspec)
{
  GstLatestFrame *self = GST_LATEST_FRAME (object);
  frame_queue &queue = self->state->queue;
  /* Frames dropped by a tighter limit are released here, after the queue's
   * lock is gone. */
  std::vector<frame_queue::entry> dropped;

  switch (prop_id)
    {
    case PROP_MAX_SIZE_BUFFERS:
      dropped = queue.update_limits ([value] (lf::queue_limits &limits) {
        limits.max_frames = g_value_get_uint (value);
      });
      break;
    case PROP_MAX_SIZE_BYTES:
      dropped = queue.update_limits ([value] (lf::queue_limits &limits) {
        limits.max_bytes = g_value_get_uint64 (value);
      });
      break;
    case PROP_MAX_SIZE_TIME:
      dropped = queue.update_limits ([value] (lf::queue_limits &limits) {
        limits.max_span_ns = g_value_get_uint64 (value);
      });
      break;
    case PROP_LEAKY:
      dropped = queue.set_policy (leak_policy_for (g_value_get_enum (value)));
      break;
    case PROP_MAX_AGE:
      self->state->freshness.set_max_age (g_value_get_uint64 (value));
      break;
    case PROP_MEMORY_BUDGET:
      set_budget (self, g_value_get_string (value), std::nullopt);
      break;
    case PROP_MEMORY_BUDGET_BYTES:
      set_budget (self, std::nullopt, g_value_get_uint64 (value));
      break;
    case PROP_STATS_INTERVAL:
      self->state->stats_interval_ms = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      return;
    }
  count_drops (self, dropped, lf::drop_reason::overflow);
  if (!dropped.empty ())
    GST_CAT_DEBUG_OBJECT (latest_frame_dataflow, self,
                          "new limits dropped %zu frames", dropped.size ());
}

static void
gst_latest_frame_get_property (GObject *object, guint prop_id, GValue *value,
                               GParamSpec *pspec)
{
  GstLatestFrame *self = GST_LATEST_FRAME (object);
  const frame_queue &queue = self->state->queue;

  switch (prop_id)
    {
    case PROP_MAX_SIZE_BUFFERS:
      g_value_set_uint (value, queue.limits ().max_frames);
      break;
    case PROP_MAX_SIZE_BYTES:
      g_value_set_uint64 (value, queue.limits ().max_bytes);
      break;
    case PROP_MAX_SIZE_TIME:
      g_value_set_uint64 (value, queue.limits ().max_span_ns);
      break;
    case PROP_LEAKY:
      g_value_set_enum (value, leaky_for (self->state->queue.policy ()));
      break;
    case PROP_CURRENT_LEVEL_BUFFERS:
      g_value_set_uint (value, queue.level_approx ().frames);
      break;
    case PROP_CURRENT_LEVEL_BYTES:
      g_value_set_uint64 (value, queue.level_approx ().bytes);
      break;
    case PROP_CURRENT_LEVEL_TIME:
      g_value_set_uint64 (value, queue.level_approx ().span_ns);
      break;
    case PROP_MAX_AGE:
      g_value_set_uint64 (value, self->state->freshness.max_age ());
      break;
    case PROP_MEMORY_BUDGET:
      {
        std::lock_guard<std::mutex> lock (self->state->budget_lock);
        g_value_set_string (value, self->state->budget_name.empty ()
                                       ? NULL
                                       : self->state->budget_name.c_str ());
        break;
      }
    case PROP_MEMORY_BUDGET_BYTES:
      {
        std::lock_guard<std::mutex> lock (self->state->budget_lock);
        g_value_set_uint64 (value, self->state->budget_cap);
        break;
      }
    case PROP_STATS_INTERVAL:
      g_value_set_uint (value, self->state->stats_interval_ms);
      break;
    case PROP_IN_FLIGHT_BUFFERS:
      g_value_set_uint (value,
                        static_cast<guint> (
                            self->state->ledger->snapshot ().in_flight_frames));
      break;
    case PROP_IN_FLIGHT_BYTES:
      g_value_set_uint64 (value,
                          self->state->ledger->snapshot ().in_flight_bytes);
      break;
    case PROP_PEAK_BYTES:
      g_value_set_uint64 (value, self->state->ledger->snapshot ().peak_bytes);
      break;
    case PROP_DROPPED:
      g_value_set_uint64 (value, self->state->ledger->snapshot ().dropped ());
      break;
    case PROP_STATS:
      g_value_take_boxed (value, build_stats (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
}

/* The frame's position in running time, the axis max-size-time limits. */
static std::int64_t
frame_running_time (const GstSegment *segment, GstBuffer *buffer)
{
  GstClockTime timestamp = GST_BUFFER_DTS_OR_PTS (buffer);
  if (segment->format != GST_FORMAT_TIME
      || !GST_CLOCK_TIME_IS_VALID (timestamp))
    return lf::no_time;
  guint64 running_time;
  if (gst_segment_to_running_time_full (segment, GST_FORMAT_TIME, timestamp,
                                        &running_time)
      != 1)
    return lf::no_time;
  return static_cast<std::int64_t> (running_time);
}

static GstFlowReturn
flow_from_halt (int reason)
{
  /* A queue resumed between its refusal and this read still refused: the
   * element was flushing. */
  return reason == 0 ? GST_FLOW_FLUSHING : static_cast<GstFlowReturn> (reason);
}

/* How old a frame is now: the pipeline clock's running time minus the
 * frame's running time; without a clock or a timestamp, the time since it
 * arrived here. */
static std::uint64_t
frame_age (GstLatestFrame *self, std::int64_t running_time,
           steady_clock::time_point arrival)
{
  if (running_time != lf::no_time)
    {
      GstClock *clock = gst_element_get_clock (GST_ELEMENT_CAST (self));
      if (clock)
        {
          GstClockTime now = gst_clock_get_time (clock);
          GstClockTime base
              = gst_element_get_base_time (GST_ELEMENT_CAST (self));
          gst_object_unref (clock);
          if (GST_CLOCK_TIME_IS_VALID (now) && now >= base)
            {
              guint64 running_now = now - base;
              guint64 frame_time = static_cast<guint64> (running_time);
              return running_now > frame_time ? running_now - frame_time : 0;
            }
        }
    }
  return std::chrono::duration_cast<std::chrono::nanoseconds> (
             steady_clock::now () - arrival)
      .count ();
}

/* Reserves a frame's bytes in the memory budget, dropping this element's
 * oldest held frames while they do not fit. False when even an empty
 * element has no room: the frame must be dropped. */
static bool
reserve_in_budget (GstLatestFrame *self, lf::memory_budget &budget,
                   guint64 bytes)
{
  while (!budget.try_reserve (bytes))
    {
      std::optional<frame_queue::entry> oldest
          = self->state->queue.take_oldest_frame ();
      if (!oldest)
        return false;
      self->state->ledger->count_drop (lf::drop_reason::budget, oldest->bytes);
      GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                          "budget '%s' full: dropped the oldest held frame",
                          budget.name ().c_str ());
      /* `oldest` goes here: its charge returns its bytes to the budget. */
    }
  return true;
}

static GstFlowReturn
gst_latest_frame_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstLatestFrame *self = GST_LATEST_FRAME (parent);
  GstLatestFrameState *state = self->state;
  (void)pad;

  if (state->eos_queued || state->downstream_eos)
    goto out_eos;

  {
    const guint64 bytes = gst_buffer_get_size (buffer);
    const std::int64_t time = frame_running_time (&state->sink_segment, buffer);
    const steady_clock::time_point arrival = steady_clock::now ();

    /* The element's own limits first, so that nothing is charged for a
     * frame they refuse, nor budget room taken that they free anyway. */
    frame_queue::room_outcome room = state->queue.make_room_for (bytes, time);
    if (room.halt_reason)
      {
        /* Halted (not-linked, an error, a flush): refused before anything
         * is dropped or charged, keeping what is held for when it resumes.
         * The flow return tells upstream; the frame never counted as
         * received. */
        GST_CAT_LOG_OBJECT (
            latest_frame_dataflow, self, "refusing buffer, halted: %s",
            gst_flow_get_name (flow_from_halt (room.halt_reason)));
        gst_buffer_unref (buffer);
        return flow_from_halt (room.halt_reason);
      }
    GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                        "received buffer %p of %" G_GUINT64_FORMAT
                        " bytes, time %" GST_TIME_FORMAT,
                        buffer, bytes,
                        GST_TIME_ARGS (GST_BUFFER_DTS_OR_PTS (buffer)));
    state->ledger->count_received ();

    if (state->freshness.max_age () != 0)
      {
        std::uint64_t arrival_age = frame_age (self, time, arrival);
        if (state->freshness.note_arrival (arrival_age))
          GST_ELEMENT_WARNING (
              self, STREAM, FAILED, ("Frames arrive too old for max-age"),
              ("frames arrive %.1f ms old, more than max-age (%.1f ms): the "
               "limit is below the pipeline's latency. The newest frame is "
               "pushed anyway while this lasts; older ones are still "
               "dropped.",
               arrival_age / 1e6, state->freshness.max_age () / 1e6));
      }

    count_drops (self, room.released, lf::drop_reason::overflow);
    room.released.clear (); /* their charges go before this frame's comes */
    if (!room.fits)
      {
        state->ledger->count_drop (lf::drop_reason::overflow, bytes);
        GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                            "full: dropped the arriving buffer");
        gst_buffer_unref (buffer);
        return GST_FLOW_OK;
      }

    std::shared_ptr<lf::memory_budget> budget = current_budget (state);
    if (budget && !reserve_in_budget (self, *budget, bytes))
      {
        state->ledger->count_drop (lf::drop_reason::budget, bytes);
        GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                            "budget '%s' has no room: dropped the arriving "
                            "buffer",
                            budget->name ().c_str ());
        gst_buffer_unref (buffer);
        return GST_FLOW_OK;
      }

    frame_queue::push_outcome outcome = state->queue.push_frame (
        queued_item{
            lf::held_object::owning (GST_MINI_OBJECT_CAST (buffer)),
            lf::frame_charge (state->ledger, std::move (budget), bytes),
            arrival },
        bytes, time);
    switch (outcome.status)
      {
      case frame_queue::push_status::halted:
        count_drops (self, outcome.released, lf::drop_reason::flush);
        GST_CAT_LOG_OBJECT (
            latest_frame_dataflow, self, "refusing buffer, queue halted: %s",
            gst_flow_get_name (flow_from_halt (outcome.halt_reason)));
        return flow_from_halt (outcome.halt_reason);
      case frame_queue::push_status::dropped:
        count_drops (self, outcome.released, lf::drop_reason::overflow);
        GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                            "full: dropped the arriving buffer");
        break;
      case frame_queue::push_status::queued:
        count_drops (self, outcome.released, lf::drop_reason::overflow);
        if (!outcome.released.empty ())
          GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                              "full: dropped %zu oldest buffers",
                              outcome.released.size ());
        break;
      }
    STATUS (self, "after chain");
    return GST_FLOW_OK;
  }

  /* ERRORS */
out_eos:
  {
    GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                        "refusing buffer after EOS");
    gst_buffer_unref (buffer);
    return GST_FLOW_EOS;
  }
}

/* Keeps the sticky events (but segment and EOS, which a new stream brings
 * again) of flushed entries on the src pad, so that they are sent before the
 * next frame. */
static void
release_flushed (GstLatestFrame *self, std::vector<frame_queue::entry> flushed,
                 gboolean keep_sticky)
{
  count_drops (self, flushed, lf::drop_reason::flush);
  for (frame_queue::entry &flushed_entry : flushed)
    {
      GstMiniObject *object = flushed_entry.item.object.get ();
      if (!keep_sticky || !object || !GST_IS_EVENT (object))
        continue;
      GstEvent *event = GST_EVENT_CAST (object);
      if (GST_EVENT_IS_STICKY (event)
          && GST_EVENT_TYPE (event) != GST_EVENT_SEGMENT
          && GST_EVENT_TYPE (event) != GST_EVENT_EOS)
        gst_pad_store_sticky_event (self->srcpad, event);
    }
}

static void
start_task (GstLatestFrame *self)
{
  if (!gst_pad_is_active (self->srcpad))
    {
      GST_INFO_OBJECT (self, "not starting the task: src pad inactive");
      return;
    }
  gst_pad_start_task (self->srcpad, (GstTaskFunction)gst_latest_frame_loop,
                      self->srcpad, NULL);
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
      {
        std::lock_guard<std::mutex> lock (state->lifecycle);
        state->queue.halt (GST_FLOW_FLUSHING);
      }
      /* Waits for the loop iteration to end: from then on no queued query is
       * in use downstream. */
      gst_pad_pause_task (self->srcpad);
      GST_DEBUG_OBJECT (self, "flush start: task paused");
      return GST_FLOW_OK;
    case GST_EVENT_FLUSH_STOP:
      gst_pad_push_event (self->srcpad, event);
      release_flushed (self, state->queue.drain (), TRUE);
      {
        std::lock_guard<std::mutex> lock (state->lifecycle);
        state->eos_queued = false;
        state->downstream_eos = false;
        state->queue.resume ();
        start_task (self);
      }
      GST_DEBUG_OBJECT (self, "flush stop: task restarted");
      return GST_FLOW_OK;
    default:
      break;
    }

  if (!GST_EVENT_IS_SERIALIZED (event))
    return gst_pad_push_event (self->srcpad, event) ? GST_FLOW_OK
                                                    : GST_FLOW_ERROR;

  const GstEventType type = GST_EVENT_TYPE (event);
  frame_queue::push_outcome outcome;
  {
    std::lock_guard<std::mutex> lock (state->lifecycle);
    if (type == GST_EVENT_STREAM_START || type == GST_EVENT_SEGMENT)
      {
        /* A new stream after EOS, pushed or refused, brings the task
         * back. */
        state->eos_queued = false;
        state->downstream_eos = false;
        if (state->queue.halt_reason () == GST_FLOW_EOS)
          {
            state->queue.resume ();
            start_task (self);
          }
      }
    if (state->eos_queued)
      {
        GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                            "refusing event %s after EOS",
                            GST_EVENT_TYPE_NAME (event));
        gst_event_unref (event);
        return GST_FLOW_EOS;
      }
    if (type == GST_EVENT_SEGMENT)
      gst_event_copy_segment (event, &state->sink_segment);
    /* Sticky events keep their place among the queued frames even while
     * the task waits (not-linked) or flushes: a flush then keeps them on
     * the src pad. */
    const bool keep_place
        = GST_EVENT_IS_STICKY (event) && type != GST_EVENT_EOS;
    outcome = state->queue.push_marker (
        marker_item (lf::held_object::owning (GST_MINI_OBJECT_CAST (event))),
        false, keep_place);
    if (outcome.status == frame_queue::push_status::queued
        && type == GST_EVENT_EOS)
      state->eos_queued = true;
  }
  if (outcome.status != frame_queue::push_status::halted)
    return GST_FLOW_OK;

  /* Refused (the queue gave the event back, released with `outcome`). */
  GstFlowReturn reason = flow_from_halt (outcome.halt_reason);
  if (type == GST_EVENT_EOS
      && (reason == GST_FLOW_NOT_LINKED || reason < GST_FLOW_EOS))
    /* Upstream ends here and will not see another flow return. */
    GST_ELEMENT_FLOW_ERROR (self, reason);
  GST_CAT_LOG_OBJECT (latest_frame_dataflow, self, "refusing event %s: %s",
                      GST_EVENT_TYPE_NAME (event), gst_flow_get_name (reason));
  return reason;
}

static gboolean
gst_latest_frame_sink_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstLatestFrame *self = GST_LATEST_FRAME (parent);

  if (!GST_QUERY_IS_SERIALIZED (query))
    return gst_pad_query_default (pad, parent, query);

  /* Serialized queries travel in order with the frames; the query stays
   * owned by this thread, which waits until the task has answered it. */
  frame_queue::push_outcome outcome = self->state->queue.push_marker (
      marker_item (lf::held_object::borrowing (GST_MINI_OBJECT_CAST (query))),
      true);
  if (outcome.status == frame_queue::push_status::halted)
    {
      GST_DEBUG_OBJECT (
          self, "refusing %s query: %s", GST_QUERY_TYPE_NAME (query),
          gst_flow_get_name (flow_from_halt (outcome.halt_reason)));
      return FALSE;
    }
  lf::ack_result result = self->state->queue.wait_ack (outcome.ticket);
  GST_CAT_LOG_OBJECT (latest_frame_dataflow, self, "%s query answered: %d",
                      GST_QUERY_TYPE_NAME (query), static_cast<int> (result));
  return result == lf::ack_result::accepted;
}

static gboolean
gst_latest_frame_src_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstLatestFrame *self = GST_LATEST_FRAME (parent);

  if (GST_EVENT_TYPE (event) == GST_EVENT_RECONFIGURE)
    {
      std::lock_guard<std::mutex> lock (self->state->lifecycle);
      if (self->state->queue.halt_reason () == GST_FLOW_NOT_LINKED)
        {
          /* Downstream may be linked again: try pushing again. */
          GST_DEBUG_OBJECT (self,
                            "reconfigure after not-linked: restarting task");
          self->state->queue.resume ();
          start_task (self);
        }
    }
  return gst_pad_event_default (pad, parent, event);
}

static gboolean
gst_latest_frame_src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstLatestFrame *self = GST_LATEST_FRAME (parent);

  if (GST_QUERY_TYPE (query) == GST_QUERY_SCHEDULING)
    {
      gst_query_add_scheduling_mode (query, GST_PAD_MODE_PUSH);
      return TRUE;
    }
  if (!gst_pad_query_default (pad, parent, query))
    return FALSE;

  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY)
    {
      gboolean live;
      GstClockTime min, max;
      gst_query_parse_latency (query, &live, &min, &max);
      /* Frames are pushed as soon as the consumer takes them: no minimum
       * latency is added. The maximum latency is how long the element can
       * buffer: a blocking element adds its time limit to upstream's, and
       * has no bound without one; a leaky element never holds upstream up,
       * so it can hold at least its time limit, and without one any. */
      guint64 max_time = self->state->queue.limits ().max_span_ns;
      bool leaky = self->state->queue.policy () != lf::leak_policy::none;
      if (max_time > 0 && !leaky && GST_CLOCK_TIME_IS_VALID (max))
        max += max_time;
      else if (max_time > 0 && leaky)
        max = GST_CLOCK_TIME_IS_VALID (max) ? MAX (max_time, max) : max;
      else
        max = GST_CLOCK_TIME_NONE;
      GST_DEBUG_OBJECT (self,
                        "latency: live %d, min %" GST_TIME_FORMAT
                        ", max %" GST_TIME_FORMAT,
                        live, GST_TIME_ARGS (min), GST_TIME_ARGS (max));
      gst_query_set_latency (query, live, min, max);
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
      state->eos_queued = false;
      state->downstream_eos = false;
      gst_segment_init (&state->sink_segment, GST_FORMAT_UNDEFINED);
      state->freshness.reset ();
      std::lock_guard<std::mutex> lock (state->lifecycle);
      state->queue.resume ();
      return TRUE;
    }
  /* Unblock a chain waiting for room, wait for it to leave, then empty. */
  {
    std::lock_guard<std::mutex> lock (state->lifecycle);
    state->queue.halt (GST_FLOW_FLUSHING);
  }
  GST_PAD_STREAM_LOCK (pad);
  release_flushed (self, state->queue.drain (), FALSE);
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
      std::lock_guard<std::mutex> lock (state->lifecycle);
      state->eos_queued = false;
      state->downstream_eos = false;
      state->queue.resume ();
      return gst_pad_start_task (pad, (GstTaskFunction)gst_latest_frame_loop,
                                 pad, NULL);
    }
  {
    /* From here on no handler restarts the task: they only restart it
     * from not-linked or EOS. */
    std::lock_guard<std::mutex> lock (state->lifecycle);
    state->queue.halt (GST_FLOW_FLUSHING);
  }
  gboolean stopped = gst_pad_stop_task (pad);
  release_flushed (self, state->queue.drain (), TRUE);
  return stopped;
}

/* Downstream said EOS to a frame: drop what follows until something that
 * can be pushed again (EOS, STREAM_START, SEGMENT), like `queue`. Returns
 * the flow to go on with: EOS once an EOS was pushed. With nothing
 * pushable queued, frames are refused until a new stream comes. */
static GstFlowReturn
skip_to_pushable_after_eos (GstLatestFrame *self)
{
  GstLatestFrameState *state = self->state;
  frame_queue &queue = state->queue;
  for (;;)
    {
      frame_queue::pop_outcome next = queue.try_pop ();
      if (next.status == frame_queue::pop_status::halted)
        return flow_from_halt (next.halt_reason);
      if (next.status != frame_queue::pop_status::popped)
        {
          /* Checked and set where the sink side clears it, so that a new
           * stream queued meanwhile is seen here or clears the flag. */
          std::lock_guard<std::mutex> lock (state->lifecycle);
          if (queue.size_approx () == 0)
            {
              state->downstream_eos = true;
              return GST_FLOW_OK;
            }
          continue;
        }
      frame_queue::entry &skipped = *next.popped;
      GstMiniObject *object = skipped.item.object.get ();
      if (skipped.is_frame)
        {
          state->ledger->count_drop (lf::drop_reason::flush, skipped.bytes);
          continue;
        }
      if (GST_IS_QUERY (object))
        {
          queue.acknowledge (skipped.ticket, false);
          continue;
        }
      GstEventType type = GST_EVENT_TYPE (GST_EVENT_CAST (object));
      if (type != GST_EVENT_EOS && type != GST_EVENT_STREAM_START
          && type != GST_EVENT_SEGMENT)
        continue;
      GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                          "pushing %s after downstream EOS",
                          GST_EVENT_TYPE_NAME (GST_EVENT_CAST (object)));
      gst_pad_push_event (self->srcpad,
                          GST_EVENT_CAST (skipped.item.object.release ()));
      return type == GST_EVENT_EOS ? GST_FLOW_EOS : GST_FLOW_OK;
    }
}

/* Frames this element may keep from an upstream pool, beyond what
 * downstream asks for: every frame it may hold, and the one its thread is
 * handing over. 0 when the number held is not bounded (max-size-buffers=0:
 * then only the byte or time limits bound it, which a pool cannot use). */
static guint
frames_kept_from_pool (GstLatestFrame *self)
{
  guint max_frames = self->state->queue.limits ().max_frames;
  return max_frames == 0 ? 0 : max_frames + 1;
}

/* Upstream pools are never starved by the frames this element keeps:
 * every pool proposed in the answered ALLOCATION query gets room for them
 * (min buffers, and max where the pool is bounded); with no pool proposed,
 * one without an allocator of its own carries the need. */
static void
reserve_room_in_pools (GstLatestFrame *self, GstQuery *query)
{
  guint kept = frames_kept_from_pool (self);
  if (kept == 0)
    return;
  guint pools = gst_query_get_n_allocation_pools (query);
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
    /* Upstream picks the size from the caps. */
    gst_query_add_allocation_pool (query, NULL, 0, kept, 0);
  GST_DEBUG_OBJECT (self, "allocation: room for %u more frames in %u pools",
                    kept, MAX (pools, 1u));
}

/* A frame popped for pushing: dropped if too old, else pushed carrying its
 * charge, which stays in flight until the buffer's last reference goes. */
static GstFlowReturn
push_frame_entry (GstLatestFrame *self, frame_queue::entry &next)
{
  GstLatestFrameState *state = self->state;
  std::uint64_t age = frame_age (self, next.time_ns, next.item.arrival);
  auto newer_waiting
      = [state] { return state->queue.level_approx ().frames > 0; };
  if (state->freshness.judge (age, newer_waiting)
      == lf::freshness_gate::verdict::drop)
    {
      state->ledger->count_drop (lf::drop_reason::age, next.bytes);
      state->queue.mark_gap ();
      GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                          "dropping a frame %.1f ms old (max-age %.1f ms)",
                          age / 1e6, state->freshness.max_age () / 1e6);
      return GST_FLOW_OK;
    }

  /* Writable for the meta: only the buffer's metadata is copied when
   * someone else holds it; its memory never is. */
  GstBuffer *buffer = gst_buffer_make_writable (
      GST_BUFFER_CAST (next.item.object.release ()));
  if (next.discont)
    GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DISCONT);
  auto charge
      = std::make_shared<lf::frame_charge> (std::move (next.item.charge));
  charge->take_off ();
  lf::attach_flight_charge (buffer, std::move (charge));
  state->ledger->count_pushed (age);

  GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                      "pushing buffer %p%s, %.1f ms old", buffer,
                      next.discont ? " (discont)" : "", age / 1e6);
  GstFlowReturn ret = gst_pad_push (self->srcpad, buffer);
  if (ret == GST_FLOW_EOS)
    {
      GST_CAT_DEBUG_OBJECT (latest_frame_dataflow, self, "downstream is EOS");
      return skip_to_pushable_after_eos (self);
    }
  return ret;
}

/* One entry, pushed downstream. Returns the flow to continue with. */
static GstFlowReturn
push_entry (GstLatestFrame *self, frame_queue::entry &next)
{
  GstMiniObject *object = next.item.object.get ();

  if (next.is_frame)
    return push_frame_entry (self, next);
  if (GST_IS_EVENT (object))
    {
      GstEvent *event = GST_EVENT_CAST (next.item.object.release ());
      bool is_eos = GST_EVENT_TYPE (event) == GST_EVENT_EOS;
      gst_pad_push_event (self->srcpad, event);
      return is_eos ? GST_FLOW_EOS : GST_FLOW_OK;
    }
  if (GST_IS_QUERY (object))
    {
      GstQuery *query = GST_QUERY_CAST (object);
      gboolean answered = gst_pad_peer_query (self->srcpad, query);
      if (answered && GST_QUERY_TYPE (query) == GST_QUERY_ALLOCATION)
        reserve_room_in_pools (self, query);
      self->state->queue.acknowledge (next.ticket, answered);
      return GST_FLOW_OK;
    }
  g_warn_if_reached ();
  return GST_FLOW_OK;
}

/* Posts the stats on the bus when they are due; returns when the next
 * ones are, or nothing when stats-interval is 0. */
static std::optional<steady_clock::time_point>
post_stats_when_due (GstLatestFrame *self)
{
  GstLatestFrameState *state = self->state;
  guint interval_ms = state->stats_interval_ms;
  if (interval_ms == 0)
    return std::nullopt;
  steady_clock::time_point now = steady_clock::now ();
  std::chrono::milliseconds interval (interval_ms);
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
  GstLatestFrame *self = GST_LATEST_FRAME (GST_PAD_PARENT (pad));
  GstLatestFrameState *state = self->state;
  GstFlowReturn reason;

  {
    frame_queue::pop_outcome next
        = state->queue.wait_pop (post_stats_when_due (self));
    if (next.status == frame_queue::pop_status::timed_out)
      return;
    GstFlowReturn ret = next.status == frame_queue::pop_status::popped
                            ? push_entry (self, *next.popped)
                            : flow_from_halt (next.halt_reason);
    if (ret >= GST_FLOW_OK)
      return;

    std::lock_guard<std::mutex> lock (state->lifecycle);
    /* A new stream queued behind the EOS just pushed: go on with it. */
    if (ret == GST_FLOW_EOS && state->queue.size_approx () > 0
        && state->queue.halt_reason () == 0)
      return;
    /* Relinked since that push (a RECONFIGURE passed the src pad): go on
     * instead of waiting for another one. */
    if (ret == GST_FLOW_NOT_LINKED && gst_pad_check_reconfigure (self->srcpad))
      return;
    state->queue.halt_if_running (ret);
    /* A handler may have resumed the queue since (RECONFIGURE, a new
     * stream): then keep running. Else pause, with the lock held so that
     * no handler restarts the task before the pause. */
    reason = static_cast<GstFlowReturn> (state->queue.halt_reason ());
    if (reason == GST_FLOW_OK)
      return;
    gst_pad_pause_task (pad);
  }

  GST_DEBUG_OBJECT (self, "paused task: %s", gst_flow_get_name (reason));
  /* Not-linked waits for RECONFIGURE and EOS for a new stream, both with
   * what is queued; anything else empties the queue. */
  if (reason != GST_FLOW_NOT_LINKED && reason != GST_FLOW_EOS)
    release_flushed (self, state->queue.drain (), TRUE);
  /* Upstream already sent EOS and will not see this flow: report it. */
  if (state->eos_queued
      && (reason == GST_FLOW_NOT_LINKED || reason < GST_FLOW_EOS))
    {
      GST_ELEMENT_FLOW_ERROR (self, reason);
      gst_pad_push_event (self->srcpad, gst_event_new_eos ());
    }
}
