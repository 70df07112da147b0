/* gst-check tests of the latestframe element: one invariant per test. */
#include "check_helpers.h"
#include "common/leaks_tracer.h"

#include <gst/check/gstharness.h>

/* Steps: push one frame; pull it.
 * Invariant: the pushed buffer is the very buffer that arrived. */
GST_START_TEST (test_pushes_the_very_buffer_that_arrived)
{
  GstHarness *h = new_harness (NULL);
  GstBuffer *in = numbered_buffer (0, 64, 0);
  GstMemory *memory = gst_buffer_peek_memory (in, 0);
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  GstBuffer *out = gst_harness_pull (h);
  fail_unless (out == in);
  fail_unless (gst_buffer_peek_memory (out, 0) == memory);
  fail_if (GST_BUFFER_FLAG_IS_SET (out, GST_BUFFER_FLAG_DISCONT));
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: freeze the task on frame 0; push frames 1-4 (keeping a ref to
 * each), never blocking; open the gate.
 * Invariant: only the newest frame (4) follows, with DISCONT; frames 1-3 are
 * released (refcount back to the test's own). */
GST_START_TEST (test_leaky_downstream_keeps_newest_and_releases_dropped)
{
  GstHarness *h = new_harness (NULL);
  Recorder rec;
  Gate gate;
  GstBuffer *kept[5] = { NULL };
  record_and_freeze (h, &rec, &gate);
  for (guint i = 1; i <= 4; i++)
    {
      kept[i] = numbered_buffer (i, 16, i * FRAME_NS);
      fail_unless_equals_int (gst_harness_push (h, gst_buffer_ref (kept[i])),
                              GST_FLOW_OK);
      fail_unless_equals_int (level_buffers (h), 1);
    }
  for (guint i = 1; i <= 3; i++)
    ASSERT_BUFFER_REFCOUNT (kept[i], "dropped buffer", 1);
  gate_open (&gate);
  recorder_wait_buffers (&rec, 2);
  gchar *log = recorder_take (&rec);
  fail_unless (g_str_has_suffix (log, "0 4D"), "got '%s'", log);
  g_free (log);
  for (guint i = 1; i <= 4; i++)
    gst_buffer_unref (kept[i]);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: freeze the task on frame 0; push frame 1, a tag event, frame 2, a
 * caps change and frame 3; open the gate.
 * Invariant: frames 1 and 2 are dropped but the sticky events behind them
 * come out, in order, before frame 3 (DISCONT). */
GST_START_TEST (test_sticky_events_survive_dropped_frames)
{
  GstHarness *h = new_harness (NULL);
  Recorder rec;
  Gate gate;
  GstPad *src = element_src (h);
  recorder_start (&rec, src);
  push_first_and_freeze (h, &gate);
  gst_harness_push (h, numbered_buffer (1, 16, FRAME_NS));
  fail_unless (gst_harness_push_event (
      h, gst_event_new_tag (gst_tag_list_new (GST_TAG_TITLE, "cam", NULL))));
  gst_harness_push (h, numbered_buffer (2, 16, 2 * FRAME_NS));
  gst_harness_set_src_caps_str (
      h, "video/x-raw,format=GRAY8,width=8,height=2,framerate=30/1");
  gst_harness_push (h, numbered_buffer (3, 16, 3 * FRAME_NS));
  gate_open (&gate);
  recorder_wait_buffers (&rec, 2);
  gchar *log = recorder_take (&rec);
  fail_unless (g_str_has_suffix (log, "0 tag caps 3D")
                   || g_str_has_suffix (log, "0 tag caps segment 3D"),
               "got '%s'", log);
  g_free (log);
  GstCaps *caps = gst_pad_get_current_caps (src);
  GstStructure *s = gst_caps_get_structure (caps, 0);
  gint width;
  fail_unless (gst_structure_get_int (s, "width", &width));
  fail_unless_equals_int (width, 8);
  gst_caps_unref (caps);
  GstEvent *tag = gst_pad_get_sticky_event (src, GST_EVENT_TAG, 0);
  fail_unless (tag != NULL);
  gst_event_unref (tag);
  gst_object_unref (src);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: leaky=upstream, max-size-buffers=2; freeze on frame 0; push 1-4.
 * Invariant: the held frames (1, 2) stay; 3 and 4 are dropped on arrival;
 * the next accepted frame (5) carries DISCONT. */
GST_START_TEST (test_leaky_upstream_drops_arriving_frames)
{
  GstHarness *h = new_harness ("leaky=upstream max-size-buffers=2");
  Recorder rec;
  Gate gate;
  record_and_freeze (h, &rec, &gate);
  GstBuffer *third = numbered_buffer (3, 16, 3 * FRAME_NS);
  for (guint i = 1; i <= 4; i++)
    fail_unless_equals_int (
        gst_harness_push (h, i == 3 ? gst_buffer_ref (third)
                                    : numbered_buffer (i, 16, i * FRAME_NS)),
        GST_FLOW_OK);
  ASSERT_BUFFER_REFCOUNT (third, "dropped buffer", 1);
  gst_buffer_unref (third);
  fail_unless_equals_int (level_buffers (h), 2);
  gate_open (&gate);
  recorder_wait_buffers (&rec, 3);
  gst_harness_push (h, numbered_buffer (5, 16, 5 * FRAME_NS));
  recorder_wait_buffers (&rec, 4);
  gchar *log = recorder_take (&rec);
  fail_unless (g_str_has_suffix (log, "0 1 2 5D"), "got '%s'", log);
  g_free (log);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

typedef struct
{
  GstHarness *h;
  guint first;
  guint count;
} PushJob;

static gpointer
push_frames (gpointer user_data)
{
  PushJob *job = (PushJob *)user_data;
  for (guint i = job->first; i < job->first + job->count; i++)
    fail_unless_equals_int (
        gst_harness_push (job->h, numbered_buffer (i, 16, i * FRAME_NS)),
        GST_FLOW_OK);
  return NULL;
}

static GstPadProbeReturn
record_max_level (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  guint *max_level = (guint *)user_data;
  guint level;
  (void)info;
  g_object_get (GST_PAD_PARENT (pad), "current-level-buffers", &level, NULL);
  if (level > *max_level)
    *max_level = level;
  return GST_PAD_PROBE_OK;
}

/* Steps: leaky=no, max-size-buffers=2; freeze on frame 0; push 1-49 from a
 * thread, which must block; open the gate.
 * Invariant: nothing is dropped, no DISCONT, and never more than 2 held. */
GST_START_TEST (test_leaky_no_blocks_instead_of_dropping)
{
  GstHarness *h = new_harness ("leaky=no max-size-buffers=2");
  Recorder rec;
  Gate gate;
  guint max_level = 0;
  GstPad *src = element_src (h);
  recorder_start (&rec, src);
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, record_max_level,
                     &max_level, NULL);
  gst_object_unref (src);
  push_first_and_freeze (h, &gate);
  PushJob job = { h, 1, 49 };
  GThread *pusher = g_thread_new ("pusher", push_frames, &job);
  gate_open (&gate);
  g_thread_join (pusher);
  recorder_wait_buffers (&rec, 50);
  gchar *log = recorder_take (&rec);
  GString *expected = g_string_new (NULL);
  for (guint i = 0; i < 50; i++)
    g_string_append_printf (expected, " %u", i);
  fail_unless (g_str_has_suffix (log, expected->str + 1), "got '%s'", log);
  fail_if (strchr (log, 'D') != NULL, "got '%s'", log);
  fail_unless (max_level <= 2, "held %u frames", max_level);
  g_string_free (expected, TRUE);
  g_free (log);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: hold 3 frames (max-size-buffers=3) behind a frozen task; read the
 * levels; shrink max-size-buffers to 1 while PLAYING.
 * Invariant: current-level-* report what is held; the new limit applies at
 * once, keeping the newest frame. */
GST_START_TEST (test_levels_and_limits_apply_at_once)
{
  GstHarness *h = new_harness ("max-size-buffers=3");
  Recorder rec;
  Gate gate;
  record_and_freeze (h, &rec, &gate);
  for (guint i = 1; i <= 3; i++)
    gst_harness_push (h, numbered_buffer (i, 100, i * FRAME_NS));
  guint buffers;
  guint64 bytes, time;
  g_object_get (h->element, "current-level-buffers", &buffers,
                "current-level-bytes", &bytes, "current-level-time", &time,
                NULL);
  fail_unless_equals_int (buffers, 3);
  fail_unless_equals_uint64 (bytes, 300);
  fail_unless_equals_uint64 (time, 2 * FRAME_NS);
  g_object_set (h->element, "max-size-buffers", 1, NULL);
  fail_unless_equals_int (level_buffers (h), 1);
  gate_open (&gate);
  recorder_wait_buffers (&rec, 2);
  gchar *log = recorder_take (&rec);
  fail_unless (g_str_has_suffix (log, "0 3D"), "got '%s'", log);
  g_free (log);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: max-size-buffers=0, max-size-time=100 ms; push 10 frames 40 ms
 * apart behind a frozen task.
 * Invariant: the held span never exceeds the limit. */
GST_START_TEST (test_max_size_time_bounds_held_span)
{
  GstHarness *h = new_harness ("max-size-buffers=0 max-size-time=100000000");
  Gate gate;
  push_first_and_freeze (h, &gate);
  for (guint i = 1; i <= 10; i++)
    {
      gst_harness_push (h, numbered_buffer (i, 16, i * 40 * GST_MSECOND));
      guint64 time;
      g_object_get (h->element, "current-level-time", &time, NULL);
      fail_unless (time <= 100 * GST_MSECOND);
    }
  fail_unless_equals_int (level_buffers (h), 3);
  gate_open (&gate);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: max-size-bytes=1000; push frames of 600 bytes behind a frozen task.
 * Invariant: held bytes never exceed the limit, but a lone frame larger
 * than the limit is still accepted. */
GST_START_TEST (test_max_size_bytes_is_a_strict_bound)
{
  GstHarness *h = new_harness ("max-size-buffers=0 max-size-bytes=1000");
  Gate gate;
  push_first_and_freeze (h, &gate);
  for (guint i = 1; i <= 4; i++)
    {
      gst_harness_push (h, numbered_buffer (i, 600, i * FRAME_NS));
      guint64 bytes;
      g_object_get (h->element, "current-level-bytes", &bytes, NULL);
      fail_unless_equals_uint64 (bytes, 600);
    }
  gst_harness_push (h, numbered_buffer (5, 4000, 5 * FRAME_NS));
  guint64 bytes;
  g_object_get (h->element, "current-level-bytes", &bytes, NULL);
  fail_unless_equals_uint64 (bytes, 4000);
  gate_open (&gate);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: freeze on frame 0; queue frames 1-2 and EOS; open the gate.
 * Invariant: EOS comes after the held frames; frames after EOS are refused
 * with EOS until a new segment. */
GST_START_TEST (test_eos_follows_held_frames)
{
  GstHarness *h = new_harness ("max-size-buffers=5");
  Recorder rec;
  Gate gate;
  record_and_freeze (h, &rec, &gate);
  gst_harness_push (h, numbered_buffer (1, 16, FRAME_NS));
  gst_harness_push (h, numbered_buffer (2, 16, 2 * FRAME_NS));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_push (h, numbered_buffer (3, 16, 0)),
                          GST_FLOW_EOS);
  gate_open (&gate);
  recorder_wait_suffix (&rec, "eos");
  gchar *log = recorder_take (&rec);
  fail_unless (g_str_has_suffix (log, "0 1 2 eos"), "got '%s'", log);
  g_free (log);
  /* Upstream pads accept only a new stream after EOS. */
  fail_unless (gst_harness_push_event (h, gst_event_new_stream_start ("2")));
  GstSegment segment;
  gst_segment_init (&segment, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  fail_unless_equals_int (gst_harness_push (h, numbered_buffer (4, 16, 0)),
                          GST_FLOW_OK);
  recorder_wait_buffers (&rec, 4);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

typedef struct
{
  GstPad *pad;
  GstQuery *query;
  gboolean answered;
  GMutex lock;
  GCond cond;
  gboolean sent;
} QueryJob;

static gpointer
send_query (gpointer user_data)
{
  QueryJob *job = (QueryJob *)user_data;
  job->answered = gst_pad_peer_query (job->pad, job->query);
  return NULL;
}

static GstPadProbeReturn
query_sent (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  QueryJob *job = (QueryJob *)user_data;
  (void)pad;
  (void)info;
  g_mutex_lock (&job->lock);
  job->sent = TRUE;
  g_cond_broadcast (&job->cond);
  g_mutex_unlock (&job->lock);
  return GST_PAD_PROBE_OK;
}

/* Sends job->query from a new thread and returns once it has left the
 * upstream pad (it then waits inside the element). */
static GThread *
query_job_start (QueryJob *job, GstPad *pad, GstQuery *query)
{
  job->pad = pad;
  job->query = query;
  job->answered = FALSE;
  job->sent = FALSE;
  g_mutex_init (&job->lock);
  g_cond_init (&job->cond);
  gulong probe = gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM,
                                    query_sent, job, NULL);
  GThread *asker = g_thread_new ("asker", send_query, job);
  g_mutex_lock (&job->lock);
  while (!job->sent)
    g_cond_wait (&job->cond, &job->lock);
  g_mutex_unlock (&job->lock);
  gst_pad_remove_probe (pad, probe);
  return asker;
}

/* Steps: max-size-buffers=5; freeze on frame 0; queue frame 1; send a DRAIN
 * query from another thread; queue frame 2; open the gate.
 * Invariant: the query is answered in order: after frame 1, before 2. */
GST_START_TEST (test_serialized_query_answered_in_order)
{
  GstHarness *h = new_harness ("max-size-buffers=5");
  Recorder rec;
  Gate gate;
  record_and_freeze (h, &rec, &gate);
  gst_harness_push (h, numbered_buffer (1, 16, FRAME_NS));
  QueryJob job;
  GThread *asker = query_job_start (&job, h->srcpad, gst_query_new_drain ());
  gate_open (&gate);
  gboolean answered;
  g_thread_join (asker);
  answered = job.answered;
  asker = NULL;
  fail_unless (answered);
  gst_harness_push (h, numbered_buffer (2, 16, 2 * FRAME_NS));
  recorder_wait_buffers (&rec, 3);
  gchar *log = recorder_take (&rec);
  fail_unless (g_str_has_suffix (log, "0 1 query-drain 2"), "got '%s'", log);
  g_free (log);
  gst_query_unref (job.query);
  g_mutex_clear (&job.lock);
  g_cond_clear (&job.cond);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: freeze on frame 0; send an ALLOCATION query from another thread
 * (it waits behind frame 0); FLUSH_START.
 * Invariant: the waiting query returns FALSE at once: no deadlock; after
 * FLUSH_STOP frames flow again. */
GST_START_TEST (test_query_waiting_during_flush_returns)
{
  GstHarness *h = new_harness (NULL);
  Gate gate;
  push_first_and_freeze (h, &gate);
  GstCaps *caps = gst_caps_from_string (VIDEO_CAPS);
  QueryJob job;
  GThread *asker = query_job_start (&job, h->srcpad,
                                    gst_query_new_allocation (caps, TRUE));
  gst_caps_unref (caps);
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  g_thread_join (asker);
  fail_if (job.answered);
  gst_query_unref (job.query);
  g_mutex_clear (&job.lock);
  g_cond_clear (&job.cond);
  gate_open (&gate);
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  GstSegment segment;
  gst_segment_init (&segment, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  /* Frame 0 may have reached the harness before the flush: pull until 7. */
  fail_unless_equals_int (gst_harness_push (h, numbered_buffer (7, 16, 0)),
                          GST_FLOW_OK);
  GstBuffer *out;
  do
    {
      out = gst_harness_pull (h);
      fail_unless (out != NULL);
      guint64 offset = GST_BUFFER_OFFSET (out);
      gst_buffer_unref (out);
      if (offset == 7)
        break;
    }
  while (TRUE);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: freeze on frame 0 with 4 frames queued (max-size-buffers=5);
 * FLUSH_START, FLUSH_STOP; push frame 9.
 * Invariant: the flush empties the queue and releases the frames; the caps
 * stay; frame 9 flows after the flush. */
GST_START_TEST (test_flush_empties_and_restarts)
{
  GstHarness *h = new_harness ("max-size-buffers=5");
  Gate gate;
  GstBuffer *held = numbered_buffer (1, 16, FRAME_NS);
  push_first_and_freeze (h, &gate);
  gst_harness_push (h, gst_buffer_ref (held));
  for (guint i = 2; i <= 4; i++)
    gst_harness_push (h, numbered_buffer (i, 16, i * FRAME_NS));
  fail_unless_equals_int (level_buffers (h), 4);
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless_equals_int (gst_harness_push (h, numbered_buffer (5, 16, 0)),
                          GST_FLOW_FLUSHING);
  gate_open (&gate);
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  fail_unless_equals_int (level_buffers (h), 0);
  ASSERT_BUFFER_REFCOUNT (held, "flushed buffer", 1);
  gst_buffer_unref (held);
  GstSegment segment;
  gst_segment_init (&segment, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  fail_unless_equals_int (gst_harness_push (h, numbered_buffer (9, 16, 0)),
                          GST_FLOW_OK);
  GstBuffer *out;
  while ((out = gst_harness_pull (h)) && GST_BUFFER_OFFSET (out) != 9)
    gst_buffer_unref (out);
  fail_unless (out != NULL);
  gst_buffer_unref (out);
  GstPad *src = element_src (h);
  GstCaps *caps = gst_pad_get_current_caps (src);
  fail_unless (caps != NULL);
  gst_caps_unref (caps);
  gst_object_unref (src);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* An upstream task: pushes frames without pause; on FLUSHING it parks
 * until the flush is over, then sends a new segment, as a source does after
 * a flushing seek. */
typedef struct
{
  GstHarness *h;
  GMutex lock;
  GCond cond;
  gboolean parked;
  guint flushes_done;
  gboolean stop;
  guint pushed;
} FlushPusher;

static gpointer
push_until_stopped (gpointer user_data)
{
  FlushPusher *job = (FlushPusher *)user_data;
  guint flushes_seen = 0;
  for (;;)
    {
      GstFlowReturn ret = gst_harness_push (
          job->h, numbered_buffer (job->pushed, 16, job->pushed * FRAME_NS));
      job->pushed++;
      fail_unless (ret == GST_FLOW_OK || ret == GST_FLOW_FLUSHING,
                   "push returned %s", gst_flow_get_name (ret));
      g_mutex_lock (&job->lock);
      if (ret == GST_FLOW_FLUSHING)
        {
          job->parked = TRUE;
          g_cond_broadcast (&job->cond);
          while (job->flushes_done == flushes_seen && !job->stop)
            g_cond_wait (&job->cond, &job->lock);
          flushes_seen = job->flushes_done;
        }
      gboolean stop = job->stop;
      g_mutex_unlock (&job->lock);
      if (stop)
        return NULL;
      if (ret == GST_FLOW_FLUSHING)
        {
          GstSegment segment;
          gst_segment_init (&segment, GST_FORMAT_TIME);
          gst_harness_push_event (job->h, gst_event_new_segment (&segment));
        }
    }
}

/* Steps: an upstream thread pushes frames without pause while the main
 * thread runs 500 flushes: FLUSH_START at any point of its pushing, then
 * FLUSH_STOP once it has parked on FLUSHING.
 * Invariant: no deadlock, no crash, no leak (ASan, leaks tracer), the queue
 * is empty after each flush, and frames flow after every flush. */
GST_START_TEST (test_flush_cycles_while_pushing)
{
  GstHarness *h = new_harness ("max-size-buffers=2");
  FlushPusher job = { h, { 0 }, { 0 }, FALSE, 0, FALSE, 0 };
  g_mutex_init (&job.lock);
  g_cond_init (&job.cond);
  GThread *pusher = g_thread_new ("pusher", push_until_stopped, &job);
  for (guint cycle = 0; cycle < 500; cycle++)
    {
      fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
      g_mutex_lock (&job.lock);
      while (!job.parked)
        g_cond_wait (&job.cond, &job.lock);
      g_mutex_unlock (&job.lock);
      fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
      fail_unless_equals_int (level_buffers (h), 0);
      g_mutex_lock (&job.lock);
      job.flushes_done++;
      job.parked = FALSE;
      g_cond_broadcast (&job.cond);
      g_mutex_unlock (&job.lock);
      /* Keep the harness' own buffer queue small. */
      drain_harness (h);
    }
  /* Frames flow after the last flush. */
  GstBuffer *out = gst_harness_pull (h);
  fail_unless (out != NULL);
  gst_buffer_unref (out);
  g_mutex_lock (&job.lock);
  job.stop = TRUE;
  g_cond_broadcast (&job.cond);
  g_mutex_unlock (&job.lock);
  g_thread_join (pusher);
  fail_unless (job.pushed > 500);
  g_mutex_clear (&job.lock);
  g_cond_clear (&job.cond);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: max-size-buffers=3; push frames with caps A, switch to caps B,
 * push more, all behind a frozen task; open the gate.
 * Invariant: each frame comes out under the caps it arrived with. */
GST_START_TEST (test_caps_change_mid_stream)
{
  GstHarness *h = new_harness ("max-size-buffers=3");
  Recorder rec;
  Gate gate;
  GstPad *src = element_src (h);
  recorder_start (&rec, src);
  push_first_and_freeze (h, &gate);
  gst_harness_push (h, numbered_buffer (1, 16, FRAME_NS));
  gst_harness_set_src_caps_str (
      h, "video/x-raw,format=GRAY8,width=2,height=8,framerate=30/1");
  gst_harness_push (h, numbered_buffer (2, 16, 2 * FRAME_NS));
  gate_open (&gate);
  recorder_wait_buffers (&rec, 3);
  gchar *log = recorder_take (&rec);
  fail_unless (g_str_has_suffix (log, "0 1 caps 2")
                   || g_str_has_suffix (log, "0 1 caps segment 2"),
               "got '%s'", log);
  g_free (log);
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  gint width;
  gst_structure_get_int (gst_caps_get_structure (caps, 0), "width", &width);
  fail_unless_equals_int (width, 2);
  gst_caps_unref (caps);
  gst_object_unref (src);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A downstream pad whose chain answers with a chosen flow return. */
typedef struct
{
  GMutex lock;
  GCond cond;
  GstFlowReturn answer;
  guint calls;
} Downstream;

static GstFlowReturn
downstream_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  Downstream *down = (Downstream *)g_object_get_data (G_OBJECT (pad), "down");
  (void)parent;
  gst_buffer_unref (buffer);
  g_mutex_lock (&down->lock);
  down->calls++;
  GstFlowReturn answer = down->answer;
  g_cond_broadcast (&down->cond);
  g_mutex_unlock (&down->lock);
  return answer;
}

static void
wait_task_state (GstPad *pad, GstTaskState state)
{
  /* The task's state has no notification: yield until it gets there. */
  while (gst_pad_get_task_state (pad) != state)
    g_thread_yield ();
}

/* Links a bare latestframe between a test source pad and a Downstream. */
typedef struct
{
  GstElement *element;
  GstPad *up;
  GstPad *down_pad;
  GstPad *src;
  Downstream down;
} BareElement;

static void
bare_element_start (BareElement *bare, GstFlowReturn answer)
{
  bare->element = gst_element_factory_make ("latestframe", NULL);
  bare->up = gst_pad_new ("up", GST_PAD_SRC);
  bare->down_pad = gst_pad_new ("down", GST_PAD_SINK);
  g_mutex_init (&bare->down.lock);
  g_cond_init (&bare->down.cond);
  bare->down.answer = answer;
  bare->down.calls = 0;
  g_object_set_data (G_OBJECT (bare->down_pad), "down", &bare->down);
  gst_pad_set_chain_function (bare->down_pad, downstream_chain);
  GstPad *sink = gst_element_get_static_pad (bare->element, "sink");
  bare->src = gst_element_get_static_pad (bare->element, "src");
  fail_unless_equals_int (gst_pad_link (bare->up, sink), GST_PAD_LINK_OK);
  fail_unless_equals_int (gst_pad_link (bare->src, bare->down_pad),
                          GST_PAD_LINK_OK);
  gst_object_unref (sink);
  gst_pad_set_active (bare->up, TRUE);
  gst_pad_set_active (bare->down_pad, TRUE);
  fail_unless_equals_int (
      gst_element_set_state (bare->element, GST_STATE_PLAYING),
      GST_STATE_CHANGE_SUCCESS);
  gst_pad_push_event (bare->up, gst_event_new_stream_start ("s"));
  GstSegment segment;
  gst_segment_init (&segment, GST_FORMAT_TIME);
  gst_pad_push_event (bare->up, gst_event_new_segment (&segment));
  /* Linking marked the src pad for reconfiguration; forget it, so that the
   * first not-linked pauses rather than retrying once. */
  gst_pad_check_reconfigure (bare->src);
}

static void
bare_element_wait_calls (BareElement *bare, guint calls)
{
  g_mutex_lock (&bare->down.lock);
  while (bare->down.calls < calls)
    g_cond_wait (&bare->down.cond, &bare->down.lock);
  g_mutex_unlock (&bare->down.lock);
}

static void
bare_element_set_answer (BareElement *bare, GstFlowReturn answer)
{
  g_mutex_lock (&bare->down.lock);
  bare->down.answer = answer;
  g_mutex_unlock (&bare->down.lock);
}

static void
bare_element_stop (BareElement *bare)
{
  gst_element_set_state (bare->element, GST_STATE_NULL);
  gst_pad_set_active (bare->up, FALSE);
  gst_pad_set_active (bare->down_pad, FALSE);
  gst_object_unref (bare->src);
  gst_object_unref (bare->up);
  gst_object_unref (bare->down_pad);
  gst_object_unref (bare->element);
  g_mutex_clear (&bare->down.lock);
  g_cond_clear (&bare->down.cond);
}

static gboolean
answer_latency (GstPad *pad, GstObject *parent, GstQuery *query)
{
  if (GST_QUERY_TYPE (query) != GST_QUERY_LATENCY)
    return gst_pad_query_default (pad, parent, query);
  gst_query_set_latency (query, TRUE, 20 * GST_MSECOND, 50 * GST_MSECOND);
  return TRUE;
}

static GstClockTime
max_latency (BareElement *bare, const gchar *leaky, guint64 max_size_time)
{
  gst_util_set_object_arg (G_OBJECT (bare->element), "leaky", leaky);
  g_object_set (bare->element, "max-size-time", max_size_time, NULL);
  GstQuery *query = gst_query_new_latency ();
  gboolean live;
  GstClockTime min, max;
  fail_unless (gst_pad_peer_query (bare->down_pad, query));
  gst_query_parse_latency (query, &live, &min, &max);
  gst_query_unref (query);
  fail_unless (live);
  fail_unless_equals_uint64 (min, 20 * GST_MSECOND);
  return max;
}

/* Steps: upstream reports live, min 20 ms, max 50 ms; query the latency for
 * each leaky mode, with and without max-size-time.
 * Invariant: no minimum latency is added; a leaky element never holds
 * upstream up, so its max is unbounded without a time limit and
 * max(limit, upstream max) with one; a blocking element adds its time limit
 * to upstream's max, and is unbounded without one. */
GST_START_TEST (test_latency_query)
{
  BareElement bare;
  bare_element_start (&bare, GST_FLOW_OK);
  gst_pad_set_query_function (bare.up, answer_latency);
  const guint64 ms = GST_MSECOND;
  fail_unless_equals_uint64 (max_latency (&bare, "downstream", 0),
                             GST_CLOCK_TIME_NONE);
  fail_unless_equals_uint64 (max_latency (&bare, "downstream", 100 * ms),
                             100 * ms);
  fail_unless_equals_uint64 (max_latency (&bare, "upstream", 30 * ms), 50 * ms);
  fail_unless_equals_uint64 (max_latency (&bare, "no", 100 * ms), 150 * ms);
  fail_unless_equals_uint64 (max_latency (&bare, "no", 0), GST_CLOCK_TIME_NONE);
  bare_element_stop (&bare);
}
GST_END_TEST;

/* Steps: downstream answers NOT_LINKED; push a frame; the task pauses.
 * Invariant: upstream then gets NOT_LINKED; a RECONFIGURE event from
 * downstream restarts the task and frames flow again. */
GST_START_TEST (test_not_linked_pauses_until_reconfigure)
{
  BareElement bare;
  bare_element_start (&bare, GST_FLOW_NOT_LINKED);
  fail_unless_equals_int (gst_pad_push (bare.up, numbered_buffer (0, 16, 0)),
                          GST_FLOW_OK);
  wait_task_state (bare.src, GST_TASK_PAUSED);
  fail_unless_equals_int (gst_pad_push (bare.up, numbered_buffer (1, 16, 0)),
                          GST_FLOW_NOT_LINKED);
  bare_element_set_answer (&bare, GST_FLOW_OK);
  fail_unless (
      gst_pad_push_event (bare.down_pad, gst_event_new_reconfigure ()));
  fail_unless_equals_int (gst_pad_push (bare.up, numbered_buffer (2, 16, 0)),
                          GST_FLOW_OK);
  bare_element_wait_calls (&bare, 2);
  bare_element_stop (&bare);
}
GST_END_TEST;

/* Steps: downstream answers ERROR; freeze on frame 0 with EOS queued behind;
 * open the gate.
 * Invariant: upstream already sent EOS and will never see the flow return,
 * so the element posts an error message itself. Before EOS, a fatal return
 * goes back upstream instead (NOT_NEGOTIATED case). */
GST_START_TEST (test_fatal_flow_after_eos_posts_error)
{
  BareElement bare;
  Gate gate;
  GstBus *bus = gst_bus_new ();
  bare_element_start (&bare, GST_FLOW_ERROR);
  gst_element_set_bus (bare.element, bus);
  gate_close (&gate, bare.src);
  fail_unless_equals_int (gst_pad_push (bare.up, numbered_buffer (0, 16, 0)),
                          GST_FLOW_OK);
  gate_wait_blocked (&gate);
  fail_unless (gst_pad_push_event (bare.up, gst_event_new_eos ()));
  gate_open (&gate);
  GstMessage *error
      = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND, GST_MESSAGE_ERROR);
  fail_unless (error != NULL);
  fail_unless (GST_MESSAGE_SRC (error) == GST_OBJECT (bare.element));
  gst_message_unref (error);
  gst_element_set_bus (bare.element, NULL);
  gst_object_unref (bus);
  bare_element_stop (&bare);

  bare_element_start (&bare, GST_FLOW_NOT_NEGOTIATED);
  fail_unless_equals_int (gst_pad_push (bare.up, numbered_buffer (0, 16, 0)),
                          GST_FLOW_OK);
  wait_task_state (bare.src, GST_TASK_PAUSED);
  fail_unless_equals_int (gst_pad_push (bare.up, numbered_buffer (1, 16, 0)),
                          GST_FLOW_NOT_NEGOTIATED);
  bare_element_stop (&bare);
}
GST_END_TEST;

/* Steps: freeze on frame 0; queue EOS, then a new stream (stream-start,
 * segment) and frame 1 behind it; open the gate.
 * Invariant: the new stream after a queued EOS is delivered: EOS, then the
 * new stream and frame 1; frames keep flowing after it. */
GST_START_TEST (test_new_stream_behind_queued_eos_is_delivered)
{
  GstHarness *h = new_harness ("max-size-buffers=5");
  Recorder rec;
  Gate gate;
  record_and_freeze (h, &rec, &gate);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_stream_start ("2")));
  GstSegment segment;
  gst_segment_init (&segment, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  fail_unless_equals_int (gst_harness_push (h, numbered_buffer (1, 16, 0)),
                          GST_FLOW_OK);
  gate_open (&gate);
  recorder_wait_buffers (&rec, 2);
  fail_unless_equals_int (
      gst_harness_push (h, numbered_buffer (2, 16, FRAME_NS)), GST_FLOW_OK);
  recorder_wait_buffers (&rec, 3);
  gchar *log = recorder_take (&rec);
  fail_unless (g_str_has_suffix (log, "0 eos stream-start segment 1 2"),
               "got '%s'", log);
  g_free (log);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

static gpointer
send_query_then_free_it (gpointer user_data)
{
  QueryJob *job = (QueryJob *)user_data;
  job->answered = gst_pad_peer_query (job->pad, job->query);
  /* As upstream does: the query is gone as soon as it is answered. */
  gst_query_unref (job->query);
  job->query = NULL;
  return NULL;
}

/* Steps: downstream answers ERROR; freeze on frame 0; a DRAIN query waits
 * behind it (its sender frees it as soon as it returns); open the gate.
 * Invariant: the failed push empties the queue without touching the query
 * after its sender was released (ASan proves it); the query is refused. */
GST_START_TEST (test_query_flushed_by_error_is_not_touched_after_return)
{
  BareElement bare;
  Gate gate;
  bare_element_start (&bare, GST_FLOW_ERROR);
  gate_close (&gate, bare.src);
  fail_unless_equals_int (gst_pad_push (bare.up, numbered_buffer (0, 16, 0)),
                          GST_FLOW_OK);
  gate_wait_blocked (&gate);
  QueryJob job;
  job.pad = bare.up;
  job.query = gst_query_new_drain ();
  job.answered = TRUE;
  job.sent = FALSE;
  g_mutex_init (&job.lock);
  g_cond_init (&job.cond);
  gulong probe = gst_pad_add_probe (
      bare.up, GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM, query_sent, &job, NULL);
  GThread *asker = g_thread_new ("asker", send_query_then_free_it, &job);
  g_mutex_lock (&job.lock);
  while (!job.sent)
    g_cond_wait (&job.cond, &job.lock);
  g_mutex_unlock (&job.lock);
  gst_pad_remove_probe (bare.up, probe);
  gate_open (&gate);
  g_thread_join (asker);
  fail_if (job.answered);
  wait_task_state (bare.src, GST_TASK_PAUSED);
  g_mutex_clear (&job.lock);
  g_cond_clear (&job.cond);
  bare_element_stop (&bare);
}
GST_END_TEST;

/* Steps: 300 times: downstream answers NOT_LINKED to a frame while a
 * RECONFIGURE races with the task pausing; then downstream accepts.
 * Invariant: a frame upstream got OK for always reaches downstream: the
 * task is never left paused while the queue runs. */
GST_START_TEST (test_reconfigure_racing_not_linked_never_strands_frames)
{
  BareElement bare;
  bare_element_start (&bare, GST_FLOW_NOT_LINKED);
  for (guint round = 0; round < 300; round++)
    {
      bare_element_set_answer (&bare, GST_FLOW_NOT_LINKED);
      guint calls = bare.down.calls;
      if (gst_pad_push (bare.up, numbered_buffer (round, 16, 0)) == GST_FLOW_OK)
        bare_element_wait_calls (&bare, calls + 1);
      bare_element_set_answer (&bare, GST_FLOW_OK);
      fail_unless (
          gst_pad_push_event (bare.down_pad, gst_event_new_reconfigure ()));
      GstFlowReturn ret
          = gst_pad_push (bare.up, numbered_buffer (round, 16, 0));
      if (ret == GST_FLOW_NOT_LINKED)
        {
          /* The RECONFIGURE came before the task paused: ask again. */
          fail_unless (
              gst_pad_push_event (bare.down_pad, gst_event_new_reconfigure ()));
          ret = gst_pad_push (bare.up, numbered_buffer (round, 16, 0));
        }
      fail_unless_equals_int (ret, GST_FLOW_OK);
      g_mutex_lock (&bare.down.lock);
      guint now = bare.down.calls;
      g_mutex_unlock (&bare.down.lock);
      /* Whatever got OK reaches downstream (a hang here is the failure). */
      bare_element_wait_calls (&bare, now + (now == calls + 1 ? 1 : 0));
    }
  bare_element_stop (&bare);
}
GST_END_TEST;

/* Steps: 1000 times: a pipeline with a source, latestframe (leaky mode
 * rotating through no/upstream/downstream) and a sink goes NULL->PLAYING,
 * waits for a frame to pass, and back to NULL.
 * Invariant: no deadlock, and the leaks tracer sees no object left alive
 * that was not alive before. */
typedef struct
{
  GMutex lock;
  GCond cond;
  guint frames;
} FrameCounter;

static GstPadProbeReturn
count_frame (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  FrameCounter *counter = (FrameCounter *)user_data;
  (void)pad;
  (void)info;
  g_mutex_lock (&counter->lock);
  counter->frames++;
  g_cond_broadcast (&counter->cond);
  g_mutex_unlock (&counter->lock);
  return GST_PAD_PROBE_OK;
}

/* The number of objects alive now; their types are appended to `names`. */
static guint
live_objects (GstTracer *tracer, GString *names)
{
  GPtrArray *objects = leaks_tracer_live_objects (tracer);
  fail_unless (objects != NULL);
  for (guint i = 0; i < objects->len; i++)
    g_string_append_printf (names, " %s",
                            (const gchar *)g_ptr_array_index (objects, i));
  guint count = objects->len;
  g_ptr_array_unref (objects);
  return count;
}

static void
run_one_cycle (guint cycle)
{
  static const gchar *leaky[] = { "no", "upstream", "downstream" };
  gchar *launch = g_strdup_printf (
      "videotestsrc ! video/x-raw,width=64,height=48 ! latestframe leaky=%s "
      "! fakesink name=sink",
      leaky[cycle % 3]);
  GstElement *pipeline = gst_parse_launch (launch, NULL);
  g_free (launch);
  fail_unless (pipeline != NULL);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  GstPad *pad = gst_element_get_static_pad (sink, "sink");
  FrameCounter counter;
  g_mutex_init (&counter.lock);
  g_cond_init (&counter.cond);
  counter.frames = 0;
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_frame, &counter,
                     NULL);
  fail_if (gst_element_set_state (pipeline, GST_STATE_PLAYING)
           == GST_STATE_CHANGE_FAILURE);
  g_mutex_lock (&counter.lock);
  while (counter.frames < 2)
    g_cond_wait (&counter.cond, &counter.lock);
  g_mutex_unlock (&counter.lock);
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
                          GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (pad);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  g_mutex_clear (&counter.lock);
  g_cond_clear (&counter.cond);
}

GST_START_TEST (test_state_cycles_with_data_leak_nothing)
{
  GstTracer *tracer = leaks_tracer_find ();
  fail_unless (tracer != NULL, "run with GST_TRACERS=leaks");
  run_one_cycle (0); /* loads plugins and creates one-off objects */
  GString *names = g_string_new ("before:");
  guint before = live_objects (tracer, names);
  for (guint cycle = 0; cycle < 1000; cycle++)
    run_one_cycle (cycle);
  g_string_append (names, "; after:");
  guint after = live_objects (tracer, names);
  fail_unless (after == before, "live objects %s", names->str);
  g_string_free (names, TRUE);
  gst_object_unref (tracer);
}
GST_END_TEST;

static Suite *
latestframe_suite (void)
{
  Suite *s = suite_create ("latestframe");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_pushes_the_very_buffer_that_arrived);
  tcase_add_test (tc, test_leaky_downstream_keeps_newest_and_releases_dropped);
  tcase_add_test (tc, test_sticky_events_survive_dropped_frames);
  tcase_add_test (tc, test_leaky_upstream_drops_arriving_frames);
  tcase_add_test (tc, test_leaky_no_blocks_instead_of_dropping);
  tcase_add_test (tc, test_levels_and_limits_apply_at_once);
  tcase_add_test (tc, test_max_size_time_bounds_held_span);
  tcase_add_test (tc, test_max_size_bytes_is_a_strict_bound);
  tcase_add_test (tc, test_eos_follows_held_frames);
  tcase_add_test (tc, test_serialized_query_answered_in_order);
  tcase_add_test (tc, test_query_waiting_during_flush_returns);
  tcase_add_test (tc, test_flush_empties_and_restarts);
  tcase_add_test (tc, test_flush_cycles_while_pushing);
  tcase_add_test (tc, test_caps_change_mid_stream);
  tcase_add_test (tc, test_latency_query);
  tcase_add_test (tc, test_not_linked_pauses_until_reconfigure);
  tcase_add_test (tc, test_fatal_flow_after_eos_posts_error);
  tcase_add_test (tc, test_new_stream_behind_queued_eos_is_delivered);
  tcase_add_test (tc, test_query_flushed_by_error_is_not_touched_after_return);
  tcase_add_test (tc, test_reconfigure_racing_not_linked_never_strands_frames);
  tcase_add_test (tc, test_state_cycles_with_data_leak_nothing);
  return s;
}

GST_CHECK_MAIN (latestframe);
