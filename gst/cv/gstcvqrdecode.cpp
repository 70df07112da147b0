/* cvqrdecode — QR codes found and decoded.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/**
 * SECTION:element-cvqrdecode
 * @title: cvqrdecode
 *
 * Finds QR codes and decodes them: a #GstVideoRegionOfInterestMeta
 * labelled `qrcode` per code, whose `detection` param carries the decoded
 * `text`, and a `cvqrdecode` element message with the same. (Debian's
 * OpenCV is built without a QR decoder; the codes are decoded with zbar.)
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 -m v4l2src ! latestframe ! videoconvert ! cvqrdecode !
 * fakesink
 * ]| Prints the text of each QR code shown to the camera.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstcvanalysis.h"
#include "gstcvelements.h"

namespace lf = latestframe;

#define GST_TYPE_CV_QR_DECODE (gst_cv_qr_decode_get_type ())
G_DECLARE_FINAL_TYPE (GstCvQrDecode, gst_cv_qr_decode, GST, CV_QR_DECODE,
                      GstCvAnalysis)

struct _GstCvQrDecode
{
  GstCvAnalysis parent;
};

G_DEFINE_TYPE (GstCvQrDecode, gst_cv_qr_decode, GST_TYPE_CV_ANALYSIS);
GST_ELEMENT_REGISTER_DEFINE (cvqrdecode, "cvqrdecode", GST_RANK_NONE,
                             GST_TYPE_CV_QR_DECODE);

static std::unique_ptr<lf::analysis>
gst_cv_qr_decode_create (GstCvAnalysis *analysis, std::string *error)
{
  (void)analysis;
  (void)error;
  return std::make_unique<lf::qr_decoder> ();
}

static void
gst_cv_qr_decode_init (GstCvQrDecode *self)
{
  (void)self;
}

static void
gst_cv_qr_decode_class_init (GstCvQrDecodeClass *klass)
{
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  gst_cv_analysis_class_add_pad_templates (element_class);
  gst_element_class_set_static_metadata (
      element_class, "QR code decoder", "Filter/Analyzer/Video",
      "Finds and decodes QR codes; attaches region-of-interest metas with "
      "the text and posts cvqrdecode messages",
      "latestframe developers");
  GST_CV_ANALYSIS_CLASS (klass)->create_analysis = gst_cv_qr_decode_create;
}
