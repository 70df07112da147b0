/* rtpinorderbuffer: DISCONT on a sequence gap, duplicates dropped, PTS from
 * RTP time, a timestamp/x-ntp reference timestamp meta from a sender report
 * on sink_rtcp, FLUSH_STOP starting over, and no added latency. Driven with
 * GstHarness and a test clock: arrivals are set, never waited for. */
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
  return s;
}

GST_CHECK_MAIN (rtpinorderbuffer);
