/* cvoverlay — draws every region-of-interest meta on its frame.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/**
 * SECTION:element-cvoverlay
 * @title: cvoverlay
 *
 * Draws a box and a caption (label, and confidence when the meta has a
 * `detection` param) for every #GstVideoRegionOfInterestMeta on a frame,
 * whoever attached it. A frame without such metas passes untouched; a
 * frame with some is made writable, its memory copied only when someone
 * else shares it.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 filesrc
 * location=/usr/share/doc/opencv-doc/examples/data/vtest.avi ! decodebin !
 * latestframe ! videoconvert ! cvpeopledetect ! cvoverlay ! videoconvert !
 * autovideosink
 * ]| People found in vtest.avi, boxed.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "cvframe.h"
#include "gstcvelements.h"
#include "region_boxes.h"

#include <gst/base/gstbasetransform.h>
#include <gst/video/video.h>

#include <exception>

GST_DEBUG_CATEGORY_STATIC (cv_overlay_debug);
#define GST_CAT_DEFAULT cv_overlay_debug

namespace lf = latestframe;

#define CV_OVERLAY_CAPS                                                        \
  GST_VIDEO_CAPS_MAKE ("{ BGR, BGRx, BGRA, RGB, RGBx, RGBA, GRAY8 }")

#define GST_TYPE_CV_OVERLAY (gst_cv_overlay_get_type ())
G_DECLARE_FINAL_TYPE (GstCvOverlay, gst_cv_overlay, GST, CV_OVERLAY,
                      GstBaseTransform)

struct _GstCvOverlay
{
  GstBaseTransform parent;
  /* Streaming thread only. */
  GstVideoInfo info;
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (CV_OVERLAY_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (CV_OVERLAY_CAPS));

G_DEFINE_TYPE (GstCvOverlay, gst_cv_overlay, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (cvoverlay, "cvoverlay", GST_RANK_NONE,
                             GST_TYPE_CV_OVERLAY);

static bool
has_regions (GstBuffer *buffer)
{
  return gst_buffer_get_meta (buffer,
                              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE)
         != NULL;
}

/* A frame with nothing to draw passes as it is, writable or not. */
static GstFlowReturn
gst_cv_overlay_prepare_output_buffer (GstBaseTransform *trans, GstBuffer *input,
                                      GstBuffer **output)
{
  if (!has_regions (input))
    {
      *output = input;
      return GST_FLOW_OK;
    }
  return GST_BASE_TRANSFORM_CLASS (gst_cv_overlay_parent_class)
      ->prepare_output_buffer (trans, input, output);
}

static gboolean
gst_cv_overlay_set_caps (GstBaseTransform *trans, GstCaps *incaps,
                         GstCaps *outcaps)
{
  GstCvOverlay *self = GST_CV_OVERLAY (trans);
  (void)outcaps;
  if (!gst_video_info_from_caps (&self->info, incaps))
    {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
                         ("invalid caps %" GST_PTR_FORMAT, incaps));
      return FALSE;
    }
  return TRUE;
}

static GstFlowReturn
gst_cv_overlay_transform_ip (GstBaseTransform *trans, GstBuffer *buffer)
{
  GstCvOverlay *self = GST_CV_OVERLAY (trans);
  if (!has_regions (buffer))
    return GST_FLOW_OK;
  std::vector<lf::drawn_box> boxes = lf::boxes_of (buffer);
  lf::mapped_frame frame (&self->info, buffer, GST_MAP_READWRITE);
  if (!frame.ok ())
    {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not map the frame"),
                         ("%" GST_PTR_FORMAT, buffer));
      return GST_FLOW_ERROR;
    }
  try
    {
      cv::Mat view = frame.plane0 ();
      lf::draw_boxes (
          view, lf::channel_order_of (GST_VIDEO_INFO_FORMAT (&self->info)),
          boxes);
    }
  catch (const std::exception &error)
    {
      GST_ELEMENT_ERROR (self, LIBRARY, FAILED, ("Drawing failed"),
                         ("%s", error.what ()));
      return GST_FLOW_ERROR;
    }
  GST_LOG_OBJECT (self, "drew %zu boxes", boxes.size ());
  return GST_FLOW_OK;
}

static void
gst_cv_overlay_init (GstCvOverlay *self)
{
  gst_video_info_init (&self->info);
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}

static void
gst_cv_overlay_class_init (GstCvOverlayClass *klass)
{
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (cv_overlay_debug, "cvoverlay", 0,
                           "region-of-interest overlay");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (
      element_class, "Region-of-interest overlay", "Filter/Effect/Video",
      "Draws every region-of-interest meta (any producer's) with its label "
      "and confidence on the frame",
      "latestframe developers");
  trans_class->prepare_output_buffer
      = GST_DEBUG_FUNCPTR (gst_cv_overlay_prepare_output_buffer);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_cv_overlay_set_caps);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_cv_overlay_transform_ip);
  trans_class->passthrough_on_same_caps = FALSE;
}
