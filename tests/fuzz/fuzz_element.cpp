/* libFuzzer target: the latestframe element, in a GstHarness, fed what the
 * input decides: caps (raw video of any size and format, some invalid;
 * encoded video, H.264 in Annex B or length-prefixed with codec data of
 * any size; unknown media), buffers of any size (none, smaller than
 * the caps claim, large) with or without timestamps, duration, capture-time
 * meta and the DELTA_UNIT / DROPPABLE / DISCONT flags, events (segments in
 * TIME and BYTES, GAP, FLUSH_START/STOP, EOS, stream-start, tags, custom
 * serialized, sticky and out-of-band events), property changes, queries
 * from both sides, state cycles (changing delivery in READY), clock steps,
 * downstream answering EOS, FLUSHING or an error, or unlinked and linked
 * again, pulls from the harness and try-pull-frame, buffers it pushed
 * coming back or copied (with their in-flight charge).
 *
 * Nothing must crash, abort, leak or trip a sanitizer; a GLib critical
 * aborts (the element may post GST_ELEMENT_ERROR / WARNING for bad
 * input: that is its answer, not a failure). After every few operations and
 * at the end, the element's "stats" keep received == pushed + dropped +
 * current-level-buffers; once torn down with every buffer gone, nothing is
 * held or in flight.
 *
 * Input: byte 0 sets the start (bit 0: delivery=on-request; bit 1: silent;
 * bit 2: upstream answers not live), then operations: an opcode byte
 * (modulo the number of operations) and three argument bytes each, zeros
 * past the end. tests/fuzz/make_seeds.py writes seeds in this format; the
 * opcodes are the `op` enum below.
 *
 * Never blocks for good: the harness's sink takes every buffer, and inputs
 * that would wait for a consumer that does not exist are not made (leaky=no
 * with delivery=on-request, where only this thread could take frames; paces
 * slower than 2 ms).
 *
 * GStreamer is initialised once, with no plugin scanned: the element is
 * registered statically, the registry kept at GST_REGISTRY_1_0 (set by the
 * Meson test, else a file under /tmp). */
#include "input_reader.h"
#include "gstlatestframe.h"

#include <gst/check/gstharness.h>
#include <gst/check/gsttestclock.h>
#include <gst/gst.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

namespace
{

constexpr GstClockTime ms = GST_MSECOND;
constexpr std::size_t max_operations = 256;
constexpr std::size_t max_kept = 8;

using latestframe_fuzz::input_reader;

enum op : std::uint8_t
{
  op_caps,
  op_buffer,
  op_event,
  op_property,
  op_pull,
  op_try_pull_frame,
  op_clock,
  op_state_cycle,
  op_query,
  op_check_stats,
  op_downstream,
  op_repush,
  op_count
};

[[noreturn]] void
violated (const std::string &what)
{
  std::fprintf (stderr, "fuzz_element: %s\n", what.c_str ());
  std::abort ();
}

guint64
stats_field (const GstStructure *stats, const char *name)
{
  guint64 value64 = 0;
  guint value = 0;
  if (gst_structure_get_uint64 (stats, name, &value64))
    return value64;
  if (gst_structure_get_uint (stats, name, &value))
    return value;
  violated (std::string ("the stats have no ") + name);
}

/* received == pushed + dropped + held, in one snapshot of the stats. */
void
check_balance (GstElement *element, bool stopped)
{
  GstStructure *stats = NULL;
  g_object_get (element, "stats", &stats, NULL);
  if (!stats)
    violated ("no stats");
  const guint64 received = stats_field (stats, "received");
  const guint64 pushed = stats_field (stats, "pushed");
  const guint64 dropped = stats_field (stats, "dropped");
  const guint64 held = stats_field (stats, "current-level-buffers");
  const guint64 in_flight = stats_field (stats, "in-flight-buffers");
  gst_structure_free (stats);
  if (received != pushed + dropped + held)
    violated ("received " + std::to_string (received) + " != pushed "
              + std::to_string (pushed) + " + dropped "
              + std::to_string (dropped) + " + held " + std::to_string (held));
  if (stopped && (held != 0 || in_flight != 0))
    violated ("stopped with every buffer gone, yet " + std::to_string (held)
              + " held and " + std::to_string (in_flight) + " in flight");
}

class element_run
{
public:
  explicit element_run (std::uint8_t start)
  {
    on_request_ = start & 1;
    live_ = !(start & 4);
    element_ = gst_element_factory_make ("latestframe", NULL);
    if (!element_)
      violated ("cannot make a latestframe element");
    gst_object_ref_sink (element_);
    g_object_set (element_, "delivery", on_request_ ? 1 : 0, "silent",
                  gboolean ((start & 2) != 0), NULL);
    harness_ = gst_harness_new_with_element (element_, "sink", "src");
    clock_ = gst_harness_get_testclock (harness_);
    /* Upstream's answer to the element's LATENCY query: live or not. */
    gst_pad_add_probe (harness_->srcpad, GST_PAD_PROBE_TYPE_QUERY_UPSTREAM,
                       answer_latency, this, NULL);
    /* Downstream's answer to the element's pushes (op_downstream). */
    GstPad *src = gst_element_get_static_pad (element_, "src");
    gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, answer_push, this, NULL);
    gst_object_unref (src);
  }

  ~element_run ()
  {
    downstream_flow_ = GST_FLOW_OK;
    if (unlinked_)
      link ();
    for (GstBuffer *buffer : buffers_)
      gst_buffer_unref (buffer);
    for (GstSample *sample : samples_)
      gst_sample_unref (sample);
    check_balance (element_, false);
    gst_object_unref (clock_);
    gst_harness_teardown (harness_);
    check_balance (element_, true);
    gst_object_unref (element_);
  }

  void run (input_reader &in)
  {
    for (std::size_t i = 0; i < max_operations && !in.done (); i++)
      {
        const std::uint8_t code = in.byte () % op_count;
        const std::uint8_t a = in.byte (), b = in.byte (), c = in.byte ();
        apply (static_cast<op> (code), a, b, c);
      }
  }

private:
  static GstPadProbeReturn answer_latency (GstPad *, GstPadProbeInfo *info,
                                           gpointer user_data)
  {
    auto *self = static_cast<element_run *> (user_data);
    GstQuery *query = GST_PAD_PROBE_INFO_QUERY (info);
    /* On request, only this thread could take frames: a non-live upstream
     * (held up while the element is full) would wait for ever. */
    if (GST_QUERY_TYPE (query) != GST_QUERY_LATENCY || self->live_
        || self->on_request_)
      return GST_PAD_PROBE_OK;
    gst_query_set_latency (query, FALSE, 0, GST_CLOCK_TIME_NONE);
    return GST_PAD_PROBE_HANDLED;
  }

  /* What downstream answers a frame with, when not OK: the buffer goes. */
  static GstPadProbeReturn answer_push (GstPad *, GstPadProbeInfo *info,
                                        gpointer user_data)
  {
    auto *self = static_cast<element_run *> (user_data);
    const GstFlowReturn flow = self->downstream_flow_.load ();
    if (flow == GST_FLOW_OK)
      return GST_PAD_PROBE_OK;
    gst_buffer_unref (GST_PAD_PROBE_INFO_BUFFER (info));
    GST_PAD_PROBE_INFO_DATA (info) = NULL;
    GST_PAD_PROBE_INFO_FLOW_RETURN (info) = flow;
    return GST_PAD_PROBE_HANDLED;
  }

  void apply (op code, std::uint8_t a, std::uint8_t b, std::uint8_t c)
  {
    switch (code)
      {
      case op_caps:
        push_caps (a, b, c);
        break;
      case op_buffer:
        push_buffer (a, b, c);
        break;
      case op_event:
        push_event (a, b, c);
        break;
      case op_property:
        set_property (a, b);
        break;
      case op_pull:
        pull (a);
        break;
      case op_try_pull_frame:
        try_pull_frame (a);
        break;
      case op_clock:
        gst_test_clock_advance_time (clock_,
                                     a == 255 ? 10 * GST_SECOND : a * ms);
        break;
      case op_state_cycle:
        state_cycle (a);
        break;
      case op_query:
        query (a, b);
        break;
      case op_downstream:
        downstream (a);
        break;
      case op_repush:
        repush (a);
        break;
      case op_check_stats:
      case op_count:
        check_balance (element_, false);
        break;
      }
  }

  void push_caps (std::uint8_t kind, std::uint8_t width, std::uint8_t height)
  {
    static const char *const formats[]
        = { "I420", "NV12", "RGB", "GRAY8", "YUY2", "NOT-A-FORMAT" };
    GstCaps *caps = NULL;
    switch (kind % 6)
      {
      case 0:
      case 1:
        caps = gst_caps_new_simple (
            "video/x-raw", "format", G_TYPE_STRING, formats[(kind / 6) % 6],
            "width", G_TYPE_INT, width * 8, "height", G_TYPE_INT, height * 8,
            "framerate", GST_TYPE_FRACTION, 30, 1, NULL);
        break;
      case 2:
        caps = gst_caps_new_simple (
            "video/x-h264", "stream-format", G_TYPE_STRING, "byte-stream",
            "alignment", G_TYPE_STRING, "au", "width", G_TYPE_INT, width * 8,
            "height", G_TYPE_INT, height * 8, NULL);
        if ((kind / 6) % 2)
          {
            /* Length-prefixed, with codec data of 0 to 7 bytes (the NAL
             * length size is in the fifth; the key units are read by it). */
            GstBuffer *codec_data = gst_buffer_new_allocate (
                NULL, (kind / 12) % 8, NULL);
            gst_buffer_memset (codec_data, 0, kind, (kind / 12) % 8);
            gst_caps_set_simple (caps, "stream-format", G_TYPE_STRING, "avc",
                                 "codec_data", GST_TYPE_BUFFER, codec_data,
                                 NULL);
            gst_buffer_unref (codec_data);
          }
        break;
      case 3:
        caps = gst_caps_new_empty_simple ("video/x-raw");
        break;
      case 4:
        caps = gst_caps_new_empty_simple ("application/x-fuzz");
        break;
      default:
        caps = gst_caps_new_simple ("video/x-h265", "stream-format",
                                    G_TYPE_STRING, "byte-stream", NULL);
        break;
      }
    gst_harness_push_event (harness_, gst_event_new_caps (caps));
    gst_caps_unref (caps);
  }

  void push_buffer (std::uint8_t flags, std::uint8_t size, std::uint8_t step)
  {
    /* None, a few bytes, up to 16 KB, or a whole 640x480 I420 frame. */
    const gsize bytes = size < 16     ? size
                        : size == 255 ? 640 * 480 * 3 / 2
                                      : gsize (size) * 64;
    GstBuffer *buffer = bytes == 0
                            ? gst_buffer_new ()
                            : gst_buffer_new_allocate (NULL, bytes, NULL);
    /* Timestamps go on, go back, or jump close to where running times no
     * longer fit a signed 64-bit integer. */
    if (step == 255)
      pts_ = pts_ > GST_SECOND ? pts_ - GST_SECOND : 0;
    else if (step == 254)
      pts_ = G_MAXINT64 - 100 * ms;
    else
      pts_ += step * ms;
    if (!GST_CLOCK_TIME_IS_VALID (pts_))
      pts_ = 0;
    if (flags & 1)
      GST_BUFFER_PTS (buffer) = pts_;
    if (flags & 2)
      GST_BUFFER_DTS (buffer)
          = flags & 1 && flags & 128 && pts_ >= 40 * ms ? pts_ - 40 * ms : pts_;
    if (flags & 4)
      GST_BUFFER_DURATION (buffer) = 33 * ms;
    if (flags & 8)
      GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT);
    if (flags & 16)
      GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DROPPABLE);
    if (flags & 32)
      GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DISCONT);
    if (flags & 64)
      {
        /* A capture time, as rtspsrc add-reference-timestamp-meta=true
         * attaches: now on the wall clock, or some way off it; or what a
         * broken stream could carry (none, before 1970 in NTP, anything). */
        const bool ntp = step & 1;
        GstCaps *reference = gst_caps_new_empty_simple (
            ntp ? "timestamp/x-ntp" : "timestamp/x-unix");
        guint64 captured = g_get_real_time () * 1000;
        switch ((step >> 1) % 4)
          {
          case 0:
            break;
          case 1:
            captured -= (step >> 3) * 100 * ms;
            break;
          case 2:
            captured = GST_CLOCK_TIME_NONE - step;
            break;
          default:
            captured = guint64 (step) << 56;
            break;
          }
        if (ntp && (step >> 1) % 4 < 2)
          captured += G_GUINT64_CONSTANT (2208988800) * GST_SECOND;
        gst_buffer_add_reference_timestamp_meta (buffer, reference, captured,
                                                 GST_CLOCK_TIME_NONE);
        gst_caps_unref (reference);
      }
    gst_harness_push (harness_, buffer);
  }

  void push_event (std::uint8_t kind, std::uint8_t a, std::uint8_t b)
  {
    GstEvent *event = NULL;
    switch (kind % 12)
      {
      case 0:
      case 1:
      case 2:
        {
          static const gdouble rates[]
              = { 1.0, 2.0, 0.5, -1.0, 1e-6, 1e6, 1.0, 1.0 };
          GstSegment segment;
          gst_segment_init (&segment, kind % 12 == 1 ? GST_FORMAT_BYTES
                                                     : GST_FORMAT_TIME);
          segment.rate = rates[a % 8];
          segment.start = b * 10 * ms;
          if (a & 8 || segment.rate < 0)
            segment.stop = segment.start + (a >> 4) * 100 * ms;
          if (kind % 12 == 2)
            {
              /* Running times from here on may pass 2^63 ns. */
              segment.base = a & 16 ? G_MAXINT64 - b * 10 * ms : a * 100 * ms;
              segment.time = b * ms;
            }
          segment.position = segment.start;
          event = gst_event_new_segment (&segment);
          break;
        }
      case 3:
        event = gst_event_new_gap (pts_, a == 0 ? GST_CLOCK_TIME_NONE : a * ms);
        break;
      case 4:
        event = gst_event_new_flush_start ();
        break;
      case 5:
        event = gst_event_new_flush_stop (a & 1);
        break;
      case 6:
        event = gst_event_new_eos ();
        break;
      case 7:
        {
          gchar *id = g_strdup_printf ("fuzz-%u", a);
          event = gst_event_new_stream_start (id);
          g_free (id);
          break;
        }
      case 8:
        event = gst_event_new_tag (gst_tag_list_new_empty ());
        break;
      case 9:
        event = gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
                                      gst_structure_new_empty ("fuzz"));
        break;
      case 10:
        event = gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_STICKY,
                                      gst_structure_new_empty ("fuzz-sticky"));
        break;
      default:
        event = gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_OOB,
                                      gst_structure_new_empty ("fuzz-oob"));
        break;
      }
    gst_harness_push_event (harness_, event);
  }

  /* leaky=no only where some thread always takes frames (push). */
  int allowed_leaky (int leaky) const
  {
    return on_request_ && leaky == 0 ? 2 : leaky;
  }

  void set_property (std::uint8_t which, std::uint8_t value)
  {
    static const char *const budgets[] = { NULL, "", "fuzz-a", "fuzz-b" };
    static const gdouble rates[] = { 0.0, 500.0, 1000.0 };
    GObject *object = G_OBJECT (element_);
    switch (which % 18)
      {
      case 0:
        leaky_ = allowed_leaky (value % 3);
        g_object_set (object, "leaky", leaky_, NULL);
        break;
      case 1:
        g_object_set (object, "max-size-buffers", guint (value % 6), NULL);
        break;
      case 2:
        g_object_set (object, "max-size-bytes", guint (value) * 64, NULL);
        break;
      case 3:
        g_object_set (object, "max-size-time", guint64 (value) * ms, NULL);
        break;
      case 4:
        g_object_set (object, "max-age", guint64 (value) * ms, NULL);
        break;
      case 5:
        g_object_set (object, "min-threshold-buffers", guint (value % 4), NULL);
        break;
      case 6:
        g_object_set (object, "min-threshold-bytes", guint (value) * 64, NULL);
        break;
      case 7:
        g_object_set (object, "min-threshold-time", guint64 (value) * ms, NULL);
        break;
      case 8:
        g_object_set (object, "decode", value % 4, NULL);
        break;
      case 9:
        g_object_set (object, "analysis-rate", rates[value % 3], NULL);
        break;
      case 10:
        g_object_set (object, "silent", gboolean (value & 1), NULL);
        break;
      case 11:
        g_object_set (object, "flush-on-eos", gboolean (value & 1), NULL);
        break;
      case 12:
        g_object_set (object, "memory-budget", budgets[value % 4], NULL);
        break;
      case 13:
        g_object_set (object, "memory-budget-bytes", guint64 (value) * 256,
                      NULL);
        break;
      case 14:
        g_object_set (object, "age-from", value % 4, NULL);
        break;
      case 15:
        g_object_set (object, "stats-interval", guint (value % 3) * 2, NULL);
        break;
      case 16:
        g_object_set (object, "leaky-non-live", gboolean (value & 1), NULL);
        break;
      default:
        /* Takes effect when the element next asks (a new stream). */
        live_ = value & 1;
        break;
      }
  }

  void pull (std::uint8_t flags)
  {
    if (GstBuffer *buffer = gst_harness_try_pull (harness_))
      {
        if (flags & 1 && buffers_.size () < max_kept)
          buffers_.push_back (buffer);
        else
          gst_buffer_unref (buffer);
      }
    if (flags & 2 && !buffers_.empty ())
      {
        gst_buffer_unref (buffers_.front ());
        buffers_.erase (buffers_.begin ());
      }
    while (GstEvent *event = gst_harness_try_pull_event (harness_))
      gst_event_unref (event);
    while (GstEvent *event = gst_harness_try_pull_upstream_event (harness_))
      gst_event_unref (event);
  }

  void try_pull_frame (std::uint8_t flags)
  {
    GstSample *sample = NULL;
    g_signal_emit_by_name (element_, "try-pull-frame",
                           GstClockTime (flags & 1 ? ms : 0), &sample);
    if (!sample)
      return;
    if (flags & 2 && samples_.size () < max_kept)
      samples_.push_back (sample);
    else
      gst_sample_unref (sample);
    if (flags & 4 && !samples_.empty ())
      {
        gst_sample_unref (samples_.front ());
        samples_.erase (samples_.begin ());
      }
  }

  /* PLAYING -> READY -> PLAYING, changing delivery in READY if asked. */
  void state_cycle (std::uint8_t flags)
  {
    if (gst_element_set_state (element_, GST_STATE_READY)
        == GST_STATE_CHANGE_FAILURE)
      violated ("cannot go to READY");
    if (flags & 1)
      {
        on_request_ = !on_request_;
        leaky_ = allowed_leaky (leaky_);
        g_object_set (element_, "leaky", leaky_, "delivery",
                      on_request_ ? 1 : 0, NULL);
      }
    if (gst_element_set_state (element_, GST_STATE_PLAYING)
        == GST_STATE_CHANGE_FAILURE)
      violated ("cannot go back to PLAYING");
  }

  void link ()
  {
    GstPad *src = gst_element_get_static_pad (element_, "src");
    /* Sends RECONFIGURE upstream: the element pushes again. */
    if (gst_pad_link (src, harness_->sinkpad) != GST_PAD_LINK_OK)
      violated ("cannot link the element's src pad again");
    gst_object_unref (src);
    unlinked_ = false;
  }

  /* Downstream answers the next frames with a flow (OK, EOS, FLUSHING,
   * NOT_NEGOTIATED, ERROR), or is unlinked, or linked again. */
  void downstream (std::uint8_t kind)
  {
    static const GstFlowReturn flows[]
        = { GST_FLOW_OK, GST_FLOW_EOS, GST_FLOW_FLUSHING,
            GST_FLOW_NOT_NEGOTIATED, GST_FLOW_ERROR };
    const std::uint8_t choice = kind % 7;
    if (choice < 5)
      downstream_flow_ = flows[choice];
    else if (choice == 5 && !unlinked_)
      {
        GstPad *src = gst_element_get_static_pad (element_, "src");
        gst_pad_unlink (src, harness_->sinkpad);
        gst_object_unref (src);
        unlinked_ = true;
      }
    else if (choice == 6 && unlinked_)
      link ();
  }

  /* A buffer the element pushed earlier comes back (its charge still in
   * flight), shared or not; or is copied, its charge with it. */
  void repush (std::uint8_t flags)
  {
    if (buffers_.empty ())
      return;
    const std::size_t which = (flags >> 3) % buffers_.size ();
    GstBuffer *buffer = buffers_[which];
    switch (flags & 3)
      {
      case 0:
        buffers_.erase (buffers_.begin () + which);
        gst_harness_push (harness_, buffer);
        break;
      case 1:
        gst_harness_push (harness_, gst_buffer_ref (buffer));
        break;
      case 2:
        buffers_.push_back (gst_buffer_copy (buffer));
        break;
      default:
        buffers_.push_back (gst_buffer_copy_region (
            buffer, GST_BUFFER_COPY_ALL, 0, gst_buffer_get_size (buffer) / 2));
        break;
      }
    if (buffers_.size () > max_kept)
      {
        gst_buffer_unref (buffers_.front ());
        buffers_.erase (buffers_.begin ());
      }
  }

  void query (std::uint8_t kind, std::uint8_t arg)
  {
    GstQuery *query = NULL;
    GstPad *from = harness_->srcpad;
    switch (kind % 8)
      {
      case 0:
        {
          GstCaps *caps = gst_caps_new_simple (
              "video/x-raw", "format", G_TYPE_STRING, "I420", "width",
              G_TYPE_INT, 64, "height", G_TYPE_INT, 48, NULL);
          query = gst_query_new_allocation (caps, arg & 1);
          gst_caps_unref (caps);
          break;
        }
      case 1:
        query = gst_query_new_drain ();
        break;
      case 2:
        query = gst_query_new_caps (NULL);
        break;
      case 3:
        query = gst_query_new_latency ();
        from = harness_->sinkpad;
        break;
      case 4:
        query = gst_query_new_position (arg & 1 ? GST_FORMAT_BYTES
                                                : GST_FORMAT_TIME);
        from = harness_->sinkpad;
        break;
      case 5:
        query = gst_query_new_scheduling ();
        from = harness_->sinkpad;
        break;
      case 6:
        gst_harness_push_upstream_event (harness_,
                                         gst_event_new_reconfigure ());
        return;
      default:
        gst_harness_push_upstream_event (
            harness_,
            gst_event_new_qos (GST_QOS_TYPE_UNDERFLOW, 0.5,
                               -GstClockTimeDiff (MIN (arg * ms, pts_)), pts_));
        return;
      }
    gst_pad_peer_query (from, query);
    gst_query_unref (query);
  }

  GstElement *element_ = NULL;
  GstHarness *harness_ = NULL;
  GstTestClock *clock_ = NULL;
  std::vector<GstBuffer *> buffers_;
  std::vector<GstSample *> samples_;
  GstClockTime pts_ = 0;
  int leaky_ = 2;
  bool on_request_ = false;
  bool live_ = true;
  bool unlinked_ = false;
  std::atomic<GstFlowReturn> downstream_flow_{ GST_FLOW_OK };
};

/* GStreamer's warnings about the misordered events this driver sends on
 * purpose: a run would print thousands. */
void
ignore_warning (const gchar *, GLogLevelFlags, const gchar *, gpointer)
{
}

} // namespace

extern "C" int
LLVMFuzzerInitialize (int *, char ***)
{
  /* No plugin is scanned: the element is registered below. */
  g_setenv ("GST_REGISTRY_FORK", "no", TRUE);
  g_setenv ("GST_PLUGIN_SYSTEM_PATH_1_0", "", TRUE);
  g_setenv ("GST_PLUGIN_PATH_1_0", "", TRUE);
  if (!g_getenv ("GST_REGISTRY_1_0"))
    {
      gchar *registry = g_strdup_printf ("/tmp/latestframe-fuzz-%u.registry",
                                         static_cast<unsigned> (getuid ()));
      g_setenv ("GST_REGISTRY_1_0", registry, TRUE);
      g_free (registry);
    }
  /* A critical is a programmer's error: ours, or this driver's. (GLib
   * warnings are not fatal: GStreamer warns about misordered sticky events,
   * bad input this driver sends on purpose.) */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
  /* GObject's warnings (a property value out of range) are this driver's
   * errors. */
  g_log_set_fatal_mask (
      "GLib-GObject",
      static_cast<GLogLevelFlags> (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL));
  g_log_set_handler ("GStreamer", G_LOG_LEVEL_WARNING, ignore_warning, NULL);
  gst_init (NULL, NULL);
  if (!g_getenv ("GST_DEBUG"))
    gst_debug_set_default_threshold (GST_LEVEL_NONE);
  if (!GST_ELEMENT_REGISTER (latestframe, NULL))
    violated ("cannot register the latestframe element");
  return 0;
}

extern "C" int
LLVMFuzzerTestOneInput (const std::uint8_t *data, std::size_t size)
{
  if (size == 0)
    return 0;
  input_reader in (data, size);
  element_run run (in.byte ());
  run.run (in);
  return 0;
}
