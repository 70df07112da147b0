/* latestframe's delivery changed while frames flow (issue 23): the three
 * findings of the storm that once hung, each as its own deterministic test.
 * The storm itself, with random values for every property, flushes and
 * state flips over several seeds, is the mode-switches fault of
 * pipelines/faults.sh, which the suite runs (elements/mode-switches-*).
 *
 * Threads are met with flags and gates, never sleeps. Where the element
 * once hung, a wait has a failure bound of 5 s: it takes milliseconds. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "check_helpers.h"

#define FAILURE_BOUND (5 * G_TIME_SPAN_SECOND)

/* A one-way flag a thread raises and another waits for. */
typedef struct
{
  GMutex lock;
  GCond cond;
  gboolean raised;
} Flag;

static void
flag_init (Flag *flag)
{
  g_mutex_init (&flag->lock);
  g_cond_init (&flag->cond);
  flag->raised = FALSE;
}

static void
flag_raise (Flag *flag)
{
  g_mutex_lock (&flag->lock);
  flag->raised = TRUE;
  g_cond_broadcast (&flag->cond);
  g_mutex_unlock (&flag->lock);
}

/* Whether the flag was raised within `bound` (microseconds). */
static gboolean
flag_wait (Flag *flag, gint64 bound)
{
  const gint64 until = g_get_monotonic_time () + bound;
  g_mutex_lock (&flag->lock);
  while (!flag->raised)
    if (!g_cond_wait_until (&flag->cond, &flag->lock, until))
      break;
  const gboolean raised = flag->raised;
  g_mutex_unlock (&flag->lock);
  return raised;
}

static void
flag_clear (Flag *flag)
{
  g_mutex_clear (&flag->lock);
  g_cond_clear (&flag->cond);
}

/* A frame pushed into a harness from a second thread (it may block). */
typedef struct
{
  GstHarness *h;
  GstBuffer *buffer;
  GstFlowReturn flow;
  Flag returned;
  GThread *thread;
} Pusher;

static gpointer
pusher_run (gpointer data)
{
  Pusher *pusher = (Pusher *)data;
  pusher->flow = gst_harness_push (pusher->h, pusher->buffer);
  flag_raise (&pusher->returned);
  return NULL;
}

static void
pusher_start (Pusher *pusher, GstHarness *h, GstBuffer *buffer)
{
  pusher->h = h;
  pusher->buffer = buffer;
  pusher->flow = GST_FLOW_ERROR;
  flag_init (&pusher->returned);
  pusher->thread = g_thread_new ("pusher", pusher_run, pusher);
}

static void
pusher_join (Pusher *pusher)
{
  g_thread_join (pusher->thread);
  flag_clear (&pusher->returned);
}

/* A flush from upstream, as an element upstream flushes: FLUSH_START,
 * FLUSH_STOP, and the SEGMENT that must follow it (base `base`). */
static void
flush_from_upstream (GstHarness *h, GstClockTime base)
{
  GstSegment segment;
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&segment, GST_FORMAT_TIME);
  segment.base = base;
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));
}

static void
set_delivery (GstElement *element, const gchar *delivery)
{
  gst_util_set_object_arg (G_OBJECT (element), "delivery", delivery);
}

/* received == pushed + dropped + held: nothing lost uncounted. */
static void
assert_counts_hold (GstElement *element)
{
  guint level;
  g_object_get (element, "current-level-buffers", &level, NULL);
  fail_unless_equals_uint64 (stat_uint64 (element, "received"),
                             stat_uint64 (element, "pushed")
                                 + stat_uint64 (element, "dropped") + level);
}

/* Finding 1: delivery going back to push while the producer waits for room
 * (leaky=no) must get the task pushing again; it stayed paused, nobody
 * drained, and the producer waited for ever.
 * Steps:
 * 1. latestframe leaky=no (one frame) in a harness, playing;
 *    delivery=on-request.
 * 2. A flush from upstream.
 * 3. Frame 1 is held (no reader); frame 2, from a second thread, arrives
 *    at the limit ("overrun") and waits for room.
 * 4. delivery=push.
 * Invariant: frame 2's push returns OK (failure bound 5 s), frames 1 and 2
 * come out in order, received == pushed + dropped + held. */
GST_START_TEST (test_blocked_producer_released_when_delivery_returns_to_push)
{
  GstHarness *h = new_harness ("leaky=no");
  Flag overrun;
  flag_init (&overrun);
  g_signal_connect_swapped (h->element, "overrun", G_CALLBACK (flag_raise),
                            &overrun);
  set_delivery (h->element, "on-request");
  flush_from_upstream (h, 0);
  fail_unless_equals_int (gst_harness_push (h, numbered_buffer (1, 16, 0)),
                          GST_FLOW_OK);

  Pusher pusher;
  pusher_start (&pusher, h, numbered_buffer (2, 16, FRAME_NS));
  fail_unless (flag_wait (&overrun, FAILURE_BOUND), "frame 2 never arrived");
  set_delivery (h->element, "push");
  const gboolean released = flag_wait (&pusher.returned, FAILURE_BOUND);
  if (!released)
    /* Ends the test: the stop releases the producer. */
    gst_element_set_state (h->element, GST_STATE_NULL);
  pusher_join (&pusher);
  fail_unless (released, "the producer waited for room for ever after "
                         "delivery went back to push");
  fail_unless_equals_int (pusher.flow, GST_FLOW_OK);

  GstBuffer *out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (out), 1);
  gst_buffer_unref (out);
  out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (out), 2);
  gst_buffer_unref (out);
  assert_counts_hold (h->element);
  flag_clear (&overrun);
  gst_harness_teardown (h);
}
GST_END_TEST;

static GstPadProbeReturn
raise_on_buffer (GstPad *pad, GstPadProbeInfo *info, gpointer flag)
{
  (void)pad;
  (void)info;
  flag_raise ((Flag *)flag);
  return GST_PAD_PROBE_OK;
}

typedef struct
{
  GstElement *pipeline;
  Flag returned;
} EosSender;

static gpointer
eos_sender_run (gpointer data)
{
  EosSender *sender = (EosSender *)data;
  gst_element_send_event (sender->pipeline, gst_event_new_eos ());
  flag_raise (&sender->returned);
  return NULL;
}

/* Finding 2: after the same switch, an EOS the application sends to the
 * pipeline blocked the application's own thread in gst_element_send_event
 * (behind the source's stream lock, held by its thread waiting for room).
 * Steps:
 * 1. videotestsrc is-live ! latestframe leaky=no ! fakesink, playing;
 *    a frame reaches the sink.
 * 2. delivery=on-request; a flushing seek on the source; the source's
 *    thread arrives at latestframe's limit (overrun) and waits for room.
 * 3. delivery=push; a second thread sends EOS to the pipeline.
 * Invariant: that call returns and EOS reaches the bus (failure bound
 * 5 s each). */
GST_START_TEST (
    test_application_eos_gets_through_after_delivery_returns_to_push)
{
  GstElement *pipeline = gst_parse_launch (
      "videotestsrc name=src is-live=true ! "
      "video/x-raw,width=64,height=48,framerate=30/1 ! "
      "latestframe name=lf leaky=no ! fakesink name=sink async=false "
      "sync=false",
      NULL);
  fail_unless (pipeline != NULL);
  GstElement *source = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  GstElement *latest = gst_bin_get_by_name (GST_BIN (pipeline), "lf");
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  GstPad *sink_pad = gst_element_get_static_pad (sink, "sink");
  Flag frame_at_sink, overrun;
  flag_init (&frame_at_sink);
  flag_init (&overrun);
  const gulong probe
      = gst_pad_add_probe (sink_pad, GST_PAD_PROBE_TYPE_BUFFER, raise_on_buffer,
                           &frame_at_sink, NULL);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING)
               != GST_STATE_CHANGE_FAILURE);
  fail_unless (flag_wait (&frame_at_sink, FAILURE_BOUND), "no frame at all");

  set_delivery (latest, "on-request");
  g_signal_connect_swapped (latest, "overrun", G_CALLBACK (flag_raise),
                            &overrun);
  fail_unless (gst_element_seek_simple (source, GST_FORMAT_TIME,
                                        GST_SEEK_FLAG_FLUSH, 0));
  fail_unless (flag_wait (&overrun, FAILURE_BOUND),
               "the source never waited for room");
  set_delivery (latest, "push");

  EosSender sender;
  sender.pipeline = pipeline;
  flag_init (&sender.returned);
  GThread *thread = g_thread_new ("eos", eos_sender_run, &sender);
  const gboolean returned = flag_wait (&sender.returned, FAILURE_BOUND);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *eos = gst_bus_timed_pop_filtered (
      bus, FAILURE_BOUND * GST_USECOND,
      (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  if (!returned)
    /* Ends the test: stopping latestframe releases the source's thread,
     * and with it the sender (which holds the pipeline's state lock). */
    gst_element_set_state (latest, GST_STATE_NULL);
  g_thread_join (thread);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  fail_unless (returned, "gst_element_send_event (EOS) blocked");
  fail_unless (eos != NULL && GST_MESSAGE_TYPE (eos) == GST_MESSAGE_EOS,
               "no EOS on the bus");
  assert_counts_hold (latest);

  gst_message_unref (eos);
  gst_object_unref (bus);
  flag_clear (&sender.returned);
  gst_pad_remove_probe (sink_pad, probe);
  flag_clear (&frame_at_sink);
  flag_clear (&overrun);
  gst_object_unref (sink_pad);
  gst_object_unref (sink);
  gst_object_unref (latest);
  gst_object_unref (source);
  gst_object_unref (pipeline);
}
GST_END_TEST;

/* Holds the element's thread in the push of a custom event named
 * "test-hold" until released: the test decides what it takes next. */
typedef struct
{
  Flag held;
  Flag released;
  GstPad *pad;
  gulong probe;
} EventGate;

static GstPadProbeReturn
event_gate_reached (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  EventGate *gate = (EventGate *)data;
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  (void)pad;
  if (GST_EVENT_TYPE (event) == GST_EVENT_CUSTOM_DOWNSTREAM
      && gst_event_has_name (event, "test-hold"))
    {
      flag_raise (&gate->held);
      flag_wait (&gate->released, G_MAXINT64 / 2);
    }
  return GST_PAD_PROBE_OK;
}

static void
event_gate_close (EventGate *gate, GstPad *pad)
{
  flag_init (&gate->held);
  flag_init (&gate->released);
  gate->pad = gst_object_ref (pad);
  gate->probe = gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                                   event_gate_reached, gate, NULL);
}

static void
event_gate_open (EventGate *gate)
{
  flag_raise (&gate->released);
}

static void
event_gate_clear (EventGate *gate)
{
  gst_pad_remove_probe (gate->pad, gate->probe);
  gst_object_unref (gate->pad);
  flag_clear (&gate->held);
  flag_clear (&gate->released);
}

/* Finding 3: downstream got a buffer before its SEGMENT. A reader took the
 * segment that follows a flush (delivery=on-request), and the task, still
 * running, pushed the next frame with no segment on its pad.
 * Steps:
 * 1. latestframe (push) in a harness; a flush from upstream: its src pad
 *    loses its segment, as flushing does.
 * 2. A custom serialized event holds its thread in the push of that event.
 * 3. A new SEGMENT (base 7 s) and frame 1 arrive; delivery=on-request; a
 *    reader takes frame 1, and the segment before it.
 * 4. Frame 2 arrives; the thread is let go.
 * 5. delivery=push.
 * Invariant: frame 2 is not pushed while on request; once pushed, it
 * follows the segment it belongs to (downstream's segment has base 7 s;
 * no "Got data flow before segment event"); counts hold. */
GST_START_TEST (test_frame_pushed_after_a_reader_took_the_segment_follows_it)
{
  GstHarness *h = new_harness ("max-size-buffers=4");
  fail_unless_equals_int (gst_harness_push (h, numbered_buffer (0, 16, 0)),
                          GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
  GstSegment segment;
  gst_segment_init (&segment, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));

  GstPad *src = element_src (h);
  EventGate gate;
  event_gate_close (&gate, src);
  fail_unless (gst_harness_push_event (
      h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
                               gst_structure_new_empty ("test-hold"))));
  fail_unless (flag_wait (&gate.held, FAILURE_BOUND));

  segment.base = 7 * GST_SECOND;
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  fail_unless_equals_int (gst_harness_push (h, numbered_buffer (1, 16, 0)),
                          GST_FLOW_OK);
  set_delivery (h->element, "on-request");
  GstSample *sample = NULL;
  g_signal_emit_by_name (h->element, "try-pull-frame", GST_SECOND, &sample);
  fail_unless (sample != NULL);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (gst_sample_get_buffer (sample)),
                             1);
  fail_unless_equals_uint64 (gst_sample_get_segment (sample)->base,
                             7 * GST_SECOND);
  gst_sample_unref (sample);
  fail_unless_equals_int (gst_harness_push (h, numbered_buffer (2, 16, 0)),
                          GST_FLOW_OK);
  event_gate_open (&gate);

  /* On request, the thread leaves frame 2 to the reader. */
  fail_unless_equals_int (level_buffers (h), 1);
  fail_unless (gst_harness_try_pull (h) == NULL);
  set_delivery (h->element, "push");
  GstBuffer *out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (out), 2);
  gst_buffer_unref (out);
  GstEvent *sticky
      = gst_pad_get_sticky_event (h->sinkpad, GST_EVENT_SEGMENT, 0);
  fail_unless (sticky != NULL, "frame 2 reached downstream with no segment");
  const GstSegment *downstream;
  gst_event_parse_segment (sticky, &downstream);
  fail_unless_equals_uint64 (downstream->base, 7 * GST_SECOND);
  gst_event_unref (sticky);
  assert_counts_hold (h->element);

  event_gate_clear (&gate);
  gst_object_unref (src);
  gst_harness_teardown (h);
}
GST_END_TEST;

static Suite *
mode_switches_suite (void)
{
  Suite *s = suite_create ("mode_switches");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc,
                  test_blocked_producer_released_when_delivery_returns_to_push);
  tcase_add_test (
      tc, test_application_eos_gets_through_after_delivery_returns_to_push);
  tcase_add_test (tc,
                  test_frame_pushed_after_a_reader_took_the_segment_follows_it);
  return s;
}

GST_CHECK_MAIN (mode_switches);
