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
 * latestframe ! videoconvert ! cvmotion ! fakesink
 * ]| Prints a `cvmotion` message per analysed frame.
 * |[
 * gst-launch-1.0 rtspsrc location=rtsp://127.0.0.1:8554/cam
 * add-reference-timestamp-meta=true ! decodebin !
 * latestframe ! videoconvert ! cvmotion analysis-width=320 min-area=0.005 !
 * fakesink
 * ]| Motion on a live camera, analysed at 320 pixels wide.
 * |[
 * gst-launch-1.0 -m filesrc
 * location=/usr/share/doc/opencv-doc/examples/data/vtest.avi ! decodebin !
 * latestframe ! videoconvert ! cvmotion analysis-width=320 mixtures=1 !
 * fakesink
 * ]| A background of one Gaussian a pixel, a fifth of the default's memory:
 * for many cameras whose scenes are still between the things that move.
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
  gint mixtures;
};

/* The core's defaults are the properties' defaults. */
static constexpr lf::motion_detector::settings motion_defaults{};

static const GstCvAnalysisSetting motion_settings_table[] = {
  { "history", "History (frames)", "Frames the background model remembers",
    G_TYPE_INT, 1, 100000, motion_defaults.history,
    G_STRUCT_OFFSET (GstCvMotion, history) },
  { "var-threshold", "Variance threshold",
    "Squared Mahalanobis distance above which a pixel is foreground (higher "
    "= less sensitive)",
    G_TYPE_DOUBLE, 0, 10000, motion_defaults.var_threshold,
    G_STRUCT_OFFSET (GstCvMotion, var_threshold) },
  { "min-area", "Minimum area (fraction)",
    "Smallest moving region reported, as a fraction of the frame's area "
    "(0 = report every region)",
    G_TYPE_DOUBLE, 0, 1, motion_defaults.min_area,
    G_STRUCT_OFFSET (GstCvMotion, min_area) },
  { "learning-rate", "Learning rate",
    "How fast the background adapts, 0 (never) to 1 (each frame replaces "
    "it); negative = chosen from history",
    G_TYPE_DOUBLE, -1, 1, motion_defaults.learning_rate,
    G_STRUCT_OFFSET (GstCvMotion, learning_rate) },
  { "mixtures", "Gaussians per pixel",
    "Gaussians a pixel's background may be made of; each costs 12 bytes a "
    "pixel at the analysis size (5: 3.3 MiB at 320x180; 1: 0.66 MiB, for "
    "many cameras of still scenes, not for leaves against sky); a change "
    "restarts the learning",
    G_TYPE_INT, 1, lf::motion_detector::max_mixtures, motion_defaults.mixtures,
    G_STRUCT_OFFSET (GstCvMotion, mixtures) },
};

G_DEFINE_TYPE (GstCvMotion, gst_cv_motion, GST_TYPE_CV_ANALYSIS);
GST_ELEMENT_REGISTER_DEFINE (cvmotion, "cvmotion", GST_RANK_NONE,
                             GST_TYPE_CV_MOTION);

static lf::motion_detector::settings
motion_settings (GstCvMotion *self)
{
  return { self->history, self->var_threshold, self->min_area,
           self->learning_rate, self->mixtures };
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
gst_cv_motion_init (GstCvMotion *self)
{
  gst_cv_analysis_init_settings (GST_CV_ANALYSIS (self));
}

static void
gst_cv_motion_class_init (GstCvMotionClass *klass)
{
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstCvAnalysisClass *analysis_class = GST_CV_ANALYSIS_CLASS (klass);

  gst_cv_analysis_class_install_settings (analysis_class, motion_settings_table,
                                          G_N_ELEMENTS (motion_settings_table),
                                          1);
  gst_cv_analysis_class_add_pad_templates (element_class);
  gst_element_class_set_static_metadata (
      element_class, "OpenCV motion detection", "Filter/Analyzer/Video",
      "Finds moving regions by background subtraction (MOG2); attaches "
      "region-of-interest metas and posts cvmotion messages",
      "latestframe developers");
  analysis_class->create_analysis = gst_cv_motion_create;
  analysis_class->configure = gst_cv_motion_configure;
}
