/* latestframe capture — what to build for a source.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "source.h"

#include "gst_ptr.h"

namespace latestframe::detail
{

namespace
{

bool
starts_with (const std::string &text, const char *prefix)
{
  return text.rfind (prefix, 0) == 0;
}

} // namespace

source_spec::source_spec (std::string text) : text_ (std::move (text))
{
  for (const char *scheme : { "rtsp://", "rtsps://", "rtspt://", "rtspu://" })
    if (starts_with (text_, scheme))
      kind_ = kind::rtsp;
  if (kind_ == kind::description && starts_with (text_, "/dev/video"))
    kind_ = kind::v4l2;
  else if (kind_ == kind::description
           && text_.find ("://") != std::string::npos
           && gst_uri_is_valid (text_.c_str ()))
    kind_ = kind::uri;
  file_ = kind_ == kind::uri && starts_with (text_, "file://");
}

std::string
source_spec::description (bool gated) const
{
  switch (kind_)
    {
    case kind::rtsp:
      /* Video only: a camera's audio stream may come first. */
      return std::string ("rtspsrc name=source "
                          "add-reference-timestamp-meta=true "
                          "! application/x-rtp,media=video ")
             + (gated ? "! parsebin ! latestframe name=gate " : "")
             + "! decodebin ! video/x-raw";
    case kind::v4l2:
      return "v4l2src name=source ! decodebin ! video/x-raw";
    case kind::uri:
      /* A file decodes as fast as it can; clocksync paces it as a camera
       * would deliver it. */
      return "uridecodebin name=source ! video/x-raw ! clocksync";
    case kind::description:
      break;
    }
  return text_;
}

void
source_spec::configure (GstBin *pipeline, const capture_options &options) const
{
  object_ptr<GstElement> source (gst_bin_get_by_name (pipeline, "source"));
  switch (kind_)
    {
    case kind::rtsp:
      g_object_set (source.get (), "location", text_.c_str (), "latency",
                    static_cast<guint> (options.latency.count ()), NULL);
      if (!options.protocols.empty ())
        gst_util_set_object_arg (G_OBJECT (source.get ()), "protocols",
                                 options.protocols.c_str ());
      break;
    case kind::v4l2:
      g_object_set (source.get (), "device", text_.c_str (), NULL);
      break;
    case kind::uri:
      g_object_set (source.get (), "uri", text_.c_str (), NULL);
      break;
    case kind::description:
      break;
    }
}

bool
are_rtsp_protocols (const std::string &protocols)
{
  if (protocols.empty ())
    return true;
  size_t start = 0;
  for (;;)
    {
      const size_t plus = protocols.find ('+', start);
      const std::string nick = protocols.substr (start, plus - start);
      if (nick != "tcp" && nick != "udp" && nick != "udp-mcast"
          && nick != "http" && nick != "tls")
        return false;
      if (plus == std::string::npos)
        return true;
      start = plus + 1;
    }
}

} // namespace latestframe::detail
