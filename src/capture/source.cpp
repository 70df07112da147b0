/* latestframe capture — what to build for a source.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "source.h"

#include "gst_ptr.h"

#include "latestframe/uri_credentials.h"

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
             + (gated ? "! parsebin ! latestframe name=gate "
                        "! decodebin name=latestframe-capture-decoder "
                      : "! decodebin ")
             + "! video/x-raw";
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
      {
        /* The credentials go to rtspsrc as user-id / user-pw, decoded, and
         * the location without them: any character works, and rtspsrc's
         * own debug lines, which print the location, never show them. */
        const uri_user_info user_info = read_uri_user_info (text_);
        const std::string location
            = user_info.present ? text_.substr (0, text_.find ("://") + 3)
                                      + text_.substr (text_.rfind ('@') + 1)
                                : text_;
        const std::string &user
            = user_info.present ? user_info.user : options.username;
        const std::string &password
            = user_info.present ? user_info.password : options.password;
        g_object_set (source.get (), "location", location.c_str (), "latency",
                      static_cast<guint> (options.latency.count ()), NULL);
        if (!user.empty () || !password.empty ())
          g_object_set (source.get (), "user-id", user.c_str (), "user-pw",
                        password.c_str (), NULL);
      }
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

std::string
source_spec::credentials_problem (const capture_options &options) const
{
  const bool given = !options.username.empty () || !options.password.empty ();
  if (kind_ != kind::rtsp)
    return given ? "the username and password options are for RTSP "
                   "sources only"
                 : "";
  const uri_user_info user_info = read_uri_user_info (text_);
  if (!user_info.problem.empty ())
    return user_info.problem + " or give the username and password options";
  if (user_info.present && given)
    return "a user part in the URI and the username or password options "
           "too: give one or the other";
  return "";
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
