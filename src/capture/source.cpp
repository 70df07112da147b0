/* latestframe capture — what to build for a source.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "source.h"

#include "element_helpers.h"
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

/* Whether rtpbin's session `session` is fed by rtspsrc's TCP connection
 * (RTSP interleaved, or tunnelled over HTTP): its recv_rtp_sink pad is then
 * linked to a pad of rtspsrc's own that belongs to no element, where over
 * UDP it is a udpsrc's. Asked when rtpbin makes the session's jitter
 * buffer, at the first packet: the transport was chosen at SETUP, before. */
bool
is_interleaved_session (GstElement *rtpbin, guint session)
{
  gchar *name = g_strdup_printf ("recv_rtp_sink_%u", session);
  object_ptr<GstPad> sink (gst_element_get_static_pad (rtpbin, name));
  g_free (name);
  if (!sink)
    return false;
  object_ptr<GstPad> peer (gst_pad_get_peer (sink.get ()));
  if (!peer)
    return false;
  object_ptr<GstObject> owner (
      gst_object_get_parent (GST_OBJECT (peer.get ())));
  return !owner;
}

/* Packets over TCP cannot be reordered: no jitter buffer (its queue, push
 * thread and timer cost ~0.3 % of a core per camera, issue 27), but
 * rtpinorderbuffer, which checks sequence numbers, times the packets and
 * adds their capture times in rtspsrc's receiving thread. Over UDP, NULL:
 * rtpbin makes its rtpjitterbuffer, which reorders. `skip_delta_units`
 * (a gboolean in a pointer): the gate decodes key units alone, so H.264's
 * other access units are dropped as packets, before the depayloader and
 * the parser work on them (counted: session::counts). */
GstElement *
on_request_jitterbuffer (GstElement *rtpbin, guint session,
                         gpointer skip_delta_units)
{
  if (!is_interleaved_session (rtpbin, session))
    return NULL;
  /* By its factory, registered with latestframe before any pipeline
   * (session.cpp: ensure_latestframe). An element that cannot be made
   * leaves rtpbin its jitter buffer. */
  GstElement *buffer = gst_element_factory_make ("rtpinorderbuffer", NULL);
  /* An installed plugin older than this library has no skip-delta-units:
   * its element then passes every packet, as before. */
  if (buffer
      && g_object_class_find_property (G_OBJECT_GET_CLASS (buffer),
                                       "skip-delta-units"))
    g_object_set (buffer, "skip-delta-units",
                  GPOINTER_TO_INT (skip_delta_units), NULL);
  return buffer;
}

/* parsebin's factories for `caps`. For H.264 over RTP, rtph264audepay
 * (gst/latestframe): rtph264depay as parsebin would plug it negotiates one
 * NAL unit per buffer, and h264parse 1.22 then holds each access unit
 * until the next one starts: a frame interval late, and a key interval
 * late behind skip-delta-units. Else NULL: parsebin's own choice. */
GValueArray *
on_autoplug_factories (GstElement *, GstPad *, GstCaps *caps, gpointer)
{
  if (gst_caps_get_size (caps) == 0
      || !latestframe::glue::is_h264_rtp (gst_caps_get_structure (caps, 0)))
    return NULL;
  /* Registered with latestframe before any pipeline (ensure_latestframe). */
  GstElementFactory *factory = gst_element_factory_find ("rtph264audepay");
  if (!factory)
    return NULL;
  /* The signal's type, deprecated since GLib 2.32. */
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  GValueArray *factories = g_value_array_new (1);
  GValue value = G_VALUE_INIT;
  g_value_init (&value, GST_TYPE_ELEMENT_FACTORY);
  g_value_take_object (&value, factory);
  g_value_array_append (factories, &value);
  g_value_unset (&value);
  G_GNUC_END_IGNORE_DEPRECATIONS
  return factories;
}

void
on_new_manager (GstElement *, GstElement *manager, gpointer skip_delta_units)
{
  if (g_signal_lookup ("request-jitterbuffer", G_OBJECT_TYPE (manager)))
    g_signal_connect (manager, "request-jitterbuffer",
                      G_CALLBACK (on_request_jitterbuffer), skip_delta_units);
}

} // namespace

source_spec::source_spec (std::string text) : text_ (std::move (text))
{
  for (const char *scheme : { "rtsp://", "rtsps://", "rtspt://", "rtspu://" })
    if (starts_with (text_, scheme))
      kind_ = kind::rtsp;
  if (kind_ == kind::description && starts_with (text_, "/dev/video"))
    kind_ = kind::v4l2;
  else if (kind_ == kind::description && text_.find ("://") != std::string::npos
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
             + (gated ? "! parsebin name=latestframe-capture-parser "
                        "! latestframe name=gate "
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
      g_signal_connect (
          source.get (), "new-manager", G_CALLBACK (on_new_manager),
          GINT_TO_POINTER (options.decode == decoding::key_units));
      if (object_ptr<GstElement> parser (
              gst_bin_get_by_name (pipeline, "latestframe-capture-parser"));
          parser)
        g_signal_connect (parser.get (), "autoplug-factories",
                          G_CALLBACK (on_autoplug_factories), NULL);
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
