/* latestframe age-from: ages run from the capture time a frame carries (a
 * reference timestamp meta, as rtspsrc add-reference-timestamp-meta=true
 * attaches from RTCP sender reports), and a camera clock out of step with
 * this host's gets one warning and the running time instead, until it is
 * set right. Driven with
 * GstHarness and a test clock that stands still, so that the only time
 * that passes between arrival and hand-over is this host's wall clock's. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "check_helpers.h"
#include "frameinfometa.h"

#define CAPS "video/x-raw,format=GRAY8,width=4,height=4,framerate=30/1"
/* NTP counts from 1900, Unix time from 1970. */
#define NTP_TO_UNIX_NS (G_GUINT64_CONSTANT (2208988800) * GST_SECOND)

static GstHarness *
new_reader_harness (const gchar *settings)
{
  gchar *description = g_strdup_printf (
      "latestframe delivery=on-request max-size-buffers=4 %s",
      settings ? settings : "");
  GstElement *element = gst_parse_launch (description, NULL);
  g_free (description);
  fail_unless (element != NULL);
  GstHarness *h = gst_harness_new_with_element (element, "sink", NULL);
  gst_object_unref (element);
  gst_harness_set_src_caps_str (h, CAPS);
  gst_harness_use_testclock (h);
  gst_harness_set_time (h, GST_SECOND);
  return h;
}

/* A frame at running time `pts`, captured `age` ago by this host's wall
 * clock (negative: in the future), as an NTP reference timestamp. */
static GstBuffer *
captured_frame (GstClockTime pts, gint64 age)
{
  GstBuffer *buffer = gst_buffer_new_allocate (NULL, 16, NULL);
  GST_BUFFER_PTS (buffer) = pts;
  GstCaps *ntp = gst_caps_from_string ("timestamp/x-ntp");
  const gint64 captured = g_get_real_time () * 1000 - age;
  gst_buffer_add_reference_timestamp_meta (
      buffer, ntp, (guint64)captured + NTP_TO_UNIX_NS, GST_CLOCK_TIME_NONE);
  gst_caps_unref (ntp);
  return buffer;
}

static gint64
pulled_age (GstHarness *h, gboolean *has_capture_time)
{
  GstSample *sample = NULL;
  g_signal_emit_by_name (h->element, "try-pull-frame", (guint64)0, &sample);
  fail_unless (sample != NULL);
  gint64 age = -2;
  const GstStructure *info = gst_sample_get_info (sample);
  fail_unless (gst_structure_get_int64 (info, "age", &age));
  if (has_capture_time)
    *has_capture_time = gst_structure_has_field (info, "capture-time");
  gst_sample_unref (sample);
  return age;
}

/* The frame's running time says it is brand new (pts = the clock's running
 * time now); its capture time says 30 ms: the age is the capture's, 30 ms
 * plus what this host's wall clock moved between the stamping and the
 * frame's arrival (the test clock stands still), which lies within the
 * push: read around it, not bounded. */
GST_START_TEST (ages_run_from_the_capture_time)
{
  GstHarness *h = new_reader_harness (NULL);
  const gint64 before_us = g_get_real_time ();
  gst_harness_push (h, captured_frame (GST_SECOND, 30 * GST_MSECOND));
  const gint64 after_us = g_get_real_time ();
  gboolean has_capture_time = FALSE;
  const gint64 age = pulled_age (h, &has_capture_time);
  /* The element reads the wall clock in µs, as the test does. */
  fail_unless (age >= 30 * GST_MSECOND
                   && age <= 30 * GST_MSECOND
                                 + (after_us - before_us) * GST_USECOND,
               "age %" G_GINT64_FORMAT " ns, push took %" G_GINT64_FORMAT " us",
               age, after_us - before_us);
  fail_unless (has_capture_time);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "capture-time-frames"),
                             1);
  /* Beside it, the age by its own running time: none passed. */
  fail_unless_equals_uint64 (stat_uint64 (h->element, "timestamp-age-max"), 0);
  fail_unless (!stat_boolean (h->element, "capture-clock-fallback"));
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Pushed frames carry what a pulled sample's info says, as the
 * LatestFrameInfoMeta custom meta: the sequence number, and the capture
 * time (Unix ns) it was aged from, which lies between the stamping minus
 * its 30 ms and the moment it came out. A frame without one has none. */
GST_START_TEST (pushed_frames_carry_their_sequence_and_capture_time)
{
  GstHarness *h = gst_harness_new_parse ("latestframe max-size-buffers=4");
  gst_harness_set_src_caps_str (h, CAPS);
  gst_harness_use_testclock (h);
  gst_harness_set_time (h, GST_SECOND);
  const guint64 before_ns = (guint64)g_get_real_time () * 1000;
  gst_harness_push (h, captured_frame (GST_SECOND, 30 * GST_MSECOND));
  GstBuffer *out = gst_harness_pull (h);
  const guint64 after_ns = (guint64)g_get_real_time () * 1000;
  LatestFrameInfoMeta *info = latest_frame_info_meta_get (out);
  fail_unless (info != NULL);
  fail_unless_equals_uint64 (info->sequence, 1);
  fail_unless (GST_CLOCK_TIME_IS_VALID (info->capture_time),
               "no capture time (age %" G_GINT64_FORMAT
               "); capture-time-frames %" G_GUINT64_FORMAT ", fallback %d",
               info->age, stat_uint64 (h->element, "capture-time-frames"),
               stat_boolean (h->element, "capture-clock-fallback"));
  fail_unless (info->capture_time + 1000 >= before_ns - 30 * GST_MSECOND
                   && info->capture_time <= after_ns - 30 * GST_MSECOND + 1000,
               "capture time %" G_GUINT64_FORMAT " outside [%" G_GUINT64_FORMAT
               ", %" G_GUINT64_FORMAT "] - 30 ms",
               info->capture_time, before_ns, after_ns);
  fail_unless (info->age >= 30 * GST_MSECOND);
  gst_buffer_unref (out);

  GstBuffer *plain = gst_buffer_new_allocate (NULL, 16, NULL);
  GST_BUFFER_PTS (plain) = GST_SECOND;
  gst_harness_push (h, plain);
  out = gst_harness_pull (h);
  info = latest_frame_info_meta_get (out);
  fail_unless (info != NULL);
  fail_unless_equals_uint64 (info->sequence, 2);
  fail_unless (!GST_CLOCK_TIME_IS_VALID (info->capture_time));
  /* A copy (as a writable map makes) keeps it. */
  GstBuffer *copy = gst_buffer_copy (out);
  fail_unless (latest_frame_info_meta_get (copy) != NULL);
  fail_unless_equals_uint64 (latest_frame_info_meta_get (copy)->sequence, 2);
  gst_buffer_unref (copy);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* max-age judges the capture age: a frame captured 10 ms before it arrived
 * and held 15 ms more is 25 ms old, too old for 20 ms, though its running
 * time says 15 ms. */
GST_START_TEST (max_age_judges_the_capture_age)
{
  GstHarness *h = new_reader_harness ("max-age=20000000");
  gst_harness_push (h, captured_frame (GST_SECOND, 10 * GST_MSECOND));
  gst_harness_set_time (h, GST_SECOND + 15 * GST_MSECOND);
  GstSample *sample = NULL;
  g_signal_emit_by_name (h->element, "try-pull-frame", (guint64)0, &sample);
  fail_unless (sample == NULL);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "dropped-age"), 1);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Without max-age nothing is dropped for age, however long a frame with a
 * capture time was held. */
GST_START_TEST (without_max_age_held_frames_still_go)
{
  GstHarness *h = new_reader_harness (NULL);
  gst_harness_push (h, captured_frame (GST_SECOND, 10 * GST_MSECOND));
  gst_harness_set_time (h, 2 * GST_SECOND);
  const gint64 age = pulled_age (h, NULL);
  fail_unless (age >= GST_SECOND, "age %" G_GINT64_FORMAT, age);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "dropped-age"), 0);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Running time only, when asked: the capture time is ignored. */
GST_START_TEST (running_time_when_asked)
{
  GstHarness *h = new_reader_harness ("age-from=running-time");
  gst_harness_push (h, captured_frame (GST_SECOND, 30 * GST_MSECOND));
  fail_unless_equals_int64 (pulled_age (h, NULL), 0);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "capture-time-frames"),
                             0);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A camera clock 5 s ahead or behind: its capture times are not used, and
 * once they have stayed so for 2 s of running time, one warning naming the
 * offset; running time from then on. */
static void
check_clock_out_of_step (gint64 age)
{
  GstHarness *h = new_reader_harness (NULL);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  gst_harness_push (h, captured_frame (GST_SECOND, age));
  gboolean has_capture_time = TRUE;
  fail_unless_equals_int64 (pulled_age (h, &has_capture_time), 0);
  fail_unless (!has_capture_time);
  fail_unless (!stat_boolean (h->element, "capture-clock-fallback"),
               "one frame off is no clock out of step yet");
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING) == NULL);

  gst_harness_set_time (h, 3 * GST_SECOND);
  const gint64 before_us = g_get_real_time ();
  for (guint i = 0; i < 3; i++)
    gst_harness_push (h, captured_frame (3 * GST_SECOND, age));
  const gdouble pushes_s = (g_get_real_time () - before_us) / 1e6;
  fail_unless_equals_int64 (pulled_age (h, &has_capture_time), 0);
  fail_unless (!has_capture_time);
  fail_unless (stat_boolean (h->element, "capture-clock-fallback"));
  fail_unless_equals_uint64 (stat_uint64 (h->element, "capture-time-frames"),
                             0);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "capture-time-unused"),
                             4);

  GstMessage *warning = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (warning != NULL);
  GError *error = NULL;
  gchar *debug = NULL;
  gst_message_parse_warning (warning, &error, &debug);
  /* The offset as measured: 5 s, less (ahead) or plus (behind) the time
   * between the stamping and the arrival of the frame judged, which lies
   * within the pushes: read around them, not bounded. Printed to the ms. */
  const gchar *side = strstr (debug, age < 0 ? " s ahead" : " s behind");
  fail_unless (side != NULL, "%s", debug);
  const gchar *figure = side;
  while (figure > debug && (g_ascii_isdigit (figure[-1]) || figure[-1] == '.'))
    figure--;
  const gdouble offset_s = g_ascii_strtod (figure, NULL);
  const gdouble printed = 0.0005 + 1e-9;
  const gdouble lowest = age < 0 ? 5.0 - pushes_s : 5.0;
  const gdouble highest = age < 0 ? 5.0 : 5.0 + pushes_s;
  fail_unless (offset_s >= lowest - printed && offset_s <= highest + printed,
               "%s (the pushes took %.6f s)", debug, pushes_s);
  g_clear_error (&error);
  g_free (debug);
  gst_message_unref (warning);
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING) == NULL,
               "warned more than once");

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

GST_START_TEST (a_clock_ahead_falls_back_to_running_time)
{
  check_clock_out_of_step (-5 * GST_SECOND);
}
GST_END_TEST;

GST_START_TEST (a_clock_behind_falls_back_to_running_time)
{
  check_clock_out_of_step (5 * GST_SECOND);
}
GST_END_TEST;

/* A camera clock set right (by NTP, after it booted): once its capture
 * times have been within the limits for 2 s, they age frames again, and an
 * info message says so. */
GST_START_TEST (a_clock_set_right_is_used_again)
{
  GstHarness *h = new_reader_harness (NULL);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  gst_harness_push (h, captured_frame (GST_SECOND, 3600 * GST_SECOND));
  gst_harness_set_time (h, 3 * GST_SECOND);
  gst_harness_push (h, captured_frame (3 * GST_SECOND, 3600 * GST_SECOND));
  fail_unless (stat_boolean (h->element, "capture-clock-fallback"));
  GstMessage *warning = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (warning != NULL);
  gst_message_unref (warning);

  gst_harness_set_time (h, 4 * GST_SECOND);
  gst_harness_push (h, captured_frame (4 * GST_SECOND, 30 * GST_MSECOND));
  gboolean has_capture_time = TRUE;
  fail_unless_equals_int64 (pulled_age (h, &has_capture_time), 0);
  fail_unless (!has_capture_time, "not before 2 s in step");
  fail_unless (stat_boolean (h->element, "capture-clock-fallback"));

  gst_harness_set_time (h, 6 * GST_SECOND);
  gst_harness_push (h, captured_frame (6 * GST_SECOND, 30 * GST_MSECOND));
  const gint64 age = pulled_age (h, &has_capture_time);
  fail_unless (has_capture_time);
  fail_unless (age >= 30 * GST_MSECOND && age < 1030 * GST_MSECOND,
               "age %" G_GINT64_FORMAT, age);
  fail_unless (!stat_boolean (h->element, "capture-clock-fallback"));
  fail_unless_equals_uint64 (stat_uint64 (h->element, "capture-time-frames"),
                             1);
  fail_unless_equals_uint64 (stat_uint64 (h->element, "capture-time-unused"),
                             3);
  GstMessage *info = gst_bus_pop_filtered (bus, GST_MESSAGE_INFO);
  fail_unless (info != NULL, "no info message");
  GError *error = NULL;
  gst_message_parse_info (info, &error, NULL);
  fail_unless (strstr (error->message, "back in step") != NULL, "%s",
               error->message);
  g_clear_error (&error);
  gst_message_unref (info);

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

static Suite *
capture_age_suite (void)
{
  Suite *s = suite_create ("latestframe-capture-age");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, ages_run_from_the_capture_time);
  tcase_add_test (tc, pushed_frames_carry_their_sequence_and_capture_time);
  tcase_add_test (tc, max_age_judges_the_capture_age);
  tcase_add_test (tc, without_max_age_held_frames_still_go);
  tcase_add_test (tc, running_time_when_asked);
  tcase_add_test (tc, a_clock_ahead_falls_back_to_running_time);
  tcase_add_test (tc, a_clock_behind_falls_back_to_running_time);
  tcase_add_test (tc, a_clock_set_right_is_used_again);
  return s;
}

GST_CHECK_MAIN (capture_age);
