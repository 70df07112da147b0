/* rtph264audepay — rtph264depay handing over whole access units, whoever
 * links it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-rtph264audepay
 *
 * rtph264depay followed by a capsfilter that asks for
 * `alignment=au`: one buffer per access unit, pushed at its last packet
 * (the RTP marker bit).
 *
 * rtph264depay chooses its output when its caps arrive, from what its
 * source pad's peer accepts. An autoplugger (parsebin, decodebin) links
 * that pad only once those caps are known, so the depayloader, asking an
 * unlinked pad, takes its default: one NAL unit per buffer. h264parse
 * (GStreamer 1.22) then only knows an access unit is whole when the next
 * one starts: every frame leaves the parser a frame interval late, and a
 * key unit a whole key interval late when the delta units between key
 * units were dropped before the depayloader
 * (rtpinorderbuffer skip-delta-units=true). Here the capsfilter is linked
 * from the start, so the depayloader negotiates whole access units, which
 * h264parse passes on as they come.
 *
 * Rank none: the latestframe capture offers it to its parsebin for H.264
 * over RTP (autoplug-factories); nothing picks it by itself.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=60 ! x264enc key-int-max=30 !
 *     rtph264pay ! rtph264audepay ! h264parse ! avdec_h264 ! fakesink
 * ]|
 */
#include "gstrtph264audepay.h"

GST_DEBUG_CATEGORY_STATIC (rtp_h264_au_depay_debug);
#define GST_CAT_DEFAULT rtp_h264_au_depay_debug

struct _GstRtpH264AuDepay
{
  GstBin parent;
};

G_DEFINE_TYPE (GstRtpH264AuDepay, gst_rtp_h264_au_depay, GST_TYPE_BIN)
GST_ELEMENT_REGISTER_DEFINE (rtph264audepay, "rtph264audepay", GST_RANK_NONE,
                             GST_TYPE_RTP_H264_AU_DEPAY);

namespace
{

GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("application/x-rtp, media=(string)video, "
                     "clock-rate=(int)90000, encoding-name=(string)H264"));
GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-h264, alignment=(string)au"));

/* A ghost pad of `element`'s pad `name`, from this class's template. */
void
add_ghost_pad (GstElement *bin, GstElement *element, const gchar *name)
{
  GstPad *target = gst_element_get_static_pad (element, name);
  GstPad *ghost = gst_ghost_pad_new_from_template (
      name, target,
      gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (bin), name));
  gst_object_unref (target);
  gst_element_add_pad (bin, ghost);
}

} // namespace

static void
gst_rtp_h264_au_depay_init (GstRtpH264AuDepay *self)
{
  GstElement *bin = GST_ELEMENT (self);
  GstElement *depay = gst_element_factory_make ("rtph264depay", NULL);
  GstElement *filter = gst_element_factory_make ("capsfilter", NULL);
  if (!depay || !filter)
    {
      /* No pads: linking fails, and the autoplugger tries the next
       * factory. */
      GST_WARNING_OBJECT (self, "rtph264depay or capsfilter is missing");
      if (depay)
        gst_object_unref (gst_object_ref_sink (depay));
      if (filter)
        gst_object_unref (gst_object_ref_sink (filter));
      return;
    }
  GstCaps *whole_units = gst_static_pad_template_get_caps (&src_template);
  g_object_set (filter, "caps", whole_units, NULL);
  gst_caps_unref (whole_units);
  gst_bin_add_many (GST_BIN (self), depay, filter, NULL);
  gst_element_link (depay, filter);
  add_ghost_pad (bin, depay, "sink");
  add_ghost_pad (bin, filter, "src");
}

static void
gst_rtp_h264_au_depay_class_init (GstRtpH264AuDepayClass *klass)
{
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GST_DEBUG_CATEGORY_INIT (rtp_h264_au_depay_debug, "rtph264audepay", 0,
                           "rtph264depay with whole access units");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (
      element_class, "RTP H.264 depayloader, whole access units",
      "Codec/Depayloader/Network/RTP",
      "rtph264depay that outputs one buffer per access unit at its last "
      "packet, even when an autoplugger links it after its caps are known",
      "latestframe");
}
