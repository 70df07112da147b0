/* gst-check tests of latestframe's memory accounting: one invariant per
 * test. */
#include "check_helpers.h"

#include <gst/check/gsttestclock.h>

static guint64
stat_u64 (GstElement *element, const gchar *field)
{
  GstStructure *stats = NULL;
  guint64 value = 0;
  g_object_get (element, "stats", &stats, NULL);
  fail_unless (stats != NULL);
  fail_unless (gst_structure_has_name (stats, "latestframe-stats"));
  if (!gst_structure_get_uint64 (stats, field, &value))
    {
      guint small;
      fail_unless (gst_structure_get_uint (stats, field, &small), "no field %s",
                   field);
      value = small;
    }
  gst_structure_free (stats);
  return value;
}

static guint
in_flight (GstElement *element)
{
  guint frames;
  g_object_get (element, "in-flight-buffers", &frames, NULL);
  return frames;
}

/* Steps: max-size-buffers=2; freeze on frame 0; push frames 1-6 (1-4 are
 * dropped); check levels and in-flight; open the gate; EOS.
 * Invariant: what the properties say matches what the test sees, and once
 * the stream ended, received == pushed + dropped. */
GST_START_TEST (test_counts_add_up_and_match_what_is_seen)
{
  GstHarness *h = new_harness ("max-size-buffers=2");
  Recorder rec;
  Gate gate;
  record_and_freeze (h, &rec, &gate);
  for (guint i = 1; i <= 6; i++)
    gst_harness_push (h, numbered_buffer (i, 16, i * FRAME_NS));
  fail_unless_equals_int (level_buffers (h), 2);
  fail_unless_equals_uint64 (stat_u64 (h->element, "current-level-buffers"), 2);
  fail_unless_equals_uint64 (stat_u64 (h->element, "current-level-bytes"), 32);
  /* Frame 0 is with the frozen thread: pushed, not yet released. */
  fail_unless_equals_int (in_flight (h->element), 1);
  fail_unless_equals_uint64 (stat_u64 (h->element, "in-flight-bytes"), 16);
  fail_unless_equals_uint64 (stat_u64 (h->element, "dropped-overflow"), 4);
  fail_unless_equals_uint64 (stat_u64 (h->element, "dropped-bytes"), 64);
  gate_open (&gate);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  recorder_wait_suffix (&rec, "eos");
  guint64 received = stat_u64 (h->element, "received");
  guint64 pushed = stat_u64 (h->element, "pushed");
  guint64 dropped = stat_u64 (h->element, "dropped");
  fail_unless_equals_uint64 (received, 7);
  fail_unless_equals_uint64 (pushed, 3);
  fail_unless_equals_uint64 (received, pushed + dropped);
  /* The harness keeps the 3 pushed frames until they are pulled. */
  fail_unless_equals_int (in_flight (h->element), 3);
  fail_unless_equals_uint64 (stat_u64 (h->element, "peak-bytes"), 48);
  drain_harness (h);
  fail_unless_equals_int (in_flight (h->element), 0);
  fail_unless_equals_uint64 (stat_u64 (h->element, "in-flight-bytes"), 0);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: push 4 frames to a downstream that keeps them all (the harness);
 * pull them, keep them; release them one by one.
 * Invariant: in-flight-buffers == the frames kept downstream, to 0. */
GST_START_TEST (test_in_flight_follows_frames_kept_downstream)
{
  GstHarness *h = new_harness ("max-size-buffers=0");
  Recorder rec;
  record_src (h, &rec);
  for (guint i = 0; i < 4; i++)
    gst_harness_push (h, numbered_buffer (i, 100, i * FRAME_NS));
  recorder_wait_buffers (&rec, 4);
  fail_unless_equals_int (in_flight (h->element), 4);
  GstBuffer *kept[4];
  for (guint i = 0; i < 4; i++)
    kept[i] = gst_harness_pull (h);
  fail_unless_equals_int (in_flight (h->element), 4);
  for (guint i = 0; i < 4; i++)
    {
      gst_buffer_unref (kept[i]);
      fail_unless_equals_int (in_flight (h->element), 3 - i);
      fail_unless_equals_uint64 (stat_u64 (h->element, "in-flight-bytes"),
                                 (3 - i) * 100);
    }
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: a copy of a pushed buffer (as gst_buffer_make_writable makes
 * downstream) outlives the original.
 * Invariant: the frame stays in flight until its last copy goes. */
GST_START_TEST (test_copies_keep_the_frame_in_flight)
{
  GstHarness *h = new_harness (NULL);
  gst_harness_push (h, numbered_buffer (0, 100, 0));
  GstBuffer *out = gst_harness_pull (h);
  GstBuffer *copy = gst_buffer_copy (out);
  gst_buffer_unref (out);
  fail_unless_equals_int (in_flight (h->element), 1);
  gst_buffer_unref (copy);
  fail_unless_equals_int (in_flight (h->element), 0);
  gst_harness_teardown (h);
}
GST_END_TEST;

static GstElement *
run_to_eos (const gchar *launch)
{
  GstElement *pipeline = gst_parse_launch (launch, NULL);
  fail_unless (pipeline != NULL);
  fail_if (gst_element_set_state (pipeline, GST_STATE_PLAYING)
           == GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_timed_pop_filtered (
      bus, 60 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  fail_unless_equals_int (GST_MESSAGE_TYPE (msg), GST_MESSAGE_EOS);
  gst_message_unref (msg);
  gst_object_unref (bus);
  return pipeline;
}

/* Steps: run 5 frames into a sink with enable-last-sample=true, to EOS;
 * then stop the pipeline.
 * Invariant: the sink's last sample is one frame in flight; stopping the
 * sink releases it. */
GST_START_TEST (test_last_sample_is_one_frame_in_flight)
{
  GstElement *pipeline
      = run_to_eos ("videotestsrc num-buffers=5 ! video/x-raw,width=32,"
                    "height=24 ! latestframe name=latest ! fakesink "
                    "enable-last-sample=true");
  GstElement *latest = gst_bin_get_by_name (GST_BIN (pipeline), "latest");
  fail_unless_equals_int (in_flight (latest), 1);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  fail_unless_equals_int (in_flight (latest), 0);
  fail_unless_equals_uint64 (stat_u64 (latest, "received"),
                             stat_u64 (latest, "pushed")
                                 + stat_u64 (latest, "dropped"));
  gst_object_unref (latest);
  gst_object_unref (pipeline);

  pipeline = run_to_eos ("videotestsrc num-buffers=5 ! video/x-raw,width=32,"
                         "height=24 ! latestframe name=latest ! fakesink "
                         "enable-last-sample=false");
  latest = gst_bin_get_by_name (GST_BIN (pipeline), "latest");
  fail_unless_equals_int (in_flight (latest), 0);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (latest);
  gst_object_unref (pipeline);
}
GST_END_TEST;

#define BUDGET_MEMBERS 4
#define BUDGET_FRAME 1000
#define BUDGET_CAP (6 * BUDGET_FRAME)

typedef struct
{
  GstHarness *h;
  guint index;
  gint *over_cap;
} BudgetFeeder;

static GstPadProbeReturn
check_budget_at_push (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  gint *over_cap = (gint *)user_data;
  (void)info;
  if (stat_u64 (GST_ELEMENT (GST_PAD_PARENT (pad)), "memory-budget-used")
      > BUDGET_CAP)
    g_atomic_int_set (over_cap, 1);
  return GST_PAD_PROBE_OK;
}

static gpointer
feed_budget_member (gpointer user_data)
{
  BudgetFeeder *feeder = (BudgetFeeder *)user_data;
  for (guint i = 0; i < 50; i++)
    {
      fail_unless_equals_int (
          gst_harness_push (feeder->h,
                            numbered_buffer (feeder->index * 1000 + i,
                                             BUDGET_FRAME, i * FRAME_NS)),
          GST_FLOW_OK);
      if (stat_u64 (feeder->h->element, "memory-budget-used") > BUDGET_CAP)
        g_atomic_int_set (feeder->over_cap, 1);
    }
  return NULL;
}

/* Steps: four elements share a budget of 6 frames; each feeds a consumer
 * that keeps every frame (the harness, never pulled); four threads push 50
 * frames each at once.
 * Invariant: the budget's used bytes, sampled at every push on both sides,
 * never exceed the cap; the drops are counted as budget drops; releasing
 * the kept frames returns the budget to 0. */
GST_START_TEST (test_shared_budget_is_never_exceeded)
{
  GstHarness *h[BUDGET_MEMBERS];
  BudgetFeeder feeders[BUDGET_MEMBERS];
  GThread *threads[BUDGET_MEMBERS];
  gint over_cap = 0;
  gchar *settings = g_strdup_printf (
      "max-size-buffers=2 memory-budget=four-cameras memory-budget-bytes=%u",
      BUDGET_CAP);
  for (guint i = 0; i < BUDGET_MEMBERS; i++)
    {
      h[i] = new_harness (settings);
      GstPad *src = element_src (h[i]);
      gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, check_budget_at_push,
                         &over_cap, NULL);
      gst_object_unref (src);
      feeders[i] = (BudgetFeeder){ h[i], i, &over_cap };
    }
  g_free (settings);
  for (guint i = 0; i < BUDGET_MEMBERS; i++)
    threads[i] = g_thread_new ("feeder", feed_budget_member, &feeders[i]);
  for (guint i = 0; i < BUDGET_MEMBERS; i++)
    g_thread_join (threads[i]);
  fail_if (g_atomic_int_get (&over_cap), "the budget exceeded its cap");

  /* The feeders are done, but a member may still hand over a frame it
   * held: the counts are read once nothing moves for 20 ms. */
  guint64 moved = G_MAXUINT64;
  for (guint turn = 0; turn < 100; turn++)
    {
      guint64 now = 0;
      for (guint i = 0; i < BUDGET_MEMBERS; i++)
        now += stat_u64 (h[i]->element, "pushed")
               + stat_u64 (h[i]->element, "dropped")
               + 1000 * level_buffers (h[i]);
      if (now == moved)
        break;
      moved = now;
      g_usleep (20000);
    }
  guint64 budget_drops = 0, received = 0, pushed = 0, dropped = 0;
  for (guint i = 0; i < BUDGET_MEMBERS; i++)
    {
      budget_drops += stat_u64 (h[i]->element, "dropped-budget");
      received += stat_u64 (h[i]->element, "received");
      pushed += stat_u64 (h[i]->element, "pushed");
      dropped += stat_u64 (h[i]->element, "dropped");
      fail_unless_equals_uint64 (
          stat_u64 (h[i]->element, "memory-budget-bytes"), BUDGET_CAP);
    }
  fail_unless_equals_uint64 (received, BUDGET_MEMBERS * 50);
  fail_unless (budget_drops > 0);
  fail_unless (pushed <= 6, "pushed %" G_GUINT64_FORMAT, pushed);
  /* What is neither pushed nor dropped is still held (at most 2 each). */
  guint64 held = 0;
  for (guint i = 0; i < BUDGET_MEMBERS; i++)
    held += level_buffers (h[i]);
  fail_unless_equals_uint64 (received, pushed + dropped + held);

  /* Downstream lets go: only the frames still held stay charged. Letting
   * go makes room in the budget, so a member may push a frame it held
   * meanwhile: drained again until nothing is in flight anywhere (each
   * member holds 2 frames at most, so a few turns do). */
  gboolean settled = FALSE;
  for (guint turn = 0; turn < 200 && !settled; turn++)
    {
      for (guint i = 0; i < BUDGET_MEMBERS; i++)
        drain_harness (h[i]);
      g_usleep (5000);
      settled = TRUE;
      for (guint i = 0; i < BUDGET_MEMBERS; i++)
        settled = settled && in_flight (h[i]->element) == 0
                  && gst_harness_buffers_in_queue (h[i]) == 0;
    }
  fail_unless (settled, "frames still in flight after downstream let go");
  guint64 held_bytes = 0;
  for (guint i = 0; i < BUDGET_MEMBERS; i++)
    {
      guint64 bytes;
      g_object_get (h[i]->element, "current-level-bytes", &bytes, NULL);
      held_bytes += bytes;
    }
  fail_unless_equals_uint64 (stat_u64 (h[0]->element, "memory-budget-used"),
                             held_bytes);
  for (guint i = 0; i < BUDGET_MEMBERS; i++)
    gst_harness_teardown (h[i]);
}
GST_END_TEST;

#define FAIR_FRAME 1000
#define FAIR_CAP (8 * FAIR_FRAME) /* two members: a share of 4 frames */

/* Waits until `h`'s element pushed everything before an EOS sent now. */
static void
push_eos_and_wait (GstHarness *h)
{
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  for (;;)
    {
      GstEvent *event = gst_harness_pull_event (h);
      fail_unless (event != NULL, "no EOS came out");
      const gboolean eos = GST_EVENT_TYPE (event) == GST_EVENT_EOS;
      gst_event_unref (event);
      if (eos)
        return;
    }
}

/* Pushes `count` frames numbered from `first` into the fair camera, each
 * taken and let go by its downstream before the next: every one must be
 * handed over. */
static void
fair_camera_receives (GstHarness *fair, guint first, guint count)
{
  for (guint i = first; i < first + count; i++)
    {
      fail_unless_equals_int (
          gst_harness_push (fair, numbered_buffer (i, FAIR_FRAME, i * FRAME_NS)),
          GST_FLOW_OK);
      GstBuffer *out = gst_harness_pull (fair);
      fail_unless (out != NULL, "frame %u never came out", i);
      fail_unless_equals_uint64 (GST_BUFFER_OFFSET (out), i);
      gst_buffer_unref (out);
      fail_unless (stat_u64 (fair->element, "memory-budget-used") <= FAIR_CAP);
    }
}

/* Steps: cameras A and B share a budget of 8 frames (a share of 4 each).
 * A's downstream keeps every buffer it gets (the harness, never pulled).
 * A's thread is frozen on its frame 0, and A receives 7 more, which it
 * holds: the budget is full, all of it A's. B receives 12 frames, each
 * taken and let go by its downstream. Then A's thread goes on and A
 * receives 8 more frames, to EOS; B receives 12 more.
 * Invariant: B, within its share, receives and hands over every frame while
 * A holds the whole budget, and while A's reader keeps every frame: A's
 * held frames give way (A's drops, reason budget), A's in-flight bytes stop
 * at its share, and the budget never passes its cap. */
GST_START_TEST (test_shared_budget_never_starves_a_member_within_its_share)
{
  gchar *settings = g_strdup_printf (
      "max-size-buffers=0 memory-budget=two-cameras memory-budget-bytes=%u",
      FAIR_CAP);
  GstHarness *greedy = new_harness (settings);
  GstHarness *fair = new_harness (settings);
  g_free (settings);

  Gate gate;
  GstPad *src = element_src (greedy);
  gate_close (&gate, src);
  gst_object_unref (src);
  for (guint i = 0; i < 8; i++)
    {
      fail_unless_equals_int (
          gst_harness_push (greedy, numbered_buffer (i, FAIR_FRAME, i * FRAME_NS)),
          GST_FLOW_OK);
      if (i == 0)
        gate_wait_blocked (&gate);
    }
  fail_unless_equals_int (level_buffers (greedy), 7);
  fail_unless_equals_uint64 (stat_u64 (greedy->element, "memory-budget-used"),
                             FAIR_CAP);

  /* B's frames make room by evicting A's held frames. */
  fair_camera_receives (fair, 100, 12);
  fail_unless_equals_uint64 (stat_u64 (fair->element, "pushed"), 12);
  fail_unless_equals_uint64 (stat_u64 (fair->element, "dropped"), 0);
  const guint64 evicted = stat_u64 (greedy->element, "dropped-budget");
  fail_unless (evicted >= 1, "A gave nothing back");
  fail_unless_equals_uint64 (level_buffers (greedy), 7 - evicted);

  /* A's reader keeps all it gets, and gets no more than a share. */
  gate_open (&gate);
  for (guint i = 8; i < 16; i++)
    fail_unless_equals_int (
        gst_harness_push (greedy, numbered_buffer (i, FAIR_FRAME, i * FRAME_NS)),
        GST_FLOW_OK);
  push_eos_and_wait (greedy);
  fail_unless_equals_uint64 (stat_u64 (greedy->element, "in-flight-bytes"),
                             FAIR_CAP / 2);
  fail_unless_equals_uint64 (stat_u64 (greedy->element, "pushed"), 4);
  fail_unless_equals_uint64 (stat_u64 (greedy->element, "received"),
                             stat_u64 (greedy->element, "pushed")
                                 + stat_u64 (greedy->element, "dropped"));
  fail_unless_equals_uint64 (stat_u64 (greedy->element, "dropped"),
                             stat_u64 (greedy->element, "dropped-budget"));

  fair_camera_receives (fair, 200, 12);
  fail_unless_equals_uint64 (stat_u64 (fair->element, "pushed"), 24);
  fail_unless_equals_uint64 (stat_u64 (fair->element, "dropped"), 0);

  /* A's reader lets go: only B's frames could still be charged, and B's
   * downstream let every one go. */
  drain_harness (greedy);
  fail_unless_equals_uint64 (stat_u64 (fair->element, "memory-budget-used"), 0);
  gst_harness_teardown (greedy);
  gst_harness_teardown (fair);
}
GST_END_TEST;

/* A harness whose clock is a test clock the test sets, base time 0. */
static GstHarness *
new_clocked_harness (const gchar *properties)
{
  GstHarness *h = new_harness (properties);
  gst_harness_use_testclock (h);
  gst_element_set_base_time (h->element, 0);
  return h;
}

/* Steps: max-age=50 ms, a test clock; freeze on frame 0; frames 1-4 arrive
 * fresh at 900, 930, 960, 990 ms; the clock moves to 1000 ms; open the gate.
 * Invariant: frames older than 50 ms when about to be pushed (1, 2) are
 * never pushed and are counted as age drops; the next one carries DISCONT;
 * no warning, as frames arrived fresh. */
GST_START_TEST (test_max_age_drops_frames_that_got_old)
{
  GstHarness *h = new_clocked_harness ("max-size-buffers=5 max-age=50000000");
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  Recorder rec;
  Gate gate;
  record_src (h, &rec);
  gst_harness_set_time (h, 0);
  push_first_and_freeze (h, &gate);
  const GstClockTime times[] = { 900, 930, 960, 990 };
  for (guint i = 1; i <= 4; i++)
    {
      gst_harness_set_time (h, times[i - 1] * GST_MSECOND);
      gst_harness_push (h, numbered_buffer (i, 16, times[i - 1] * GST_MSECOND));
    }
  gst_harness_set_time (h, 1000 * GST_MSECOND);
  gate_open (&gate);
  recorder_wait_buffers (&rec, 3);
  gchar *log = recorder_take (&rec);
  fail_unless (g_str_has_suffix (log, "0 3D 4"), "got '%s'", log);
  g_free (log);
  fail_unless_equals_uint64 (stat_u64 (h->element, "dropped-age"), 2);
  fail_unless_equals_uint64 (stat_u64 (h->element, "dropped-age-bytes"), 32);
  fail_unless_equals_uint64 (stat_u64 (h->element, "age-max"),
                             40 * GST_MSECOND);
  GstMessage *warning = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (warning == NULL);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  recorder_stop (&rec);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: max-age=10 ms; five frames each arrive 30 ms old (the limit is
 * below the pipeline's latency).
 * Invariant: the analysis does not starve: each frame, the newest, is
 * pushed; one warning, naming the measured age, is posted once. */
GST_START_TEST (test_max_age_below_latency_warns_once_and_keeps_going)
{
  GstHarness *h = new_clocked_harness ("max-age=10000000");
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  for (guint i = 0; i < 5; i++)
    {
      GstClockTime pts = i * FRAME_NS;
      gst_harness_set_time (h, pts + 30 * GST_MSECOND);
      gst_harness_push (h, numbered_buffer (i, 16, pts));
      GstBuffer *out = gst_harness_pull (h);
      fail_unless_equals_uint64 (GST_BUFFER_OFFSET (out), i);
      gst_buffer_unref (out);
    }
  GstMessage *warning = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (warning != NULL);
  GError *error = NULL;
  gchar *debug = NULL;
  gst_message_parse_warning (warning, &error, &debug);
  fail_unless (strstr (debug, "30.0 ms old") != NULL, "got '%s'", debug);
  g_clear_error (&error);
  g_free (debug);
  gst_message_unref (warning);
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING) == NULL,
               "warned more than once");
  fail_unless_equals_uint64 (stat_u64 (h->element, "dropped-age"), 0);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Pops the one warning on `bus` and returns its debug text (to free);
 * fails if there is none or a second one. */
static gchar *
pop_only_warning (GstBus *bus)
{
  GstMessage *warning = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (warning != NULL, "no warning");
  GError *error = NULL;
  gchar *debug = NULL;
  gst_message_parse_warning (warning, &error, &debug);
  g_clear_error (&error);
  gst_message_unref (warning);
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING) == NULL,
               "warned more than once");
  return debug;
}

/* Steps: every limit 0 (max-size-buffers=0), leaky=downstream, no budget;
 * push 20 frames.
 * Invariant: memory is unbounded, and the element says so once (a
 * warning naming the limits), then keeps working. */
GST_START_TEST (test_no_limit_at_all_warns_once)
{
  GstHarness *h = new_harness ("max-size-buffers=0");
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  for (guint i = 0; i < 20; i++)
    fail_unless_equals_int (
        gst_harness_push (h, numbered_buffer (i, 16, i * FRAME_NS)),
        GST_FLOW_OK);
  gchar *debug = pop_only_warning (bus);
  fail_unless (strstr (debug, "max-size-buffers, max-size-bytes and "
                              "max-size-time are all 0") != NULL,
               "got '%s'", debug);
  g_free (debug);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: a memory budget capped at 1000 bytes; push three 4000-byte frames.
 * Invariant: no frame can ever fit, so every one is dropped (reason
 * budget), and a warning naming the frame's size and the cap is posted
 * once. */
GST_START_TEST (test_budget_smaller_than_a_frame_warns_once)
{
  GstHarness *h = new_harness (
      "memory-budget=too-small memory-budget-bytes=1000");
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  for (guint i = 0; i < 3; i++)
    fail_unless_equals_int (
        gst_harness_push (h, numbered_buffer (i, 4000, i * FRAME_NS)),
        GST_FLOW_OK);
  fail_unless_equals_uint64 (stat_u64 (h->element, "dropped-budget"), 3);
  fail_unless_equals_uint64 (stat_u64 (h->element, "pushed"), 0);
  gchar *debug = pop_only_warning (bus);
  fail_unless (strstr (debug, "a 4000-byte frame") != NULL
                   && strstr (debug, "each member 1000 bytes") != NULL
                   && strstr (debug, "too-small") != NULL,
               "got '%s'", debug);
  g_free (debug);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: a producer sizes a bounded pool from the ALLOCATION query (what
 * downstream asks, plus one frame of its own, max = min); freeze latestframe
 * on frame 0; produce 30 more frames from the pool without waiting.
 * Invariant: the producer never finds the pool empty because of the frames
 * latestframe keeps (held and in hand). */
GST_START_TEST (test_bounded_upstream_pool_never_starves)
{
  GstHarness *h = new_harness ("max-size-buffers=1");
  GstCaps *caps = gst_caps_from_string (VIDEO_CAPS);
  GstQuery *query = gst_query_new_allocation (caps, TRUE);
  fail_unless (gst_pad_peer_query (h->srcpad, query));
  guint wanted = 0;
  for (guint i = 0; i < gst_query_get_n_allocation_pools (query); i++)
    {
      guint min;
      gst_query_parse_nth_allocation_pool (query, i, NULL, NULL, &min, NULL);
      wanted += min;
    }
  gst_query_unref (query);
  fail_unless (wanted >= 2, "latestframe asked room for %u frames", wanted);

  GstBufferPool *pool = gst_buffer_pool_new ();
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, 16, wanted + 1, wanted + 1);
  fail_unless (gst_buffer_pool_set_config (pool, config));
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  GstBufferPoolAcquireParams dont_wait = {
    GST_FORMAT_DEFAULT, 0, 0, GST_BUFFER_POOL_ACQUIRE_FLAG_DONTWAIT, { 0 }
  };

  Gate gate;
  GstPad *src = element_src (h);
  gate_close (&gate, src);
  gst_object_unref (src);
  for (guint i = 0; i <= 30; i++)
    {
      GstBuffer *buffer = NULL;
      fail_unless_equals_int (
          gst_buffer_pool_acquire_buffer (pool, &buffer, &dont_wait),
          GST_FLOW_OK);
      GST_BUFFER_OFFSET (buffer) = i;
      GST_BUFFER_PTS (buffer) = i * FRAME_NS;
      fail_unless_equals_int (gst_harness_push (h, buffer), GST_FLOW_OK);
      if (i == 0)
        gate_wait_blocked (&gate);
    }
  gate_open (&gate);
  drain_harness (h);
  gst_harness_teardown (h);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  gst_caps_unref (caps);
}
GST_END_TEST;

/* An allocator that counts what it allocates (system memory). */
typedef struct
{
  GstAllocator parent;
  gint allocations;
} CountingAllocator;

typedef struct
{
  GstAllocatorClass parent_class;
} CountingAllocatorClass;

G_DEFINE_TYPE (CountingAllocator, counting_allocator, GST_TYPE_ALLOCATOR)

static GstMemory *
counting_alloc (GstAllocator *allocator, gsize size,
                GstAllocationParams *params)
{
  g_atomic_int_inc (&((CountingAllocator *)allocator)->allocations);
  return gst_allocator_alloc (NULL, size, params);
}

static void
counting_allocator_class_init (CountingAllocatorClass *klass)
{
  GST_ALLOCATOR_CLASS (klass)->alloc = counting_alloc;
}

static void
counting_allocator_init (CountingAllocator *self)
{
  (void)self;
}

/* latestframe's answer to an ALLOCATION query for `caps` with a pool
 * wanted, nothing downstream proposing one: its one pool entry (the pool,
 * or NULL), and that entry's min and max buffers. */
static GstBufferPool *
answered_pool (GstHarness *h, const gchar *caps_text, guint *min, guint *max)
{
  GstCaps *caps = gst_caps_from_string (caps_text);
  GstQuery *query = gst_query_new_allocation (caps, TRUE);
  gst_caps_unref (caps);
  fail_unless (gst_pad_peer_query (h->srcpad, query));
  fail_unless_equals_int (gst_query_get_n_allocation_pools (query), 1);
  GstBufferPool *pool = NULL;
  gst_query_parse_nth_allocation_pool (query, 0, &pool, NULL, min, max);
  gst_query_unref (query);
  return pool;
}

/* latestframe's answer when nothing downstream proposes a pool, for raw
 * video with a pool wanted: its pool, checked to have the room latestframe
 * keeps (min-buffers, unbounded), set to allocate with `counting` and
 * started. */
static GstBufferPool *
proposed_pool_counting (GstHarness *h, CountingAllocator *counting)
{
  guint min, max;
  GstBufferPool *pool = answered_pool (h, VIDEO_CAPS, &min, &max);
  fail_unless (pool != NULL, "no pool proposed");
  fail_unless (min >= 2, "room for %u frames", min);
  fail_unless_equals_int (max, 0);
  GstStructure *config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_allocator (config, GST_ALLOCATOR (counting),
                                        NULL);
  fail_unless (gst_buffer_pool_set_config (pool, config));
  fail_unless (gst_buffer_pool_set_active (pool, TRUE));
  return pool;
}

static CountingAllocator *
counting_allocator_new (void)
{
  return (CountingAllocator *)gst_object_ref_sink (
      g_object_new (counting_allocator_get_type (), NULL));
}

static gint
allocations (CountingAllocator *counting)
{
  return g_atomic_int_get (&counting->allocations);
}

static GstBuffer *
acquire (GstBufferPool *pool)
{
  GstBuffer *buffer = NULL;
  fail_unless_equals_int (gst_buffer_pool_acquire_buffer (pool, &buffer, NULL),
                          GST_FLOW_OK);
  return buffer;
}

/* Steps: latestframe's pool (proposed_pool_counting); acquire a frame,
 * release it, acquire again at once, then one more while holding it.
 * Invariant: started, the pool has allocated nothing; then only the frames
 * in use, and a frame released between frequent ones is used again. */
GST_START_TEST (test_proposed_pool_allocates_only_frames_in_use)
{
  GstHarness *h = new_harness ("max-size-buffers=1");
  CountingAllocator *counting = counting_allocator_new ();
  GstBufferPool *pool = proposed_pool_counting (h, counting);
  fail_unless_equals_int (allocations (counting), 0);
  GstBuffer *frame = acquire (pool);
  fail_unless_equals_int (allocations (counting), 1);
  gst_buffer_unref (frame);
  frame = acquire (pool);
  fail_unless_equals_int (allocations (counting), 1);
  GstBuffer *another = acquire (pool);
  fail_unless_equals_int (allocations (counting), 2);
  gst_buffer_unref (frame);
  gst_buffer_unref (another);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  gst_object_unref (counting);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: latestframe's pool (proposed_pool_counting); acquire a frame and
 * release it; 300 ms later acquire (the same) one and release it; acquire
 * again.
 * Invariant: a frame acquired more than 250 ms after the one before is
 * freed when released, not kept: the next frame is allocated anew. */
GST_START_TEST (test_proposed_pool_keeps_no_frame_between_rare_ones)
{
  GstHarness *h = new_harness ("max-size-buffers=1");
  CountingAllocator *counting = counting_allocator_new ();
  GstBufferPool *pool = proposed_pool_counting (h, counting);
  gst_buffer_unref (acquire (pool));
  g_usleep (300 * G_TIME_SPAN_MILLISECOND);
  gst_buffer_unref (acquire (pool));
  fail_unless_equals_int (allocations (counting), 1);
  gst_buffer_unref (acquire (pool));
  fail_unless_equals_int (allocations (counting), 2);
  fail_unless (gst_buffer_pool_set_active (pool, FALSE));
  gst_object_unref (pool);
  gst_object_unref (counting);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: nothing downstream proposes a pool; ask for raw video in GL
 * memory, for encoded video, then with ANY caps, each with a pool.
 * Invariant: no system-memory pool is proposed for them, only the room
 * latestframe keeps (upstream makes its own pool). */
GST_START_TEST (test_no_pool_proposed_for_other_memory_or_encoded_caps)
{
  GstHarness *h = new_harness ("max-size-buffers=1");
  const gchar *const kinds[] = {
    "video/x-raw(memory:GLMemory),format=RGBA,width=4,height=4",
    "video/x-h264,stream-format=byte-stream,alignment=au",
    "ANY",
  };
  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      guint min = 0;
      GstBufferPool *pool = answered_pool (h, kinds[i], &min, NULL);
      fail_unless (pool == NULL, "a pool proposed for %s", kinds[i]);
      fail_unless (min >= 2, "room for %u frames for %s", min, kinds[i]);
    }
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Steps: stats-interval=20 ms, a memory budget; push a frame; wait for the
 * element message on the bus.
 * Invariant: the message is the stats structure, with every documented
 * field, budget fields included. */
GST_START_TEST (test_stats_structure_and_message)
{
  static const gchar *fields[] = { "received",
                                   "pushed",
                                   "dropped",
                                   "dropped-overflow",
                                   "dropped-age",
                                   "dropped-budget",
                                   "dropped-flush",
                                   "dropped-bytes",
                                   "current-level-buffers",
                                   "current-level-bytes",
                                   "in-flight-buffers",
                                   "in-flight-bytes",
                                   "peak-bytes",
                                   "age-p50",
                                   "age-p95",
                                   "age-max",
                                   "memory-budget",
                                   "memory-budget-bytes",
                                   "memory-budget-used",
                                   NULL };
  GstHarness *h = new_harness (
      "stats-interval=20 memory-budget=stats-test memory-budget-bytes=4096");
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  gst_harness_push (h, numbered_buffer (0, 16, 0));
  GstMessage *msg
      = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND, GST_MESSAGE_ELEMENT);
  fail_unless (msg != NULL);
  const GstStructure *s = gst_message_get_structure (msg);
  fail_unless (gst_structure_has_name (s, "latestframe-stats"));
  for (const gchar **field = fields; *field; field++)
    fail_unless (gst_structure_has_field (s, *field), "no %s", *field);
  fail_unless_equals_string (gst_structure_get_string (s, "memory-budget"),
                             "stats-test");
  gst_message_unref (msg);
  GstStructure *stats = NULL;
  g_object_get (h->element, "stats", &stats, NULL);
  for (const gchar **field = fields; *field; field++)
    fail_unless (gst_structure_has_field (stats, *field), "no %s", *field);
  gst_structure_free (stats);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

static Suite *
accounting_suite (void)
{
  Suite *s = suite_create ("latestframe-accounting");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 300);
  tcase_add_test (tc, test_counts_add_up_and_match_what_is_seen);
  tcase_add_test (tc, test_in_flight_follows_frames_kept_downstream);
  tcase_add_test (tc, test_copies_keep_the_frame_in_flight);
  tcase_add_test (tc, test_last_sample_is_one_frame_in_flight);
  tcase_add_test (tc, test_shared_budget_is_never_exceeded);
  tcase_add_test (tc,
                  test_shared_budget_never_starves_a_member_within_its_share);
  tcase_add_test (tc, test_max_age_drops_frames_that_got_old);
  tcase_add_test (tc, test_max_age_below_latency_warns_once_and_keeps_going);
  tcase_add_test (tc, test_no_limit_at_all_warns_once);
  tcase_add_test (tc, test_budget_smaller_than_a_frame_warns_once);
  tcase_add_test (tc, test_bounded_upstream_pool_never_starves);
  tcase_add_test (tc, test_proposed_pool_allocates_only_frames_in_use);
  tcase_add_test (tc, test_proposed_pool_keeps_no_frame_between_rare_ones);
  tcase_add_test (tc, test_no_pool_proposed_for_other_memory_or_encoded_caps);
  tcase_add_test (tc, test_stats_structure_and_message);
  return s;
}

GST_CHECK_MAIN (accounting);
