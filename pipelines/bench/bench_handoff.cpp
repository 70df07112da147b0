/* Benchmark: what handing buffers over through a queue element costs, one
 * configuration per process:
 *
 *   handoffsrc ! [nothing | queue | latestframe] ! fakesink sync=false
 *
 * Prints one line of key=value figures for the steady state: wall and CPU
 * (getrusage user+sys of the whole process, every thread) per buffer, and
 * heap allocations per buffer. The source takes the three figures when it
 * is asked for buffer number --warm-up and again when asked for the one
 * after the last (before answering EOS), so start-up, negotiation, the pool's
 * preallocation, the warm-up and the teardown are outside the window; per
 * buffer = difference / --buffers. In the blocking regime the source is held
 * up by the element (the pool is larger than the element's limit), so it
 * goes at the rate downstream takes buffers; in the leaky regime it goes at
 * its own rate and the element drops.
 *
 * handoffsrc is defined here: it hands out buffers from a bounded pool it
 * made at start, as a decoder would, and does nothing else per buffer (no
 * pixels are painted, so the source's cost does not swamp the element's).
 * Payloads: 16-byte buffers (no timestamps, as fakesrc gives them) or
 * 1280x720 I420 frames from a GstVideoBufferPool with GstVideoMeta, 30 fps
 * PTS and duration.
 *
 * Allocations are counted by the alloc_count shim when it is preloaded
 * (LD_PRELOAD=.../libbench_alloc_count.so); without it they print as "n/a".
 * The line says whether G_SLICE=always-malloc was set: GLib 2.74's g_slice
 * reuses small blocks (a GstMeta, a GstBuffer) from per-thread magazines
 * without calling malloc, unless that is set.
 *
 * Usage: bench_handoff --element none|queue|latestframe
 *        [--payload 16B|720p] [--regime blocking|leaky] [--budget]
 *        [--buffers N] [--warm-up W] [--pool-buffers P]
 *   blocking: queue max-size-buffers=64 (max-size-bytes=0 max-size-time=0,
 *     so that only the buffer count limits it, as for latestframe), or
 *     latestframe leaky=no max-size-buffers=64.
 *   leaky: queue leaky=downstream max-size-buffers=1 (bytes and time 0), or
 *     latestframe with its defaults, plus leaky-non-live=true where the
 *     element has that property (this source is not live).
 *   --budget: latestframe joins a memory budget with a cap it never
 *     reaches; queue has no budget and runs as without.
 * GST_PLUGIN_PATH must find the latestframe plugin. */
#include <gst/base/gstbasesrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <dlfcn.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

GST_DEBUG_CATEGORY_STATIC (handoff_src_debug);
#define GST_CAT_DEFAULT handoff_src_debug

namespace
{

/* The shim's counter, when the shim is preloaded. */
using alloc_count_function = std::uint64_t (*) (void);
alloc_count_function alloc_count = nullptr;

} // namespace

/* What the source takes at both ends of the measured window. */
typedef struct
{
  gboolean taken;
  gint64 wall_ns;
  gint64 cpu_ns;
  guint64 allocations;
} HandoffSnapshot;

static void
take_snapshot (HandoffSnapshot *snapshot)
{
  /* The allocation count first: getrusage and the clock do not allocate,
   * and nothing of ours runs between the three readings. */
  snapshot->allocations = alloc_count ? alloc_count () : 0;
  struct rusage usage;
  getrusage (RUSAGE_SELF, &usage);
  snapshot->cpu_ns = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
                         * G_GINT64_CONSTANT (1000000000)
                     + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
                           * G_GINT64_CONSTANT (1000);
  snapshot->wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds> (
                          std::chrono::steady_clock::now ().time_since_epoch ())
                          .count ();
  snapshot->taken = TRUE;
}

#define GST_TYPE_HANDOFF_SRC (gst_handoff_src_get_type ())
#define GST_HANDOFF_SRC(obj)                                                   \
  (G_TYPE_CHECK_INSTANCE_CAST ((obj), GST_TYPE_HANDOFF_SRC, GstHandoffSrc))

typedef struct _GstHandoffSrc GstHandoffSrc;
typedef struct _GstHandoffSrcClass GstHandoffSrcClass;

struct _GstHandoffSrc
{
  GstBaseSrc parent;

  /*< private >*/
  /* Properties: set before start. */
  guint64 buffers;
  guint64 warm_up;
  gboolean video;
  guint pool_buffers;

  /* Made in start, let go in stop. */
  GstCaps *caps;
  GstBufferPool *pool;

  /* Streaming thread only until EOS; read by the application after it. */
  guint64 produced;
  HandoffSnapshot start;
  HandoffSnapshot end;
};

struct _GstHandoffSrcClass
{
  GstBaseSrcClass parent_class;
};

GType gst_handoff_src_get_type (void);

G_DEFINE_TYPE (GstHandoffSrc, gst_handoff_src, GST_TYPE_BASE_SRC);

enum
{
  PROP_0,
  PROP_BUFFERS,
  PROP_WARM_UP,
  PROP_VIDEO,
  PROP_POOL_BUFFERS,
};

#define DEFAULT_BUFFERS 100000
#define DEFAULT_WARM_UP 10000
#define DEFAULT_VIDEO FALSE
#define DEFAULT_POOL_BUFFERS 72
#define VIDEO_WIDTH 1280
#define VIDEO_HEIGHT 720
#define VIDEO_FPS 30
#define SMALL_BUFFER_BYTES 16

static GstStaticPadTemplate handoff_src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("application/x-handoff-bench; "
                     "video/x-raw, format=I420, width=1280, height=720, "
                     "framerate=30/1"));

static void
gst_handoff_src_set_property (GObject *object, guint prop_id,
                              const GValue *value, GParamSpec *pspec)
{
  GstHandoffSrc *self = GST_HANDOFF_SRC (object);
  switch (prop_id)
    {
    case PROP_BUFFERS:
      self->buffers = g_value_get_uint64 (value);
      break;
    case PROP_WARM_UP:
      self->warm_up = g_value_get_uint64 (value);
      break;
    case PROP_VIDEO:
      self->video = g_value_get_boolean (value);
      break;
    case PROP_POOL_BUFFERS:
      self->pool_buffers = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
}

static void
gst_handoff_src_get_property (GObject *object, guint prop_id, GValue *value,
                              GParamSpec *pspec)
{
  GstHandoffSrc *self = GST_HANDOFF_SRC (object);
  switch (prop_id)
    {
    case PROP_BUFFERS:
      g_value_set_uint64 (value, self->buffers);
      break;
    case PROP_WARM_UP:
      g_value_set_uint64 (value, self->warm_up);
      break;
    case PROP_VIDEO:
      g_value_set_boolean (value, self->video);
      break;
    case PROP_POOL_BUFFERS:
      g_value_set_uint (value, self->pool_buffers);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
}

static GstCaps *
gst_handoff_src_get_caps (GstBaseSrc *base, GstCaps *filter)
{
  GstHandoffSrc *self = GST_HANDOFF_SRC (base);
  GstCaps *caps = self->caps
                      ? gst_caps_ref (self->caps)
                      : gst_pad_get_pad_template_caps (GST_BASE_SRC_PAD (base));
  if (filter)
    {
      GstCaps *both
          = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
      gst_caps_unref (caps);
      caps = both;
    }
  return caps;
}

/* The pool is this source's own, made in start: nothing to agree on. */
static gboolean
gst_handoff_src_decide_allocation (GstBaseSrc *base, GstQuery *query)
{
  (void)base;
  (void)query;
  return TRUE;
}

static gboolean
gst_handoff_src_start (GstBaseSrc *base)
{
  GstHandoffSrc *self = GST_HANDOFF_SRC (base);
  guint size;
  if (self->video)
    {
      GstVideoInfo info;
      gst_video_info_set_format (&info, GST_VIDEO_FORMAT_I420, VIDEO_WIDTH,
                                 VIDEO_HEIGHT);
      GST_VIDEO_INFO_FPS_N (&info) = VIDEO_FPS;
      GST_VIDEO_INFO_FPS_D (&info) = 1;
      self->caps = gst_video_info_to_caps (&info);
      self->pool = gst_video_buffer_pool_new ();
      size = GST_VIDEO_INFO_SIZE (&info);
    }
  else
    {
      self->caps = gst_caps_new_empty_simple ("application/x-handoff-bench");
      self->pool = gst_buffer_pool_new ();
      size = SMALL_BUFFER_BYTES;
    }
  /* Bounded, and every buffer made now: the steady state allocates none. */
  GstStructure *config = gst_buffer_pool_get_config (self->pool);
  gst_buffer_pool_config_set_params (config, self->caps, size,
                                     self->pool_buffers, self->pool_buffers);
  if (self->video)
    gst_buffer_pool_config_add_option (config,
                                       GST_BUFFER_POOL_OPTION_VIDEO_META);
  if (!gst_buffer_pool_set_config (self->pool, config)
      || !gst_buffer_pool_set_active (self->pool, TRUE))
    goto pool_failed;
  self->produced = 0;
  self->start.taken = FALSE;
  self->end.taken = FALSE;
  GST_DEBUG_OBJECT (self, "pool of %u buffers of %u bytes, %" GST_PTR_FORMAT,
                    self->pool_buffers, size, self->caps);
  return TRUE;

  /* ERRORS */
pool_failed:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("Cannot start the pool"),
                       ("%u buffers of %u bytes", self->pool_buffers, size));
    return FALSE;
  }
}

static gboolean
gst_handoff_src_stop (GstBaseSrc *base)
{
  GstHandoffSrc *self = GST_HANDOFF_SRC (base);
  if (self->pool)
    {
      gst_buffer_pool_set_active (self->pool, FALSE);
      gst_clear_object (&self->pool);
    }
  gst_clear_caps (&self->caps);
  return TRUE;
}

static GstFlowReturn
gst_handoff_src_create (GstBaseSrc *base, guint64 offset, guint size,
                        GstBuffer **out)
{
  GstHandoffSrc *self = GST_HANDOFF_SRC (base);
  (void)offset;
  (void)size;

  if (self->produced == self->warm_up)
    take_snapshot (&self->start);
  if (self->produced == self->warm_up + self->buffers)
    {
      take_snapshot (&self->end);
      GST_DEBUG_OBJECT (self, "%" G_GUINT64_FORMAT " buffers made: EOS",
                        self->produced);
      return GST_FLOW_EOS;
    }

  GstBuffer *buffer = NULL;
  GstFlowReturn ret
      = gst_buffer_pool_acquire_buffer (self->pool, &buffer, NULL);
  if (ret != GST_FLOW_OK)
    return ret;
  if (self->video)
    {
      GST_BUFFER_PTS (buffer)
          = gst_util_uint64_scale_int (self->produced, GST_SECOND, VIDEO_FPS);
      GST_BUFFER_DURATION (buffer)
          = gst_util_uint64_scale_int (1, GST_SECOND, VIDEO_FPS);
    }
  GST_BUFFER_OFFSET (buffer) = self->produced;
  GST_BUFFER_OFFSET_END (buffer) = self->produced + 1;
  self->produced++;
  *out = buffer;
  return GST_FLOW_OK;
}

static void
gst_handoff_src_class_init (GstHandoffSrcClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *base_class = GST_BASE_SRC_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (handoff_src_debug, "handoffsrc", 0,
                           "bench_handoff's source");

  gobject_class->set_property = gst_handoff_src_set_property;
  gobject_class->get_property = gst_handoff_src_get_property;

  const GParamFlags settable = static_cast<GParamFlags> (
      G_PARAM_READWRITE | GST_PARAM_MUTABLE_READY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property (
      gobject_class, PROP_BUFFERS,
      g_param_spec_uint64 ("buffers", "Buffers (measured)",
                           "Buffers made after the warm-up, in the measured "
                           "window; EOS follows",
                           0, G_MAXUINT64, DEFAULT_BUFFERS, settable));
  g_object_class_install_property (
      gobject_class, PROP_WARM_UP,
      g_param_spec_uint64 ("warm-up", "Warm-up (buffers)",
                           "Buffers made before the measured window opens "
                           "(0 = the window opens at the first buffer)",
                           0, G_MAXUINT64, DEFAULT_WARM_UP, settable));
  g_object_class_install_property (
      gobject_class, PROP_VIDEO,
      g_param_spec_boolean ("video", "Video",
                            "1280x720 I420 frames at 30 fps (else 16-byte "
                            "buffers without timestamps)",
                            DEFAULT_VIDEO, settable));
  g_object_class_install_property (
      gobject_class, PROP_POOL_BUFFERS,
      g_param_spec_uint ("pool-buffers", "Pool size (buffers)",
                         "Buffers in the bounded pool, all made at start; "
                         "the source waits for one to come back when all are "
                         "in use",
                         1, G_MAXUINT, DEFAULT_POOL_BUFFERS, settable));

  gst_element_class_add_static_pad_template (element_class,
                                             &handoff_src_template);
  gst_element_class_set_static_metadata (
      element_class, "Hand-off benchmark source", "Source",
      "Hands out buffers from a bounded pool and measures the steady state",
      "latestframe developers");

  base_class->get_caps = gst_handoff_src_get_caps;
  base_class->decide_allocation = gst_handoff_src_decide_allocation;
  base_class->start = gst_handoff_src_start;
  base_class->stop = gst_handoff_src_stop;
  base_class->create = gst_handoff_src_create;
}

static void
gst_handoff_src_init (GstHandoffSrc *self)
{
  self->buffers = DEFAULT_BUFFERS;
  self->warm_up = DEFAULT_WARM_UP;
  self->video = DEFAULT_VIDEO;
  self->pool_buffers = DEFAULT_POOL_BUFFERS;
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
}

namespace
{

struct settings
{
  std::string element = "none";
  std::string payload = "16B";
  std::string regime = "blocking";
  bool budget = false;
  guint64 buffers = 0; /* 0: by payload */
  guint64 warm_up = 0; /* 0: a fifth of buffers */
  guint pool_buffers = DEFAULT_POOL_BUFFERS;
};

/* A budget cap far above anything held here: members account, never drop. */
constexpr guint64 large_budget_bytes = G_GUINT64_CONSTANT (1) << 40;

std::string
middle_element (const settings &s)
{
  const bool blocking = s.regime == "blocking";
  if (s.element == "queue")
    return blocking ? "queue max-size-buffers=64 max-size-bytes=0 "
                      "max-size-time=0 ! "
                    : "queue leaky=downstream max-size-buffers=1 "
                      "max-size-bytes=0 max-size-time=0 ! ";
  std::string launch = "latestframe name=element ";
  if (blocking)
    launch += "leaky=no max-size-buffers=64 ";
  if (s.budget)
    launch += "memory-budget=handoff-bench memory-budget-bytes="
              + std::to_string (large_budget_bytes) + " ";
  return launch + "! ";
}

bool
parse (int argc, char **argv, settings &s)
{
  for (int i = 1; i < argc; i++)
    {
      std::string key = argv[i];
      if (key == "--budget")
        {
          s.budget = true;
          continue;
        }
      if (i + 1 >= argc)
        return false;
      std::string value = argv[++i];
      if (key == "--element")
        s.element = value;
      else if (key == "--payload")
        s.payload = value;
      else if (key == "--regime")
        s.regime = value;
      else if (key == "--buffers")
        s.buffers = g_ascii_strtoull (value.c_str (), NULL, 10);
      else if (key == "--warm-up")
        s.warm_up = g_ascii_strtoull (value.c_str (), NULL, 10);
      else if (key == "--pool-buffers")
        s.pool_buffers = std::atoi (value.c_str ());
      else
        return false;
    }
  return (s.element == "none" || s.element == "queue"
          || s.element == "latestframe")
         && (s.payload == "16B" || s.payload == "720p")
         && (s.regime == "blocking" || s.regime == "leaky")
         && s.pool_buffers > 0;
}

/* Waits for EOS; false (and says why) on an error. */
bool
run_to_eos (GstElement *pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *message = gst_bus_timed_pop_filtered (
      bus, GST_CLOCK_TIME_NONE,
      static_cast<GstMessageType> (GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  bool ok = GST_MESSAGE_TYPE (message) == GST_MESSAGE_EOS;
  if (!ok)
    {
      GError *error = NULL;
      gchar *debug = NULL;
      gst_message_parse_error (message, &error, &debug);
      std::fprintf (stderr, "error: %s (%s)\n", error->message,
                    debug ? debug : "");
      g_clear_error (&error);
      g_free (debug);
    }
  gst_message_unref (message);
  gst_object_unref (bus);
  return ok;
}

guint64
rendered_by (GstElement *sink)
{
  GstStructure *stats = NULL;
  g_object_get (sink, "stats", &stats, NULL);
  guint64 rendered = 0;
  if (stats)
    {
      gst_structure_get_uint64 (stats, "rendered", &rendered);
      gst_structure_free (stats);
    }
  return rendered;
}

} // namespace

int
main (int argc, char **argv)
{
  /* Before anything allocates much: the shim, if it is preloaded. */
  alloc_count = reinterpret_cast<alloc_count_function> (
      dlsym (RTLD_DEFAULT, "bench_alloc_count"));
  gst_init (&argc, &argv);
  settings s;
  if (!parse (argc, argv, s))
    {
      std::fprintf (stderr,
                    "usage: %s --element none|queue|latestframe "
                    "[--payload 16B|720p] [--regime blocking|leaky] "
                    "[--budget] [--buffers N] [--warm-up W] "
                    "[--pool-buffers P]\n",
                    argv[0]);
      return 2;
    }
  const bool video = s.payload == "720p";
  if (s.buffers == 0)
    s.buffers = video ? 20000 : 400000;
  if (s.warm_up == 0)
    s.warm_up = s.buffers / 5;
  if (s.element != "latestframe")
    s.budget = false; /* the same run: only latestframe has a budget */

  gst_element_register (NULL, "handoffsrc", GST_RANK_NONE,
                        GST_TYPE_HANDOFF_SRC);
  const std::string launch
      = "handoffsrc name=src buffers=" + std::to_string (s.buffers)
        + " warm-up=" + std::to_string (s.warm_up) + " pool-buffers="
        + std::to_string (s.pool_buffers) + (video ? " video=true ! " : " ! ")
        + (s.element == "none" ? std::string () : middle_element (s))
        + "fakesink name=sink sync=false";
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (launch.c_str (), &error);
  if (!pipeline || error)
    {
      std::fprintf (stderr, "cannot build %s: %s\n", launch.c_str (),
                    error ? error->message : "?");
      return 1;
    }
  GstBin *bin = GST_BIN (pipeline);
  GstElement *element = gst_bin_get_by_name (bin, "element");
  bool non_live_leaky = false;
  if (element && s.regime == "leaky"
      && g_object_class_find_property (G_OBJECT_GET_CLASS (element),
                                       "leaky-non-live"))
    {
      /* The new latestframe stops dropping for a non-live upstream unless
       * told to; this source is not live. */
      g_object_set (element, "leaky-non-live", TRUE, NULL);
      non_live_leaky = true;
    }
  GstElement *source = gst_bin_get_by_name (bin, "src");
  GstElement *sink = gst_bin_get_by_name (bin, "sink");

  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  const bool ok = run_to_eos (pipeline);
  const guint64 to_sink = rendered_by (sink);
  gst_element_set_state (pipeline, GST_STATE_NULL);

  const GstHandoffSrc *src = GST_HANDOFF_SRC (source);
  int status = 0;
  if (!ok || !src->start.taken || !src->end.taken)
    {
      std::fprintf (stderr, "the run did not reach its end\n");
      status = 1;
    }
  else
    {
      const double n = static_cast<double> (s.buffers);
      const char *slice = g_getenv ("G_SLICE");
      std::string allocations = "n/a";
      if (alloc_count)
        {
          char figure[32];
          g_snprintf (figure, sizeof figure, "%.4f",
                      (src->end.allocations - src->start.allocations) / n);
          allocations = figure;
        }
      std::printf ("handoff element=%s payload=%s regime=%s budget=%s slice=%s "
                   "leaky_non_live=%s buffers=%" G_GUINT64_FORMAT
                   " warm_up=%" G_GUINT64_FORMAT " to_sink=%" G_GUINT64_FORMAT
                   " wall_ns=%.1f cpu_ns=%.1f allocs=%s\n",
                   s.element.c_str (), s.payload.c_str (),
                   s.element == "none" ? "-" : s.regime.c_str (),
                   s.budget ? "yes" : "no", slice && *slice ? slice : "default",
                   non_live_leaky ? "set" : "-", s.buffers, s.warm_up, to_sink,
                   (src->end.wall_ns - src->start.wall_ns) / n,
                   (src->end.cpu_ns - src->start.cpu_ns) / n,
                   allocations.c_str ());
    }

  if (element)
    gst_object_unref (element);
  gst_object_unref (source);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  return status;
}
