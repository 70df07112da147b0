/* mqttpublish in a GstHarness, with no broker (port 1: refused at once):
 * frames pass through untouched and never wait for the broker, the backlog
 * keeps the newest messages and counts the others, the publish action works
 * only while started, bad settings fail the start with an error, and many
 * starts and stops leave nothing alive (the leaks tracer). The messages
 * themselves, against a real broker: tests/python/test_mqttpublish.py. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#define CAPS "video/x-raw,format=GRAY8,width=4,height=4,framerate=30/1"

static GstHarness *
new_publisher (const gchar *settings)
{
  gchar *description = g_strdup_printf (
      "mqttpublish port=1 reconnect-delay=1 reconnect-delay-max=1 %s",
      settings ? settings : "");
  GstHarness *h = gst_harness_new_parse (description);
  g_free (description);
  gst_harness_set_src_caps_str (h, CAPS);
  return h;
}

static guint64
stat_of (GstElement *element, const gchar *field)
{
  GstStructure *stats = NULL;
  g_object_get (element, "stats", &stats, NULL);
  fail_unless (stats != NULL);
  guint64 wide = 0;
  guint narrow = 0;
  if (!gst_structure_get_uint64 (stats, field, &wide)
      && gst_structure_get_uint (stats, field, &narrow))
    wide = narrow;
  gst_structure_free (stats);
  return wide;
}

static GstElement *
publisher_in (GstHarness *h)
{
  GstElement *found = gst_bin_get_by_name (GST_BIN (h->element), "publish");
  fail_unless (found != NULL);
  return found;
}

/* Steps: push 20 frames with no broker and a backlog of 5.
 * Invariant: each frame comes out the same buffer, at once; 20 messages
 * were taken, the newest 5 wait, 15 were dropped and counted. */
GST_START_TEST (frames_pass_through_while_the_broker_is_away)
{
  GstHarness *h = new_publisher ("name=publish backlog=5");
  GstElement *publish = publisher_in (h);
  for (int i = 0; i < 20; i++)
    {
      GstBuffer *in = gst_buffer_new_allocate (NULL, 16, NULL);
      GST_BUFFER_PTS (in) = i * GST_SECOND / 30;
      fail_unless_equals_int (gst_harness_push (h, gst_buffer_ref (in)),
                              GST_FLOW_OK);
      GstBuffer *out = gst_harness_pull (h);
      fail_unless (out == in, "frame %d was not passed through", i);
      gst_buffer_unref (out);
      gst_buffer_unref (in);
    }
  fail_unless_equals_uint64 (stat_of (publish, "accepted"), 20);
  fail_unless_equals_uint64 (stat_of (publish, "backlog-level"), 5);
  fail_unless_equals_uint64 (stat_of (publish, "dropped"), 15);
  gboolean connected = TRUE;
  g_object_get (publish, "connected", &connected, NULL);
  fail_unless (!connected);
  gst_object_unref (publish);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: emit publish before the element starts, then while it runs.
 * Invariant: refused before (no connection yet), taken while started. */
GST_START_TEST (the_publish_action_needs_a_started_element)
{
  GstElement *publish = gst_element_factory_make ("mqttpublish", NULL);
  g_object_set (publish, "port", 1, NULL);
  gboolean taken = TRUE;
  g_signal_emit_by_name (publish, "publish", "latestframe/test/t", "{}", &taken);
  fail_unless (!taken);
  fail_unless_equals_int (gst_element_set_state (publish, GST_STATE_PAUSED),
                          GST_STATE_CHANGE_SUCCESS);
  g_signal_emit_by_name (publish, "publish", "latestframe/test/t", "{}", &taken);
  fail_unless (taken);
  g_signal_emit_by_name (publish, "publish", "latestframe/+/t", "{}", &taken);
  fail_unless (!taken, "a topic with a wildcard was taken");
  fail_unless_equals_int (gst_element_set_state (publish, GST_STATE_NULL),
                          GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (publish);
}
GST_END_TEST;

/* Steps: start with port 0.
 * Invariant: the start fails with an error naming the setting; no crash. */
GST_START_TEST (bad_settings_fail_the_start)
{
  GstElement *publish = gst_element_factory_make ("mqttpublish", NULL);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (publish, bus);
  g_object_set (publish, "port", 0, NULL);
  fail_unless_equals_int (gst_element_set_state (publish, GST_STATE_PAUSED),
                          GST_STATE_CHANGE_FAILURE);
  GstMessage *error = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (error != NULL);
  GError *reason = NULL;
  gst_message_parse_error (error, &reason, NULL);
  fail_unless (strstr (reason->message, "port") != NULL, "%s", reason->message);
  g_error_free (reason);
  gst_message_unref (error);
  gst_element_set_state (publish, GST_STATE_NULL);
  gst_element_set_bus (publish, NULL);
  gst_object_unref (bus);
  gst_object_unref (publish);
}
GST_END_TEST;

/* Steps: 50 times, start (elements naming one connection share it), push a
 * frame, stop; with a second element holding the connection meanwhile.
 * Invariant: every frame passes, the shared connection's count grows with
 * every message of either element, and nothing is left alive. */
GST_START_TEST (starts_and_stops_with_a_shared_connection)
{
  GstElement *holder = gst_element_factory_make ("mqttpublish", NULL);
  g_object_set (holder, "port", 1, "connection", "check-shared", NULL);
  fail_unless_equals_int (gst_element_set_state (holder, GST_STATE_PAUSED),
                          GST_STATE_CHANGE_SUCCESS);
  GstHarness *h = new_publisher ("name=publish connection=check-shared");
  GstElement *publish = publisher_in (h);
  for (int i = 0; i < 50; i++)
    {
      gst_harness_push (h, gst_buffer_new_allocate (NULL, 16, NULL));
      gst_buffer_unref (gst_harness_pull (h));
      fail_unless_equals_uint64 (stat_of (holder, "accepted"), i + 1);
      fail_unless_equals_int (gst_element_set_state (h->element, GST_STATE_NULL),
                              GST_STATE_CHANGE_SUCCESS);
      fail_unless_equals_int (gst_element_set_state (h->element, GST_STATE_PLAYING),
                              GST_STATE_CHANGE_SUCCESS);
      gst_harness_set_src_caps_str (h, CAPS);
    }
  gst_object_unref (publish);
  gst_harness_teardown (h);
  fail_unless_equals_int (gst_element_set_state (holder, GST_STATE_NULL),
                          GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (holder);
}
GST_END_TEST;

static Suite *
mqttpublish_suite (void)
{
  Suite *s = suite_create ("mqttpublish");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, frames_pass_through_while_the_broker_is_away);
  tcase_add_test (tc, the_publish_action_needs_a_started_element);
  tcase_add_test (tc, bad_settings_fail_the_start);
  tcase_add_test (tc, starts_and_stops_with_a_shared_connection);
  return s;
}

GST_CHECK_MAIN (mqttpublish);
