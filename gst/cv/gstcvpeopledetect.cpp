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
 * latestframe ! videoconvert ! cvpeopledetect ! fakesink
 * ]| Prints a `cvpeopledetect` message per analysed frame.
 * |[
 * gst-launch-1.0 rtspsrc location=rtsp://127.0.0.1:8554/cam
 * add-reference-timestamp-meta=true ! decodebin !
 * latestframe ! videoconvert ! cvpeopledetect analysis-width=640 ! cvoverlay !
 * videoconvert ! autovideosink
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

static const GstCvAnalysisSetting people_settings_table[] = {
  { "hit-threshold", "Hit threshold",
    "Distance from the SVM's separating plane a window needs to count as a "
    "person (higher = fewer, surer people; 0 = the detector's own). Not "
    "below 0: every window would count, and grouping them takes minutes a "
    "frame",
    G_TYPE_DOUBLE, 0, 10, 0,
    G_STRUCT_OFFSET (GstCvPeopleDetect, hit_threshold) },
  { "win-stride", "Window stride (pixels)",
    "Step of the detection window, in pixels of the analysed image (larger "
    "= faster, may miss people; 1 costs about 30 times 8)",
    G_TYPE_INT, 1, 128, 8, G_STRUCT_OFFSET (GstCvPeopleDetect, win_stride) },
  { "scale", "Scale step",
    "How much the image shrinks between detection scales (smaller = slower, "
    "finds more sizes)",
    G_TYPE_DOUBLE, 1.01, 2, 1.05, G_STRUCT_OFFSET (GstCvPeopleDetect, scale) },
};

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
gst_cv_people_detect_init (GstCvPeopleDetect *self)
{
  gst_cv_analysis_init_settings (GST_CV_ANALYSIS (self));
}

static void
gst_cv_people_detect_class_init (GstCvPeopleDetectClass *klass)
{
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstCvAnalysisClass *analysis_class = GST_CV_ANALYSIS_CLASS (klass);

  gst_cv_analysis_class_install_settings (analysis_class, people_settings_table,
                                          G_N_ELEMENTS (people_settings_table),
                                          1);
  gst_cv_analysis_class_add_pad_templates (element_class);
  gst_element_class_set_static_metadata (
      element_class, "OpenCV people detection", "Filter/Analyzer/Video",
      "Finds people with HOG and OpenCV's default people detector; attaches "
      "region-of-interest metas and posts cvpeopledetect messages",
      "latestframe developers");
  analysis_class->create_analysis = gst_cv_people_detect_create;
  analysis_class->configure = gst_cv_people_detect_configure;
}
