/* cvfacedetect — faces (or any Haar cascade's objects).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/**
 * SECTION:element-cvfacedetect
 * @title: cvfacedetect
 *
 * Finds faces with a Haar cascade, by default OpenCV's installed frontal
 * face cascade: a #GstVideoRegionOfInterestMeta labelled `face` per face
 * and a `cvfacedetect` element message. The cascade is loaded when the
 * element goes from READY to PAUSED; a missing or invalid file fails that
 * state change with a RESOURCE error naming the path.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 -m filesrc
 * location=/usr/share/doc/opencv-doc/examples/data/messi5.jpg ! jpegdec !
 * videoconvert ! cvfacedetect ! fakesink
 * ]| Prints one `cvfacedetect` message with the face.
 * |[
 * gst-launch-1.0 v4l2src ! latestframe ! videoconvert ! cvfacedetect
 * analysis-width=640 min-size=40 ! cvoverlay ! videoconvert ! autovideosink
 * ]| Faces on a webcam, boxes drawn.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstcvanalysis.h"
#include "gstcvelements.h"

namespace lf = latestframe;

#ifndef LATESTFRAME_DEFAULT_CASCADE
#define LATESTFRAME_DEFAULT_CASCADE                                            \
  "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"
#endif

#define GST_TYPE_CV_FACE_DETECT (gst_cv_face_detect_get_type ())
G_DECLARE_FINAL_TYPE (GstCvFaceDetect, gst_cv_face_detect, GST, CV_FACE_DETECT,
                      GstCvAnalysis)

struct _GstCvFaceDetect
{
  GstCvAnalysis parent;
  /* Settings, under the object lock. */
  gchar *cascade;
  gdouble scale_factor;
  gint min_neighbors;
  gint min_size;
};

enum
{
  PROP_0,
  PROP_CASCADE,
  PROP_FIRST_SETTING,
};

static const GstCvAnalysisSetting face_settings_table[] = {
  { "scale-factor", "Scale factor",
    "How much the search window grows at each scale (smaller = slower, "
    "finds more)",
    G_TYPE_DOUBLE, 1.01, 10, 1.1,
    G_STRUCT_OFFSET (GstCvFaceDetect, scale_factor) },
  { "min-neighbors", "Minimum neighbours",
    "Overlapping hits a face needs to be reported (higher = fewer false "
    "faces; 0 = every raw hit)",
    G_TYPE_INT, 0, 1000, 3, G_STRUCT_OFFSET (GstCvFaceDetect, min_neighbors) },
  { "min-size", "Minimum size (pixels)",
    "Smallest face searched for, in pixels of the analysed image (0 = the "
    "cascade's own window)",
    G_TYPE_INT, 0, 100000, 0, G_STRUCT_OFFSET (GstCvFaceDetect, min_size) },
};

G_DEFINE_TYPE (GstCvFaceDetect, gst_cv_face_detect, GST_TYPE_CV_ANALYSIS);
GST_ELEMENT_REGISTER_DEFINE (cvfacedetect, "cvfacedetect", GST_RANK_NONE,
                             GST_TYPE_CV_FACE_DETECT);

static lf::face_detector::settings
face_settings (GstCvFaceDetect *self)
{
  return { self->scale_factor, self->min_neighbors, self->min_size };
}

static std::unique_ptr<lf::analysis>
gst_cv_face_detect_create (GstCvAnalysis *analysis, std::string *error)
{
  GstCvFaceDetect *self = GST_CV_FACE_DETECT (analysis);
  if (!self->cascade || !*self->cascade)
    {
      *error = "no cascade file set";
      return nullptr;
    }
  /* Throws, naming the path, when the cascade cannot be loaded. */
  return std::make_unique<lf::face_detector> (self->cascade,
                                              face_settings (self));
}

static void
gst_cv_face_detect_configure (GstCvAnalysis *analysis, lf::analysis &running)
{
  static_cast<lf::face_detector &> (running).configure (
      face_settings (GST_CV_FACE_DETECT (analysis)));
}

static void
gst_cv_face_detect_set_property (GObject *object, guint prop_id,
                                 const GValue *value, GParamSpec *pspec)
{
  GstCvFaceDetect *self = GST_CV_FACE_DETECT (object);
  if (prop_id != PROP_CASCADE)
    {
      G_OBJECT_CLASS (gst_cv_face_detect_parent_class)
          ->set_property (object, prop_id, value, pspec);
      return;
    }
  GST_OBJECT_LOCK (self);
  g_free (self->cascade);
  self->cascade = g_value_dup_string (value);
  GST_OBJECT_UNLOCK (self);
}

static void
gst_cv_face_detect_get_property (GObject *object, guint prop_id, GValue *value,
                                 GParamSpec *pspec)
{
  GstCvFaceDetect *self = GST_CV_FACE_DETECT (object);
  if (prop_id != PROP_CASCADE)
    {
      G_OBJECT_CLASS (gst_cv_face_detect_parent_class)
          ->get_property (object, prop_id, value, pspec);
      return;
    }
  GST_OBJECT_LOCK (self);
  g_value_set_string (value, self->cascade);
  GST_OBJECT_UNLOCK (self);
}

static void
gst_cv_face_detect_finalize (GObject *object)
{
  g_free (GST_CV_FACE_DETECT (object)->cascade);
  G_OBJECT_CLASS (gst_cv_face_detect_parent_class)->finalize (object);
}

static void
gst_cv_face_detect_init (GstCvFaceDetect *self)
{
  self->cascade = g_strdup (LATESTFRAME_DEFAULT_CASCADE);
  gst_cv_analysis_init_settings (GST_CV_ANALYSIS (self));
}

static void
gst_cv_face_detect_class_init (GstCvFaceDetectClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstCvAnalysisClass *analysis_class = GST_CV_ANALYSIS_CLASS (klass);
  gobject_class->set_property = gst_cv_face_detect_set_property;
  gobject_class->get_property = gst_cv_face_detect_get_property;
  gobject_class->finalize = gst_cv_face_detect_finalize;

  g_object_class_install_property (
      gobject_class, PROP_CASCADE,
      g_param_spec_string (
          "cascade", "Cascade file",
          "Path of the Haar cascade XML file, loaded at READY->PAUSED "
          "(default: OpenCV's installed frontal face cascade)",
          LATESTFRAME_DEFAULT_CASCADE,
          static_cast<GParamFlags> (G_PARAM_READWRITE | GST_PARAM_MUTABLE_READY
                                    | G_PARAM_STATIC_STRINGS)));
  gst_cv_analysis_class_install_settings (analysis_class, face_settings_table,
                                          G_N_ELEMENTS (face_settings_table),
                                          PROP_FIRST_SETTING);

  gst_cv_analysis_class_add_pad_templates (element_class);
  gst_element_class_set_static_metadata (
      element_class, "OpenCV face detection", "Filter/Analyzer/Video",
      "Finds faces with a Haar cascade; attaches region-of-interest metas "
      "and posts cvfacedetect messages",
      "latestframe developers");
  analysis_class->create_analysis = gst_cv_face_detect_create;
  analysis_class->configure = gst_cv_face_detect_configure;
}
