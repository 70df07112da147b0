/* Application-level test: a live source, a consumer slower than it, and
 * between them X = queue leaky=downstream max-size-buffers=1, then X =
 * latestframe configured the same way. The application counts drops the
 * way it would with queue: from the overrun signal (and watches underrun).
 *
 *   videotestsrc is-live=true ! X ! identity sleep-time=20000 ! fakesink
 *
 * The test waits for counts, never for time: it stops once frames came out
 * and at least a dozen did not, which happens however slow the machine is,
 * since the consumer takes at least 20 ms a frame and the source makes one
 * every 10 ms of clock time. */
#include <gst/check/gstcheck.h>

static const gchar *elements[] = {
  "queue leaky=downstream max-size-buffers=1 max-size-bytes=0 "
  "max-size-time=0",
  "latestframe leaky=downstream max-size-buffers=1 max-size-bytes=0 "
  "max-size-time=0",
};

#define LAUNCH                                                                 \
  "videotestsrc is-live=true pattern=black ! "                                 \
  "video/x-raw,format=GRAY8,width=64,height=48,framerate=100/1 ! %s name=x "   \
  "! identity sleep-time=20000 ! fakesink"

/* What the application and the test see, under `lock`. */
typedef struct
{
  GMutex lock;
  GCond cond;
  guint in;                 /* frames that reached X */
  guint out;                /* frames X pushed */
  guint overruns;           /* what the application counts as drops */
  guint underruns;          /* times the consumer found X empty */
  GThread *upstream_thread; /* the source's streaming thread */
  GThread *x_thread;        /* X's streaming thread */
  GThread *underrun_thread;
  gboolean overrun_elsewhere; /* an overrun off the upstream thread */
  gboolean underrun_moved;    /* underruns from more than one thread */
  gboolean x_thread_moved;    /* X pushed from more than one thread */
  gboolean error;
} Counts;

static GstPadProbeReturn
count_in (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Counts *c = (Counts *)user_data;
  (void)pad;
  (void)info;
  g_mutex_lock (&c->lock);
  c->in++;
  if (!c->upstream_thread)
    c->upstream_thread = g_thread_self ();
  g_cond_broadcast (&c->cond);
  g_mutex_unlock (&c->lock);
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
count_out (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Counts *c = (Counts *)user_data;
  (void)pad;
  (void)info;
  g_mutex_lock (&c->lock);
  c->out++;
  if (!c->x_thread)
    c->x_thread = g_thread_self ();
  else if (c->x_thread != g_thread_self ())
    c->x_thread_moved = TRUE;
  g_cond_broadcast (&c->cond);
  g_mutex_unlock (&c->lock);
  return GST_PAD_PROBE_OK;
}

/* The application's handlers. */
static void
on_overrun (GstElement *x, Counts *c)
{
  (void)x;
  g_mutex_lock (&c->lock);
  c->overruns++;
  /* The frame that overran went through X's sink pad probe just before,
   * on this thread, if this is the upstream thread. */
  if (g_thread_self () != c->upstream_thread)
    c->overrun_elsewhere = TRUE;
  g_mutex_unlock (&c->lock);
}

static void
on_underrun (GstElement *x, Counts *c)
{
  (void)x;
  g_mutex_lock (&c->lock);
  c->underruns++;
  if (!c->underrun_thread)
    c->underrun_thread = g_thread_self ();
  else if (c->underrun_thread != g_thread_self ())
    c->underrun_moved = TRUE;
  g_mutex_unlock (&c->lock);
}

static GstBusSyncReply
on_message (GstBus *bus, GstMessage *message, gpointer user_data)
{
  Counts *c = (Counts *)user_data;
  (void)bus;
  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR)
    {
      g_mutex_lock (&c->lock);
      c->error = TRUE;
      g_cond_broadcast (&c->cond);
      g_mutex_unlock (&c->lock);
    }
  gst_message_unref (message);
  return GST_BUS_DROP;
}

static guint64
stat_u64 (GstElement *element, const gchar *field)
{
  GstStructure *stats = NULL;
  guint64 value = 0;
  g_object_get (element, "stats", &stats, NULL);
  fail_unless (stats != NULL);
  fail_unless (gst_structure_get_uint64 (stats, field, &value));
  gst_structure_free (stats);
  return value;
}

/* Steps: build the pipeline with X = elements[i]; connect to overrun and
 * underrun like an application; PLAYING until at least 5 frames came out
 * of X and at least 12 more went in; NULL.
 * Invariant, for queue and latestframe alike: overruns were seen; every
 * frame that did not come out was announced by an overrun, but for at most
 * 3 caught by the stop (one held, one being handed over, one arriving); at
 * most one overrun per arriving frame; overruns on the upstream thread,
 * underruns (at least the one at start) on X's own streaming thread. For
 * latestframe also: every frame dropped for overflow (stats) was announced
 * by an overrun (an overrun may drop nothing when the consumer took the
 * frame before the element re-checked). */
GST_START_TEST (test_slow_consumer_overruns_count_drops)
{
  Counts c = { 0 };
  g_mutex_init (&c.lock);
  g_cond_init (&c.cond);
  gchar *launch = g_strdup_printf (LAUNCH, elements[__i__]);
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (launch, &error);
  fail_unless (pipeline != NULL && error == NULL, "%s: %s", launch,
               error ? error->message : "");
  g_free (launch);
  GstElement *x = gst_bin_get_by_name (GST_BIN (pipeline), "x");
  const gchar *name = GST_OBJECT_NAME (gst_element_get_factory (x));
  GstBus *bus = gst_element_get_bus (pipeline);
  gst_bus_set_sync_handler (bus, on_message, &c, NULL);

  GstPad *sink = gst_element_get_static_pad (x, "sink");
  GstPad *src = gst_element_get_static_pad (x, "src");
  gst_pad_add_probe (sink, GST_PAD_PROBE_TYPE_BUFFER, count_in, &c, NULL);
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, count_out, &c, NULL);
  fail_unless (g_signal_lookup ("overrun", G_OBJECT_TYPE (x)) != 0,
               "%s has no signal 'overrun'", name);
  fail_unless (g_signal_lookup ("underrun", G_OBJECT_TYPE (x)) != 0,
               "%s has no signal 'underrun'", name);
  g_signal_connect (x, "overrun", G_CALLBACK (on_overrun), &c);
  g_signal_connect (x, "underrun", G_CALLBACK (on_underrun), &c);

  fail_if (gst_element_set_state (pipeline, GST_STATE_PLAYING)
           == GST_STATE_CHANGE_FAILURE);
  g_mutex_lock (&c.lock);
  while (!c.error && (c.out < 5 || c.in < c.out + 12))
    g_cond_wait (&c.cond, &c.lock);
  g_mutex_unlock (&c.lock);
  fail_if (c.error, "%s: the pipeline posted an error", name);
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
                          GST_STATE_CHANGE_SUCCESS);

  /* Every streaming thread has stopped: the counts are final. */
  GST_INFO ("%s: in %u, out %u, overruns %u, underruns %u", name, c.in, c.out,
            c.overruns, c.underruns);
  fail_unless (c.overruns > 0, "%s: no overrun with a slow consumer", name);
  fail_unless (c.overruns + 3 >= c.in - c.out,
               "%s: %u frames in, %u out, only %u overruns", name, c.in, c.out,
               c.overruns);
  fail_unless (c.overruns <= c.in, "%s: %u overruns for %u frames", name,
               c.overruns, c.in);
  fail_unless (c.underruns >= 1, "%s: no underrun at start", name);
  fail_if (c.overrun_elsewhere, "%s: overrun off the upstream thread", name);
  fail_if (c.x_thread_moved, "%s: frames pushed from two threads", name);
  fail_if (c.underrun_moved, "%s: underruns from two threads", name);
  fail_unless (c.underrun_thread == c.x_thread,
               "%s: underrun off the element's streaming thread", name);
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (x), "stats"))
    {
      guint64 dropped = stat_u64 (x, "dropped-overflow");
      fail_unless (dropped <= c.overruns,
                   "%s: %" G_GUINT64_FORMAT " drops, %u overruns", name,
                   dropped, c.overruns);
      fail_unless (dropped + 3 >= c.in - c.out,
                   "%s: %" G_GUINT64_FORMAT " drops, %u in, %u out", name,
                   dropped, c.in, c.out);
    }

  gst_object_unref (src);
  gst_object_unref (sink);
  gst_bus_set_sync_handler (bus, NULL, NULL, NULL);
  gst_object_unref (bus);
  gst_object_unref (x);
  gst_object_unref (pipeline);
  g_mutex_clear (&c.lock);
  g_cond_clear (&c.cond);
}
GST_END_TEST;

static Suite *
slow_consumer_suite (void)
{
  Suite *s = suite_create ("slow-consumer");
  TCase *tc = tcase_create ("application");
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 120);
  tcase_add_loop_test (tc, test_slow_consumer_overruns_count_drops, 0,
                       G_N_ELEMENTS (elements));
  return s;
}

GST_CHECK_MAIN (slow_consumer);
