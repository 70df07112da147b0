/* rtph264audepay — rtph264depay handing over whole access units, whoever
 * links it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_RTP_H264_AU_DEPAY (gst_rtp_h264_au_depay_get_type ())
G_DECLARE_FINAL_TYPE (GstRtpH264AuDepay, gst_rtp_h264_au_depay, GST,
                      RTP_H264_AU_DEPAY, GstBin)

GST_ELEMENT_REGISTER_DECLARE (rtph264audepay);

G_END_DECLS
