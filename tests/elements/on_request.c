/* latestframe delivery=on-request: an application thread takes the newest
 * frame with the try-pull-frame action. The element is driven through
 * GstHarness (its src pad left unlinked, as an application uses it) and a
 * real pipeline for the end of a stream. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "check_helpers.h"
#include <gst/video/video.h>

#define CAPS "video/x-raw,format=GRAY8,width=4,height=4,framerate=30/1"

static GstHarness *
new_reader_harness (const gchar *settings)
{
  gchar *description = g_strdup_printf ("latestframe delivery=on-request %s",
                                        settings ? settings : "");
  /* One element: gst_parse_launch returns it, not a bin. */
  GstElement *element = gst_parse_launch (description, NULL);
  g_free (description);
  fail_unless (element != NULL);
  /* The src pad stays unlinked: frames go to the reader only. */
  GstHarness *h = gst_harness_new_with_element (element, "sink", NULL);
  gst_object_unref (element);
  gst_harness_set_src_caps_str (h, CAPS);
  return h;
}

static GstBuffer *
frame_at (GstClockTime pts)
{
  GstBuffer *buffer = gst_buffer_new_allocate (NULL, 16, NULL);
  GST_BUFFER_PTS (buffer) = pts;
  GST_BUFFER_DURATION (buffer) = GST_SECOND / 30;
  return buffer;
}

static GstSample *
pull (GstHarness *h, GstClockTime timeout)
{
  GstSample *sample = NULL;
  g_signal_emit_by_name (h->element, "try-pull-frame", timeout, &sample);
  return sample;
}

static guint64
info_uint64 (GstSample *sample, const gchar *field)
{
  guint64 value = G_MAXUINT64;
  const GstStructure *info = gst_sample_get_info (sample);
  fail_unless (info != NULL);
  fail_unless (gst_structure_has_name (info, "latestframe-frame"));
  fail_unless (gst_structure_get_uint64 (info, field, &value), field);
  return value;
}


/* received == handed over + dropped + held: nothing lost uncounted. */
static void
assert_counts_hold (GstElement *element)
{
  GstStructure *stats = NULL;
  guint64 received, pushed, dropped;
  guint held;
  g_object_get (element, "stats", &stats, NULL);
  fail_unless (gst_structure_get (stats, "received", G_TYPE_UINT64, &received,
                                  "pushed", G_TYPE_UINT64, &pushed, "dropped",
                                  G_TYPE_UINT64, &dropped,
                                  "current-level-buffers", G_TYPE_UINT, &held,
                                  NULL));
  gst_structure_free (stats);
  fail_unless_equals_uint64 (received, pushed + dropped + held);
}

GST_START_TEST (takes_the_newest_frame_never_twice)
{
  GstHarness *h = new_reader_harness ("max-size-buffers=8");
  for (guint i = 0; i < 5; i++)
    fail_unless_equals_int (gst_harness_push (h, frame_at (i * GST_SECOND / 30)),
                            GST_FLOW_OK);

  GstSample *sample = pull (h, 0);
  fail_unless (sample != NULL);
  fail_unless_equals_uint64 (info_uint64 (sample, "sequence"), 5);
  fail_unless_equals_uint64 (info_uint64 (sample, "skipped"), 4);
  fail_unless_equals_uint64 (info_uint64 (sample, "running-time"),
                             4 * GST_SECOND / 30);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (gst_sample_get_buffer (sample)),
                             4 * GST_SECOND / 30);
  GstCaps *expected = gst_caps_from_string (CAPS);
  fail_unless (gst_caps_is_equal (gst_sample_get_caps (sample), expected));
  gst_caps_unref (expected);
  fail_unless_equals_int (gst_sample_get_segment (sample)->format,
                          GST_FORMAT_TIME);
  gst_sample_unref (sample);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "dropped-superseded"), 4);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "pushed"), 1);

  /* Nothing newer: none, rather than the same frame again. */
  fail_unless (pull (h, 0) == NULL);
  fail_unless (pull (h, 20 * GST_MSECOND) == NULL);

  for (guint i = 5; i < 7; i++)
    gst_harness_push (h, frame_at (i * GST_SECOND / 30));
  sample = pull (h, 0);
  fail_unless_equals_uint64 (info_uint64 (sample, "sequence"), 7);
  fail_unless_equals_uint64 (info_uint64 (sample, "skipped"), 1);
  gst_sample_unref (sample);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "dropped-superseded"), 5);
  assert_counts_hold (h->element);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* With one frame held (the default), a newer arrival pushes the held one
 * out: it could never be taken, so it counts as superseded. */
GST_START_TEST (frames_pushed_out_by_newer_ones_are_superseded)
{
  GstHarness *h = new_reader_harness (NULL);
  for (guint i = 0; i < 3; i++)
    gst_harness_push (h, frame_at (i * GST_SECOND / 30));
  fail_unless_equals_uint64 (stat_uint64 (h->element, "dropped-superseded"), 2);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "dropped-overflow"), 0);
  GstSample *sample = pull (h, 0);
  fail_unless_equals_uint64 (info_uint64 (sample, "skipped"), 2);
  gst_sample_unref (sample);
  assert_counts_hold (h->element);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* The reader gets the very buffer that arrived, as its only reference, and
 * it stays in flight until the reader lets it go. */
GST_START_TEST (hands_over_the_only_reference_in_flight_until_released)
{
  GstHarness *h = new_reader_harness (NULL);
  GstBuffer *sent = frame_at (0);
  GstMemory *memory = gst_buffer_peek_memory (sent, 0);
  gst_harness_push (h, sent);

  GstSample *sample = pull (h, GST_SECOND);
  fail_unless (sample != NULL);
  GstBuffer *buffer = gst_buffer_ref (gst_sample_get_buffer (sample));
  gst_sample_unref (sample);
  fail_unless (gst_buffer_is_writable (buffer));
  fail_unless (gst_buffer_is_all_memory_writable (buffer));
  fail_unless (gst_buffer_peek_memory (buffer, 0) == memory, "copied");
  guint in_flight = 0;
  g_object_get (h->element, "in-flight-buffers", &in_flight, NULL);
  fail_unless_equals_int (in_flight, 1);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "in-flight-bytes"), 16);

  gst_buffer_unref (buffer);
  g_object_get (h->element, "in-flight-buffers", &in_flight, NULL);
  fail_unless_equals_int (in_flight, 0);
  assert_counts_hold (h->element);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* max-age at the moment of hand-over: a frame gone too old while nobody
 * asked is dropped (reason age) and the reader waits for a fresh one. */
GST_START_TEST (honours_max_age_at_hand_over)
{
  GstHarness *h = new_reader_harness ("max-age=10000000");
  gst_harness_use_testclock (h);
  gst_harness_set_time (h, 0);
  gst_harness_push (h, frame_at (0));
  gst_harness_set_time (h, 50 * GST_MSECOND);

  fail_unless (pull (h, 0) == NULL);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "dropped-age"), 1);

  gst_harness_push (h, frame_at (45 * GST_MSECOND));
  GstSample *sample = pull (h, 0);
  fail_unless (sample != NULL);
  gint64 age = -2;
  fail_unless (gst_structure_get_int64 (gst_sample_get_info (sample), "age",
                                        &age));
  fail_unless_equals_int64 (age, 5 * GST_MSECOND);
  gst_sample_unref (sample);
  assert_counts_hold (h->element);
  gst_harness_teardown (h);
}
GST_END_TEST;

typedef struct
{
  GstHarness *h;
  GstClockTime timeout;
} PullJob;

static gpointer
pull_in_thread (gpointer data)
{
  PullJob *job = (PullJob *)data;
  return pull (job->h, job->timeout);
}

/* A reader waiting gets the next frame as soon as it arrives. */
GST_START_TEST (a_waiting_reader_gets_the_next_frame)
{
  GstHarness *h = new_reader_harness (NULL);
  PullJob job = { h, GST_CLOCK_TIME_NONE };
  GThread *reader = g_thread_new ("reader", pull_in_thread, &job);
  /* Whether it already waits or not, it must get this frame. */
  gst_harness_push (h, frame_at (0));
  GstSample *sample = (GstSample *)g_thread_join (reader);
  fail_unless (sample != NULL);
  fail_unless_equals_uint64 (info_uint64 (sample, "sequence"), 1);
  gst_sample_unref (sample);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A flush wakes a reader that waits for ever; it gets no frame. */
static GMutex underrun_lock;
static GCond underrun_cond;
static gboolean underrun_seen;

static void
on_underrun (GstElement *element, gpointer data)
{
  (void)element;
  (void)data;
  g_mutex_lock (&underrun_lock);
  underrun_seen = TRUE;
  g_cond_broadcast (&underrun_cond);
  g_mutex_unlock (&underrun_lock);
}

GST_START_TEST (a_flush_wakes_a_waiting_reader)
{
  GstHarness *h = new_reader_harness (NULL);
  underrun_seen = FALSE;
  /* underrun: the reader found nothing and is about to wait. */
  g_signal_connect (h->element, "underrun", G_CALLBACK (on_underrun), NULL);
  PullJob job = { h, GST_CLOCK_TIME_NONE };
  GThread *reader = g_thread_new ("reader", pull_in_thread, &job);
  g_mutex_lock (&underrun_lock);
  while (!underrun_seen)
    g_cond_wait (&underrun_cond, &underrun_lock);
  g_mutex_unlock (&underrun_lock);
  gst_harness_push_event (h, gst_event_new_flush_start ());
  fail_unless (g_thread_join (reader) == NULL);
  gst_harness_push_event (h, gst_event_new_flush_stop (TRUE));
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Caps changes reach the reader with the frames they describe. */
GST_START_TEST (caps_follow_the_frames)
{
  GstHarness *h = new_reader_harness ("max-size-buffers=8");
  gst_harness_push (h, frame_at (0));
  gst_harness_set_src_caps_str (
      h, "video/x-raw,format=GRAY8,width=8,height=2,framerate=30/1");
  gst_harness_push (h, frame_at (GST_SECOND / 30));
  GstSample *sample = pull (h, 0);
  fail_unless_equals_uint64 (info_uint64 (sample, "sequence"), 2);
  GstVideoInfo info;
  fail_unless (gst_video_info_from_caps (&info, gst_sample_get_caps (sample)));
  fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&info), 8);
  gst_sample_unref (sample);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Upstream never waits for a reader: ALLOCATION and DRAIN are answered at
 * once, with room for the frames kept and video meta support. */
GST_START_TEST (answers_serialized_queries_at_once)
{
  GstHarness *h = new_reader_harness ("max-size-buffers=2");
  GstCaps *caps = gst_caps_from_string (CAPS);
  GstQuery *query = gst_query_new_allocation (caps, TRUE);
  gst_caps_unref (caps);
  fail_unless (gst_pad_peer_query (h->srcpad, query));
  fail_unless (gst_query_find_allocation_meta (query, GST_VIDEO_META_API_TYPE,
                                               NULL));
  guint min = 0;
  fail_unless (gst_query_get_n_allocation_pools (query) >= 1);
  gst_query_parse_nth_allocation_pool (query, 0, NULL, NULL, &min, NULL);
  fail_unless (min >= 3, "room for 2 held and the reader's: %u", min);
  gst_query_unref (query);
  query = gst_query_new_drain ();
  fail_unless (gst_pad_peer_query (h->srcpad, query));
  gst_query_unref (query);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* With delivery=push there is nothing to take: a warning, no frame. */
GST_START_TEST (pulling_in_push_mode_warns)
{
  GstHarness *h = gst_harness_new ("latestframe");
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  GstSample *sample = NULL;
  g_signal_emit_by_name (h->element, "try-pull-frame", (guint64)0, &sample);
  fail_unless (sample == NULL);
  GstMessage *message
      = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (message != NULL);
  gst_message_unref (message);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A file read on request: every frame (a non-live upstream is paced, not
 * dropped from), then the end of the stream, which the pipeline posts as
 * its EOS since the element is its sink. */
GST_START_TEST (a_pipeline_ends_when_the_reader_reaches_the_end)
{
  GstElement *pipeline = gst_parse_launch (
      "videotestsrc num-buffers=12 ! " CAPS
      " ! latestframe name=latest delivery=on-request",
      NULL);
  fail_unless (pipeline != NULL);
  GstElement *latest = gst_bin_get_by_name (GST_BIN (pipeline), "latest");
  fail_unless (GST_OBJECT_FLAG_IS_SET (latest, GST_ELEMENT_FLAG_SINK));
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING)
               != GST_STATE_CHANGE_FAILURE);
  guint64 frames = 0, last = 0;
  GstSample *sample;
  g_signal_emit_by_name (latest, "try-pull-frame", 10 * GST_SECOND, &sample);
  while (sample)
    {
      const guint64 sequence = info_uint64 (sample, "sequence");
      fail_unless (sequence > last);
      last = sequence;
      frames++;
      gst_sample_unref (sample);
      g_signal_emit_by_name (latest, "try-pull-frame", 10 * GST_SECOND,
                             &sample);
    }
  fail_unless_equals_uint64 (frames, 12);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *message = gst_bus_timed_pop_filtered (
      bus, 10 * GST_SECOND,
      (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  fail_unless (message != NULL);
  fail_unless_equals_int (GST_MESSAGE_TYPE (message), GST_MESSAGE_EOS);
  gst_message_unref (message);
  gst_object_unref (bus);
  assert_counts_hold (latest);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (latest);
  gst_object_unref (pipeline);
}
GST_END_TEST;

static Suite *
on_request_suite (void)
{
  Suite *s = suite_create ("latestframe-on-request");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, takes_the_newest_frame_never_twice);
  tcase_add_test (tc, frames_pushed_out_by_newer_ones_are_superseded);
  tcase_add_test (tc, hands_over_the_only_reference_in_flight_until_released);
  tcase_add_test (tc, honours_max_age_at_hand_over);
  tcase_add_test (tc, a_waiting_reader_gets_the_next_frame);
  tcase_add_test (tc, a_flush_wakes_a_waiting_reader);
  tcase_add_test (tc, caps_follow_the_frames);
  tcase_add_test (tc, answers_serialized_queries_at_once);
  tcase_add_test (tc, pulling_in_push_mode_warns);
  tcase_add_test (tc, a_pipeline_ends_when_the_reader_reaches_the_end);
  return s;
}

GST_CHECK_MAIN (on_request);
