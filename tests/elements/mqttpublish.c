/* mqttpublish in a GstHarness, with no broker (port 1: refused at once):
 * frames pass through untouched and never wait for the broker, the backlog
 * keeps the newest messages and counts the others, the publish action works
 * only while started, publish-record keeps health records over detections
 * and drops are counted by camera, bad settings (TLS ones too) fail the
 * start with an error that never holds the password, which is write-only
 * and in no debug line, and many
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

/* Starts `publish` expecting the start to fail; returns the error's
 * message and debug text, joined (free with g_free). */
static gchar *
start_error_of (GstElement *publish)
{
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (publish, bus);
  fail_unless_equals_int (gst_element_set_state (publish, GST_STATE_PAUSED),
                          GST_STATE_CHANGE_FAILURE);
  GstMessage *error = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (error != NULL);
  GError *reason = NULL;
  gchar *debug = NULL;
  gst_message_parse_error (error, &reason, &debug);
  gchar *text = g_strconcat (reason->message, " | ", debug ? debug : "", NULL);
  g_error_free (reason);
  g_free (debug);
  gst_message_unref (error);
  gst_element_set_state (publish, GST_STATE_NULL);
  gst_element_set_bus (publish, NULL);
  gst_object_unref (bus);
  return text;
}

/* Steps: start with an empty host.
 * Invariant: the start fails with an error naming the setting; no crash. */
GST_START_TEST (bad_settings_fail_the_start)
{
  GstElement *publish = gst_element_factory_make ("mqttpublish", NULL);
  g_object_set (publish, "host", "", NULL);
  gchar *text = start_error_of (publish);
  fail_unless (strstr (text, "host") != NULL, "%s", text);
  g_free (text);
  gst_object_unref (publish);
}
GST_END_TEST;

/* Steps: start with TLS and a client certificate without its key; then
 * with an unreadable CA file; a password set each time.
 * Invariant: each start fails with an error saying which setting is
 * wrong (naming the file's path), never the password. */
GST_START_TEST (bad_tls_settings_fail_the_start)
{
  GstElement *publish = gst_element_factory_make ("mqttpublish", NULL);
  g_object_set (publish, "port", 1, "username", "u", "password",
                "Secret-P4ss", "tls", TRUE, "tls-cert-file", "/etc/hostname",
                NULL);
  gchar *text = start_error_of (publish);
  fail_unless (strstr (text, "certificate is given without its key") != NULL,
               "%s", text);
  fail_unless (strstr (text, "Secret-P4ss") == NULL, "%s", text);
  g_free (text);

  g_object_set (publish, "tls-cert-file", "", "tls-ca-file",
                "/nonexistent/ca.pem", NULL);
  text = start_error_of (publish);
  fail_unless (strstr (text, "\"/nonexistent/ca.pem\" cannot be read")
                   != NULL,
               "%s", text);
  fail_unless (strstr (text, "Secret-P4ss") == NULL, "%s", text);
  g_free (text);

  g_object_set (publish, "tls-ca-file", "", "tls-version", "sslv3", NULL);
  text = start_error_of (publish);
  fail_unless (strstr (text, "unknown TLS version") != NULL, "%s", text);
  g_free (text);
  gst_object_unref (publish);
}
GST_END_TEST;

/* Every debug line of the test, for looking for a secret in them. */
static GString *debug_lines;

static void
keep_debug_line (GstDebugCategory *category, GstDebugLevel level,
                 const gchar *file, const gchar *function, gint line,
                 GObject *object, GstDebugMessage *message, gpointer data)
{
  (void)category, (void)level, (void)file, (void)function, (void)line,
      (void)object, (void)data;
  g_string_append (debug_lines, gst_debug_message_get (message));
  g_string_append_c (debug_lines, '\n');
}

/* Steps: look at the password's property; set it and the other new
 * properties, start (no broker) with every debug line kept, push a frame,
 * read every readable property, stop.
 * Invariant: the password is write-only; the other settings read back;
 * the password is in no debug line, bus message or property value. */
GST_START_TEST (the_password_is_never_shown)
{
  GstElement *made = gst_element_factory_make ("mqttpublish", NULL);
  fail_unless (made != NULL);
  GParamSpec *spec
      = g_object_class_find_property (G_OBJECT_GET_CLASS (made), "password");
  fail_unless (spec != NULL);
  fail_unless ((spec->flags & G_PARAM_READABLE) == 0,
               "the password can be read");
  fail_unless ((spec->flags & G_PARAM_WRITABLE) != 0);
  gst_object_unref (made);

  debug_lines = g_string_new (NULL);
  gst_debug_set_threshold_for_name ("mqttpublish*", GST_LEVEL_MEMDUMP);
  /* Kept, not printed. */
  gst_debug_remove_log_function (gst_debug_log_default);
  gst_debug_add_log_function (keep_debug_line, NULL, NULL);

  GstHarness *h = new_publisher (
      "name=publish username=camera password=Secret-P4ss "
      "availability-topic=latestframe/test/availability");
  GstElement *publish = publisher_in (h);
  gst_harness_push (h, gst_buffer_new_allocate (NULL, 16, NULL));
  gst_buffer_unref (gst_harness_pull (h));

  gchar *username = NULL, *availability = NULL;
  g_object_get (publish, "username", &username, "availability-topic",
                &availability, NULL);
  fail_unless_equals_string (username, "camera");
  fail_unless_equals_string (availability, "latestframe/test/availability");
  g_free (username);
  g_free (availability);

  guint count = 0;
  GParamSpec **all
      = g_object_class_list_properties (G_OBJECT_GET_CLASS (publish), &count);
  for (guint i = 0; i < count; i++)
    {
      if (!(all[i]->flags & G_PARAM_READABLE))
        continue;
      GValue value = G_VALUE_INIT;
      g_value_init (&value, all[i]->value_type);
      g_object_get_property (G_OBJECT (publish), all[i]->name, &value);
      gchar *shown = gst_value_serialize (&value);
      fail_unless (!shown || !strstr (shown, "Secret-P4ss"),
                   "the password is in %s", all[i]->name);
      g_free (shown);
      g_value_unset (&value);
    }
  g_free (all);
  gst_object_unref (publish);
  gst_harness_teardown (h);

  gst_debug_remove_log_function (keep_debug_line);
  gst_debug_add_log_function (gst_debug_log_default, NULL, NULL);
  gst_debug_unset_threshold_for_name ("mqttpublish*");
  fail_unless (debug_lines->len > 0, "no debug line was kept");
  fail_unless (strstr (debug_lines->str, "Secret-P4ss") == NULL,
               "the password is in a debug line");
  g_string_free (debug_lines, TRUE);
}
GST_END_TEST;

/* Steps: emit publish-record before the element starts; start it (no
 * broker, a backlog of 2); a record of camera b, then three frames of
 * camera a.
 * Invariant: refused before the start; taken after; the backlog drops
 * a's detections, never b's record, and stats says so by camera. */
GST_START_TEST (records_and_drops_by_camera)
{
  GstHarness *h = new_publisher ("name=publish camera=a backlog=2");
  GstElement *publish = publisher_in (h);
  gboolean taken = FALSE;
  g_signal_emit_by_name (publish, "publish-record", "b",
                         "latestframe/b/health", "{}", &taken);
  fail_unless (taken);
  g_signal_emit_by_name (publish, "publish-record", "b",
                         "latestframe/+/health", "{}", &taken);
  fail_unless (!taken, "a topic with a wildcard was taken");
  for (int i = 0; i < 3; i++)
    {
      gst_harness_push (h, gst_buffer_new_allocate (NULL, 16, NULL));
      gst_buffer_unref (gst_harness_pull (h));
    }
  fail_unless_equals_uint64 (stat_of (publish, "accepted"), 4);
  fail_unless_equals_uint64 (stat_of (publish, "dropped"), 2);

  GstStructure *stats = NULL;
  g_object_get (publish, "stats", &stats, NULL);
  const GValue *field = gst_structure_get_value (stats, "dropped-by-camera");
  fail_unless (field != NULL && GST_VALUE_HOLDS_STRUCTURE (field));
  const GstStructure *by_camera = gst_value_get_structure (field);
  fail_unless_equals_string (gst_structure_get_name (by_camera),
                             "dropped-by-camera");
  guint64 dropped = 0;
  fail_unless (gst_structure_get_uint64 (by_camera, "a", &dropped));
  fail_unless_equals_uint64 (dropped, 2);
  fail_unless (!gst_structure_has_field (by_camera, "b"),
               "a record was dropped for detections");
  gst_structure_free (stats);
  gst_object_unref (publish);
  gst_harness_teardown (h);

  GstElement *idle = gst_element_factory_make ("mqttpublish", NULL);
  g_signal_emit_by_name (idle, "publish-record", "b", "latestframe/b/health",
                         "{}", &taken);
  fail_unless (!taken, "taken before the start");
  gst_object_unref (idle);
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
  tcase_add_test (tc, bad_tls_settings_fail_the_start);
  tcase_add_test (tc, the_password_is_never_shown);
  tcase_add_test (tc, records_and_drops_by_camera);
  tcase_add_test (tc, starts_and_stops_with_a_shared_connection);
  return s;
}

GST_CHECK_MAIN (mqttpublish);
