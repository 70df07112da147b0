/* Helpers shared by the element tests: freeze a streaming thread at a pad,
 * and record what leaves a pad, in order. Deterministic: every wait is on a
 * condition that the streaming thread signals, never on a sleep. */
#pragma once

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

G_BEGIN_DECLS

/* A gate on a pad: the first buffer to reach it blocks the streaming thread
 * until gate_open(). */
typedef struct
{
  GMutex lock;
  GCond cond;
  GstPad *pad;
  gulong probe_id;
  gboolean blocked;
} Gate;

static GstPadProbeReturn
gate_reached (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Gate *gate = (Gate *)user_data;
  (void)pad;
  (void)info;
  g_mutex_lock (&gate->lock);
  gate->blocked = TRUE;
  g_cond_broadcast (&gate->cond);
  g_mutex_unlock (&gate->lock);
  return GST_PAD_PROBE_OK;
}

static inline void
gate_close (Gate *gate, GstPad *pad)
{
  g_mutex_init (&gate->lock);
  g_cond_init (&gate->cond);
  gate->pad = gst_object_ref (pad);
  gate->blocked = FALSE;
  gate->probe_id = gst_pad_add_probe (
      pad, GST_PAD_PROBE_TYPE_BLOCK | GST_PAD_PROBE_TYPE_BUFFER, gate_reached,
      gate, NULL);
}

/* Waits until a streaming thread is held at the gate. */
static inline void
gate_wait_blocked (Gate *gate)
{
  g_mutex_lock (&gate->lock);
  while (!gate->blocked)
    g_cond_wait (&gate->cond, &gate->lock);
  g_mutex_unlock (&gate->lock);
}

static inline void
gate_open (Gate *gate)
{
  if (gate->probe_id)
    gst_pad_remove_probe (gate->pad, gate->probe_id);
  gate->probe_id = 0;
  gst_clear_object (&gate->pad);
  g_mutex_clear (&gate->lock);
  g_cond_clear (&gate->cond);
}

/* Records every buffer (by its offset, with a 'D' for DISCONT), event and
 * query that leaves a pad, as one space-separated string. */
typedef struct
{
  GMutex lock;
  GCond cond;
  GString *log;
  guint buffers;
  guint events;
  gulong probe_id;
  GstPad *pad;
} Recorder;

static GstPadProbeReturn
recorder_saw (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Recorder *rec = (Recorder *)user_data;
  (void)pad;
  /* Only what travels in order with the frames: serialized queries, once
   * (the probe sees each query again with its answer). */
  if ((info->type & GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM)
      && (!GST_QUERY_IS_SERIALIZED (GST_PAD_PROBE_INFO_QUERY (info))
          || (info->type & GST_PAD_PROBE_TYPE_PULL)))
    return GST_PAD_PROBE_OK;
  g_mutex_lock (&rec->lock);
  if (rec->log->len > 0)
    g_string_append_c (rec->log, ' ');
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
    {
      GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
      g_string_append_printf (
          rec->log, "%" G_GUINT64_FORMAT "%s", GST_BUFFER_OFFSET (buffer),
          GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DISCONT) ? "D" : "");
      rec->buffers++;
    }
  else if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM)
    {
      g_string_append (rec->log,
                       GST_EVENT_TYPE_NAME (GST_PAD_PROBE_INFO_EVENT (info)));
      rec->events++;
    }
  else if (info->type & GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM)
    g_string_append_printf (
        rec->log, "query-%s",
        GST_QUERY_TYPE_NAME (GST_PAD_PROBE_INFO_QUERY (info)));
  g_cond_broadcast (&rec->cond);
  g_mutex_unlock (&rec->lock);
  return GST_PAD_PROBE_OK;
}

static inline void
recorder_start (Recorder *rec, GstPad *pad)
{
  g_mutex_init (&rec->lock);
  g_cond_init (&rec->cond);
  rec->log = g_string_new (NULL);
  rec->buffers = 0;
  rec->events = 0;
  rec->pad = gst_object_ref (pad);
  rec->probe_id = gst_pad_add_probe (pad,
                                     GST_PAD_PROBE_TYPE_BUFFER
                                         | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM
                                         | GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM,
                                     recorder_saw, rec, NULL);
}

/* Waits until the recorder has seen `buffers` buffers in all. */
static inline void
recorder_wait_buffers (Recorder *rec, guint buffers)
{
  g_mutex_lock (&rec->lock);
  while (rec->buffers < buffers)
    g_cond_wait (&rec->cond, &rec->lock);
  g_mutex_unlock (&rec->lock);
}

/* Waits until the log ends with `suffix`. */
static inline void
recorder_wait_suffix (Recorder *rec, const gchar *suffix)
{
  g_mutex_lock (&rec->lock);
  while (!g_str_has_suffix (rec->log->str, suffix))
    g_cond_wait (&rec->cond, &rec->lock);
  g_mutex_unlock (&rec->lock);
}

/* The log so far (free with g_free) and clears it. */
static inline gchar *
recorder_take (Recorder *rec)
{
  g_mutex_lock (&rec->lock);
  gchar *log = g_strdup (rec->log->str);
  g_string_truncate (rec->log, 0);
  g_mutex_unlock (&rec->lock);
  return log;
}

static inline void
recorder_stop (Recorder *rec)
{
  gst_pad_remove_probe (rec->pad, rec->probe_id);
  gst_clear_object (&rec->pad);
  g_string_free (rec->log, TRUE);
  g_mutex_clear (&rec->lock);
  g_cond_clear (&rec->cond);
}

/* A buffer of `size` bytes numbered `offset`, at `pts`. */
static inline GstBuffer *
numbered_buffer (guint64 offset, gsize size, GstClockTime pts)
{
  GstBuffer *buffer = gst_buffer_new_allocate (NULL, size, NULL);
  gst_buffer_memset (buffer, 0, (guint8)offset, size);
  GST_BUFFER_OFFSET (buffer) = offset;
  GST_BUFFER_PTS (buffer) = pts;
  return buffer;
}

/* Pulls and frees whatever the harness has collected. */
static inline void
drain_harness (GstHarness *h)
{
  GstBuffer *out;
  while ((out = gst_harness_try_pull (h)))
    gst_buffer_unref (out);
}

#define VIDEO_CAPS "video/x-raw,format=GRAY8,width=4,height=4,framerate=30/1"
#define FRAME_NS (GST_SECOND / 30)

/* A harness around latestframe with `properties` ("name=value ...") set. */
static inline GstHarness *
new_harness (const gchar *properties)
{
  GstHarness *h = gst_harness_new ("latestframe");
  gchar **settings = g_strsplit (properties ? properties : "", " ", -1);
  for (gchar **setting = settings; *setting; setting++)
    {
      gchar **pair = g_strsplit (*setting, "=", 2);
      if (pair[0] && pair[1])
        gst_util_set_object_arg (G_OBJECT (h->element), pair[0], pair[1]);
      g_strfreev (pair);
    }
  g_strfreev (settings);
  gst_harness_set_src_caps_str (h, VIDEO_CAPS);
  return h;
}

static inline GstPad *
element_src (GstHarness *h)
{
  return gst_element_get_static_pad (h->element, "src");
}

static inline guint
level_buffers (GstHarness *h)
{
  guint level;
  g_object_get (h->element, "current-level-buffers", &level, NULL);
  return level;
}

/* Freezes the element's streaming thread on frame 0, so that the test
 * decides exactly what is queued behind it. */
static inline void
push_first_and_freeze (GstHarness *h, Gate *gate)
{
  GstPad *src = element_src (h);
  gate_close (gate, src);
  gst_object_unref (src);
  fail_unless_equals_int (gst_harness_push (h, numbered_buffer (0, 16, 0)),
                          GST_FLOW_OK);
  gate_wait_blocked (gate);
}

/* Records what leaves the element's src pad. */
static inline void
record_src (GstHarness *h, Recorder *rec)
{
  GstPad *src = element_src (h);
  recorder_start (rec, src);
  gst_object_unref (src);
}

/* Records what leaves the element, then freezes its thread on frame 0. */
static inline void
record_and_freeze (GstHarness *h, Recorder *rec, Gate *gate)
{
  record_src (h, rec);
  push_first_and_freeze (h, gate);
}

/* One figure of latestframe's `stats` structure. */
static inline guint64
stat_uint64 (GstElement *element, const gchar *field)
{
  GstStructure *stats = NULL;
  guint64 value = G_MAXUINT64;
  g_object_get (element, "stats", &stats, NULL);
  fail_unless (gst_structure_get_uint64 (stats, field, &value), field);
  gst_structure_free (stats);
  return value;
}

static inline gboolean
stat_boolean (GstElement *element, const gchar *field)
{
  GstStructure *stats = NULL;
  gboolean value = FALSE;
  g_object_get (element, "stats", &stats, NULL);
  fail_unless (gst_structure_get_boolean (stats, field, &value), field);
  gst_structure_free (stats);
  return value;
}

G_END_DECLS
