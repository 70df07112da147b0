/* latestframe on encoded video (GstHarness, under the leaks tracer): chains
 * of key and delta units dropped whole, decode modes, decode-only frames,
 * the pace. The frames are not real H.264: the element reads nothing but
 * the caps' media type and the buffers' flags. */
#include "check_helpers.h"

#define H264_CAPS "video/x-h264,stream-format=byte-stream,alignment=au"

/* A harness around latestframe with `properties` on encoded caps. */
static GstHarness *
new_encoded_harness (const gchar *properties)
{
  GstHarness *h = new_harness (properties);
  gst_harness_set_src_caps_str (h, H264_CAPS);
  return h;
}

/* Frame `offset` at its 30 fps time: a key unit, or a delta unit. */
static GstBuffer *
unit (guint64 offset, gboolean delta)
{
  GstBuffer *buffer = numbered_buffer (offset, 16, offset * FRAME_NS);
  GST_BUFFER_DURATION (buffer) = FRAME_NS;
  if (delta)
    GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  return buffer;
}

static void
assert_counts_hold (GstHarness *h)
{
  fail_unless_equals_uint64 (
      stat_uint64 (h->element, "received"),
      stat_uint64 (h->element, "pushed") + stat_uint64 (h->element, "dropped")
          + (guint64)level_buffers (h));
}

/* Steps: freeze on key unit 0; delta units 1, 2 (its chain), key unit 3,
 * delta unit 4 arrive; open the gate.
 * Invariant: one chain is held (max-size-buffers=1 counts chains): key
 * unit 3 pushes 1 out (overflow) and 2 with it (broken-chain), never 2
 * alone; 3 carries DISCONT; 4 follows it. */
GST_START_TEST (chains_are_dropped_whole)
{
  GstHarness *h = new_encoded_harness (NULL);
  Recorder rec;
  Gate gate;
  record_and_freeze (h, &rec, &gate);
  for (guint64 i = 1; i <= 4; i++)
    gst_harness_push (h, unit (i, i != 3));
  GstStructure *stats = NULL;
  guint chains = 0;
  g_object_get (h->element, "stats", &stats, NULL);
  fail_unless (gst_structure_get_uint (stats, "current-level-chains", &chains));
  gst_structure_free (stats);
  fail_unless_equals_int (chains, 1);
  fail_unless_equals_int (level_buffers (h), 2);
  gate_open (&gate);
  recorder_wait_buffers (&rec, 3);
  gchar *log = recorder_take (&rec);
  fail_unless (g_str_has_suffix (log, "0 3D 4"), "got '%s'", log);
  g_free (log);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "dropped-overflow"), 1);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "dropped-broken-chain"),
                             1);
  assert_counts_hold (h);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: leaky=upstream; freeze on key unit 0; delta unit 1 (held), key
 * unit 2 (a second chain: does not fit), delta units 3, 4, key unit 5.
 * Invariant: 2 is dropped arriving, so 3 and 4, which need it, are dropped
 * too (broken-chain) though there would be room; 5 mends the chain. */
GST_START_TEST (an_arrival_dropped_breaks_its_chain)
{
  GstHarness *h = new_encoded_harness ("leaky=upstream");
  Recorder rec;
  Gate gate;
  record_and_freeze (h, &rec, &gate);
  gst_harness_push (h, unit (1, TRUE));
  gst_harness_push (h, unit (2, FALSE));
  gst_harness_push (h, unit (3, TRUE));
  gst_harness_push (h, unit (4, TRUE));
  gate_open (&gate);
  recorder_wait_buffers (&rec, 2);
  gst_harness_push (h, unit (5, FALSE));
  recorder_wait_buffers (&rec, 3);
  gchar *log = recorder_take (&rec);
  fail_unless (g_str_has_suffix (log, "0 1 5D"), "got '%s'", log);
  g_free (log);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "dropped-overflow"), 1);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "dropped-broken-chain"),
                             2);
  assert_counts_hold (h);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: decode=key-units; freeze on key unit 0; delta units 1, 2, key
 * unit 3 arrive; open the gate.
 * Invariant: only key units are pushed, the second one after a gap; the
 * delta units count as skipped-delta; the stats name the mode. */
GST_START_TEST (key_units_only)
{
  GstHarness *h = new_encoded_harness ("decode=key-units");
  Recorder rec;
  Gate gate;
  record_and_freeze (h, &rec, &gate);
  for (guint64 i = 1; i <= 3; i++)
    gst_harness_push (h, unit (i, i != 3));
  gate_open (&gate);
  recorder_wait_buffers (&rec, 2);
  gchar *log = recorder_take (&rec);
  fail_unless (g_str_has_suffix (log, "0 3D"), "got '%s'", log);
  g_free (log);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "dropped-skipped-delta"),
                             2);
  GstStructure *stats = NULL;
  g_object_get (h->element, "stats", &stats, NULL);
  fail_unless_equals_string (gst_structure_get_string (stats, "decoding"),
                             "key-units");
  gst_structure_free (stats);
  assert_counts_hold (h);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* The segment downstream has now. */
static GstSegment
segment_downstream (GstHarness *h)
{
  GstPad *src = element_src (h);
  GstEvent *event = gst_pad_get_sticky_event (src, GST_EVENT_SEGMENT, 0);
  gst_object_unref (src);
  fail_unless (event != NULL);
  GstSegment segment;
  gst_event_copy_segment (event, &segment);
  gst_event_unref (event);
  return segment;
}

/* Pulls the next buffer out of the harness and drops it. */
static void
pull_one (GstHarness *h)
{
  GstBuffer *out = gst_harness_pull (h);
  fail_unless (out != NULL);
  gst_buffer_unref (out);
}

/* A key unit of H.264 in Annex B: a parameter set, then a slice whose NAL
 * unit type is `slice_type` (5: IDR, 1: not IDR, here I slices). */
static GstBuffer *
h264_key_unit (guint64 offset, guint8 slice_type)
{
  static const guint8 sps[] = { 0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f };
  const guint8 slice[] = { 0, 0, 0, 1, (guint8)(0x60 | slice_type), 0x88, 0x84 };
  GstBuffer *buffer = gst_buffer_new_allocate (NULL, sizeof sps + sizeof slice,
                                               NULL);
  gst_buffer_fill (buffer, 0, sps, sizeof sps);
  gst_buffer_fill (buffer, sizeof sps, slice, sizeof slice);
  GST_BUFFER_PTS (buffer) = offset * FRAME_NS;
  GST_BUFFER_DURATION (buffer) = FRAME_NS;
  GST_BUFFER_OFFSET (buffer) = offset;
  return buffer;
}

/* The segment downstream has the key-unit trick mode flag. */
static gboolean
segment_marked (GstHarness *h)
{
  const GstSegment segment = segment_downstream (h);
  return (segment.flags & GST_SEGMENT_FLAG_TRICKMODE_KEY_UNITS) != 0;
}

/* Steps: decode=key-units, IDR key unit 0; decode=all, IDR key unit 1,
 * delta unit 2; decode=key-units, IDR key unit 3.
 * Invariant: while key units alone go out, the segment downstream says so
 * (GST_SEGMENT_FLAG_TRICKMODE_KEY_UNITS: a GstVideoDecoder then drains after
 * each and outputs it at once), with running times as they were; once other
 * frames may follow it does not. */
GST_START_TEST (key_units_alone_are_marked_in_the_segment)
{
  GstHarness *h = new_encoded_harness ("decode=key-units");
  gst_harness_push (h, h264_key_unit (0, 5));
  pull_one (h);
  fail_unless (segment_marked (h));
  GstSegment segment = segment_downstream (h);
  fail_unless_equals_uint64 (
      gst_segment_to_running_time (&segment, GST_FORMAT_TIME, FRAME_NS),
      FRAME_NS);

  gst_util_set_object_arg (G_OBJECT (h->element), "decode", "all");
  gst_harness_push (h, h264_key_unit (1, 5));
  gst_harness_push (h, unit (2, TRUE));
  pull_one (h);
  pull_one (h);
  fail_unless (!segment_marked (h));
  segment = segment_downstream (h);
  fail_unless_equals_uint64 (
      gst_segment_to_running_time (&segment, GST_FORMAT_TIME, 2 * FRAME_NS),
      2 * FRAME_NS);

  gst_util_set_object_arg (G_OBJECT (h->element), "decode", "key-units");
  gst_harness_push (h, h264_key_unit (3, 5));
  pull_one (h);
  fail_unless (segment_marked (h));
  assert_counts_hold (h);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: decode=key-units, IDR key unit 0, key unit 1 of non-IDR I slices,
 * IDR key unit 2; new caps, IDR key unit 3.
 * Invariant: a key unit that libavcodec skips in a key-unit trick mode
 * ends the marking for the stream (gst-libav applies the mode one unit
 * late, so none of them may follow a marked one), with one warning, as it
 * came right after a marked one; new caps start afresh. */
GST_START_TEST (a_key_unit_a_decoder_would_skip_ends_the_marking)
{
  GstHarness *h = new_encoded_harness ("decode=key-units");
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  gst_harness_push (h, h264_key_unit (0, 5));
  pull_one (h);
  fail_unless (segment_marked (h));
  gst_harness_push (h, h264_key_unit (1, 1));
  pull_one (h);
  fail_unless (!segment_marked (h));
  gst_harness_push (h, h264_key_unit (2, 5));
  pull_one (h);
  fail_unless (!segment_marked (h), "marked again on the same stream");
  GstMessage *warning = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (warning != NULL);
  gst_message_unref (warning);
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING) == NULL);

  gst_harness_set_src_caps_str (h, H264_CAPS ",width=320,height=240");
  gst_harness_push (h, h264_key_unit (3, 5));
  pull_one (h);
  fail_unless (segment_marked (h));
  assert_counts_hold (h);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: a segment from upstream that says key-unit trick mode itself;
 * decode=key-units, IDR key unit 0, key unit 1 of non-IDR I slices.
 * Invariant: the flag upstream set stays, whatever this element would
 * mark. */
GST_START_TEST (an_upstream_trick_mode_is_kept)
{
  GstHarness *h = new_encoded_harness ("decode=key-units");
  GstSegment trick;
  gst_segment_init (&trick, GST_FORMAT_TIME);
  trick.flags = GST_SEGMENT_FLAG_TRICKMODE_KEY_UNITS;
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&trick)));
  gst_harness_push (h, h264_key_unit (0, 5));
  pull_one (h);
  fail_unless (segment_marked (h));
  gst_harness_push (h, h264_key_unit (1, 1));
  pull_one (h);
  fail_unless (segment_marked (h), "upstream's own flag was taken off");
  assert_counts_hold (h);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: decode=on-demand; freeze on key unit 0; delta units 1, 2, 3
 * arrive; open the gate.
 * Invariant: 1 and 2 go out decode-only, each lasting 1 ns with the segment
 * downstream starting right after it (a decoder drops their pictures); 3
 * goes out whole; its running time is what it was; decode-only counts 2. */
GST_START_TEST (on_demand_frames_before_the_newest_are_decode_only)
{
  GstHarness *h = new_encoded_harness ("decode=on-demand");
  Recorder rec;
  Gate gate;
  record_and_freeze (h, &rec, &gate);
  for (guint64 i = 1; i <= 3; i++)
    gst_harness_push (h, unit (i, TRUE));
  gate_open (&gate);
  recorder_wait_buffers (&rec, 4);
  gchar *log = recorder_take (&rec);
  fail_unless (g_str_has_suffix (log, "0 segment 1 segment 2 3"), "got '%s'",
               log);
  g_free (log);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "decode-only"), 2);
  const GstSegment segment = segment_downstream (h);
  fail_unless_equals_uint64 (segment.start, 2 * FRAME_NS + 1);
  fail_unless_equals_uint64 (
      gst_segment_to_running_time (&segment, GST_FORMAT_TIME, 3 * FRAME_NS),
      3 * FRAME_NS);
  GstBuffer *out;
  guint64 durations[4] = { 0 };
  for (guint i = 0; i < 4 && (out = gst_harness_pull (h)); i++)
    {
      durations[i] = GST_BUFFER_DURATION (out);
      gst_buffer_unref (out);
    }
  fail_unless_equals_uint64 (durations[1], 1);
  fail_unless_equals_uint64 (durations[2], 1);
  fail_unless_equals_uint64 (durations[3], FRAME_NS);
  assert_counts_hold (h);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: decode=on-demand; freeze on key unit 0; delta unit 1 without a
 * PTS (nor DTS: depayloaders leave it off the first frames of a stream),
 * delta unit 2 arrive; open the gate.
 * Invariant: 1 still goes out decode-only, at the segment's start and
 * lasting 1 ns, the segment downstream starting right after it; no warning;
 * 2 goes out whole at its running time. */
GST_START_TEST (a_frame_without_timestamp_is_decode_only_too)
{
  GstHarness *h = new_encoded_harness ("decode=on-demand");
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  Recorder rec;
  Gate gate;
  record_and_freeze (h, &rec, &gate);
  GstBuffer *untimed = unit (1, TRUE);
  GST_BUFFER_PTS (untimed) = GST_BUFFER_DTS (untimed) = GST_CLOCK_TIME_NONE;
  gst_harness_push (h, untimed);
  gst_harness_push (h, unit (2, TRUE));
  gate_open (&gate);
  recorder_wait_buffers (&rec, 3);
  gchar *log = recorder_take (&rec);
  fail_unless (g_str_has_suffix (log, "0 segment 1 2"), "got '%s'", log);
  g_free (log);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "decode-only"), 1);
  GstBuffer *out = gst_harness_pull (h); /* 0 */
  gst_buffer_unref (out);
  out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (out), 1);
  const GstClockTime untimed_pts = GST_BUFFER_PTS (out);
  gst_buffer_unref (out);
  const GstSegment segment = segment_downstream (h);
  fail_unless (GST_CLOCK_TIME_IS_VALID (untimed_pts));
  fail_unless_equals_uint64 (segment.start, untimed_pts + 1);
  fail_unless_equals_uint64 (
      gst_segment_to_running_time (&segment, GST_FORMAT_TIME, 2 * FRAME_NS),
      2 * FRAME_NS);
  GstMessage *warning = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (warning == NULL, "warned: frame 1 could not be decode-only");
  assert_counts_hold (h);
  recorder_stop (&rec);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: raw caps with decode=key-units, frames flagged as delta units.
 * Invariant: raw video ignores the decode mode and the flags: every frame
 * is a key unit, nothing is skipped. */
GST_START_TEST (raw_video_ignores_decode)
{
  GstHarness *h = new_harness ("decode=key-units max-size-buffers=4");
  Recorder rec;
  record_src (h, &rec);
  for (guint64 i = 0; i <= 3; i++)
    gst_harness_push (h, unit (i, i > 0));
  recorder_wait_buffers (&rec, 4);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "dropped"), 0);
  GstStructure *stats = NULL;
  g_object_get (h->element, "stats", &stats, NULL);
  fail_unless_equals_string (gst_structure_get_string (stats, "decoding"),
                             "raw");
  gst_structure_free (stats);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: decode=all with analysis-rate=1 on encoded caps.
 * Invariant: every frame must reach the decoder, so the rate cannot apply:
 * one warning says so; frames are not paced. */
GST_START_TEST (a_rate_with_decode_all_warns)
{
  GstHarness *h = new_harness ("analysis-rate=1 max-size-buffers=3");
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  Recorder rec;
  record_src (h, &rec);
  gst_harness_set_src_caps_str (h, H264_CAPS);
  for (guint64 i = 0; i <= 2; i++)
    gst_harness_push (h, unit (i, i > 0));
  recorder_wait_buffers (&rec, 3);
  GstMessage *warning = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (warning != NULL);
  GError *error = NULL;
  gst_message_parse_warning (warning, &error, NULL);
  fail_unless (strstr (error->message, "analysis-rate") != NULL,
               error->message);
  g_error_free (error);
  gst_message_unref (warning);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: raw video, analysis-rate=0.01 (one frame per 100 s: its turn
 * never comes within the test), max-size-buffers 1; frame 0, then frames
 * 1-5; then the rate is lifted (0).
 * Invariant: frame 0 goes at once; the others wait (none is pushed while
 * the pace holds) and are superseded by the newest, which goes as soon as
 * the pace is lifted. */
GST_START_TEST (the_rate_holds_frames_back_and_keeps_the_newest)
{
  GstHarness *h = new_harness ("analysis-rate=0.01");
  Recorder rec;
  record_src (h, &rec);
  gst_harness_push (h, numbered_buffer (0, 16, 0));
  recorder_wait_buffers (&rec, 1);
  for (guint64 i = 1; i <= 5; i++)
    gst_harness_push (h, numbered_buffer (i, 16, i * FRAME_NS));
  /* The newest frame is still held: the pace did not let it go. */
  fail_unless_equals_int (level_buffers (h), 1);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "dropped-superseded"), 4);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "pushed"), 1);
  g_object_set (h->element, "analysis-rate", 0.0, NULL);
  recorder_wait_buffers (&rec, 2);
  gchar *log = recorder_take (&rec);
  fail_unless (g_str_has_suffix (log, "0 5D"), "got '%s'", log);
  g_free (log);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

static Suite *
encoded_suite (void)
{
  Suite *s = suite_create ("latestframe-encoded");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, chains_are_dropped_whole);
  tcase_add_test (tc, an_arrival_dropped_breaks_its_chain);
  tcase_add_test (tc, key_units_only);
  tcase_add_test (tc, key_units_alone_are_marked_in_the_segment);
  tcase_add_test (tc, a_key_unit_a_decoder_would_skip_ends_the_marking);
  tcase_add_test (tc, an_upstream_trick_mode_is_kept);
  tcase_add_test (tc, on_demand_frames_before_the_newest_are_decode_only);
  tcase_add_test (tc, a_frame_without_timestamp_is_decode_only_too);
  tcase_add_test (tc, raw_video_ignores_decode);
  tcase_add_test (tc, a_rate_with_decode_all_warns);
  tcase_add_test (tc, the_rate_holds_frames_back_and_keeps_the_newest);
  return s;
}

GST_CHECK_MAIN (encoded);
