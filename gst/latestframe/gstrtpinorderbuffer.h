/* rtpinorderbuffer — rtpbin's jitter buffer for streams that arrive in
 * order (RTSP interleaved over TCP), without a queue or a thread.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_RTP_IN_ORDER_BUFFER (gst_rtp_in_order_buffer_get_type ())
#define GST_RTP_IN_ORDER_BUFFER(obj)                                           \
  (G_TYPE_CHECK_INSTANCE_CAST ((obj), GST_TYPE_RTP_IN_ORDER_BUFFER,            \
                               GstRtpInOrderBuffer))
#define GST_RTP_IN_ORDER_BUFFER_CAST(obj) ((GstRtpInOrderBuffer *)(obj))
#define GST_IS_RTP_IN_ORDER_BUFFER(obj)                                        \
  (G_TYPE_CHECK_INSTANCE_TYPE ((obj), GST_TYPE_RTP_IN_ORDER_BUFFER))

typedef struct _GstRtpInOrderBuffer GstRtpInOrderBuffer;
typedef struct _GstRtpInOrderBufferClass GstRtpInOrderBufferClass;
typedef struct _GstRtpInOrderBufferPrivate GstRtpInOrderBufferPrivate;

struct _GstRtpInOrderBuffer
{
  GstElement parent;

  /*< private >*/
  GstPad *sinkpad;
  GstPad *srcpad;
  GstPad *rtcp_sinkpad; /* the sink_rtcp request pad, or NULL */
  GstRtpInOrderBufferPrivate *priv;
};

struct _GstRtpInOrderBufferClass
{
  GstElementClass parent_class;
};

GType gst_rtp_in_order_buffer_get_type (void);

GST_ELEMENT_REGISTER_DECLARE (rtpinorderbuffer);

G_END_DECLS
