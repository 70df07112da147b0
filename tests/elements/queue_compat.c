/* gst-check tests of the contract latestframe shares with `queue`: its
 * signals (overrun, underrun, running, pushing), with queue's emission
 * points and threads, and its properties (silent, min-threshold-*,
 * flush-on-eos, the types of the size properties).
 *
 * Every test in the "queue" case runs its one body against each factory of
 * the table below (a loop test: iteration 0 is queue, 1 is latestframe), so
 * that "fires when queue's would" holds by construction: queue passing a
 * test validates the test itself. Where latestframe's defaults differ
 * (max-size-buffers=1, leaky=downstream), the tests set every property they
 * rely on, for both. QUEUE_COMPAT_ELEMENTS=queue (a comma-separated list)
 * runs the bodies against some factories only.
 *
 * The upstream pad answers the LATENCY query as a live source does: with a
 * non-live upstream, latestframe's leaky modes hold upstream up instead of
 * dropping (leaky-non-live), which queue never does. The "latestframe" case
 * tests that difference.
 *
 * Each log entry names the thread it came from: S the element's streaming
 * thread (the one that entered its src pad task), T the test's thread (the
 * one calling gst_pad_push), P a pusher thread, ? any other. */
#include "check_helpers.h"

#include <stdio.h>
#include <string.h>
#ifdef __linux__
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

static const gchar *default_factories[] = { "queue", "latestframe", NULL };
static gchar **factories;

#define FACTORY (factories[__i__])
#define FRAME_SIZE 16
#define PTS(offset) ((offset)*10 * GST_MSECOND)

static GstStaticPadTemplate up_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate down_template = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static const gchar *signal_names[]
    = { "underrun", "running", "overrun", "pushing" };

typedef struct _Fixture Fixture;

struct _Fixture
{
  const gchar *factory;
  GstElement *element;
  GstPad *src;  /* the element's */
  GstPad *up;   /* ours, linked to the element's sink pad */
  GstPad *down; /* ours, linked to the element's src pad once made */
  GstBus *bus;
  gulong freeze_probe;
  gboolean frozen;

  GMutex lock;
  GCond cond;
  /* "name@tag" for signals and for what reached `down`: "b3D@S" (buffer
   * with offset 3, DISCONT), "segment@S", "query-drain@S". */
  GPtrArray *log;
  /* current-level-buffers read by each overrun handler, in order. */
  GString *overrun_levels;
  GThread *test_thread;
  GThread *pusher_thread;
  GThread *stream_thread;
  /* LATENCY answer of `up`: 1 live, 0 not live, -1 no answer. */
  gint upstream_live;
  gboolean flush_seen;
  guint queries_answered;
  /* A query `down` holds until a FLUSH_START reaches it (0 = none). */
  guint hold_query;
  gboolean query_held;

  /* Called from the overrun handler (on the pushing thread, no lock). */
  void (*on_overrun) (Fixture *fx);
};

static gboolean
is_signal_entry (const gchar *entry)
{
  for (guint i = 0; i < G_N_ELEMENTS (signal_names); i++)
    if (g_str_has_prefix (entry, signal_names[i])
        && entry[strlen (signal_names[i])] == '@')
      return TRUE;
  return FALSE;
}

/* Which thread runs this: see the file comment. With fx->lock held. */
static gchar
thread_tag (Fixture *fx)
{
  GThread *self = g_thread_self ();
  if (self == fx->stream_thread)
    return 'S';
  if (self == fx->test_thread)
    return 'T';
  if (self == fx->pusher_thread)
    return 'P';
  return '?';
}

static void
log_append (Fixture *fx, const gchar *what)
{
  g_mutex_lock (&fx->lock);
  g_ptr_array_add (fx->log, g_strdup_printf ("%s@%c", what, thread_tag (fx)));
  g_cond_broadcast (&fx->cond);
  g_mutex_unlock (&fx->lock);
}

enum
{
  SIGNALS = 1,
  DATA = 2,
};

/* The log entries of `kinds` from thread `tag` (0 = any), space-separated;
 * with `tags`, each keeps its "@tag". With fx->lock held. */
static gchar *
log_render_locked (Fixture *fx, guint kinds, gchar tag, gboolean tags)
{
  GString *out = g_string_new (NULL);
  for (guint i = 0; i < fx->log->len; i++)
    {
      const gchar *entry = (const gchar *)g_ptr_array_index (fx->log, i);
      const gchar *at = strrchr (entry, '@');
      guint kind = is_signal_entry (entry) ? SIGNALS : DATA;
      if (!(kinds & kind) || (tag && at[1] != tag))
        continue;
      if (out->len > 0)
        g_string_append_c (out, ' ');
      g_string_append_len (
          out, entry, tags ? (gssize)strlen (entry) : (gssize)(at - entry));
    }
  return g_string_free (out, FALSE);
}

static gchar *
log_render (Fixture *fx, guint kinds, gchar tag, gboolean tags)
{
  g_mutex_lock (&fx->lock);
  gchar *out = log_render_locked (fx, kinds, tag, tags);
  g_mutex_unlock (&fx->lock);
  return out;
}

/* Signals from thread `tag` (0 = all), with their tags: "overrun@T". */
#define log_signals(fx, tag) log_render (fx, SIGNALS, tag, TRUE)
/* What reached downstream, in order: "stream-start caps segment b1 b2D". */
#define log_data(fx) log_render (fx, DATA, 0, FALSE)
/* Everything the streaming thread did, in order: "underrun running
 * pushing b1 underrun". */
#define log_stream(fx) log_render (fx, SIGNALS | DATA, 'S', FALSE)

/* Waits until the rendered log ends with `suffix`. */
static void
log_wait (Fixture *fx, guint kinds, gchar tag, gboolean tags,
          const gchar *suffix)
{
  g_mutex_lock (&fx->lock);
  for (;;)
    {
      gchar *now = log_render_locked (fx, kinds, tag, tags);
      gboolean done = g_str_has_suffix (now, suffix);
      g_free (now);
      if (done)
        break;
      g_cond_wait (&fx->cond, &fx->lock);
    }
  g_mutex_unlock (&fx->lock);
}

#define wait_signals(fx, tag, suffix) log_wait (fx, SIGNALS, tag, TRUE, suffix)
#define wait_data(fx, suffix) log_wait (fx, DATA, 0, FALSE, suffix)
#define wait_stream(fx, suffix)                                                \
  log_wait (fx, SIGNALS | DATA, 'S', FALSE, suffix)

static void
log_clear (Fixture *fx)
{
  g_mutex_lock (&fx->lock);
  g_ptr_array_set_size (fx->log, 0);
  g_string_truncate (fx->overrun_levels, 0);
  g_mutex_unlock (&fx->lock);
}

#define assert_log(fx, rendered, expected)                                     \
  G_STMT_START                                                                 \
  {                                                                            \
    gchar *got_ = (rendered);                                                  \
    fail_unless (g_str_equal (got_, expected), "%s: expected '%s', got '%s'",  \
                 (fx)->factory, (const gchar *)(expected), got_);              \
    g_free (got_);                                                             \
  }                                                                            \
  G_STMT_END

/* Signal handlers: they log, and the overrun one reads the level (which
 * deadlocks if the element emits it with its lock held). */
static void
on_underrun (GstElement *element, Fixture *fx)
{
  (void)element;
  log_append (fx, "underrun");
}

static void
on_running (GstElement *element, Fixture *fx)
{
  (void)element;
  log_append (fx, "running");
}

static void
on_pushing (GstElement *element, Fixture *fx)
{
  (void)element;
  log_append (fx, "pushing");
}

static void
on_overrun (GstElement *element, Fixture *fx)
{
  guint level;
  g_object_get (element, "current-level-buffers", &level, NULL);
  g_mutex_lock (&fx->lock);
  g_string_append_printf (fx->overrun_levels, "%s%u",
                          fx->overrun_levels->len ? " " : "", level);
  g_mutex_unlock (&fx->lock);
  log_append (fx, "overrun");
  if (fx->on_overrun)
    fx->on_overrun (fx);
}

static void
connect_signals (Fixture *fx)
{
  GCallback handlers[] = { G_CALLBACK (on_underrun), G_CALLBACK (on_running),
                           G_CALLBACK (on_overrun), G_CALLBACK (on_pushing) };
  for (guint i = 0; i < G_N_ELEMENTS (signal_names); i++)
    {
      fail_unless (
          g_signal_lookup (signal_names[i], G_OBJECT_TYPE (fx->element)) != 0,
          "%s has no signal '%s' (queue has)", fx->factory, signal_names[i]);
      g_signal_connect (fx->element, signal_names[i], handlers[i], fx);
    }
}

/* Sets "name=value ..." on the element; each property must exist. */
static void
configure (Fixture *fx, const gchar *settings)
{
  gchar **pairs = g_strsplit (settings, " ", -1);
  for (gchar **pair = pairs; *pair; pair++)
    {
      gchar **kv = g_strsplit (*pair, "=", 2);
      if (kv[0] && kv[1])
        {
          fail_unless (g_object_class_find_property (
                           G_OBJECT_GET_CLASS (fx->element), kv[0])
                           != NULL,
                       "%s has no property '%s'", fx->factory, kv[0]);
          gst_util_set_object_arg (G_OBJECT (fx->element), kv[0], kv[1]);
        }
      g_strfreev (kv);
    }
  g_strfreev (pairs);
}

static guint
level_of (Fixture *fx)
{
  guint level;
  g_object_get (fx->element, "current-level-buffers", &level, NULL);
  return level;
}

/* The element's streaming thread is the one that enters its src pad's
 * task: its ENTER stream-status message is posted from that thread. */
static GstBusSyncReply
on_bus_message (GstBus *bus, GstMessage *message, gpointer user_data)
{
  Fixture *fx = (Fixture *)user_data;
  (void)bus;
  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_STREAM_STATUS
      && GST_MESSAGE_SRC (message) == GST_OBJECT_CAST (fx->src))
    {
      GstStreamStatusType type;
      GstElement *owner;
      gst_message_parse_stream_status (message, &type, &owner);
      g_mutex_lock (&fx->lock);
      if (type == GST_STREAM_STATUS_TYPE_ENTER)
        fx->stream_thread = g_thread_self ();
      else if (type == GST_STREAM_STATUS_TYPE_LEAVE)
        fx->stream_thread = NULL;
      g_mutex_unlock (&fx->lock);
    }
  gst_message_unref (message);
  return GST_BUS_DROP;
}

static gboolean
up_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  Fixture *fx = (Fixture *)gst_pad_get_element_private (pad);
  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY)
    {
      if (fx->upstream_live < 0)
        return FALSE;
      gst_query_set_latency (query, fx->upstream_live != 0, 0,
                             GST_CLOCK_TIME_NONE);
      return TRUE;
    }
  return gst_pad_query_default (pad, parent, query);
}

static GstFlowReturn
down_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  Fixture *fx = (Fixture *)gst_pad_get_element_private (pad);
  (void)parent;
  gchar *name = g_strdup_printf (
      "b%" G_GUINT64_FORMAT "%s", GST_BUFFER_OFFSET (buffer),
      GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DISCONT) ? "D" : "");
  log_append (fx, name);
  g_free (name);
  gst_buffer_unref (buffer);
  return GST_FLOW_OK;
}

static gboolean
down_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  Fixture *fx = (Fixture *)gst_pad_get_element_private (pad);
  (void)parent;
  log_append (fx, GST_EVENT_TYPE_NAME (event));
  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_START)
    {
      g_mutex_lock (&fx->lock);
      fx->flush_seen = TRUE;
      g_cond_broadcast (&fx->cond);
      g_mutex_unlock (&fx->lock);
    }
  gst_event_unref (event);
  return TRUE;
}

/* Serialized queries are logged and answered (TRUE); the fx->hold_query-th
 * one is held until a FLUSH_START reached this pad. */
static gboolean
down_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  Fixture *fx = (Fixture *)gst_pad_get_element_private (pad);
  if (!GST_QUERY_IS_SERIALIZED (query))
    return gst_pad_query_default (pad, parent, query);
  gchar *name = g_strdup_printf ("query-%s", GST_QUERY_TYPE_NAME (query));
  log_append (fx, name);
  g_free (name);
  g_mutex_lock (&fx->lock);
  fx->queries_answered++;
  if (fx->queries_answered == fx->hold_query)
    {
      fx->query_held = TRUE;
      g_cond_broadcast (&fx->cond);
      while (!fx->flush_seen)
        g_cond_wait (&fx->cond, &fx->lock);
    }
  g_cond_broadcast (&fx->cond);
  g_mutex_unlock (&fx->lock);
  return TRUE;
}

/* Makes `down` and links the element's src pad to it (also from a signal
 * handler, while the element streams). */
static void
link_down (Fixture *fx)
{
  GstPad *down = gst_pad_new_from_static_template (&down_template, "sink");
  gst_pad_set_element_private (down, fx);
  gst_pad_set_chain_function (down, down_chain);
  gst_pad_set_event_function (down, down_event);
  gst_pad_set_query_function (down, down_query);
  fail_unless (gst_pad_set_active (down, TRUE));
  fail_unless_equals_int (gst_pad_link (fx->src, down), GST_PAD_LINK_OK);
  g_mutex_lock (&fx->lock);
  fx->down = down;
  g_mutex_unlock (&fx->lock);
}

static GstPadProbeReturn
frozen (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Fixture *fx = (Fixture *)user_data;
  (void)pad;
  (void)info;
  g_mutex_lock (&fx->lock);
  fx->frozen = TRUE;
  g_cond_broadcast (&fx->cond);
  g_mutex_unlock (&fx->lock);
  return GST_PAD_PROBE_OK;
}

/* Blocks everything the element's streaming thread pushes (events too),
 * as queue's own tests do: its first item waits in the probe. */
static void
freeze_src (Fixture *fx)
{
  fx->freeze_probe = gst_pad_add_probe (
      fx->src, GST_PAD_PROBE_TYPE_BLOCK_DOWNSTREAM, frozen, fx, NULL);
}

/* Waits until the streaming thread is held in that probe: from then on
 * only the test decides what is held (else the thread could still take
 * items, and queue leaks events too). */
static void
wait_frozen (Fixture *fx)
{
  g_mutex_lock (&fx->lock);
  while (!fx->frozen)
    g_cond_wait (&fx->cond, &fx->lock);
  g_mutex_unlock (&fx->lock);
}

static void
thaw_src (Fixture *fx)
{
  if (fx->freeze_probe)
    gst_pad_remove_probe (fx->src, fx->freeze_probe);
  fx->freeze_probe = 0;
}

static void
fixture_setup (Fixture *fx, const gchar *factory, const gchar *settings)
{
  memset (fx, 0, sizeof (*fx));
  g_mutex_init (&fx->lock);
  g_cond_init (&fx->cond);
  fx->log = g_ptr_array_new_with_free_func (g_free);
  fx->overrun_levels = g_string_new (NULL);
  fx->factory = factory;
  fx->test_thread = g_thread_self ();
  fx->upstream_live = 1;
  fx->element = gst_check_setup_element (factory);
  fx->src = gst_element_get_static_pad (fx->element, "src");
  fx->bus = gst_bus_new ();
  gst_bus_set_sync_handler (fx->bus, on_bus_message, fx, NULL);
  gst_element_set_bus (fx->element, fx->bus);
  configure (fx, settings);

  fx->up = gst_pad_new_from_static_template (&up_template, "src");
  gst_pad_set_element_private (fx->up, fx);
  gst_pad_set_query_function (fx->up, up_query);
  GstPad *sink = gst_element_get_static_pad (fx->element, "sink");
  fail_unless_equals_int (gst_pad_link (fx->up, sink), GST_PAD_LINK_OK);
  gst_object_unref (sink);
  fail_unless (gst_pad_set_active (fx->up, TRUE));
}

/* Back to NULL (which must succeed), and everything released. */
static void
fixture_teardown (Fixture *fx)
{
  thaw_src (fx);
  fail_unless_equals_int (gst_element_set_state (fx->element, GST_STATE_NULL),
                          GST_STATE_CHANGE_SUCCESS);
  gst_pad_set_active (fx->up, FALSE);
  GstPad *sink = gst_element_get_static_pad (fx->element, "sink");
  gst_pad_unlink (fx->up, sink);
  gst_object_unref (sink);
  gst_object_unref (fx->up);
  if (fx->down)
    {
      gst_pad_set_active (fx->down, FALSE);
      gst_pad_unlink (fx->src, fx->down);
      gst_object_unref (fx->down);
    }
  gst_object_unref (fx->src);
  gst_element_set_bus (fx->element, NULL);
  gst_object_unref (fx->bus);
  gst_check_teardown_element (fx->element);
  g_ptr_array_unref (fx->log);
  g_string_free (fx->overrun_levels, TRUE);
  g_mutex_clear (&fx->lock);
  g_cond_clear (&fx->cond);
}

static void
play (Fixture *fx)
{
  fail_unless_equals_int (
      gst_element_set_state (fx->element, GST_STATE_PLAYING),
      GST_STATE_CHANGE_SUCCESS);
}

static void
start_stream (Fixture *fx)
{
  GstSegment segment;
  gst_segment_init (&segment, GST_FORMAT_TIME);
  fail_unless (gst_pad_push_event (fx->up, gst_event_new_stream_start ("qc")));
  GstCaps *caps = gst_caps_from_string (VIDEO_CAPS);
  fail_unless (gst_pad_push_event (fx->up, gst_event_new_caps (caps)));
  gst_caps_unref (caps);
  fail_unless (gst_pad_push_event (fx->up, gst_event_new_segment (&segment)));
}

static GstFlowReturn
push (Fixture *fx, guint64 offset)
{
  return gst_pad_push (fx->up,
                       numbered_buffer (offset, FRAME_SIZE, PTS (offset)));
}

/* Pushes and keeps a reference, to check the refcount later. */
static GstBuffer *
push_kept (Fixture *fx, guint64 offset)
{
  GstBuffer *buffer = numbered_buffer (offset, FRAME_SIZE, PTS (offset));
  fail_unless_equals_int (gst_pad_push (fx->up, gst_buffer_ref (buffer)),
                          GST_FLOW_OK);
  return buffer;
}

/* The scheduler's state of thread `tid` of this process: 'R' running or
 * runnable, 'S' asleep (in a futex: waiting on a condition or a lock), ...;
 * 0 when it cannot be read (not Linux). No allocation: the thread watched
 * may be in the allocator. */
static gchar
thread_state (gint tid)
{
#ifdef __linux__
  gchar path[64], stat[512];
  snprintf (path, sizeof path, "/proc/self/task/%d/stat", tid);
  int fd = open (path, O_RDONLY);
  if (fd < 0)
    return 0;
  ssize_t n = read (fd, stat, sizeof stat - 1);
  close (fd);
  if (n <= 0)
    return 0;
  stat[n] = '\0';
  const gchar *name_end = strrchr (stat, ')');
  return name_end && name_end[1] == ' ' ? name_end[2] : 0;
#else
  (void)tid;
  return 0;
#endif
}

/* A thread that pushes frames first..first+count-1, then EOS if asked. */
typedef struct
{
  Fixture *fx;
  guint64 first;
  guint count;
  gboolean eos;
  GstFlowReturn last;
  GThread *thread;
  gint tid;  /* its kernel thread id (Linux), for thread_state() */
  gint done; /* atomic: its pushes returned */
} Pusher;

static gpointer
pusher_run (gpointer user_data)
{
  Pusher *p = (Pusher *)user_data;
  g_mutex_lock (&p->fx->lock);
  p->fx->pusher_thread = g_thread_self ();
#ifdef __linux__
  p->tid = (gint)syscall (SYS_gettid);
#endif
  g_cond_broadcast (&p->fx->cond);
  g_mutex_unlock (&p->fx->lock);
  p->last = GST_FLOW_OK;
  for (guint64 i = p->first; i < p->first + p->count && p->last == GST_FLOW_OK;
       i++)
    p->last = push (p->fx, i);
  g_atomic_int_set (&p->done, 1);
  if (p->eos)
    gst_pad_push_event (p->fx->up, gst_event_new_eos ());
  return NULL;
}

static void
pusher_start (Pusher *p, Fixture *fx, guint64 first, guint count, gboolean eos)
{
  p->fx = fx;
  p->first = first;
  p->count = count;
  p->eos = eos;
  p->tid = 0;
  p->done = 0;
  p->thread = g_thread_new ("pusher", pusher_run, p);
}

static GstFlowReturn
pusher_join (Pusher *p)
{
  g_thread_join (p->thread);
  g_mutex_lock (&p->fx->lock);
  p->fx->pusher_thread = NULL;
  g_mutex_unlock (&p->fx->lock);
  return p->last;
}

#define LIMITS "max-size-bytes=0 max-size-time=0"

/* Steps: max-size-buffers=2, leaky=no, downstream linked; PLAYING with
 * nothing pushed; back to NULL.
 * Invariant: exactly one underrun, on the element's streaming thread, and
 * no other signal (queue's test_non_leaky_underrun). */
GST_START_TEST (test_underrun_once_at_start)
{
  Fixture fx;
  fixture_setup (&fx, FACTORY, "max-size-buffers=2 leaky=no " LIMITS);
  connect_signals (&fx);
  link_down (&fx);
  play (&fx);
  wait_signals (&fx, 0, "underrun@S");
  fail_unless_equals_int (gst_element_set_state (fx.element, GST_STATE_NULL),
                          GST_STATE_CHANGE_SUCCESS);
  assert_log (&fx, log_render (&fx, SIGNALS | DATA, 0, TRUE), "underrun@S");
  fixture_teardown (&fx);
}
GST_END_TEST;

/* The overrun handler of queue's test_non_leaky_overrun: link downstream
 * and let the streaming thread go, once. */
static void
link_and_thaw (Fixture *fx)
{
  if (fx->down)
    return;
  link_down (fx);
  thaw_src (fx);
}

/* Steps: max-size-buffers=2, leaky=no, streaming thread frozen on its
 * first push and nothing linked; push 2 frames, then a third from the test
 * thread; its overrun handler links downstream and lets the thread go.
 * Invariant: one overrun, on the pushing thread, with 2 frames held, before
 * the producer waits; the blocked push then completes and all three frames
 * come out, in order, none marked DISCONT (queue's test_non_leaky_overrun).
 */
GST_START_TEST (test_non_leaky_overrun)
{
  Fixture fx;
  fixture_setup (&fx, FACTORY, "max-size-buffers=2 leaky=no " LIMITS);
  connect_signals (&fx);
  fx.on_overrun = link_and_thaw;
  freeze_src (&fx);
  play (&fx);
  wait_signals (&fx, 'S', "underrun@S");
  start_stream (&fx);
  wait_frozen (&fx);
  fail_unless_equals_int (push (&fx, 1), GST_FLOW_OK);
  fail_unless_equals_int (push (&fx, 2), GST_FLOW_OK);
  assert_log (&fx, log_signals (&fx, 'T'), "");
  fail_unless_equals_int (push (&fx, 3), GST_FLOW_OK);
  /* "running" follows on this thread only if the element made the producer
   * wait: the streaming thread may have made room before the re-check. */
  gchar *mine = log_signals (&fx, 'T');
  fail_unless (g_str_equal (mine, "overrun@T")
                   || g_str_equal (mine, "overrun@T running@T"),
               "%s: signals on the pushing thread: '%s'", fx.factory, mine);
  g_free (mine);
  assert_log (&fx, g_strdup (fx.overrun_levels->str), "2");
  wait_data (&fx, "b3");
  assert_log (&fx, log_data (&fx), "stream-start caps segment b1 b2 b3");
  fixture_teardown (&fx);
}
GST_END_TEST;

/* Steps: max-size-buffers=2, leaky=upstream, streaming thread frozen on its
 * first push; push frames 1-5 (keeping a reference to each); link
 * downstream and let the thread go; push frame 6.
 * Invariant: an overrun on the pushing thread for each of 3, 4 and 5, each
 * with 2 frames held, and each of them dropped on arrival (refcount back to
 * the test's own); 1 and 2 come out, then 6 with DISCONT; the streaming
 * thread signals underrun, running, pushing around each empty spell
 * (queue's test_leaky_upstream). */
GST_START_TEST (test_leaky_upstream)
{
  Fixture fx;
  GstBuffer *kept[6];
  fixture_setup (&fx, FACTORY, "max-size-buffers=2 leaky=upstream " LIMITS);
  connect_signals (&fx);
  freeze_src (&fx);
  play (&fx);
  wait_signals (&fx, 'S', "underrun@S");
  start_stream (&fx);
  wait_frozen (&fx);
  for (guint i = 1; i <= 5; i++)
    {
      kept[i] = push_kept (&fx, i);
      if (i >= 3)
        ASSERT_BUFFER_REFCOUNT (kept[i], "dropped on arrival", 1);
    }
  fail_unless_equals_int (level_of (&fx), 2);
  assert_log (&fx, log_signals (&fx, 'T'), "overrun@T overrun@T overrun@T");
  assert_log (&fx, g_strdup (fx.overrun_levels->str), "2 2 2");
  link_down (&fx);
  thaw_src (&fx);
  wait_data (&fx, "b2");
  wait_stream (&fx, "b2 underrun");
  fail_unless_equals_int (push (&fx, 6), GST_FLOW_OK);
  wait_stream (&fx, "b6D underrun");
  assert_log (&fx, log_data (&fx), "stream-start caps segment b1 b2 b6D");
  assert_log (&fx, log_stream (&fx),
              "underrun running pushing stream-start caps segment b1 b2 "
              "underrun running pushing b6D underrun");
  assert_log (&fx, log_signals (&fx, 'T'), "overrun@T overrun@T overrun@T");
  for (guint i = 1; i <= 5; i++)
    gst_buffer_unref (kept[i]);
  fixture_teardown (&fx);
}
GST_END_TEST;

/* Steps: max-size-buffers=2, leaky=downstream, streaming thread frozen on
 * its first push; push frames 1-5 (keeping a reference to each); link
 * downstream and let the thread go.
 * Invariant: an overrun on the pushing thread for each of 3, 4 and 5, each
 * with 2 frames held; the oldest held frame is dropped at each (1, 2, 3:
 * refcount back to the test's own as soon as the push returns); 4 comes out
 * with DISCONT, then 5, after the sticky events (queue's
 * test_leaky_downstream). */
GST_START_TEST (test_leaky_downstream)
{
  Fixture fx;
  GstBuffer *kept[6];
  fixture_setup (&fx, FACTORY, "max-size-buffers=2 leaky=downstream " LIMITS);
  connect_signals (&fx);
  freeze_src (&fx);
  play (&fx);
  wait_signals (&fx, 'S', "underrun@S");
  start_stream (&fx);
  wait_frozen (&fx);
  for (guint i = 1; i <= 5; i++)
    {
      kept[i] = push_kept (&fx, i);
      if (i >= 3)
        ASSERT_BUFFER_REFCOUNT (kept[i - 2], "dropped oldest", 1);
    }
  fail_unless_equals_int (level_of (&fx), 2);
  assert_log (&fx, log_signals (&fx, 'T'), "overrun@T overrun@T overrun@T");
  assert_log (&fx, g_strdup (fx.overrun_levels->str), "2 2 2");
  link_down (&fx);
  thaw_src (&fx);
  wait_stream (&fx, "b5 underrun");
  /* queue leaks the caps and segment events too, storing them on its src
   * pad while its thread is blocked pushing stream-start there: the pad
   * then sends stream-start a second time. latestframe drops frames only.
   * Both must deliver the sticky events before frame 4. */
  gchar *data = log_data (&fx);
  fail_unless (g_str_has_prefix (data, "stream-start ")
                   && g_str_has_suffix (data, " caps segment b4D b5"),
               "%s: got '%s'", fx.factory, data);
  g_free (data);
  assert_log (&fx, log_signals (&fx, 'S'),
              "underrun@S running@S pushing@S underrun@S");
  for (guint i = 1; i <= 5; i++)
    gst_buffer_unref (kept[i]);
  fixture_teardown (&fx);
}
GST_END_TEST;

/* Raises max-size-buffers from 2 to 3 at the first overrun. */
static void
raise_limit (Fixture *fx)
{
  g_object_set (fx->element, "max-size-buffers", 3, NULL);
}

/* Steps: for leaky=downstream and leaky=upstream: max-size-buffers=2,
 * streaming thread frozen; push frames 1-3; the overrun handler (at 3)
 * raises max-size-buffers to 3; let the thread go.
 * Invariant: the element re-checks the limits after the handler: nothing
 * is dropped (every frame still held, 3 held), and 1, 2, 3 come out in
 * order without DISCONT. */
GST_START_TEST (test_overrun_handler_can_make_room)
{
  static const gchar *modes[] = { "downstream", "upstream" };
  for (guint m = 0; m < G_N_ELEMENTS (modes); m++)
    {
      Fixture fx;
      GstBuffer *kept[4];
      gchar *settings
          = g_strdup_printf ("max-size-buffers=2 leaky=%s " LIMITS, modes[m]);
      fixture_setup (&fx, FACTORY, settings);
      g_free (settings);
      connect_signals (&fx);
      fx.on_overrun = raise_limit;
      freeze_src (&fx);
      play (&fx);
      wait_signals (&fx, 'S', "underrun@S");
      start_stream (&fx);
      wait_frozen (&fx);
      for (guint i = 1; i <= 3; i++)
        kept[i] = push_kept (&fx, i);
      assert_log (&fx, log_signals (&fx, 'T'), "overrun@T");
      assert_log (&fx, g_strdup (fx.overrun_levels->str), "2");
      fail_unless_equals_int (level_of (&fx), 3);
      for (guint i = 1; i <= 3; i++)
        ASSERT_BUFFER_REFCOUNT (kept[i], "held", 2);
      link_down (&fx);
      thaw_src (&fx);
      wait_data (&fx, "b3");
      assert_log (&fx, log_data (&fx), "stream-start caps segment b1 b2 b3");
      for (guint i = 1; i <= 3; i++)
        gst_buffer_unref (kept[i]);
      fixture_teardown (&fx);
    }
}
GST_END_TEST;

/* Waits until the pusher sleeps inside its push, which with no room is
 * waiting for room; FALSE if its push returned instead. The only point
 * between a producer's overrun and its wait is the element re-checking the
 * limits after the handler, which no signal marks: letting the streaming
 * thread make room before that re-check would let the producer through
 * without waiting (no "running" due). Without /proc, assumes asleep. */
static gboolean
wait_pusher_asleep (Pusher *p)
{
  for (;;)
    {
      if (g_atomic_int_get (&p->done))
        return FALSE;
      gchar state = thread_state (p->tid);
      if (state == 'S' || state == 0)
        return TRUE;
      g_thread_yield ();
    }
}

/* Steps: max-size-buffers=1, leaky=no. 3 rounds: the streaming thread is
 * held at a gate with a frame, a second frame fills the element, a pusher
 * thread pushes a third; once it signalled overrun and sleeps in its push,
 * the gate opens.
 * Invariant: the producer's overrun comes first, with 1 frame held; with
 * no room it waits (its push does not return while the gate is closed);
 * once it got room "running" follows on its thread, once, before its push
 * returns; all frames come out in order, without DISCONT. */
GST_START_TEST (test_running_after_blocked_producer_gets_room)
{
  Fixture fx;
  fixture_setup (&fx, FACTORY, "max-size-buffers=1 leaky=no " LIMITS);
  connect_signals (&fx);
  link_down (&fx);
  play (&fx);
  start_stream (&fx);
  wait_stream (&fx, "segment underrun");
  for (guint round = 0; round < 3; round++)
    {
      guint64 base = 3 * round + 1;
      Gate gate;
      Pusher pusher;
      log_clear (&fx);
      gate_close (&gate, fx.src);
      fail_unless_equals_int (push (&fx, base), GST_FLOW_OK);
      gate_wait_blocked (&gate);
      fail_unless_equals_int (push (&fx, base + 1), GST_FLOW_OK);
      pusher_start (&pusher, &fx, base + 2, 1, FALSE);
      wait_signals (&fx, 'P', "overrun@P");
      fail_unless (wait_pusher_asleep (&pusher),
                   "%s: a push into a full leaky=no element returned",
                   fx.factory);
      gate_open (&gate);
      fail_unless_equals_int (pusher_join (&pusher), GST_FLOW_OK);
      assert_log (&fx, log_signals (&fx, 'P'), "overrun@P running@P");
      assert_log (&fx, g_strdup (fx.overrun_levels->str), "1");
      assert_log (&fx, log_signals (&fx, 'T'), "");
      gchar *expected = g_strdup_printf ("b%" G_GUINT64_FORMAT, base + 2);
      wait_data (&fx, expected);
      g_free (expected);
      expected = g_strdup_printf ("b%" G_GUINT64_FORMAT " b%" G_GUINT64_FORMAT
                                  " b%" G_GUINT64_FORMAT,
                                  base, base + 1, base + 2);
      assert_log (&fx, log_data (&fx), expected);
      g_free (expected);
      wait_stream (&fx, "underrun");
    }
  fixture_teardown (&fx);
}
GST_END_TEST;

/* Steps: silent=true, max-size-buffers=1; leaky=downstream: a frame held at
 * a gate, three more pushed (two overrun points); then leaky=no: a frame
 * at the gate, one held, a third pushed from a thread; open the gate; back
 * to NULL.
 * Invariant: no signal at all (start, empty spells, overruns, a blocked
 * producer), and the frames flow as without silent. */
GST_START_TEST (test_silent_emits_nothing)
{
  Fixture fx;
  Gate gate;
  Pusher pusher;
  fixture_setup (&fx, FACTORY,
                 "max-size-buffers=1 leaky=downstream silent=true " LIMITS);
  connect_signals (&fx);
  link_down (&fx);
  gate_close (&gate, fx.src);
  play (&fx);
  start_stream (&fx);
  fail_unless_equals_int (push (&fx, 1), GST_FLOW_OK);
  gate_wait_blocked (&gate);
  for (guint i = 2; i <= 4; i++)
    fail_unless_equals_int (push (&fx, i), GST_FLOW_OK);
  gate_open (&gate);
  wait_data (&fx, "b4D");
  configure (&fx, "leaky=no");
  gate_close (&gate, fx.src);
  fail_unless_equals_int (push (&fx, 5), GST_FLOW_OK);
  gate_wait_blocked (&gate);
  fail_unless_equals_int (push (&fx, 6), GST_FLOW_OK);
  pusher_start (&pusher, &fx, 7, 1, FALSE);
  gate_open (&gate);
  fail_unless_equals_int (pusher_join (&pusher), GST_FLOW_OK);
  wait_data (&fx, "b7");
  fail_unless_equals_int (gst_element_set_state (fx.element, GST_STATE_NULL),
                          GST_STATE_CHANGE_SUCCESS);
  assert_log (&fx, log_signals (&fx, 0), "");
  assert_log (&fx, log_data (&fx), "stream-start caps segment b1 b4D b5 b6 b7");
  gboolean silent;
  g_object_get (fx.element, "silent", &silent, NULL);
  fail_unless (silent);
  fixture_teardown (&fx);
}
GST_END_TEST;

/* Steps: min-threshold-buffers=3, max-size-buffers=10, leaky=no; push
 * frames 1 and 2; push 3; send a DRAIN query.
 * Invariant: below the threshold no frame leaves (2 held, no signal); at 3
 * the streaming thread signals running and pushing, pushes one frame, and
 * signals underrun as it is below the threshold again (2 held); the
 * serialized query behind the held frames is answered, not left waiting:
 * the frames before it go out first (queue's
 * test_serialized_query_with_threshold). */
GST_START_TEST (test_min_threshold_holds_frames_not_queries)
{
  Fixture fx;
  fixture_setup (
      &fx, FACTORY,
      "max-size-buffers=10 leaky=no min-threshold-buffers=3 " LIMITS);
  connect_signals (&fx);
  link_down (&fx);
  play (&fx);
  start_stream (&fx);
  wait_stream (&fx, "segment underrun");
  log_clear (&fx);
  fail_unless_equals_int (push (&fx, 1), GST_FLOW_OK);
  fail_unless_equals_int (push (&fx, 2), GST_FLOW_OK);
  fail_unless_equals_int (level_of (&fx), 2);
  assert_log (&fx, log_render (&fx, SIGNALS | DATA, 0, TRUE), "");
  fail_unless_equals_int (push (&fx, 3), GST_FLOW_OK);
  wait_stream (&fx, "b1 underrun");
  assert_log (&fx, log_render (&fx, SIGNALS | DATA, 0, TRUE),
              "running@S pushing@S b1@S underrun@S");
  fail_unless_equals_int (level_of (&fx), 2);
  log_clear (&fx);
  GstQuery *drain = gst_query_new_drain ();
  fail_unless (gst_pad_peer_query (fx.up, drain));
  gst_query_unref (drain);
  wait_stream (&fx, "query-drain underrun");
  assert_log (&fx, log_render (&fx, SIGNALS | DATA, 0, TRUE),
              "running@S pushing@S b2@S b3@S query-drain@S underrun@S");
  fail_unless_equals_int (level_of (&fx), 0);
  fixture_teardown (&fx);
}
GST_END_TEST;

/* Steps: flush-on-eos=true (default false), max-size-buffers=5, leaky=no;
 * frame 1 held at a gate, frames 2 and 3 held; EOS; open the gate; push a
 * frame after EOS.
 * Invariant: EOS drops the held frames at once (level 0, refcounts back to
 * the test's own) and still goes out, right after the frame that was
 * already on its way; frames after it are refused with EOS. */
GST_START_TEST (test_flush_on_eos)
{
  Fixture fx;
  Gate gate;
  fixture_setup (&fx, FACTORY, "max-size-buffers=5 leaky=no " LIMITS);
  gboolean flush_on_eos = TRUE;
  fail_unless (g_object_class_find_property (G_OBJECT_GET_CLASS (fx.element),
                                             "flush-on-eos"),
               "%s has no property 'flush-on-eos'", fx.factory);
  g_object_get (fx.element, "flush-on-eos", &flush_on_eos, NULL);
  fail_if (flush_on_eos, "%s: flush-on-eos is on by default", fx.factory);
  configure (&fx, "flush-on-eos=true");
  link_down (&fx);
  gate_close (&gate, fx.src);
  play (&fx);
  start_stream (&fx);
  fail_unless_equals_int (push (&fx, 1), GST_FLOW_OK);
  gate_wait_blocked (&gate);
  GstBuffer *two = push_kept (&fx, 2);
  GstBuffer *three = push_kept (&fx, 3);
  fail_unless_equals_int (level_of (&fx), 2);
  fail_unless (gst_pad_push_event (fx.up, gst_event_new_eos ()));
  fail_unless_equals_int (level_of (&fx), 0);
  ASSERT_BUFFER_REFCOUNT (two, "flushed on EOS", 1);
  ASSERT_BUFFER_REFCOUNT (three, "flushed on EOS", 1);
  gate_open (&gate);
  wait_data (&fx, "eos");
  assert_log (&fx, log_data (&fx), "stream-start caps segment b1 eos");
  fail_unless_equals_int (push (&fx, 4), GST_FLOW_EOS);
  gst_buffer_unref (two);
  gst_buffer_unref (three);
  fixture_teardown (&fx);
}
GST_END_TEST;

/* Steps: max-size-buffers=1, leaky=no, nothing linked downstream; push
 * frames until one is refused with NOT_LINKED; push a new SEGMENT; push a
 * frame.
 * Invariant: the sticky event is still accepted (TRUE: the element must
 * not fail it, which would turn the next push into an ERROR), and the next
 * frame gets NOT_LINKED again (queue's test_sticky_not_linked). */
GST_START_TEST (test_sticky_not_linked)
{
  Fixture fx;
  fixture_setup (&fx, FACTORY, "max-size-buffers=1 leaky=no " LIMITS);
  play (&fx);
  start_stream (&fx);
  GstFlowReturn ret = GST_FLOW_OK;
  for (guint i = 1; i <= 1000 && ret == GST_FLOW_OK; i++)
    ret = push (&fx, i);
  fail_unless_equals_int (ret, GST_FLOW_NOT_LINKED);
  GstSegment segment;
  gst_segment_init (&segment, GST_FORMAT_TIME);
  segment.start = GST_SECOND;
  fail_unless (gst_pad_push_event (fx.up, gst_event_new_segment (&segment)));
  fail_unless_equals_int (push (&fx, 2000), GST_FLOW_NOT_LINKED);
  fixture_teardown (&fx);
}
GST_END_TEST;

typedef struct
{
  Fixture *fx;
  guint answered;
} Asker;

/* Sends ALLOCATION queries until one is refused: only a flush ends it. */
static gpointer
ask_until_refused (gpointer user_data)
{
  Asker *asker = (Asker *)user_data;
  for (;;)
    {
      GstCaps *caps = gst_caps_new_any ();
      GstQuery *query = gst_query_new_allocation (caps, FALSE);
      gboolean ok = gst_pad_peer_query (asker->fx->up, query);
      gst_query_unref (query);
      gst_caps_unref (caps);
      if (!ok)
        break;
      asker->answered++;
    }
  return NULL;
}

#define FLUSH_ROUNDS 200

/* Steps: FLUSH_ROUNDS times: PLAYING; a thread sends serialized
 * ALLOCATION queries one after the other until one is refused;
 * FLUSH_START either while downstream holds the k-th query (even rounds),
 * or once downstream has answered j of them (odd rounds: the asker is
 * anywhere then, queued in the element or about to send); join the asker;
 * NULL.
 * Invariant: no hang: every query waiting in the element or downstream
 * returns once the flush starts and the next ones are refused, so the
 * asker ends; the element goes to NULL; no query is touched after it
 * returned (ASan) (queue's test_queries_while_flushing, with sync points
 * instead of sleeps). */
GST_START_TEST (test_queries_while_flushing)
{
  Fixture fx;
  fixture_setup (&fx, FACTORY, "max-size-buffers=1 leaky=no " LIMITS);
  link_down (&fx);
  for (guint round = 0; round < FLUSH_ROUNDS; round++)
    {
      gboolean hold = round % 2 == 0;
      guint k = (round / 2) % 3 + 1;
      guint j = (round / 2) % 5;
      Asker asker = { &fx, 0 };
      /* A FLUSH_START leaves our pad flushing: start it afresh. */
      gst_pad_set_active (fx.down, FALSE);
      fail_unless (gst_pad_set_active (fx.down, TRUE));
      g_mutex_lock (&fx.lock);
      fx.flush_seen = FALSE;
      fx.query_held = FALSE;
      fx.queries_answered = 0;
      fx.hold_query = hold ? k : 0;
      g_mutex_unlock (&fx.lock);
      play (&fx);
      GThread *thread = g_thread_new ("asker", ask_until_refused, &asker);
      g_mutex_lock (&fx.lock);
      if (hold)
        while (!fx.query_held)
          g_cond_wait (&fx.cond, &fx.lock);
      else
        while (fx.queries_answered < j)
          g_cond_wait (&fx.cond, &fx.lock);
      g_mutex_unlock (&fx.lock);
      fail_unless (gst_pad_push_event (fx.up, gst_event_new_flush_start ()));
      g_thread_join (thread);
      /* How many were answered is not the point: queue forwards
       * FLUSH_START downstream before it marks itself flushing, and pads do
       * not refuse queries while flushing, so a few more may be answered
       * in between. The asker ended: every query returned. */
      fail_unless_equals_int (
          gst_element_set_state (fx.element, GST_STATE_NULL),
          GST_STATE_CHANGE_SUCCESS);
      log_clear (&fx);
    }
  fixture_teardown (&fx);
}
GST_END_TEST;

/* A property's default, as a string. */
static gchar *
default_of (GParamSpec *pspec)
{
  return g_strdup_value_contents (g_param_spec_get_default_value (pspec));
}

/* Steps: introspect queue's class and the element's.
 * Invariant: the element has each of queue's signals with the same
 * signature and run flags, and each of queue's properties with the same
 * value type (guint for the byte properties: code written for queue reads
 * them into a guint), the same access and mutability flags and range; the
 * leaky enum maps the same numbers to the same nicks; silent, flush-on-eos
 * and min-threshold-* have queue's defaults. */
GST_START_TEST (test_same_signals_and_properties_as_queue)
{
  static const gchar *same_default[]
      = { "silent", "flush-on-eos", "min-threshold-buffers",
          "min-threshold-bytes", "min-threshold-time" };
  GstElement *queue = gst_element_factory_make ("queue", NULL);
  GstElement *element = gst_element_factory_make (FACTORY, NULL);
  fail_unless (queue != NULL && element != NULL);
  GType type = G_OBJECT_TYPE (element);

  guint n_ids;
  guint *ids = g_signal_list_ids (G_OBJECT_TYPE (queue), &n_ids);
  fail_unless_equals_int (n_ids, 4);
  for (guint i = 0; i < n_ids; i++)
    {
      GSignalQuery theirs, ours;
      g_signal_query (ids[i], &theirs);
      guint id = g_signal_lookup (theirs.signal_name, type);
      fail_unless (id != 0, "%s has no signal '%s'", FACTORY,
                   theirs.signal_name);
      g_signal_query (id, &ours);
      fail_unless (ours.return_type == G_TYPE_NONE && ours.n_params == 0,
                   "%s::%s takes or returns something", FACTORY,
                   theirs.signal_name);
      const GSignalFlags run
          = G_SIGNAL_RUN_FIRST | G_SIGNAL_RUN_LAST | G_SIGNAL_RUN_CLEANUP;
      fail_unless_equals_int (ours.signal_flags & run,
                              theirs.signal_flags & run);
    }
  g_free (ids);

  guint n_specs;
  GParamSpec **specs
      = g_object_class_list_properties (G_OBJECT_GET_CLASS (queue), &n_specs);
  for (guint i = 0; i < n_specs; i++)
    {
      GParamSpec *theirs = specs[i];
      if (theirs->owner_type != G_OBJECT_TYPE (queue))
        continue;
      GParamSpec *ours = g_object_class_find_property (
          G_OBJECT_GET_CLASS (element), theirs->name);
      fail_unless (ours != NULL, "%s has no property '%s'", FACTORY,
                   theirs->name);
      const GParamFlags access
          = G_PARAM_READABLE | G_PARAM_WRITABLE | GST_PARAM_MUTABLE_READY
            | GST_PARAM_MUTABLE_PAUSED | GST_PARAM_MUTABLE_PLAYING;
      fail_unless ((ours->flags & access) == (theirs->flags & access),
                   "%s:%s has flags 0x%x, queue's 0x%x", FACTORY, theirs->name,
                   ours->flags & access, theirs->flags & access);
      if (G_IS_PARAM_SPEC_ENUM (theirs))
        {
          fail_unless (G_IS_PARAM_SPEC_ENUM (ours), "%s:%s is no enum", FACTORY,
                       theirs->name);
          GEnumClass *qe = G_PARAM_SPEC_ENUM (theirs)->enum_class;
          GEnumClass *oe = G_PARAM_SPEC_ENUM (ours)->enum_class;
          fail_unless_equals_int (oe->n_values, qe->n_values);
          for (guint v = 0; v < qe->n_values; v++)
            {
              GEnumValue *match = g_enum_get_value (oe, qe->values[v].value);
              fail_unless (match != NULL
                               && g_str_equal (match->value_nick,
                                               qe->values[v].value_nick),
                           "%s:%s=%d is not '%s'", FACTORY, theirs->name,
                           qe->values[v].value, qe->values[v].value_nick);
            }
          continue;
        }
      fail_unless (ours->value_type == theirs->value_type,
                   "%s:%s is %s, queue's is %s", FACTORY, theirs->name,
                   g_type_name (ours->value_type),
                   g_type_name (theirs->value_type));
      if (G_IS_PARAM_SPEC_UINT (theirs))
        {
          fail_unless_equals_uint64 (G_PARAM_SPEC_UINT (ours)->minimum,
                                     G_PARAM_SPEC_UINT (theirs)->minimum);
          fail_unless_equals_uint64 (G_PARAM_SPEC_UINT (ours)->maximum,
                                     G_PARAM_SPEC_UINT (theirs)->maximum);
        }
      if (G_IS_PARAM_SPEC_UINT64 (theirs))
        {
          fail_unless_equals_uint64 (G_PARAM_SPEC_UINT64 (ours)->minimum,
                                     G_PARAM_SPEC_UINT64 (theirs)->minimum);
          fail_unless_equals_uint64 (G_PARAM_SPEC_UINT64 (ours)->maximum,
                                     G_PARAM_SPEC_UINT64 (theirs)->maximum);
        }
    }
  g_free (specs);

  for (guint i = 0; i < G_N_ELEMENTS (same_default); i++)
    {
      GParamSpec *theirs = g_object_class_find_property (
          G_OBJECT_GET_CLASS (queue), same_default[i]);
      GParamSpec *ours = g_object_class_find_property (
          G_OBJECT_GET_CLASS (element), same_default[i]);
      gchar *want = default_of (theirs);
      gchar *got = default_of (ours);
      fail_unless (g_str_equal (want, got), "%s:%s defaults to %s, queue %s",
                   FACTORY, same_default[i], got, want);
      g_free (want);
      g_free (got);
    }
  gst_object_unref (element);
  gst_object_unref (queue);
}
GST_END_TEST;

/* latestframe only: its leaky modes and the liveness of upstream. */

static guint64
dropped_overflow (Fixture *fx)
{
  GstStructure *stats = NULL;
  guint64 dropped = 0;
  g_object_get (fx->element, "stats", &stats, NULL);
  fail_unless (stats != NULL);
  fail_unless (gst_structure_get_uint64 (stats, "dropped-overflow", &dropped));
  gst_structure_free (stats);
  return dropped;
}

/* Frame 0 held at a gate (the gate is left closed). */
static void
hold_first_frame (Fixture *fx, Gate *gate)
{
  link_down (fx);
  gate_close (gate, fx->src);
  play (fx);
  start_stream (fx);
  fail_unless_equals_int (push (fx, 0), GST_FLOW_OK);
  gate_wait_blocked (gate);
}

/* Steps: upstream answers LATENCY not live; leaky=downstream,
 * max-size-buffers=1 (leaky-non-live left at its default, false); frame 0
 * held at a gate; a thread pushes 1-5 and EOS; once its first overrun was
 * signalled, open the gate.
 * Invariant: no frame is dropped: upstream is held up (after the overrun),
 * every frame comes out in order without DISCONT, and the stats count no
 * drop. */
GST_START_TEST (test_leaky_holds_up_non_live_upstream)
{
  Fixture fx;
  Gate gate;
  Pusher pusher;
  fixture_setup (&fx, "latestframe",
                 "max-size-buffers=1 leaky=downstream " LIMITS);
  fx.upstream_live = 0;
  gboolean leaky_non_live = TRUE;
  fail_unless (g_object_class_find_property (G_OBJECT_GET_CLASS (fx.element),
                                             "leaky-non-live"),
               "latestframe has no property 'leaky-non-live'");
  g_object_get (fx.element, "leaky-non-live", &leaky_non_live, NULL);
  fail_if (leaky_non_live, "leaky-non-live is on by default");
  connect_signals (&fx);
  hold_first_frame (&fx, &gate);
  pusher_start (&pusher, &fx, 1, 5, TRUE);
  wait_signals (&fx, 'P', "overrun@P");
  gate_open (&gate);
  fail_unless_equals_int (pusher_join (&pusher), GST_FLOW_OK);
  wait_data (&fx, "eos");
  assert_log (&fx, log_data (&fx),
              "stream-start caps segment b0 b1 b2 b3 b4 b5 eos");
  fail_unless_equals_uint64 (dropped_overflow (&fx), 0);
  fixture_teardown (&fx);
}
GST_END_TEST;

/* Pushes 1-5 behind frame 0 (held at a gate) from the test thread, which
 * must never block, and checks what a leaky=downstream max-size-buffers=1
 * element drops. */
static void
check_drops_like_live (Fixture *fx)
{
  Gate gate;
  connect_signals (fx);
  hold_first_frame (fx, &gate);
  for (guint i = 1; i <= 5; i++)
    fail_unless_equals_int (push (fx, i), GST_FLOW_OK);
  assert_log (fx, log_signals (fx, 'T'),
              "overrun@T overrun@T overrun@T overrun@T");
  fail_unless_equals_uint64 (dropped_overflow (fx), 4);
  gate_open (&gate);
  fail_unless (gst_pad_push_event (fx->up, gst_event_new_eos ()));
  wait_data (fx, "eos");
  assert_log (fx, log_data (fx), "stream-start caps segment b0 b5D eos");
}

/* Steps: upstream answers LATENCY not live; leaky=downstream,
 * max-size-buffers=1, leaky-non-live=true; frame 0 at a gate; push 1-5.
 * Invariant: dropped as for a live source: 4 overruns on the pushing
 * thread, 1-4 dropped, 5 comes out with DISCONT. */
GST_START_TEST (test_leaky_non_live_true_drops_for_non_live_upstream)
{
  Fixture fx;
  fixture_setup (
      &fx, "latestframe",
      "max-size-buffers=1 leaky=downstream leaky-non-live=true " LIMITS);
  fx.upstream_live = 0;
  check_drops_like_live (&fx);
  fixture_teardown (&fx);
}
GST_END_TEST;

/* Steps: upstream does not answer LATENCY; leaky=downstream,
 * max-size-buffers=1, leaky-non-live at its default; as above.
 * Invariant: an upstream that does not say it is live counts as live: the
 * same drops as for a live source. */
GST_START_TEST (test_upstream_without_latency_answer_counts_as_live)
{
  Fixture fx;
  fixture_setup (&fx, "latestframe",
                 "max-size-buffers=1 leaky=downstream " LIMITS);
  fx.upstream_live = -1;
  check_drops_like_live (&fx);
  fixture_teardown (&fx);
}
GST_END_TEST;

/* Steps: a GstHarness around latestframe (leaky=downstream,
 * max-size-buffers=1); freeze on frame 0; push 1-5; open the gate.
 * Invariant: a harness's src pad answers LATENCY live (GstHarness's
 * default, gst_harness_set_live), so the element drops: 0 and 5 (DISCONT)
 * come out. */
GST_START_TEST (test_harness_upstream_is_live)
{
  GstHarness *h = new_harness ("max-size-buffers=1 leaky=downstream");
  GstPad *sink = gst_element_get_static_pad (h->element, "sink");
  GstQuery *latency = gst_query_new_latency ();
  fail_unless (gst_pad_peer_query (sink, latency));
  gst_object_unref (sink);
  gboolean live;
  gst_query_parse_latency (latency, &live, NULL, NULL);
  fail_unless (live, "a harness's src pad answers LATENCY not live");
  gst_query_unref (latency);
  Gate gate;
  push_first_and_freeze (h, &gate);
  for (guint i = 1; i <= 5; i++)
    fail_unless_equals_int (
        gst_harness_push (h, numbered_buffer (i, 16, i * FRAME_NS)),
        GST_FLOW_OK);
  gate_open (&gate);
  GstBuffer *out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (out), 0);
  gst_buffer_unref (out);
  out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (out), 5);
  fail_unless (GST_BUFFER_FLAG_IS_SET (out, GST_BUFFER_FLAG_DISCONT));
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

static Suite *
queue_compat_suite (void)
{
  Suite *s = suite_create ("queue-compat");
  const gchar *only = g_getenv ("QUEUE_COMPAT_ELEMENTS");
  factories = only && *only ? g_strsplit (only, ",", -1)
                            : g_strdupv ((gchar **)default_factories);
  gint n = (gint)g_strv_length (factories);

  TCase *tc = tcase_create ("queue");
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 120);
  tcase_add_loop_test (tc, test_same_signals_and_properties_as_queue, 0, n);
  tcase_add_loop_test (tc, test_underrun_once_at_start, 0, n);
  tcase_add_loop_test (tc, test_non_leaky_overrun, 0, n);
  tcase_add_loop_test (tc, test_leaky_upstream, 0, n);
  tcase_add_loop_test (tc, test_leaky_downstream, 0, n);
  tcase_add_loop_test (tc, test_overrun_handler_can_make_room, 0, n);
  tcase_add_loop_test (tc, test_running_after_blocked_producer_gets_room, 0, n);
  tcase_add_loop_test (tc, test_silent_emits_nothing, 0, n);
  tcase_add_loop_test (tc, test_min_threshold_holds_frames_not_queries, 0, n);
  tcase_add_loop_test (tc, test_flush_on_eos, 0, n);
  tcase_add_loop_test (tc, test_sticky_not_linked, 0, n);
  tcase_add_loop_test (tc, test_queries_while_flushing, 0, n);

  TCase *own = tcase_create ("latestframe");
  suite_add_tcase (s, own);
  tcase_set_timeout (own, 60);
  if (g_strv_contains ((const gchar *const *)factories, "latestframe"))
    {
      tcase_add_test (own, test_leaky_holds_up_non_live_upstream);
      tcase_add_test (own,
                      test_leaky_non_live_true_drops_for_non_live_upstream);
      tcase_add_test (own, test_upstream_without_latency_answer_counts_as_live);
      tcase_add_test (own, test_harness_upstream_is_live);
    }
  return s;
}

GST_CHECK_MAIN (queue_compat);
