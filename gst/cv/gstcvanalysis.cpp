/* GstCvAnalysis — base of the elements that run an OpenCV analysis on
 * each frame, on the streaming thread that brings it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/**
 * SECTION:gstcvanalysis
 * @title: GstCvAnalysis
 *
 * Maps each frame once, read-only, and hands the analysis a zero-copy
 * grayscale view of it: the luma plane of I420 and NV12 and GRAY8 as they
 * are (with their real stride), packed RGB formats converted to gray (the
 * conversion any OpenCV analysis of them would do). Optionally shrinks the
 * frame to #GstCvAnalysis:analysis-width first and maps the results back to
 * full-frame coordinates. Each detection becomes a
 * #GstVideoRegionOfInterestMeta (roi_type = label, with a `detection`
 * param: label, confidence, analysis, text) and the frame's results an
 * element message named after the element. OpenCV exceptions become
 * element errors, never crashes.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstcvanalysis.h"

#include "cvframe.h"
#include "element_helpers.h"

#include <atomic>
#include <chrono>
#include <exception>
#include <new>

GST_DEBUG_CATEGORY_STATIC (cv_analysis_debug);
#define GST_CAT_DEFAULT cv_analysis_debug

namespace lf = latestframe;

namespace
{
using latestframe::glue::object_lock;
} // namespace

#define CV_ANALYSIS_FORMATS                                                    \
  "{ BGR, BGRx, BGRA, RGB, RGBx, RGBA, GRAY8, I420, NV12 }"

struct _GstCvAnalysisState
{
  GstVideoInfo info;
  /* Streaming thread (and start/stop) only. */
  std::unique_ptr<lf::analysis> analysis;
  /* Settings: under the object lock. */
  gint analysis_width = 0;
  gboolean post_messages = TRUE;
  std::atomic<guint64> last_processing_ns{ 0 };
};

enum
{
  PROP_0,
  PROP_ANALYSIS_WIDTH,
  PROP_POST_MESSAGES,
  PROP_PROCESSING_TIME,
};

#define DEFAULT_ANALYSIS_WIDTH 0
#define DEFAULT_POST_MESSAGES TRUE

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (CV_ANALYSIS_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (CV_ANALYSIS_FORMATS)));

#define gst_cv_analysis_parent_class parent_class
G_DEFINE_ABSTRACT_TYPE (GstCvAnalysis, gst_cv_analysis,
                        GST_TYPE_BASE_TRANSFORM);

void
gst_cv_analysis_class_add_pad_templates (GstElementClass *klass)
{
  gst_element_class_add_static_pad_template (klass, &sink_template);
  gst_element_class_add_static_pad_template (klass, &src_template);
}

static void
gst_cv_analysis_init (GstCvAnalysis *self)
{
  self->state
      = new (g_malloc (sizeof (GstCvAnalysisState))) GstCvAnalysisState ();
  gst_video_info_init (&self->state->info);
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}

static void
gst_cv_analysis_finalize (GObject *object)
{
  GstCvAnalysis *self = GST_CV_ANALYSIS (object);
  self->state->~GstCvAnalysisState ();
  g_free (self->state);
  self->state = NULL;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

/* The subclass setting a property id names, if it names one. */
static const GstCvAnalysisSetting *
setting_for (GObject *object, guint prop_id, GParamSpec *pspec)
{
  if (pspec->owner_type == GST_TYPE_CV_ANALYSIS)
    return NULL;
  GstCvAnalysisClass *klass = GST_CV_ANALYSIS_GET_CLASS (object);
  if (prop_id < klass->first_setting_id
      || prop_id >= klass->first_setting_id + klass->n_settings)
    return NULL;
  return &klass->settings[prop_id - klass->first_setting_id];
}

static void
gst_cv_analysis_set_property (GObject *object, guint prop_id,
                              const GValue *value, GParamSpec *pspec)
{
  GstCvAnalysis *self = GST_CV_ANALYSIS (object);
  const GstCvAnalysisSetting *setting = setting_for (object, prop_id, pspec);
  object_lock lock (self);
  if (setting)
    {
      if (setting->type == G_TYPE_INT)
        G_STRUCT_MEMBER (gint, self, setting->offset) = g_value_get_int (value);
      else
        G_STRUCT_MEMBER (gdouble, self, setting->offset)
            = g_value_get_double (value);
      return;
    }
  switch (prop_id)
    {
    case PROP_ANALYSIS_WIDTH:
      self->state->analysis_width = g_value_get_int (value);
      break;
    case PROP_POST_MESSAGES:
      self->state->post_messages = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
}

static void
gst_cv_analysis_get_property (GObject *object, guint prop_id, GValue *value,
                              GParamSpec *pspec)
{
  GstCvAnalysis *self = GST_CV_ANALYSIS (object);
  const GstCvAnalysisSetting *setting = setting_for (object, prop_id, pspec);
  object_lock lock (self);
  if (setting)
    {
      if (setting->type == G_TYPE_INT)
        g_value_set_int (value, G_STRUCT_MEMBER (gint, self, setting->offset));
      else
        g_value_set_double (value,
                            G_STRUCT_MEMBER (gdouble, self, setting->offset));
      return;
    }
  switch (prop_id)
    {
    case PROP_ANALYSIS_WIDTH:
      g_value_set_int (value, self->state->analysis_width);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, self->state->post_messages);
      break;
    case PROP_PROCESSING_TIME:
      g_value_set_uint64 (value, self->state->last_processing_ns);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
}

void
gst_cv_analysis_class_install_settings (GstCvAnalysisClass *klass,
                                        const GstCvAnalysisSetting *settings,
                                        guint n, guint first_id)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = static_cast<GParamFlags> (
      G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING | G_PARAM_STATIC_STRINGS);
  klass->settings = settings;
  klass->n_settings = n;
  klass->first_setting_id = first_id;
  /* GObject does not inherit these: a class installing properties needs
   * its own, or the base's. */
  if (!gobject_class->set_property)
    gobject_class->set_property = gst_cv_analysis_set_property;
  if (!gobject_class->get_property)
    gobject_class->get_property = gst_cv_analysis_get_property;
  for (guint i = 0; i < n; i++)
    {
      const GstCvAnalysisSetting &setting = settings[i];
      GParamSpec *pspec
          = setting.type == G_TYPE_INT
                ? g_param_spec_int (setting.name, setting.nick, setting.blurb,
                                    static_cast<gint> (setting.minimum),
                                    static_cast<gint> (setting.maximum),
                                    static_cast<gint> (setting.default_value),
                                    flags)
                : g_param_spec_double (
                    setting.name, setting.nick, setting.blurb, setting.minimum,
                    setting.maximum, setting.default_value, flags);
      g_object_class_install_property (gobject_class, first_id + i, pspec);
    }
}

void
gst_cv_analysis_init_settings (GstCvAnalysis *self)
{
  GstCvAnalysisClass *klass = GST_CV_ANALYSIS_GET_CLASS (self);
  for (guint i = 0; i < klass->n_settings; i++)
    {
      const GstCvAnalysisSetting &setting = klass->settings[i];
      if (setting.type == G_TYPE_INT)
        G_STRUCT_MEMBER (gint, self, setting.offset)
            = static_cast<gint> (setting.default_value);
      else
        G_STRUCT_MEMBER (gdouble, self, setting.offset) = setting.default_value;
    }
}

static gboolean
gst_cv_analysis_start (GstBaseTransform *trans)
{
  GstCvAnalysis *self = GST_CV_ANALYSIS (trans);
  GstCvAnalysisClass *klass = GST_CV_ANALYSIS_GET_CLASS (self);
  std::string error;
  std::unique_ptr<lf::analysis> analysis;

  try
    {
      object_lock lock (self);
      analysis = klass->create_analysis (self, &error);
    }
  catch (const std::exception &exception)
    {
      error = exception.what ();
    }

  if (!analysis)
    {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
                         ("Could not set up the analysis: %s", error.c_str ()),
                         (NULL));
      return FALSE;
    }
  self->state->analysis = std::move (analysis);
  GST_DEBUG_OBJECT (self, "analysis ready");
  return TRUE;
}

static gboolean
gst_cv_analysis_stop (GstBaseTransform *trans)
{
  GstCvAnalysis *self = GST_CV_ANALYSIS (trans);
  self->state->analysis.reset ();
  return TRUE;
}

static gboolean
gst_cv_analysis_set_caps (GstBaseTransform *trans, GstCaps *incaps,
                          GstCaps *outcaps)
{
  GstCvAnalysis *self = GST_CV_ANALYSIS (trans);
  (void)outcaps;
  if (!gst_video_info_from_caps (&self->state->info, incaps))
    {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
                         ("invalid caps %" GST_PTR_FORMAT, incaps));
      return FALSE;
    }
  GST_DEBUG_OBJECT (self, "analysing %" GST_PTR_FORMAT, incaps);
  return TRUE;
}

/* Upstream may send frames with padded strides: the views follow them. */
static gboolean
gst_cv_analysis_propose_allocation (GstBaseTransform *trans,
                                    GstQuery *decide_query, GstQuery *query)
{
  /* Downstream may not answer (a fakesink): the meta is offered anyway. */
  GST_BASE_TRANSFORM_CLASS (parent_class)
      ->propose_allocation (trans, decide_query, query);
  if (!gst_query_find_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL))
    gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);
  return TRUE;
}

static const gchar *
analysis_name (GstCvAnalysis *self)
{
  GstElementFactory *factory = gst_element_get_factory (GST_ELEMENT (self));
  return factory ? GST_OBJECT_NAME (factory) : G_OBJECT_TYPE_NAME (self);
}

/* What one detection says, as the meta's param and the message's list share
 * it: label, confidence, and text when there is one. */
static GstStructure *
detection_structure (const lf::detection &found)
{
  GstStructure *detection = gst_structure_new (
      "detection", "label", G_TYPE_STRING, found.label.c_str (), "confidence",
      G_TYPE_DOUBLE, found.confidence, NULL);
  if (!found.text.empty ())
    gst_structure_set (detection, "text", G_TYPE_STRING, found.text.c_str (),
                       NULL);
  return detection;
}

static void
attach_detections (GstCvAnalysis *self, GstBuffer *buffer,
                   const lf::analysis_result &result)
{
  const gchar *name = analysis_name (self);
  for (const lf::detection &found : result.detections)
    {
      GstVideoRegionOfInterestMeta *meta
          = gst_buffer_add_video_region_of_interest_meta (
              buffer, found.label.c_str (), found.box.x, found.box.y,
              found.box.width, found.box.height);
      GstStructure *detection = detection_structure (found);
      gst_structure_set (detection, "analysis", G_TYPE_STRING, name, NULL);
      gst_video_region_of_interest_meta_add_param (meta, detection);
    }
}

static void
post_results (GstCvAnalysis *self, GstBuffer *buffer,
              const lf::analysis_result &result, guint64 processing_ns)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  GstClockTime pts = GST_BUFFER_PTS (buffer);
  GstClockTime running_time = GST_CLOCK_TIME_NONE;
  if (trans->segment.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (pts))
    running_time
        = gst_segment_to_running_time (&trans->segment, GST_FORMAT_TIME, pts);

  GValue detections = G_VALUE_INIT;
  gst_value_list_init (&detections, result.detections.size ());
  for (const lf::detection &found : result.detections)
    {
      GstStructure *detection = detection_structure (found);
      gst_structure_set (detection, "x", G_TYPE_INT, found.box.x, "y",
                         G_TYPE_INT, found.box.y, "width", G_TYPE_INT,
                         found.box.width, "height", G_TYPE_INT,
                         found.box.height, NULL);
      GValue item = G_VALUE_INIT;
      g_value_init (&item, GST_TYPE_STRUCTURE);
      g_value_take_boxed (&item, detection);
      gst_value_list_append_and_take_value (&detections, &item);
    }

  GstStructure *message = gst_structure_new (
      analysis_name (self), "timestamp", G_TYPE_UINT64, pts, "running-time",
      G_TYPE_UINT64, running_time, "processing-time", G_TYPE_UINT64,
      processing_ns, NULL);
  gst_structure_take_value (message, "detections", &detections);
  for (const lf::result_field &field : result.fields)
    {
      if (const bool *flag = std::get_if<bool> (&field.value))
        gst_structure_set (message, field.name.c_str (), G_TYPE_BOOLEAN,
                           *flag ? TRUE : FALSE, NULL);
      else
        gst_structure_set (message, field.name.c_str (), G_TYPE_DOUBLE,
                           std::get<double> (field.value), NULL);
    }
  gst_element_post_message (
      GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), message));
}

static GstFlowReturn
gst_cv_analysis_transform_ip (GstBaseTransform *trans, GstBuffer *buffer)
{
  GstCvAnalysis *self = GST_CV_ANALYSIS (trans);
  GstCvAnalysisClass *klass = GST_CV_ANALYSIS_GET_CLASS (self);
  GstCvAnalysisState *state = self->state;
  lf::analysis_result result;
  gint analysis_width;
  gboolean post_messages;
  std::chrono::steady_clock::duration took;

  try
    {
      {
        object_lock lock (self);
        if (klass->configure)
          klass->configure (self, *state->analysis);
        analysis_width = state->analysis_width;
        post_messages = state->post_messages;
      }

      lf::mapped_frame frame (&state->info, buffer, GST_MAP_READ);
      if (!frame.ok ())
        goto map_failed;
      const auto started = std::chrono::steady_clock::now ();
      cv::Mat gray = lf::to_gray (
          frame.plane0 (),
          lf::channel_order_of (GST_VIDEO_INFO_FORMAT (&state->info)));
      result = lf::analyse_at_width (*state->analysis, gray, analysis_width);
      took = std::chrono::steady_clock::now () - started;
    }
  catch (const cv::Exception &error)
    {
      GST_ELEMENT_ERROR (self, LIBRARY, FAILED,
                         ("OpenCV failed in %s", analysis_name (self)),
                         ("%s", error.what ()));
      return GST_FLOW_ERROR;
    }
  catch (const std::exception &error)
    {
      GST_ELEMENT_ERROR (self, LIBRARY, FAILED,
                         ("The analysis failed in %s", analysis_name (self)),
                         ("%s", error.what ()));
      return GST_FLOW_ERROR;
    }

  {
    const guint64 processing_ns
        = std::chrono::duration_cast<std::chrono::nanoseconds> (took).count ();
    state->last_processing_ns = processing_ns;
    GST_LOG_OBJECT (self, "%zu detections in %.2f ms",
                    result.detections.size (), processing_ns / 1e6);
    attach_detections (self, buffer, result);
    if (post_messages)
      post_results (self, buffer, result, processing_ns);
    return GST_FLOW_OK;
  }

  /* ERRORS */
map_failed:
  {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not map the frame"),
                       ("%" GST_PTR_FORMAT, buffer));
    return GST_FLOW_ERROR;
  }
}

static void
gst_cv_analysis_class_init (GstCvAnalysisClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (cv_analysis_debug, "cvanalysis", 0,
                           "OpenCV analysis elements");

  gobject_class->finalize = gst_cv_analysis_finalize;
  gobject_class->set_property = gst_cv_analysis_set_property;
  gobject_class->get_property = gst_cv_analysis_get_property;

  g_object_class_install_property (
      gobject_class, PROP_ANALYSIS_WIDTH,
      g_param_spec_int (
          "analysis-width", "Analysis width (pixels)",
          "Shrink frames to this width (keeping the aspect ratio) before "
          "analysing them; results are given in full-frame coordinates "
          "(0 = analyse at the native size; never enlarged)",
          0, G_MAXINT, DEFAULT_ANALYSIS_WIDTH,
          static_cast<GParamFlags> (G_PARAM_READWRITE
                                    | GST_PARAM_MUTABLE_PLAYING
                                    | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property (
      gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean (
          "post-messages", "Post messages",
          "Post an element message named after the element with each "
          "frame's results (timestamp, running-time, processing-time in ns, "
          "detections); region-of-interest metas are attached either way",
          DEFAULT_POST_MESSAGES,
          static_cast<GParamFlags> (G_PARAM_READWRITE
                                    | GST_PARAM_MUTABLE_PLAYING
                                    | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property (
      gobject_class, PROP_PROCESSING_TIME,
      g_param_spec_uint64 (
          "processing-time", "Processing time (ns)",
          "Time the analysis of the last frame took, in nanoseconds "
          "(0 before the first frame)",
          0, G_MAXUINT64, 0,
          static_cast<GParamFlags> (G_PARAM_READABLE
                                    | G_PARAM_STATIC_STRINGS)));

  trans_class->start = GST_DEBUG_FUNCPTR (gst_cv_analysis_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_cv_analysis_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_cv_analysis_set_caps);
  trans_class->propose_allocation
      = GST_DEBUG_FUNCPTR (gst_cv_analysis_propose_allocation);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_cv_analysis_transform_ip);
  trans_class->passthrough_on_same_caps = FALSE;

  gst_type_mark_as_plugin_api (GST_TYPE_CV_ANALYSIS,
                               static_cast<GstPluginAPIFlags> (0));
}
