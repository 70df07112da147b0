/* One row of the fault matrix (pipelines/faults.sh): what a fault did to one
 * pipeline shape, printed as one JSON line that faults_report.py turns into
 * the Markdown table. Shared by every fault of latestframe-faults. */
#pragma once

#include "common/leaks_tracer.h"

#include <gst/gst.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>

namespace latestframe::faults
{

/* This process's resident set now, kB (VmRSS). */
inline long
rss_kb ()
{
  std::ifstream status ("/proc/self/status");
  std::string word;
  while (status >> word)
    if (word == "VmRSS:")
      {
        long kb = 0;
        status >> kb;
        return kb;
      }
  return -1;
}

/* The frame counts of one or more latestframe elements, summed. */
struct frame_counts
{
  std::uint64_t received = 0;
  std::uint64_t pushed = 0;
  std::uint64_t held = 0;
  /* By reason ("overflow", "age", ...): their sum, not the element's own
   * total, is what the lost-frames check uses, so that a frame counted in
   * no reason shows up as lost. */
  std::map<std::string, std::uint64_t> dropped;

  std::uint64_t dropped_total () const
  {
    std::uint64_t sum = 0;
    for (const auto &[reason, count] : dropped)
      sum += count;
    return sum;
  }
  /* Frames that entered and are neither handed over, dropped for a
   * reason, nor held: must be 0. */
  std::int64_t lost_uncounted () const
  {
    return static_cast<std::int64_t> (received)
           - static_cast<std::int64_t> (pushed + dropped_total () + held);
  }

  /* Adds a latestframe "stats" structure (the property, or a
   * latestframe-stats message). */
  void add (const GstStructure *stats)
  {
    guint64 value = 0;
    if (gst_structure_get_uint64 (stats, "received", &value))
      received += value;
    if (gst_structure_get_uint64 (stats, "pushed", &value))
      pushed += value;
    guint level = 0;
    if (gst_structure_get_uint (stats, "current-level-buffers", &level))
      held += level;
    const int fields = gst_structure_n_fields (stats);
    for (int i = 0; i < fields; i++)
      {
        const std::string name = gst_structure_nth_field_name (stats, i);
        const std::string prefix = "dropped-";
        if (name.rfind (prefix, 0) != 0 || name.size () < prefix.size () + 1
            || name.compare (name.size () - 6, 6, "-bytes") == 0)
          continue;
        if (gst_structure_get_uint64 (stats, name.c_str (), &value))
          dropped[name.substr (prefix.size ())] += value;
      }
  }

  /* Adds the stats of `element` (a latestframe). */
  void add_element (GstElement *element)
  {
    GstStructure *stats = nullptr;
    g_object_get (element, "stats", &stats, NULL);
    if (stats)
      {
        add (stats);
        gst_structure_free (stats);
      }
  }
};

struct fault_row
{
  std::string fault;
  std::string shape;
  std::uint64_t repetitions = 0;
  std::uint64_t recovered = 0;
  /* Frames that reached the analysis (or the application's read). */
  std::uint64_t analysed = 0;
  frame_counts counts;
  /* Once the pipeline runs (a fault sets it after its first frames), and
   * at the end of the fault before teardown (else when the row is
   * printed). */
  long rss_start_kb = rss_kb ();
  long rss_end_kb = -1;
  /* Objects the leaks tracer lists as alive at the end (-1: no tracer). */
  long leaks_alive = -1;
  /* What a reader should know: what "recovered" means here, the first
   * failure. */
  std::string note;
};

/* Whether a leaks-tracer line is about a plugin feature (a factory): those
 * live as long as the registry, not a pipeline. gst-libav registers its
 * typefinders (avtype_*) when the plugin loads, without the flag that
 * tells the tracer so. */
inline bool
is_registry_feature (const char *line)
{
  const char *type_start = std::strstr (line, "object=(");
  if (!type_start)
    return false;
  type_start += std::strlen ("object=(");
  const char *type_end = std::strchr (type_start, ')');
  if (!type_end)
    return false;
  const std::string type_name (type_start, type_end);
  const GType type = g_type_from_name (type_name.c_str ());
  return type != 0 && g_type_is_a (type, GST_TYPE_PLUGIN_FEATURE);
}

/* Counts what the leaks tracer (GST_TRACERS=leaks) lists as alive, but
 * the registry's features; each is printed to stderr. -1 without the
 * tracer. */
inline long
leaks_alive_now ()
{
  GstTracer *tracer = leaks_tracer_find ();
  if (!tracer)
    return -1;
  gst_task_cleanup_all (); /* as leaks_tracer_live_objects does, first */
  GstStructure *info = nullptr;
  g_signal_emit_by_name (tracer, "get-live-objects", &info);
  gst_object_unref (tracer);
  if (!info)
    return -1;
  long alive = 0;
  const GValue *list = gst_structure_get_value (info, "live-objects-list");
  for (guint i = 0; i < gst_value_list_get_size (list); i++)
    {
      const GstStructure *entry
          = gst_value_get_structure (gst_value_list_get_value (list, i));
      /* The 1.22 tracer hands over a reference it does not own (it takes
       * the objects' own instead of adding one): give it back, or freeing
       * the answer would dispose of objects still in use (the registry's
       * features, with a critical). */
      const GValue *object = gst_structure_get_value (entry, "object");
      if (G_VALUE_HOLDS_OBJECT (object))
        g_object_ref (g_value_get_object (object));
      else if (object && g_value_get_boxed (object))
        gst_mini_object_ref (GST_MINI_OBJECT_CAST (g_value_get_boxed (object)));
      gchar *line = gst_structure_to_string (entry);
      if (!is_registry_feature (line))
        {
          alive++;
          g_printerr ("alive: %s\n", line);
        }
      g_free (line);
    }
  gst_structure_free (info);
  return alive;
}

inline std::string
json_escaped (const std::string &text)
{
  std::string out;
  for (const char c : text)
    {
      if (c == '"' || c == '\\')
        out += '\\';
      if (static_cast<unsigned char> (c) < 0x20)
        out += ' ';
      else
        out += c;
    }
  return out;
}

/* Why a printed row fails, "" when it does not: the rule of
 * faults_report.py (its failures()), for latestframe-faults --check. */
inline std::string
row_failures (const fault_row &row)
{
  std::string found;
  auto add = [&found] (const std::string &what) {
    found += (found.empty () ? "" : "; ") + what;
  };
  if (row.recovered < row.repetitions)
    add ("recovered " + std::to_string (row.recovered) + " of "
         + std::to_string (row.repetitions));
  if (row.counts.lost_uncounted () != 0)
    add (std::to_string (row.counts.lost_uncounted ()) + " lost uncounted");
  if (row.note.find ("FAIL") != std::string::npos)
    add ("a check failed: " + row.note);
  if (row.leaks_alive != 0)
    add (row.leaks_alive < 0 ? "leaks tracer not active"
                             : "leaks tracer lists "
                                   + std::to_string (row.leaks_alive)
                                   + " alive");
  return found;
}

/* Prints `row` as one JSON line on stdout (after measuring the end: RSS and
 * the leaks tracer). Call once every pipeline of the fault is gone. */
inline void
print_row (fault_row &row)
{
  if (row.rss_end_kb < 0)
    row.rss_end_kb = rss_kb ();
  row.leaks_alive = leaks_alive_now ();
  std::string dropped;
  for (const auto &[reason, count] : row.counts.dropped)
    dropped += (dropped.empty () ? "" : ", ") + std::string ("\"")
               + json_escaped (reason) + "\": " + std::to_string (count);
  std::printf (
      "{\"fault\": \"%s\", \"shape\": \"%s\", \"repetitions\": %llu, "
      "\"recovered\": %llu, \"received\": %llu, \"analysed\": %llu, "
      "\"pushed\": %llu, \"held\": %llu, \"dropped\": {%s}, "
      "\"lost_uncounted\": %lld, \"leaks_alive\": %ld, \"rss_start_kb\": %ld, "
      "\"rss_end_kb\": %ld, \"note\": \"%s\"}\n",
      json_escaped (row.fault).c_str (), json_escaped (row.shape).c_str (),
      static_cast<unsigned long long> (row.repetitions),
      static_cast<unsigned long long> (row.recovered),
      static_cast<unsigned long long> (row.counts.received),
      static_cast<unsigned long long> (row.analysed),
      static_cast<unsigned long long> (row.counts.pushed),
      static_cast<unsigned long long> (row.counts.held), dropped.c_str (),
      static_cast<long long> (row.counts.lost_uncounted ()), row.leaks_alive,
      row.rss_start_kb, row.rss_end_kb, json_escaped (row.note).c_str ());
  std::fflush (stdout);
}

} // namespace latestframe::faults
