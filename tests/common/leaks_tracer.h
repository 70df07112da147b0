/* The GStreamer leaks tracer (GST_TRACERS=leaks), asked from a test which
 * objects are alive now. Plain C, for the gst-check and GoogleTest tests
 * alike. */
#pragma once

#include <gst/gst.h>

/* The active leaks tracer (a reference), or NULL without GST_TRACERS=leaks. */
static inline GstTracer *
leaks_tracer_find (void)
{
  GList *tracers = gst_tracing_get_active_tracers ();
  GstTracer *found = NULL;
  for (GList *l = tracers; l; l = l->next)
    if (g_str_equal (G_OBJECT_TYPE_NAME (l->data), "GstLeaksTracer"))
      found = GST_TRACER (gst_object_ref (l->data));
  g_list_free_full (tracers, gst_object_unref);
  return found;
}

/* The objects alive now, one string each (a GPtrArray that frees them), or
 * NULL if the tracer did not answer. */
static inline GPtrArray *
leaks_tracer_live_objects (GstTracer *tracer)
{
  /* A task's thread drops the task's last ref after the task was joined.
   * Let those threads finish first: the tracer refs every live object it
   * lists, and reffing one whose last unref is under way would free it
   * twice. */
  gst_task_cleanup_all ();
  GstStructure *info = NULL;
  g_signal_emit_by_name (tracer, "get-live-objects", &info);
  if (!info)
    return NULL;
  const GValue *list = gst_structure_get_value (info, "live-objects-list");
  GPtrArray *objects = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < gst_value_list_get_size (list); i++)
    g_ptr_array_add (objects, gst_structure_to_string (gst_value_get_structure (
                                  gst_value_list_get_value (list, i))));
  gst_structure_free (info);
  return objects;
}
