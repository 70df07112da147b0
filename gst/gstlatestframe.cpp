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

#include "latestframe/frame_queue.h"
#include "miniobject.h"

#include <atomic>
#include <new>
#include <vector>

GST_DEBUG_CATEGORY_STATIC (latest_frame_debug);
GST_DEBUG_CATEGORY_STATIC (latest_frame_dataflow);
#define GST_CAT_DEFAULT latest_frame_debug

namespace lf = latestframe;
using frame_queue = lf::frame_queue<lf::held_object>;

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
  /* The leaky property as set; the queue holds the matching policy. */
  std::atomic<int> leaky{ GST_LATEST_FRAME_LEAKY_DOWNSTREAM };
};

#define STATUS(self, what)                                                     \
  G_STMT_START                                                                 \
  {                                                                            \
    lf::queue_level level_ = (self)->state->queue.level_approx ();             \
    GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,                           \
                        "%s: %u frames, %" G_GUINT64_FORMAT                    \
                        " bytes, %" GST_TIME_FORMAT " held",                   \
                        what, level_.frames, level_.bytes,                     \
                        GST_TIME_ARGS (level_.span_ns));                       \
  }                                                                            \
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
};

#define DEFAULT_MAX_SIZE_BUFFERS 1
#define DEFAULT_MAX_SIZE_BYTES 0
#define DEFAULT_MAX_SIZE_TIME 0
#define DEFAULT_LEAKY GST_LATEST_FRAME_LEAKY_DOWNSTREAM

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

static void
gst_latest_frame_set_property (GObject *object, guint prop_id,
                               const GValue *value, GParamSpec *pspec)
{
  GstLatestFrame *self = GST_LATEST_FRAME (object);
  frame_queue &queue = self->state->queue;
  /* Frames dropped by a tighter limit are released here, after the queue's
   * lock is gone. */
  std::vector<frame_queue::entry> dropped;
  lf::queue_limits limits = queue.limits ();

  switch (prop_id)
    {
    case PROP_MAX_SIZE_BUFFERS:
      limits.max_frames = g_value_get_uint (value);
      dropped = queue.set_limits (limits);
      break;
    case PROP_MAX_SIZE_BYTES:
      limits.max_bytes = g_value_get_uint64 (value);
      dropped = queue.set_limits (limits);
      break;
    case PROP_MAX_SIZE_TIME:
      limits.max_span_ns = g_value_get_uint64 (value);
      dropped = queue.set_limits (limits);
      break;
    case PROP_LEAKY:
      self->state->leaky = g_value_get_enum (value);
      dropped = queue.set_policy (leak_policy_for (self->state->leaky));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      return;
    }
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
      g_value_set_enum (value, self->state->leaky);
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

static GstFlowReturn
gst_latest_frame_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstLatestFrame *self = GST_LATEST_FRAME (parent);
  GstLatestFrameState *state = self->state;
  (void)pad;

  if (state->eos_queued || state->downstream_eos)
    goto out_eos;

  {
    GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                        "received buffer %p of %" G_GSIZE_FORMAT
                        " bytes, time %" GST_TIME_FORMAT,
                        buffer, gst_buffer_get_size (buffer),
                        GST_TIME_ARGS (GST_BUFFER_DTS_OR_PTS (buffer)));
    std::int64_t time = frame_running_time (&state->sink_segment, buffer);
    frame_queue::push_outcome outcome = state->queue.push_frame (
        lf::held_object::owning (GST_MINI_OBJECT_CAST (buffer)),
        gst_buffer_get_size (buffer), time);
    switch (outcome.status)
      {
      case frame_queue::push_status::halted:
        GST_CAT_LOG_OBJECT (
            latest_frame_dataflow, self, "refusing buffer, queue halted: %s",
            gst_flow_get_name (flow_from_halt (outcome.halt_reason)));
        return flow_from_halt (outcome.halt_reason);
      case frame_queue::push_status::dropped:
        GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                            "full: dropped the arriving buffer");
        break;
      case frame_queue::push_status::queued:
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
  for (frame_queue::entry &flushed_entry : flushed)
    {
      GstMiniObject *object = flushed_entry.item.get ();
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
      state->queue.halt (GST_FLOW_FLUSHING);
      /* Waits for the loop iteration to end: from then on no queued query is
       * in use downstream. */
      gst_pad_pause_task (self->srcpad);
      GST_DEBUG_OBJECT (self, "flush start: task paused");
      return GST_FLOW_OK;
    case GST_EVENT_FLUSH_STOP:
      gst_pad_push_event (self->srcpad, event);
      release_flushed (self, state->queue.drain (), TRUE);
      state->eos_queued = false;
      state->downstream_eos = false;
      state->queue.resume ();
      start_task (self);
      GST_DEBUG_OBJECT (self, "flush stop: task restarted");
      return GST_FLOW_OK;
    default:
      break;
    }

  if (!GST_EVENT_IS_SERIALIZED (event))
    return gst_pad_push_event (self->srcpad, event) ? GST_FLOW_OK
                                                    : GST_FLOW_ERROR;

  const GstEventType type = GST_EVENT_TYPE (event);
  const bool starts_stream
      = type == GST_EVENT_STREAM_START || type == GST_EVENT_SEGMENT;

  /* A new stream after EOS, pushed or refused, brings the task back. */
  if (starts_stream
      && (state->queue.halt_reason () == GST_FLOW_EOS || state->eos_queued
          || state->downstream_eos))
    {
      state->eos_queued = false;
      state->downstream_eos = false;
      if (state->queue.halt_reason () == GST_FLOW_EOS)
        {
          state->queue.resume ();
          start_task (self);
        }
    }

  if (state->eos_queued)
    goto out_eos;

  if (type == GST_EVENT_SEGMENT)
    gst_event_copy_segment (event, &state->sink_segment);
  {
    frame_queue::push_outcome outcome = state->queue.push_marker (
        lf::held_object::owning (GST_MINI_OBJECT_CAST (event)));
    if (outcome.status == frame_queue::push_status::halted)
      {
        GstFlowReturn reason = flow_from_halt (outcome.halt_reason);
        /* The queue gave the event back: it is released with `outcome`. */
        if (type == GST_EVENT_EOS)
          {
            if (reason == GST_FLOW_NOT_LINKED || reason < GST_FLOW_EOS)
              GST_ELEMENT_FLOW_ERROR (self, reason);
            return reason;
          }
        if (GST_EVENT_IS_STICKY (event))
          {
            /* Errors show up on the next frame; keep the event for the next
             * stream instead. */
            gst_pad_store_sticky_event (self->srcpad, event);
            return GST_FLOW_OK;
          }
        GST_CAT_LOG_OBJECT (latest_frame_dataflow, self, "refusing event: %s",
                            gst_flow_get_name (reason));
        return reason;
      }
  }
  if (type == GST_EVENT_EOS)
    state->eos_queued = true;
  return GST_FLOW_OK;

  /* ERRORS */
out_eos:
  {
    GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                        "refusing event %s after EOS",
                        GST_EVENT_TYPE_NAME (event));
    gst_event_unref (event);
    return GST_FLOW_EOS;
  }
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
      lf::held_object::borrowing (GST_MINI_OBJECT_CAST (query)), true);
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

  if (GST_EVENT_TYPE (event) == GST_EVENT_RECONFIGURE
      && self->state->queue.halt_reason () == GST_FLOW_NOT_LINKED)
    {
      /* Downstream may be linked again: try pushing again. */
      GST_DEBUG_OBJECT (self, "reconfigure after not-linked: restarting task");
      self->state->queue.resume ();
      start_task (self);
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
      bool leaky = self->state->leaky != GST_LATEST_FRAME_LEAKY_NO;
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
      state->queue.resume ();
      return TRUE;
    }
  /* Unblock a chain waiting for room, wait for it to leave, then empty. */
  state->queue.halt (GST_FLOW_FLUSHING);
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
      state->eos_queued = false;
      state->downstream_eos = false;
      state->queue.resume ();
      return gst_pad_start_task (pad, (GstTaskFunction)gst_latest_frame_loop,
                                 pad, NULL);
    }
  state->queue.halt (GST_FLOW_FLUSHING);
  gboolean stopped = gst_pad_stop_task (pad);
  release_flushed (self, state->queue.drain (), TRUE);
  return stopped;
}

/* Downstream said EOS to a frame: drop what follows until something that
 * can be pushed again (EOS, STREAM_START, SEGMENT). Returns whether one was
 * found and pushed. */
static bool
skip_to_pushable_after_eos (GstLatestFrame *self)
{
  frame_queue &queue = self->state->queue;
  for (;;)
    {
      frame_queue::pop_outcome next = queue.try_pop ();
      if (next.status != frame_queue::pop_status::popped)
        return false;
      frame_queue::entry &skipped = *next.popped;
      GstMiniObject *object = skipped.item.get ();
      if (GST_IS_QUERY (object))
        {
          queue.acknowledge (skipped.ticket, false);
          continue;
        }
      if (!GST_IS_EVENT (object))
        continue;
      GstEventType type = GST_EVENT_TYPE (GST_EVENT_CAST (object));
      if (type != GST_EVENT_EOS && type != GST_EVENT_STREAM_START
          && type != GST_EVENT_SEGMENT)
        continue;
      GST_CAT_LOG_OBJECT (latest_frame_dataflow, self,
                          "pushing %s after downstream EOS",
                          GST_EVENT_TYPE_NAME (GST_EVENT_CAST (object)));
      gst_pad_push_event (self->srcpad,
                          GST_EVENT_CAST (skipped.item.release ()));
      if (type == GST_EVENT_EOS)
        queue.halt_if_running (GST_FLOW_EOS);
      return true;
    }
}

/* One entry, pushed downstream. Returns the flow to continue with. */
static GstFlowReturn
push_entry (GstLatestFrame *self, frame_queue::entry &next)
{
  GstMiniObject *object = next.item.get ();

  if (next.is_frame)
    {
      GstBuffer *buffer = GST_BUFFER_CAST (next.item.release ());
      if (next.discont)
        {
          /* Only the buffer's metadata is copied when someone else holds
           * it; its memory never is. */
          buffer = gst_buffer_make_writable (buffer);
          GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DISCONT);
        }
      GST_CAT_LOG_OBJECT (latest_frame_dataflow, self, "pushing buffer %p%s",
                          buffer, next.discont ? " (discont)" : "");
      GstFlowReturn ret = gst_pad_push (self->srcpad, buffer);
      if (ret == GST_FLOW_EOS)
        {
          GST_CAT_DEBUG_OBJECT (latest_frame_dataflow, self,
                                "downstream is EOS");
          if (!skip_to_pushable_after_eos (self))
            self->state->downstream_eos = true;
          return GST_FLOW_OK;
        }
      return ret;
    }
  if (GST_IS_EVENT (object))
    {
      GstEvent *event = GST_EVENT_CAST (next.item.release ());
      bool is_eos = GST_EVENT_TYPE (event) == GST_EVENT_EOS;
      gst_pad_push_event (self->srcpad, event);
      return is_eos ? GST_FLOW_EOS : GST_FLOW_OK;
    }
  if (GST_IS_QUERY (object))
    {
      gboolean answered
          = gst_pad_peer_query (self->srcpad, GST_QUERY_CAST (object));
      self->state->queue.acknowledge (next.ticket, answered);
      return GST_FLOW_OK;
    }
  g_warn_if_reached ();
  return GST_FLOW_OK;
}

static void
gst_latest_frame_loop (GstPad *pad)
{
  GstLatestFrame *self = GST_LATEST_FRAME (GST_PAD_PARENT (pad));
  GstLatestFrameState *state = self->state;
  GstFlowReturn reason;

  {
    frame_queue::pop_outcome next = state->queue.wait_pop ();
    if (next.status != frame_queue::pop_status::popped)
      {
        reason = flow_from_halt (next.halt_reason);
        goto out_paused;
      }
    GstFlowReturn ret = push_entry (self, *next.popped);
    if (ret >= GST_FLOW_OK)
      return;
    reason = static_cast<GstFlowReturn> (state->queue.halt_if_running (ret));
  }

out_paused:
  {
    GST_DEBUG_OBJECT (self, "pausing task: %s", gst_flow_get_name (reason));
    gst_pad_pause_task (pad);
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
}
