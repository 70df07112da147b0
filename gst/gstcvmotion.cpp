/* cvmotion — motion regions by background subtraction (MOG2).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/**
 * SECTION:element-cvmotion
 * @title: cvmotion
 *
 * Learns the background of the scene (OpenCV's MOG2) and reports the
 * regions that move: a #GstVideoRegionOfInterestMeta labelled `motion` per
 * region, and a `cvmotion` element message with `motion` (boolean),
 * `motion-fraction` (of the frame's pixels) and the regions as
 * `detections`. Run it after latestframe so that it analyses the newest
 * frame and never holds the camera up.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 -m filesrc
 * location=/usr/share/doc/opencv-doc/examples/data/vtest.avi ! decodebin !
 * videoconvert ! latestframe ! cvmotion ! fakesink
 * ]| Prints a `cvmotion` message per analysed frame.
 * |[
 * gst-launch-1.0 rtspsrc location=rtsp://127.0.0.1:8554/cam ! decodebin !
 * latestframe ! cvmotion analysis-width=320 min-area=0.005 ! fakesink
 * ]| Motion on a live camera, analysed at 320 pixels wide.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstcvanalysis.h"
#include "gstcvelements.h"

namespace lf = latestframe;

#define GST_TYPE_CV_MOTION (gst_cv_motion_get_type ())
G_DECLARE_FINAL_TYPE (GstCvMotion, gst_cv_motion, GST, CV_MOTION, GstCvAnalysis)

struct _GstCvMotion
{
  GstCvAnalysis parent;
  /* Settings, under the object lock. */
  gint history;
  gdouble var_threshold;
  gdouble min_area;
  gdouble learning_rate;
};

enum
{
  PROP_0,
  PROP_HISTORY,
  PROP_VAR_THRESHOLD,
  PROP_MIN_AREA,
  PROP_LEARNING_RATE,
};

#define DEFAULT_HISTORY 500
#define DEFAULT_VAR_THRESHOLD 16.0
#define DEFAULT_MIN_AREA 0.001
#define DEFAULT_LEARNING_RATE -1.0

G_DEFINE_TYPE (GstCvMotion, gst_cv_motion, GST_TYPE_CV_ANALYSIS);
GST_ELEMENT_REGISTER_DEFINE (cvmotion, "cvmotion", GST_RANK_NONE,
                             GST_TYPE_CV_MOTION);

static lf::motion_detector::settings
motion_settings (GstCvMotion *self)
{
  return { self->history, self->var_threshold, self->min_area,
           self->learning_rate };
}

static std::unique_ptr<lf::analysis>
gst_cv_motion_create (GstCvAnalysis *analysis, std::string *error)
{
  (void)error;
  return std::make_unique<lf::motion_detector> (
      motion_settings (GST_CV_MOTION (analysis)));
}

static void
gst_cv_motion_configure (GstCvAnalysis *analysis, lf::analysis &running)
{
  static_cast<lf::motion_detector &> (running).configure (
      motion_settings (GST_CV_MOTION (analysis)));
}

static void
gst_cv_motion_set_property (GObject *object, guint prop_id, const GValue *value,
                            GParamSpec *pspec)
{
  GstCvMotion *self = GST_CV_MOTION (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id)
    {
    case PROP_HISTORY:
      self->history = g_value_get_int (value);
      break;
    case PROP_VAR_THRESHOLD:
      self->var_threshold = g_value_get_double (value);
      break;
    case PROP_MIN_AREA:
      self->min_area = g_value_get_double (value);
      break;
    case PROP_LEARNING_RATE:
      self->learning_rate = g_value_get_double (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_cv_motion_get_property (GObject *object, guint prop_id, GValue *value,
                            GParamSpec *pspec)
{
  GstCvMotion *self = GST_CV_MOTION (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id)
    {
    case PROP_HISTORY:
      g_value_set_int (value, self->history);
      break;
    case PROP_VAR_THRESHOLD:
      g_value_set_double (value, self->var_threshold);
      break;
    case PROP_MIN_AREA:
      g_value_set_double (value, self->min_area);
      break;
    case PROP_LEARNING_RATE:
      g_value_set_double (value, self->learning_rate);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_cv_motion_init (GstCvMotion *self)
{
  self->history = DEFAULT_HISTORY;
  self->var_threshold = DEFAULT_VAR_THRESHOLD;
  self->min_area = DEFAULT_MIN_AREA;
  self->learning_rate = DEFAULT_LEARNING_RATE;
}

static void
gst_cv_motion_class_init (GstCvMotionClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstCvAnalysisClass *analysis_class = GST_CV_ANALYSIS_CLASS (klass);
  const GParamFlags flags = static_cast<GParamFlags> (
      G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING | G_PARAM_STATIC_STRINGS);

  gobject_class->set_property = gst_cv_motion_set_property;
  gobject_class->get_property = gst_cv_motion_get_property;

  g_object_class_install_property (
      gobject_class, PROP_HISTORY,
      g_param_spec_int ("history", "History (frames)",
                        "Frames the background model remembers", 1, 100000,
                        DEFAULT_HISTORY, flags));
  g_object_class_install_property (
      gobject_class, PROP_VAR_THRESHOLD,
      g_param_spec_double (
          "var-threshold", "Variance threshold",
          "Squared Mahalanobis distance above which a pixel is foreground "
          "(higher = less sensitive)",
          0.0, 10000.0, DEFAULT_VAR_THRESHOLD, flags));
  g_object_class_install_property (
      gobject_class, PROP_MIN_AREA,
      g_param_spec_double (
          "min-area", "Minimum area (fraction)",
          "Smallest moving region reported, as a fraction of the frame's "
          "area (0 = report every region)",
          0.0, 1.0, DEFAULT_MIN_AREA, flags));
  g_object_class_install_property (
      gobject_class, PROP_LEARNING_RATE,
      g_param_spec_double (
          "learning-rate", "Learning rate",
          "How fast the background adapts, 0 (never) to 1 (each frame "
          "replaces it); negative = chosen from history",
          -1.0, 1.0, DEFAULT_LEARNING_RATE, flags));

  gst_cv_analysis_class_add_pad_templates (element_class);
  gst_element_class_set_static_metadata (
      element_class, "OpenCV motion detection", "Filter/Analyzer/Video",
      "Finds moving regions by background subtraction (MOG2); attaches "
      "region-of-interest metas and posts cvmotion messages",
      "latestframe developers");
  analysis_class->create_analysis = gst_cv_motion_create;
  analysis_class->configure = gst_cv_motion_configure;
}
