/* rtpinorderbuffer: DISCONT on a sequence gap, duplicates dropped, PTS from
 * RTP time, a timestamp/x-ntp reference timestamp meta from a sender report
 * on sink_rtcp, FLUSH_STOP starting over, and no added latency. Driven with
 * GstHarness and a test clock: arrivals are set, never waited for.
 * skip-delta-units: on x264enc's streams through RTP, exactly the units
 * h264parse calls key units pass; other encodings pass untouched.
 * rtph264audepay (the capture's H.264 depayloader): one buffer per access
 * unit. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/rtp/rtp.h>

#define CAPS                                                                   \
  "application/x-rtp,media=video,clock-rate=90000,payload=96,"                 \
  "encoding-name=H264"

static GstHarness *
new_buffer_harness (void)
{
  GstHarness *h
      = gst_harness_new_with_padnames ("rtpinorderbuffer", "sink", "src");
  gst_harness_set_src_caps_str (h, CAPS);
  gst_harness_use_testclock (h);
  return h;
}

/* An RTP packet `seq`, `rtp_time`, arriving at `arrival` (running time). */
static GstFlowReturn
push_packet (GstHarness *h, guint16 seq, guint32 rtp_time, GstClockTime arrival)
{
  GstBuffer *buffer = gst_rtp_buffer_new_allocate (8, 0, 0);
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  fail_unless (gst_rtp_buffer_map (buffer, GST_MAP_WRITE, &rtp));
  gst_rtp_buffer_set_payload_type (&rtp, 96);
  gst_rtp_buffer_set_seq (&rtp, seq);
  gst_rtp_buffer_set_timestamp (&rtp, rtp_time);
  gst_rtp_buffer_set_ssrc (&rtp, 0x1234);
  gst_rtp_buffer_unmap (&rtp);
  gst_harness_set_time (h, arrival);
  return gst_harness_push (h, buffer);
}

static guint16
seq_of (GstBuffer *buffer)
{
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  fail_unless (gst_rtp_buffer_map (buffer, GST_MAP_READ, &rtp));
  const guint16 seq = gst_rtp_buffer_get_seq (&rtp);
  gst_rtp_buffer_unmap (&rtp);
  return seq;
}

/* Steps: push 10, 11, 11 again, 9, 14, 15.
 * Invariant: 10 (first) and 14 (after the gap) are DISCONT, 11 and 15 are
 * not; the duplicate and the old packet are dropped. */
GST_START_TEST (test_gap_is_discont_duplicates_dropped)
{
  GstHarness *h = new_buffer_harness ();
  const guint16 pushed[] = { 10, 11, 11, 9, 14, 15 };
  for (guint i = 0; i < G_N_ELEMENTS (pushed); i++)
    fail_unless_equals_int (
        push_packet (h, pushed[i], 3000 * pushed[i], GST_SECOND * (1 + i)),
        GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 4);
  const guint16 expected[] = { 10, 11, 14, 15 };
  const gboolean discont[] = { TRUE, FALSE, TRUE, FALSE };
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      GstBuffer *buffer = gst_harness_pull (h);
      fail_unless_equals_int (seq_of (buffer), expected[i]);
      fail_unless_equals_int (GST_BUFFER_IS_DISCONT (buffer), discont[i]);
      gst_buffer_unref (buffer);
    }
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: packets 33 ms of RTP time apart, arriving 5 ms late each.
 * Invariant: PTS = first arrival + RTP time since; no DTS. */
GST_START_TEST (test_pts_from_rtp_time)
{
  GstHarness *h = new_buffer_harness ();
  for (guint i = 0; i < 3; i++)
    push_packet (h, 100 + i, 1000 + 3000 * i,
                 GST_SECOND + i * 33333333 + (i ? 5 * GST_MSECOND : 0));
  for (guint i = 0; i < 3; i++)
    {
      GstBuffer *buffer = gst_harness_pull (h);
      fail_unless_equals_uint64 (GST_BUFFER_PTS (buffer),
                                 GST_SECOND + i * 33333333);
      fail_unless (!GST_BUFFER_DTS_IS_VALID (buffer));
      gst_buffer_unref (buffer);
    }
  gst_harness_teardown (h);
}
GST_END_TEST;

static GstBuffer *
sender_report (guint64 ntp64, guint32 rtp_time)
{
  GstBuffer *buffer = gst_rtcp_buffer_new (1400);
  GstRTCPBuffer rtcp = GST_RTCP_BUFFER_INIT;
  GstRTCPPacket packet;
  fail_unless (gst_rtcp_buffer_map (buffer, GST_MAP_READWRITE, &rtcp));
  fail_unless (gst_rtcp_buffer_add_packet (&rtcp, GST_RTCP_TYPE_SR, &packet));
  gst_rtcp_packet_sr_set_sender_info (&packet, 0x1234, ntp64, rtp_time, 1, 1);
  gst_rtcp_buffer_unmap (&rtcp);
  return buffer;
}

static GstClockTime
ntp_meta_of (GstBuffer *buffer)
{
  GstCaps *ntp = gst_caps_from_string ("timestamp/x-ntp");
  GstReferenceTimestampMeta *meta
      = gst_buffer_get_reference_timestamp_meta (buffer, ntp);
  gst_caps_unref (ntp);
  return meta ? meta->timestamp : GST_CLOCK_TIME_NONE;
}

/* Steps: with add-reference-timestamp-meta, a packet, a sender report on
 * sink_rtcp (NTP 4000 s at RTP 90000), packets 0.5 s before and after.
 * Invariant: no meta before the report; after it, NTP + RTP time since the
 * report's, each exact; without the property, no meta at all. */
GST_START_TEST (test_sender_report_gives_capture_time)
{
  for (int with_meta = 0; with_meta <= 1; with_meta++)
    {
      GstHarness *h = new_buffer_harness ();
      g_object_set (h->element, "add-reference-timestamp-meta", with_meta,
                    NULL);
      GstHarness *rtcp
          = gst_harness_new_with_element (h->element, "sink_rtcp", NULL);
      gst_harness_set_src_caps_str (rtcp, "application/x-rtcp");
      push_packet (h, 1, 45000, GST_SECOND);
      fail_unless_equals_int (
          gst_harness_push (
              rtcp, sender_report (G_GUINT64_CONSTANT (4000) << 32, 90000)),
          GST_FLOW_OK);
      push_packet (h, 2, 45000, GST_SECOND + GST_MSECOND);
      push_packet (h, 3, 135000, 2 * GST_SECOND);
      GstBuffer *before = gst_harness_pull (h);
      GstBuffer *early = gst_harness_pull (h);
      GstBuffer *late = gst_harness_pull (h);
      fail_unless_equals_uint64 (ntp_meta_of (before), GST_CLOCK_TIME_NONE);
      fail_unless_equals_uint64 (ntp_meta_of (early),
                                 with_meta ? 4000 * GST_SECOND - GST_SECOND / 2
                                           : GST_CLOCK_TIME_NONE);
      fail_unless_equals_uint64 (ntp_meta_of (late),
                                 with_meta ? 4000 * GST_SECOND + GST_SECOND / 2
                                           : GST_CLOCK_TIME_NONE);
      gst_buffer_unref (before);
      gst_buffer_unref (early);
      gst_buffer_unref (late);
      gst_harness_teardown (rtcp);
      gst_harness_teardown (h);
    }
}
GST_END_TEST;

/* Steps: packets 500, 501; FLUSH_START/STOP; packet 400.
 * Invariant: after the flush 400 is not taken for an old packet: it passes,
 * DISCONT, its PTS its arrival. */
GST_START_TEST (test_flush_starts_over)
{
  GstHarness *h = new_buffer_harness ();
  push_packet (h, 500, 0, GST_SECOND);
  push_packet (h, 501, 3000, GST_SECOND + 33333333);
  gst_buffer_unref (gst_harness_pull (h));
  gst_buffer_unref (gst_harness_pull (h));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_harness_set_src_caps_str (h, CAPS);
  push_packet (h, 400, 77, 3 * GST_SECOND);
  GstBuffer *buffer = gst_harness_pull (h);
  fail_unless_equals_int (seq_of (buffer), 400);
  fail_unless (GST_BUFFER_IS_DISCONT (buffer));
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buffer), 3 * GST_SECOND);
  gst_buffer_unref (buffer);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: latency=2000 as rtpbin sets it; a latency query.
 * Invariant: the answer is upstream's: the element adds none. */
GST_START_TEST (test_latency_property_adds_no_latency)
{
  GstHarness *h = new_buffer_harness ();
  g_object_set (h->element, "latency", 2000, NULL);
  guint latency = 0;
  g_object_get (h->element, "latency", &latency, NULL);
  fail_unless_equals_int (latency, 2000);
  gst_harness_set_upstream_latency (h, 7 * GST_MSECOND);
  fail_unless_equals_uint64 (gst_harness_query_latency (h), 7 * GST_MSECOND);
  gst_harness_teardown (h);
}
GST_END_TEST;

typedef struct
{
  guint frames, key_frames;
} FrameCount;

/* identity's handoff */
static void
count_frame (GstElement *, GstBuffer *buffer, gpointer data)
{
  FrameCount *count = data;
  count->frames++;
  if (!GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT))
    count->key_frames++;
}

/* fakesink's */
static void
count_sink_frame (GstElement *, GstBuffer *, GstPad *, gpointer data)
{
  (*(guint *)data)++;
}

/* Plays `pipeline` until EOS (an error or 60 s without EOS fails). */
static void
play_to_eos (GstElement *pipeline)
{
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING)
               != GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *message = gst_bus_timed_pop_filtered (
      bus, 60 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (message != NULL, "no EOS in 60 s");
  fail_unless_equals_int (GST_MESSAGE_TYPE (message), GST_MESSAGE_EOS);
  gst_message_unref (message);
  gst_object_unref (bus);
}

/* 60 frames of `encoder` over RTP H.264 (mtu 400: most frames in FU-A
 * fragments) through rtpinorderbuffer with skip-delta-units `skip`, the
 * depayloader, h264parse and avdec_h264. Counts the frames after the
 * parser (key: no DELTA_UNIT) and after the decoder; returns the element's
 * skipped-delta-units. */
static guint64
run_h264 (const gchar *encoder, gboolean skip, FrameCount *parsed,
          guint *decoded)
{
  gchar *description = g_strdup_printf (
      "videotestsrc num-buffers=60 pattern=ball "
      "! video/x-raw,width=320,height=240,framerate=30/1 ! %s "
      "! rtph264pay mtu=400 "
      "! rtpinorderbuffer name=buffer skip-delta-units=%s "
      "! rtph264depay ! h264parse ! identity name=parsed signal-handoffs=true "
      "! avdec_h264 ! fakesink name=sink signal-handoffs=true",
      encoder, skip ? "true" : "false");
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (description, &error);
  fail_unless (pipeline != NULL, "%s: %s", description,
               error ? error->message : "");
  g_free (description);
  *parsed = (FrameCount){ 0, 0 };
  *decoded = 0;
  GstElement *identity = gst_bin_get_by_name (GST_BIN (pipeline), "parsed");
  g_signal_connect (identity, "handoff", G_CALLBACK (count_frame), parsed);
  gst_object_unref (identity);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_signal_connect (sink, "handoff", G_CALLBACK (count_sink_frame), decoded);
  gst_object_unref (sink);
  play_to_eos (pipeline);
  GstElement *buffer = gst_bin_get_by_name (GST_BIN (pipeline), "buffer");
  GstStructure *stats = NULL;
  g_object_get (buffer, "stats", &stats, NULL);
  gst_object_unref (buffer);
  guint64 skipped = G_MAXUINT64;
  fail_unless (
      gst_structure_get_uint64 (stats, "skipped-delta-units", &skipped));
  gst_structure_free (stats);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  return skipped;
}

/* Steps: each encoder's stream without, then with skip-delta-units.
 * Invariant: with it, the parser gets exactly the key units it finds
 * without it (IDR and I frames, and with intra refresh the frames with a
 * recovery-point SEI), all of them key units, and skipped-delta-units
 * counts the rest; without it, all 60 and none skipped. The key units
 * alone decode, one frame each (not checked with intra refresh, whose
 * recovery points are P frames). */
GST_START_TEST (test_skip_delta_units_passes_exactly_the_key_units)
{
  const struct
  {
    const gchar *encoder;
    gboolean decodes_alone;
  } cases[] = {
    { "x264enc key-int-max=10 speed-preset=ultrafast", TRUE },
    { "x264enc key-int-max=15 bframes=2 speed-preset=ultrafast", TRUE },
    { "x264enc key-int-max=20 speed-preset=ultrafast option-string=slices=4",
      TRUE },
    { "x264enc key-int-max=12 intra-refresh=true speed-preset=ultrafast",
      FALSE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      FrameCount all, skipped_run;
      guint decoded = 0;
      fail_unless_equals_uint64 (
          run_h264 (cases[i].encoder, FALSE, &all, &decoded), 0);
      fail_unless_equals_int (all.frames, 60);
      fail_unless_equals_int (decoded, 60);
      fail_unless (all.key_frames >= 3 && all.key_frames < 30, "%s: %u keys",
                   cases[i].encoder, all.key_frames);
      const guint64 skipped
          = run_h264 (cases[i].encoder, TRUE, &skipped_run, &decoded);
      fail_unless_equals_int (skipped_run.frames, all.key_frames);
      fail_unless_equals_int (skipped_run.key_frames, all.key_frames);
      fail_unless_equals_uint64 (skipped, 60 - all.key_frames);
      if (cases[i].decodes_alone)
        fail_unless_equals_int (decoded, all.key_frames);
    }
}
GST_END_TEST;

/* An RTP packet `seq` at `rtp_time` whose payload is `payload`, marker set. */
static GstFlowReturn
push_payload (GstHarness *h, guint16 seq, guint32 rtp_time,
              const guint8 *payload, guint size)
{
  GstBuffer *buffer = gst_rtp_buffer_new_allocate (size, 0, 0);
  GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
  fail_unless (gst_rtp_buffer_map (buffer, GST_MAP_WRITE, &rtp));
  gst_rtp_buffer_set_payload_type (&rtp, 96);
  gst_rtp_buffer_set_seq (&rtp, seq);
  gst_rtp_buffer_set_timestamp (&rtp, rtp_time);
  gst_rtp_buffer_set_marker (&rtp, TRUE);
  memcpy (gst_rtp_buffer_get_payload (&rtp), payload, size);
  gst_rtp_buffer_unmap (&rtp);
  gst_harness_set_time (h, GST_SECOND + seq * 33 * GST_MSECOND);
  return gst_harness_push (h, buffer);
}

/* Steps: skip-delta-units on; caps H.264, then H.265; the same bytes each
 * time: an H.264 P slice in one packet.
 * Invariant: under H.264 it is dropped and counted; under H.265 (whose
 * units are not read) it passes. */
GST_START_TEST (test_skip_delta_units_is_for_h264_alone)
{
  GstHarness *h = new_buffer_harness ();
  g_object_set (h->element, "skip-delta-units", TRUE, NULL);
  const guint8 p_slice[] = { 0x41, 0xc0, 0x12, 0x34 };
  fail_unless_equals_int (push_payload (h, 1, 0, p_slice, sizeof p_slice),
                          GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 0);
  gst_harness_set_src_caps_str (
      h, "application/x-rtp,media=video,clock-rate=90000,payload=96,"
         "encoding-name=H265");
  fail_unless_equals_int (push_payload (h, 2, 3000, p_slice, sizeof p_slice),
                          GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 1);
  GstStructure *stats = NULL;
  g_object_get (h->element, "stats", &stats, NULL);
  guint64 skipped = 0;
  fail_unless (
      gst_structure_get_uint64 (stats, "skipped-delta-units", &skipped));
  fail_unless_equals_uint64 (skipped, 1);
  gst_structure_free (stats);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: 60 frames, 4 slices each, through rtph264pay (mtu 400) and
 * rtph264audepay, nothing after it asking for an alignment.
 * Invariant: 60 buffers, one per access unit, caps alignment=au. */
GST_START_TEST (test_rtph264audepay_outputs_whole_units)
{
  GstElement *pipeline = gst_parse_launch (
      "videotestsrc num-buffers=60 ! video/x-raw,width=320,height=240 "
      "! x264enc speed-preset=ultrafast option-string=slices=4 "
      "! rtph264pay mtu=400 ! rtph264audepay "
      "! identity name=out signal-handoffs=true ! fakesink",
      NULL);
  fail_unless (pipeline != NULL);
  FrameCount count = { 0, 0 };
  GstElement *out = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  g_signal_connect (out, "handoff", G_CALLBACK (count_frame), &count);
  play_to_eos (pipeline);
  GstPad *pad = gst_element_get_static_pad (out, "src");
  GstCaps *caps = gst_pad_get_current_caps (pad);
  fail_unless (caps != NULL);
  fail_unless_equals_string (
      gst_structure_get_string (gst_caps_get_structure (caps, 0), "alignment"),
      "au");
  gst_caps_unref (caps);
  gst_object_unref (pad);
  gst_object_unref (out);
  fail_unless_equals_int (count.frames, 60);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
}
GST_END_TEST;

static Suite *
rtpinorderbuffer_suite (void)
{
  Suite *s = suite_create ("rtpinorderbuffer");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_gap_is_discont_duplicates_dropped);
  tcase_add_test (tc, test_pts_from_rtp_time);
  tcase_add_test (tc, test_sender_report_gives_capture_time);
  tcase_add_test (tc, test_flush_starts_over);
  tcase_add_test (tc, test_latency_property_adds_no_latency);
  tcase_add_test (tc, test_skip_delta_units_passes_exactly_the_key_units);
  tcase_add_test (tc, test_skip_delta_units_is_for_h264_alone);
  tcase_add_test (tc, test_rtph264audepay_outputs_whole_units);
  return s;
}

GST_CHECK_MAIN (rtpinorderbuffer);
