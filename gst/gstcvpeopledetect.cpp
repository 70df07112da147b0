/* cvpeopledetect — people, with HOG and OpenCV's default people detector.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/**
 * SECTION:element-cvpeopledetect
 * @title: cvpeopledetect
 *
 * Finds standing people with a HOG descriptor and OpenCV's default people
 * detector (a 64x128 window): a #GstVideoRegionOfInterestMeta labelled
 * `person` per person and a `cvpeopledetect` element message. HOG is slow
 * on large frames: `analysis-width` trades small people for speed.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 -m filesrc
 * location=/usr/share/doc/opencv-doc/examples/data/vtest.avi ! decodebin !
 * videoconvert ! latestframe ! cvpeopledetect ! fakesink
 * ]| Prints a `cvpeopledetect` message per analysed frame.
 * |[
 * gst-launch-1.0 rtspsrc location=rtsp://127.0.0.1:8554/cam ! decodebin !
 * latestframe ! cvpeopledetect analysis-width=640 ! cvoverlay ! videoconvert !
 * autovideosink
 * ]| People on a live camera, boxes drawn.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstcvanalysis.h"
#include "gstcvelements.h"

namespace lf = latestframe;

#define GST_TYPE_CV_PEOPLE_DETECT (gst_cv_people_detect_get_type ())
G_DECLARE_FINAL_TYPE (GstCvPeopleDetect, gst_cv_people_detect, GST,
                      CV_PEOPLE_DETECT, GstCvAnalysis)

struct _GstCvPeopleDetect
{
  GstCvAnalysis parent;
  /* Settings, under the object lock. */
  gdouble hit_threshold;
  gint win_stride;
  gdouble scale;
};

enum
{
  PROP_0,
  PROP_HIT_THRESHOLD,
  PROP_WIN_STRIDE,
  PROP_SCALE,
};

#define DEFAULT_HIT_THRESHOLD 0.0
#define DEFAULT_WIN_STRIDE 8
#define DEFAULT_SCALE 1.05

G_DEFINE_TYPE (GstCvPeopleDetect, gst_cv_people_detect, GST_TYPE_CV_ANALYSIS);
GST_ELEMENT_REGISTER_DEFINE (cvpeopledetect, "cvpeopledetect", GST_RANK_NONE,
                             GST_TYPE_CV_PEOPLE_DETECT);

static lf::people_detector::settings
people_settings (GstCvPeopleDetect *self)
{
  return { self->hit_threshold, self->win_stride, self->scale };
}

static std::unique_ptr<lf::analysis>
gst_cv_people_detect_create (GstCvAnalysis *analysis, std::string *error)
{
  (void)error;
  return std::make_unique<lf::people_detector> (
      people_settings (GST_CV_PEOPLE_DETECT (analysis)));
}

static void
gst_cv_people_detect_configure (GstCvAnalysis *analysis, lf::analysis &running)
{
  static_cast<lf::people_detector &> (running).configure (
      people_settings (GST_CV_PEOPLE_DETECT (analysis)));
}

static void
gst_cv_people_detect_set_property (GObject *object, guint prop_id,
                                   const GValue *value, GParamSpec *pspec)
{
  GstCvPeopleDetect *self = GST_CV_PEOPLE_DETECT (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id)
    {
    case PROP_HIT_THRESHOLD:
      self->hit_threshold = g_value_get_double (value);
      break;
    case PROP_WIN_STRIDE:
      self->win_stride = g_value_get_int (value);
      break;
    case PROP_SCALE:
      self->scale = g_value_get_double (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_cv_people_detect_get_property (GObject *object, guint prop_id,
                                   GValue *value, GParamSpec *pspec)
{
  GstCvPeopleDetect *self = GST_CV_PEOPLE_DETECT (object);
  GST_OBJECT_LOCK (self);
  switch (prop_id)
    {
    case PROP_HIT_THRESHOLD:
      g_value_set_double (value, self->hit_threshold);
      break;
    case PROP_WIN_STRIDE:
      g_value_set_int (value, self->win_stride);
      break;
    case PROP_SCALE:
      g_value_set_double (value, self->scale);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_cv_people_detect_init (GstCvPeopleDetect *self)
{
  self->hit_threshold = DEFAULT_HIT_THRESHOLD;
  self->win_stride = DEFAULT_WIN_STRIDE;
  self->scale = DEFAULT_SCALE;
}

static void
gst_cv_people_detect_class_init (GstCvPeopleDetectClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstCvAnalysisClass *analysis_class = GST_CV_ANALYSIS_CLASS (klass);
  const GParamFlags flags = static_cast<GParamFlags> (
      G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING | G_PARAM_STATIC_STRINGS);

  gobject_class->set_property = gst_cv_people_detect_set_property;
  gobject_class->get_property = gst_cv_people_detect_get_property;

  g_object_class_install_property (
      gobject_class, PROP_HIT_THRESHOLD,
      g_param_spec_double (
          "hit-threshold", "Hit threshold",
          "Distance from the SVM's separating plane a window needs to count "
          "as a person (higher = fewer, surer people; 0 = the detector's "
          "own)",
          -10.0, 10.0, DEFAULT_HIT_THRESHOLD, flags));
  g_object_class_install_property (
      gobject_class, PROP_WIN_STRIDE,
      g_param_spec_int (
          "win-stride", "Window stride (pixels)",
          "Step of the detection window, in pixels of the analysed image "
          "(larger = faster, may miss people)",
          1, 128, DEFAULT_WIN_STRIDE, flags));
  g_object_class_install_property (
      gobject_class, PROP_SCALE,
      g_param_spec_double (
          "scale", "Scale step",
          "How much the image shrinks between detection scales (smaller = "
          "slower, finds more sizes)",
          1.01, 2.0, DEFAULT_SCALE, flags));

  gst_cv_analysis_class_add_pad_templates (element_class);
  gst_element_class_set_static_metadata (
      element_class, "OpenCV people detection", "Filter/Analyzer/Video",
      "Finds people with HOG and OpenCV's default people detector; attaches "
      "region-of-interest metas and posts cvpeopledetect messages",
      "latestframe developers");
  analysis_class->create_analysis = gst_cv_people_detect_create;
  analysis_class->configure = gst_cv_people_detect_configure;
}
