/* What the elements of our plugins share: small, header-only, GStreamer
 * glue (no policy: that is in src/).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

#include <optional>

namespace latestframe::glue
{

/* Holds a GstObject's lock for as long as it lives, even through an
 * exception. */
class object_lock
{
public:
  explicit object_lock (gpointer object) : object_ (GST_OBJECT (object))
  {
    GST_OBJECT_LOCK (object_);
  }
  object_lock (const object_lock &) = delete;
  object_lock &operator= (const object_lock &) = delete;
  ~object_lock () { GST_OBJECT_UNLOCK (object_); }

private:
  GstObject *object_;
};

/* NTP counts from 1900, Unix time from 1970. */
constexpr guint64 ntp_to_unix_ns = G_GUINT64_CONSTANT (2208988800) * GST_SECOND;

/* The frame's capture time (Unix time, ns), when the stream tells it: a
 * reference timestamp meta, `timestamp/x-ntp` (RTCP sender reports, RFC
 * 7273, RFC 6051: rtspsrc add-reference-timestamp-meta=true) or
 * `timestamp/x-unix`. A meta with GST_CLOCK_TIME_NONE tells no time. */
inline std::optional<guint64>
reference_capture_time (GstBuffer *buffer)
{
  gpointer iterator = NULL;
  while (GstMeta *meta = gst_buffer_iterate_meta_filtered (
             buffer, &iterator, GST_REFERENCE_TIMESTAMP_META_API_TYPE))
    {
      auto *reference = reinterpret_cast<GstReferenceTimestampMeta *> (meta);
      if (!GST_CLOCK_TIME_IS_VALID (reference->timestamp)
          || !reference->reference)
        continue;
      const GstStructure *kind
          = gst_caps_get_structure (reference->reference, 0);
      if (gst_structure_has_name (kind, "timestamp/x-unix"))
        return reference->timestamp;
      if (gst_structure_has_name (kind, "timestamp/x-ntp")
          && reference->timestamp >= ntp_to_unix_ns)
        return reference->timestamp - ntp_to_unix_ns;
    }
  return std::nullopt;
}

/* Whether caps `structure` are RTP carrying H.264 (RFC 6184): the one
 * encoding whose access units rtpinorderbuffer can skip and whose
 * depayloader the capture replaces (rtph264audepay). encoding-name is
 * matched in any case, as rtpbin and rtspsrc do. */
inline bool
is_h264_rtp (const GstStructure *structure)
{
  const gchar *encoding = gst_structure_get_string (structure, "encoding-name");
  return gst_structure_has_name (structure, "application/x-rtp") && encoding
         && g_ascii_strcasecmp (encoding, "H264") == 0;
}

} // namespace latestframe::glue
