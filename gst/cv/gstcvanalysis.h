/* GstCvAnalysis — base of the elements that run an OpenCV analysis on
 * each frame, on the streaming thread that brings it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/analysis.h"

#include <gst/base/gstbasetransform.h>
#include <gst/video/video.h>

#include <memory>
#include <string>

G_BEGIN_DECLS

#define GST_TYPE_CV_ANALYSIS (gst_cv_analysis_get_type ())
#define GST_CV_ANALYSIS(obj)                                                   \
  (G_TYPE_CHECK_INSTANCE_CAST ((obj), GST_TYPE_CV_ANALYSIS, GstCvAnalysis))
#define GST_CV_ANALYSIS_CLASS(klass)                                           \
  (G_TYPE_CHECK_CLASS_CAST ((klass), GST_TYPE_CV_ANALYSIS, GstCvAnalysisClass))
#define GST_CV_ANALYSIS_GET_CLASS(obj)                                         \
  (G_TYPE_INSTANCE_GET_CLASS ((obj), GST_TYPE_CV_ANALYSIS, GstCvAnalysisClass))

typedef struct _GstCvAnalysisSetting GstCvAnalysisSetting;
typedef struct _GstCvAnalysis GstCvAnalysis;
typedef struct _GstCvAnalysisClass GstCvAnalysisClass;
typedef struct _GstCvAnalysisState GstCvAnalysisState;

struct _GstCvAnalysis
{
  GstBaseTransform parent;

  /*< private >*/
  /* C++ state: constructed in instance_init, destroyed in finalize. */
  GstCvAnalysisState *state;
};

/* A numeric setting of an analysis element, installed as a property
 * (changeable while PLAYING) by gst_cv_analysis_class_install_settings().
 * Its value lives in the instance struct at `offset` (a gint for
 * G_TYPE_INT, a gdouble for G_TYPE_DOUBLE), read and written under the
 * object lock: configure() sees it between frames, never during one. */
struct _GstCvAnalysisSetting
{
  const gchar *name;
  const gchar *nick;
  const gchar *blurb; /* with units, and what 0 or a negative value means */
  GType type;
  gdouble minimum;
  gdouble maximum;
  gdouble default_value;
  gsize offset;
};

struct _GstCvAnalysisClass
{
  GstBaseTransformClass parent_class;

  /*< private >*/
  const GstCvAnalysisSetting *settings;
  guint n_settings;
  guint first_setting_id;

  /* Builds the analysis from the element's settings, at READY->PAUSED,
   * with the object lock held. Returns nothing and says why in `error`
   * when it cannot (the element then fails with a RESOURCE error). */
  std::unique_ptr<latestframe::analysis> (*create_analysis) (
      GstCvAnalysis *self, std::string *error);

  /* Applies the element's current settings to its analysis, before each
   * frame, with the object lock held. Optional. */
  void (*configure) (GstCvAnalysis *self, latestframe::analysis &analysis);
};

GType gst_cv_analysis_get_type (void);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GstCvAnalysis, gst_object_unref)

/* Installs the caps templates every analysis accepts, on a subclass. */
void gst_cv_analysis_class_add_pad_templates (GstElementClass *klass);

/* Installs `settings` (static, `n` of them) as properties of a subclass,
 * with ids from `first_id` on; the base class reads and writes them. A
 * subclass with properties of its own handles those ids below `first_id`
 * and chains up for the others. Call from class_init. */
void
gst_cv_analysis_class_install_settings (GstCvAnalysisClass *klass,
                                        const GstCvAnalysisSetting *settings,
                                        guint n, guint first_id);

/* Sets each setting of `self` to its default; call from instance_init. */
void gst_cv_analysis_init_settings (GstCvAnalysis *self);

G_END_DECLS
