/* rtpinorderbuffer — rtpbin's jitter buffer for streams that arrive in
 * order (RTSP interleaved over TCP), without a queue or a thread.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-rtpinorderbuffer
 *
 * Stands in for rtpjitterbuffer where packets cannot be reordered: RTSP
 * interleaved over TCP. Every packet is judged and pushed in the thread
 * that brought it (rtspsrc's receive task), with no queue, no push thread
 * and no timer; the policy is latestframe's core `rtp_timeline`:
 * - a gap in the sequence numbers marks the next buffer DISCONT (the
 *   depayloader then drops the broken access unit); duplicates and old
 *   packets are dropped; a restarted sender starts the timeline over;
 * - PTS: the first packet's arrival (running time) plus the RTP time since,
 *   never later than the arrival and never more than a second behind it;
 * - with add-reference-timestamp-meta, a `timestamp/x-ntp` reference
 *   timestamp meta per buffer: the packet's own NTP-64 header extension
 *   (RFC 6051, the value the depayloader reads too) when it has one, else
 *   the last plausible RTCP sender report (on the `sink_rtcp` pad) plus the
 *   RTP time since;
 * - with skip-delta-units, on H.264: access units made only of P and B
 *   slices are dropped whole, as packets, before the depayloader and the
 *   parser spend any work on them (latestframe's core
 *   `delta_unit_skipper`). For a consumer of key units alone, such as
 *   latestframe with decode=key-units: a unit h264parse would call a key
 *   unit (IDR, I or SI slice, recovery-point SEI) always passes, and so
 *   does anything the element cannot read. The packets of a unit are held
 *   until its first key slice or its end (a frame's packets, at most).
 *   Counted in #GstRtpInOrderBuffer:stats.
 *
 * rtpbin creates it from its #GstRtpBin::request-jitterbuffer signal; the
 * latestframe capture returns it for RTSP over TCP only (UDP keeps
 * rtpjitterbuffer, which reorders). It adds no latency.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=60 ! x264enc tune=zerolatency !
 *     rtph264pay ! rtpinorderbuffer ! rtph264depay ! avdec_h264 ! fakesink
 * ]| (packets in order, as a TCP connection delivers them; in the capture,
 * rtpbin creates it and links it between its session and its payload
 * demuxer)
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=60 ! x264enc key-int-max=30 !
 *     rtph264pay ! rtpinorderbuffer skip-delta-units=true ! rtph264depay !
 *     h264parse ! avdec_h264 ! fakesink
 * ]| (two frames reach the decoder: the key units)
 */
#include "gstrtpinorderbuffer.h"

#include "element_helpers.h"
#include "latestframe/delta_unit_skipper.h"
#include "latestframe/rtp_timeline.h"
#include "latestframe/thread_annotations.h"

#include <gst/rtp/rtp.h>

#include <new>
#include <optional>
#include <vector>

GST_DEBUG_CATEGORY_STATIC (rtp_in_order_buffer_debug);
GST_DEBUG_CATEGORY_STATIC (rtp_in_order_buffer_dataflow);
#define GST_CAT_DEFAULT rtp_in_order_buffer_debug

namespace
{

constexpr guint DEFAULT_LATENCY = 200;
constexpr gboolean DEFAULT_ADD_REFERENCE_TIMESTAMP_META = FALSE;
constexpr gboolean DEFAULT_SKIP_DELTA_UNITS = FALSE;
constexpr const char *ntp64_extension_uri = "urn:ietf:params:rtp-hdrext:ntp-64";

enum
{
  PROP_0,
  PROP_LATENCY,
  PROP_ADD_REFERENCE_TIMESTAMP_META,
  PROP_SKIP_DELTA_UNITS,
  PROP_STATS,
};

enum
{
  SIGNAL_REQUEST_PT_MAP,
  LAST_SIGNAL
};

guint signals[LAST_SIGNAL];

GstStaticPadTemplate sink_template
    = GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
                               GST_STATIC_CAPS ("application/x-rtp"));
GstStaticPadTemplate rtcp_sink_template
    = GST_STATIC_PAD_TEMPLATE ("sink_rtcp", GST_PAD_SINK, GST_PAD_REQUEST,
                               GST_STATIC_CAPS ("application/x-rtcp"));
GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS ("application/x-rtp"));

} // namespace

/* A packet as it arrived, and what the timeline said of it: stamped
 * (flags, PTS, capture-time meta) only when it is pushed, so that a delta
 * unit the skipper drops costs no copy and no meta. */
struct held_packet
{
  GstBuffer *buffer;
  latestframe::rtp_packet_verdict verdict;
  bool add_meta;
};

/* The C++ state, created in init and destroyed in finalize. The lock
 * serializes the RTP chain with sender reports on sink_rtcp (rtpbin may
 * bring them in another thread) and with property access. */
struct _GstRtpInOrderBufferPrivate
{
  latestframe::checked_mutex lock;
  std::optional<latestframe::rtp_timeline> timeline LF_GUARDED_BY (lock);
  /* From the caps: the payload type, the NTP-64 header extension's id
   * (0 = none). */
  int pt LF_GUARDED_BY (lock) = -1;
  guint ntp64_extension_id LF_GUARDED_BY (lock) = 0;
  bool warned_no_clock_rate LF_GUARDED_BY (lock) = false;
  guint latency_ms LF_GUARDED_BY (lock) = DEFAULT_LATENCY;
  bool add_reference_timestamp_meta LF_GUARDED_BY (lock)
      = DEFAULT_ADD_REFERENCE_TIMESTAMP_META;
  /* The caps say H.264 (encoding-name): only then are units skipped. */
  bool h264 LF_GUARDED_BY (lock) = false;
  latestframe::delta_unit_skipper skipper LF_GUARDED_BY (lock);
  /* The packets the skipper holds, in order, each with what the timeline
   * said of it. The streaming thread's alone: the chain and serialized
   * events, and the change to READY once the pads are deactivated. */
  std::vector<held_packet> held;
  /* Made in init, read-only after. */
  GstCaps *ntp_caps = nullptr;
};

G_DEFINE_TYPE (GstRtpInOrderBuffer, gst_rtp_in_order_buffer, GST_TYPE_ELEMENT)
GST_ELEMENT_REGISTER_DEFINE (rtpinorderbuffer, "rtpinorderbuffer",
                             GST_RANK_NONE, GST_TYPE_RTP_IN_ORDER_BUFFER);

namespace
{

/* The id of the NTP-64 header extension among the caps' extmap-N fields
 * (a URI, or an array of direction, URI and attributes), 0 = none. */
guint
ntp64_extension_id_of (const GstStructure *structure)
{
  for (guint id = 1; id <= 255; id++)
    {
      gchar *field = g_strdup_printf ("extmap-%u", id);
      const GValue *value = gst_structure_get_value (structure, field);
      g_free (field);
      if (!value)
        continue;
      const gchar *uri = NULL;
      if (G_VALUE_HOLDS_STRING (value))
        uri = g_value_get_string (value);
      else if (GST_VALUE_HOLDS_ARRAY (value)
               && gst_value_array_get_size (value) >= 2)
        {
          const GValue *second = gst_value_array_get_value (value, 1);
          if (G_VALUE_HOLDS_STRING (second))
            uri = g_value_get_string (second);
        }
      if (g_strcmp0 (uri, ntp64_extension_uri) == 0)
        return id;
    }
  return 0;
}

/* Takes the clock rate, payload type and extensions from caps. A new clock
 * rate starts the timeline over. */
void
take_caps (GstRtpInOrderBuffer *self, const GstCaps *caps)
    LF_REQUIRES (self->priv->lock)
{
  const GstStructure *structure = gst_caps_get_structure (caps, 0);
  gint clock_rate = 0, pt = -1;
  gst_structure_get_int (structure, "clock-rate", &clock_rate);
  if (gst_structure_get_int (structure, "payload", &pt))
    self->priv->pt = pt;
  self->priv->ntp64_extension_id = ntp64_extension_id_of (structure);
  self->priv->h264 = latestframe::glue::is_h264_rtp (structure);
  if (clock_rate > 0
      && (!self->priv->timeline
          || self->priv->timeline->clock_rate () != clock_rate))
    self->priv->timeline.emplace (clock_rate);
  GST_DEBUG_OBJECT (self, "clock-rate %d, pt %d, NTP-64 extension id %u",
                    clock_rate, self->priv->pt, self->priv->ntp64_extension_id);
}

/* Without a clock rate in the caps, asks rtpbin (request-pt-map, which it
 * answers from the SDP). Called without the lock. */
void
ask_for_clock_rate (GstRtpInOrderBuffer *self, guint8 pt)
{
  GstCaps *caps = NULL;
  g_signal_emit (self, signals[SIGNAL_REQUEST_PT_MAP], 0, (guint)pt, &caps);
  if (!caps)
    return;
  {
    latestframe::checked_lock guard (self->priv->lock);
    take_caps (self, caps);
  }
  gst_caps_unref (caps);
}

/* The NTP-64 capture time a packet carries (RFC 6051), if any. */
std::optional<std::uint64_t>
inband_ntp64 (GstRTPBuffer *rtp, guint id)
{
  if (id == 0)
    return std::nullopt;
  gpointer data = NULL;
  guint size = 0;
  guint8 appbits = 0;
  if (!gst_rtp_buffer_get_extension_onebyte_header (rtp, id, 0, &data, &size)
      && !gst_rtp_buffer_get_extension_twobytes_header (rtp, &appbits, id, 0,
                                                        &data, &size))
    return std::nullopt;
  if (size != 8)
    return std::nullopt;
  return GST_READ_UINT64_BE (data);
}

/* The pipeline's running time now, or -1. */
std::int64_t
running_time_now (GstElement *element)
{
  GstClock *clock = gst_element_get_clock (element);
  if (!clock)
    return -1;
  const GstClockTime now = gst_clock_get_time (clock);
  gst_object_unref (clock);
  const GstClockTime base = gst_element_get_base_time (element);
  return now >= base ? static_cast<std::int64_t> (now - base) : -1;
}

/* `packet`'s buffer, writable, with the timeline's verdict on it:
 * DISCONT, PTS (no DTS) and, when asked for, the capture time as a
 * timestamp/x-ntp reference timestamp meta. */
GstBuffer *
stamped (GstRtpInOrderBuffer *self, const held_packet &packet)
{
  GstBuffer *buffer = gst_buffer_make_writable (packet.buffer);
  if (packet.verdict.discont)
    GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DISCONT);
  else
    GST_BUFFER_FLAG_UNSET (buffer, GST_BUFFER_FLAG_DISCONT);
  GST_BUFFER_PTS (buffer)
      = packet.verdict.pts_ns >= 0
            ? static_cast<GstClockTime> (packet.verdict.pts_ns)
            : GST_CLOCK_TIME_NONE;
  GST_BUFFER_DTS (buffer) = GST_CLOCK_TIME_NONE;
  if (packet.add_meta && packet.verdict.capture_ntp_ns >= 0)
    gst_buffer_add_reference_timestamp_meta (
        buffer, self->priv->ntp_caps,
        static_cast<GstClockTime> (packet.verdict.capture_ntp_ns),
        GST_CLOCK_TIME_NONE);
  return buffer;
}

/* Pushes the held packets in order (after a failed push, drops the rest)
 * and forgets them. */
GstFlowReturn
push_held (GstRtpInOrderBuffer *self, GstFlowReturn result = GST_FLOW_OK)
{
  for (const held_packet &packet : self->priv->held)
    if (result == GST_FLOW_OK)
      result = gst_pad_push (self->srcpad, stamped (self, packet));
    else
      gst_buffer_unref (packet.buffer);
  self->priv->held.clear ();
  return result;
}

void
drop_held (GstRtpInOrderBuffer *self)
{
  for (const held_packet &packet : self->priv->held)
    gst_buffer_unref (packet.buffer);
  self->priv->held.clear ();
}

GstFlowReturn
apply_held_step (GstRtpInOrderBuffer *self, latestframe::held_packets_step step)
{
  switch (step)
    {
    case latestframe::held_packets_step::none:
      break;
    case latestframe::held_packets_step::release:
      return push_held (self);
    case latestframe::held_packets_step::discard:
      GST_CAT_LOG_OBJECT (rtp_in_order_buffer_dataflow, self,
                          "a delta unit of %zu packets, dropped",
                          self->priv->held.size ());
      drop_held (self);
      break;
    }
  return GST_FLOW_OK;
}

/* A packet's way out, as the skipper said: after the previous unit's held
 * packets, pushed, held, or held and then released or dropped with its
 * unit. */
GstFlowReturn
send_packet (GstRtpInOrderBuffer *self,
             const latestframe::delta_unit_verdict &verdict,
             const held_packet &packet)
{
  const GstFlowReturn result = apply_held_step (self, verdict.previous);
  switch (verdict.packet)
    {
    case latestframe::packet_step::forward:
      if (result != GST_FLOW_OK)
        {
          gst_buffer_unref (packet.buffer);
          return result;
        }
      return gst_pad_push (self->srcpad, stamped (self, packet));
    case latestframe::packet_step::hold:
      self->priv->held.push_back (packet);
      return result;
    case latestframe::packet_step::release:
      self->priv->held.push_back (packet);
      return push_held (self, result);
    case latestframe::packet_step::discard:
      self->priv->held.push_back (packet);
      apply_held_step (self, latestframe::held_packets_step::discard);
      return result;
    }
  return result;
}

/* Forgets the stream (a flush, the change to READY): the timeline and the
 * skipper start over, and the held packets are dropped. */
void
start_over (GstRtpInOrderBuffer *self) LF_REQUIRES (self->priv->lock)
{
  if (self->priv->timeline)
    self->priv->timeline->reset ();
  self->priv->skipper.reset ();
  drop_held (self);
}

GstFlowReturn
gst_rtp_in_order_buffer_chain (GstPad *, GstObject *parent, GstBuffer *buffer)
{
  GstRtpInOrderBuffer *self = GST_RTP_IN_ORDER_BUFFER_CAST (parent);
  GstRtpInOrderBufferPrivate *priv = self->priv;
  const std::int64_t arrival = running_time_now (GST_ELEMENT_CAST (self));

  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  if (!gst_rtp_buffer_map (buffer, GST_MAP_READ, &rtp))
    {
      GST_CAT_WARNING_OBJECT (rtp_in_order_buffer_dataflow, self,
                              "not an RTP packet, dropped");
      gst_buffer_unref (buffer);
      return GST_FLOW_OK;
    }
  const guint16 seq = gst_rtp_buffer_get_seq (&rtp);
  const guint32 rtp_time = gst_rtp_buffer_get_timestamp (&rtp);
  const guint8 pt = gst_rtp_buffer_get_payload_type (&rtp);

  latestframe::rtp_packet_verdict verdict;
  latestframe::delta_unit_verdict unit_verdict;
  bool add_meta;
  {
    /* Once per packet; let go only to ask rtpbin for a clock rate (its
     * handler must not run under this lock), until the first answer. */
    latestframe::checked_lock guard (priv->lock);
    if (!priv->timeline)
      {
        guard.unlock ();
        ask_for_clock_rate (self, pt);
        guard.lock ();
      }
    if (!priv->timeline)
      {
        if (!priv->warned_no_clock_rate)
          GST_ELEMENT_WARNING (self, STREAM, DECODE, (NULL),
                               ("no clock-rate for payload type %u: "
                                "packets dropped",
                                pt));
        priv->warned_no_clock_rate = true;
        gst_rtp_buffer_unmap (&rtp);
        gst_buffer_unref (buffer);
        return GST_FLOW_OK;
      }
    verdict = priv->timeline->on_packet (
        seq, rtp_time, arrival, inband_ntp64 (&rtp, priv->ntp64_extension_id));
    add_meta = priv->add_reference_timestamp_meta;
    if (!verdict.drop && priv->h264)
      unit_verdict = priv->skipper.on_payload (
          rtp_time, gst_rtp_buffer_get_marker (&rtp),
          static_cast<const std::uint8_t *> (gst_rtp_buffer_get_payload (&rtp)),
          gst_rtp_buffer_get_payload_len (&rtp));
  }
  gst_rtp_buffer_unmap (&rtp);

  if (verdict.drop)
    {
      GST_CAT_LOG_OBJECT (rtp_in_order_buffer_dataflow, self,
                          "seq %u: duplicate or old, dropped", seq);
      gst_buffer_unref (buffer);
      return GST_FLOW_OK;
    }
  GST_CAT_LOG_OBJECT (rtp_in_order_buffer_dataflow, self,
                      "seq %u rtp %u pts %" G_GINT64_FORMAT " ns%s", seq,
                      rtp_time, verdict.pts_ns,
                      verdict.discont ? " discont" : "");
  return send_packet (self, unit_verdict, { buffer, verdict, add_meta });
}

GstFlowReturn
gst_rtp_in_order_buffer_chain_rtcp (GstPad *, GstObject *parent,
                                    GstBuffer *buffer)
{
  GstRtpInOrderBuffer *self = GST_RTP_IN_ORDER_BUFFER_CAST (parent);
  GstRTCPBuffer rtcp = GST_RTCP_BUFFER_INIT;
  if (gst_rtcp_buffer_validate_reduced (buffer)
      && gst_rtcp_buffer_map (buffer, GST_MAP_READ, &rtcp))
    {
      GstRTCPPacket packet;
      for (gboolean more = gst_rtcp_buffer_get_first_packet (&rtcp, &packet);
           more; more = gst_rtcp_packet_move_to_next (&packet))
        if (gst_rtcp_packet_get_type (&packet) == GST_RTCP_TYPE_SR)
          {
            guint32 ssrc = 0, rtp_time = 0;
            guint64 ntp_time = 0;
            gst_rtcp_packet_sr_get_sender_info (&packet, &ssrc, &ntp_time,
                                                &rtp_time, NULL, NULL);
            GST_DEBUG_OBJECT (self,
                              "sender report: ssrc %08x NTP %" G_GUINT64_FORMAT
                              " RTP %u",
                              ssrc, ntp_time, rtp_time);
            latestframe::checked_lock guard (self->priv->lock);
            if (self->priv->timeline)
              self->priv->timeline->on_sender_report (ntp_time, rtp_time);
            break;
          }
      gst_rtcp_buffer_unmap (&rtcp);
    }
  gst_buffer_unref (buffer);
  return GST_FLOW_OK;
}

gboolean
gst_rtp_in_order_buffer_sink_event (GstPad *pad, GstObject *parent,
                                    GstEvent *event)
{
  GstRtpInOrderBuffer *self = GST_RTP_IN_ORDER_BUFFER_CAST (parent);
  switch (GST_EVENT_TYPE (event))
    {
    case GST_EVENT_CAPS:
      {
        GstCaps *caps = NULL;
        gst_event_parse_caps (event, &caps);
        latestframe::checked_lock guard (self->priv->lock);
        take_caps (self, caps);
        break;
      }
    case GST_EVENT_FLUSH_STOP:
      {
        latestframe::checked_lock guard (self->priv->lock);
        start_over (self);
        GST_DEBUG_OBJECT (self, "flushed: the timeline starts over");
        break;
      }
    case GST_EVENT_EOS:
      {
        latestframe::held_packets_step step;
        {
          latestframe::checked_lock guard (self->priv->lock);
          step = self->priv->skipper.on_end ();
        }
        apply_held_step (self, step);
        break;
      }
    default:
      break;
    }
  return gst_pad_event_default (pad, parent, event);
}

/* Sender reports only: events on sink_rtcp (caps, segment, EOS) go no
 * further, as rtpjitterbuffer's. */
gboolean
gst_rtp_in_order_buffer_rtcp_event (GstPad *, GstObject *, GstEvent *event)
{
  gst_event_unref (event);
  return TRUE;
}

/* The latency query goes up the RTP sink pad only (not sink_rtcp) and
 * comes back unchanged: this element adds no latency (whatever the
 * latency property says). With skip-delta-units it holds the packets of an
 * access unit only until its first key slice; the units it holds to their
 * end are dropped, or have no slice to show. */
gboolean
gst_rtp_in_order_buffer_src_query (GstPad *pad, GstObject *parent,
                                   GstQuery *query)
{
  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY)
    return gst_pad_peer_query (GST_RTP_IN_ORDER_BUFFER_CAST (parent)->sinkpad,
                               query);
  return gst_pad_query_default (pad, parent, query);
}

GstPad *
gst_rtp_in_order_buffer_request_new_pad (GstElement *element,
                                         GstPadTemplate *templ, const gchar *,
                                         const GstCaps *)
{
  GstRtpInOrderBuffer *self = GST_RTP_IN_ORDER_BUFFER_CAST (element);
  if (self->rtcp_sinkpad)
    {
      GST_WARNING_OBJECT (self, "sink_rtcp already requested");
      return NULL;
    }
  self->rtcp_sinkpad = gst_pad_new_from_template (templ, "sink_rtcp");
  gst_pad_set_chain_function (self->rtcp_sinkpad,
                              gst_rtp_in_order_buffer_chain_rtcp);
  gst_pad_set_event_function (self->rtcp_sinkpad,
                              gst_rtp_in_order_buffer_rtcp_event);
  gst_pad_set_active (self->rtcp_sinkpad, TRUE);
  gst_element_add_pad (element, self->rtcp_sinkpad);
  return self->rtcp_sinkpad;
}

void
gst_rtp_in_order_buffer_release_pad (GstElement *element, GstPad *pad)
{
  GstRtpInOrderBuffer *self = GST_RTP_IN_ORDER_BUFFER_CAST (element);
  if (pad != self->rtcp_sinkpad)
    return;
  self->rtcp_sinkpad = NULL;
  gst_pad_set_active (pad, FALSE);
  gst_element_remove_pad (element, pad);
}

GstStateChangeReturn
gst_rtp_in_order_buffer_change_state (GstElement *element,
                                      GstStateChange transition)
{
  GstRtpInOrderBuffer *self = GST_RTP_IN_ORDER_BUFFER_CAST (element);
  const GstStateChangeReturn result
      = GST_ELEMENT_CLASS (gst_rtp_in_order_buffer_parent_class)
            ->change_state (element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    {
      latestframe::checked_lock guard (self->priv->lock);
      start_over (self);
    }
  return result;
}

void
gst_rtp_in_order_buffer_set_property (GObject *object, guint id,
                                      const GValue *value, GParamSpec *pspec)
{
  GstRtpInOrderBuffer *self = GST_RTP_IN_ORDER_BUFFER (object);
  latestframe::checked_lock guard (self->priv->lock);
  switch (id)
    {
    case PROP_LATENCY:
      self->priv->latency_ms = g_value_get_uint (value);
      break;
    case PROP_ADD_REFERENCE_TIMESTAMP_META:
      self->priv->add_reference_timestamp_meta = g_value_get_boolean (value);
      break;
    case PROP_SKIP_DELTA_UNITS:
      self->priv->skipper.set_enabled (g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
      break;
    }
}

void
gst_rtp_in_order_buffer_get_property (GObject *object, guint id, GValue *value,
                                      GParamSpec *pspec)
{
  GstRtpInOrderBuffer *self = GST_RTP_IN_ORDER_BUFFER (object);
  latestframe::checked_lock guard (self->priv->lock);
  switch (id)
    {
    case PROP_LATENCY:
      g_value_set_uint (value, self->priv->latency_ms);
      break;
    case PROP_ADD_REFERENCE_TIMESTAMP_META:
      g_value_set_boolean (value, self->priv->add_reference_timestamp_meta);
      break;
    case PROP_SKIP_DELTA_UNITS:
      g_value_set_boolean (value, self->priv->skipper.enabled ());
      break;
    case PROP_STATS:
      g_value_take_boxed (
          value,
          gst_structure_new (
              "application/x-rtpinorderbuffer-stats", "skipped-delta-units",
              G_TYPE_UINT64,
              static_cast<guint64> (self->priv->skipper.skipped_units ()),
              "skipped-packets", G_TYPE_UINT64,
              static_cast<guint64> (self->priv->skipper.skipped_packets ()),
              NULL));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
      break;
    }
}

} // namespace

static void
gst_rtp_in_order_buffer_finalize (GObject *object)
{
  GstRtpInOrderBuffer *self = GST_RTP_IN_ORDER_BUFFER (object);
  gst_caps_unref (self->priv->ntp_caps);
  drop_held (self);
  self->priv->~_GstRtpInOrderBufferPrivate ();
  g_free (self->priv);
  G_OBJECT_CLASS (gst_rtp_in_order_buffer_parent_class)->finalize (object);
}

static void
gst_rtp_in_order_buffer_class_init (GstRtpInOrderBufferClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (rtp_in_order_buffer_debug, "rtpinorderbuffer", 0,
                           "RTP in-order buffer");
  GST_DEBUG_CATEGORY_INIT (rtp_in_order_buffer_dataflow,
                           "rtpinorderbuffer_dataflow", 0,
                           "RTP in-order buffer, per packet");

  object_class->set_property = gst_rtp_in_order_buffer_set_property;
  object_class->get_property = gst_rtp_in_order_buffer_get_property;
  object_class->finalize = gst_rtp_in_order_buffer_finalize;

  /* rtpbin sets latency on every jitter buffer it makes. */
  g_object_class_install_property (
      object_class, PROP_LATENCY,
      g_param_spec_uint (
          "latency", "Latency",
          "Accepted for rtpbin and ignored: nothing is held, packets are "
          "pushed as they arrive (ms)",
          0, G_MAXUINT, DEFAULT_LATENCY,
          static_cast<GParamFlags> (G_PARAM_READWRITE
                                    | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property (
      object_class, PROP_ADD_REFERENCE_TIMESTAMP_META,
      g_param_spec_boolean (
          "add-reference-timestamp-meta", "Add reference timestamp meta",
          "Add a timestamp/x-ntp reference timestamp meta to each buffer "
          "with its capture time: the packet's NTP-64 header extension, else "
          "the last plausible RTCP sender report (rtpbin passes rtspsrc's "
          "setting)",
          DEFAULT_ADD_REFERENCE_TIMESTAMP_META,
          static_cast<GParamFlags> (G_PARAM_READWRITE
                                    | G_PARAM_STATIC_STRINGS)));

  g_object_class_install_property (
      object_class, PROP_SKIP_DELTA_UNITS,
      g_param_spec_boolean (
          "skip-delta-units", "Skip delta units",
          "H.264 only: drop access units made only of P and B slices, whole, "
          "before the depayloader (for a consumer of key units alone, as "
          "latestframe decode=key-units). Units with an IDR, I or SI slice or "
          "a recovery-point SEI always pass. Turned off, delta units pass again "
          "from the next key unit",
          DEFAULT_SKIP_DELTA_UNITS,
          static_cast<GParamFlags> (G_PARAM_READWRITE
                                    | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property (
      object_class, PROP_STATS,
      g_param_spec_boxed (
          "stats", "Statistics",
          "skipped-delta-units and skipped-packets (guint64): what "
          "skip-delta-units dropped so far",
          GST_TYPE_STRUCTURE,
          static_cast<GParamFlags> (G_PARAM_READABLE
                                    | G_PARAM_STATIC_STRINGS)));

  /**
   * GstRtpInOrderBuffer::request-pt-map:
   * @pt: the payload type
   *
   * Asks for the caps of @pt when the sink caps have no clock-rate (rtpbin
   * connects it to its own request-pt-map).
   *
   * Returns: the caps of @pt, or NULL.
   */
  signals[SIGNAL_REQUEST_PT_MAP] = g_signal_new (
      "request-pt-map", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
      NULL, NULL, GST_TYPE_CAPS, 1, G_TYPE_UINT);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class,
                                             &rtcp_sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  element_class->request_new_pad = gst_rtp_in_order_buffer_request_new_pad;
  element_class->release_pad = gst_rtp_in_order_buffer_release_pad;
  element_class->change_state = gst_rtp_in_order_buffer_change_state;
  gst_element_class_set_static_metadata (
      element_class, "RTP in-order buffer", "Filter/Network/RTP",
      "rtpbin's jitter buffer for RTP that arrives in order (RTSP over "
      "TCP): DISCONT on gaps, PTS from RTP time, capture times from sender "
      "reports, pushed in the receiving thread",
      "latestframe");
}

static void
gst_rtp_in_order_buffer_init (GstRtpInOrderBuffer *self)
{
  self->priv = new (g_malloc (sizeof (GstRtpInOrderBufferPrivate)))
      GstRtpInOrderBufferPrivate ();
  self->priv->ntp_caps = gst_caps_new_empty_simple ("timestamp/x-ntp");

  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, gst_rtp_in_order_buffer_chain);
  gst_pad_set_event_function (self->sinkpad,
                              gst_rtp_in_order_buffer_sink_event);
  GST_PAD_SET_PROXY_CAPS (self->sinkpad);
  GST_PAD_SET_PROXY_ALLOCATION (self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_query_function (self->srcpad, gst_rtp_in_order_buffer_src_query);
  GST_PAD_SET_PROXY_CAPS (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
}
