/* latestframe capture — one connection: its pipeline, and the frames taken
 * from its latestframe element.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "session.h"

#include "latestframe/uri_credentials.h"

#include "gstlatestframe.h"
#include "gstrtph264audepay.h"
#include "gstrtpinorderbuffer.h"

#include <mutex>

namespace latestframe::detail
{

namespace
{

/* The library carries its own latestframe, rtpinorderbuffer and
 * rtph264audepay elements, so that applications and the Python module need
 * no GST_PLUGIN_PATH. An installed plugin that provides them wins (one type
 * per process): it must know on-request delivery. Empty, or why they cannot
 * be used. */
std::string
ensure_latestframe ()
{
  static std::once_flag once;
  static std::string problem;
  std::call_once (once, [] {
    /* The receive path of RTSP (source.cpp). An installed plugin that
     * provides them wins (one type per process), even one older than this
     * library: the capture then sets and reads only the properties its
     * elements have. */
    const struct
    {
      const char *name;
      gboolean (*register_element) (GstPlugin *);
    } receive_elements[] = {
      { "rtpinorderbuffer", gst_element_register_rtpinorderbuffer },
      { "rtph264audepay", gst_element_register_rtph264audepay },
    };
    for (const auto &element : receive_elements)
      if (GstPluginFeature *installed = gst_registry_lookup_feature (
              gst_registry_get (), element.name))
        gst_object_unref (installed);
      else if (!element.register_element (nullptr))
        {
          problem = std::string ("cannot register the ") + element.name
                    + " element";
          return;
        }
    GstPluginFeature *feature
        = gst_registry_lookup_feature (gst_registry_get (), "latestframe");
    if (!feature)
      {
        if (!GST_ELEMENT_REGISTER (latestframe, nullptr))
          problem = "cannot register the latestframe element";
        return;
      }
    object_ptr<GstPluginFeature> loaded (gst_plugin_feature_load (feature));
    gst_object_unref (feature);
    if (!loaded)
      {
        problem = "the installed latestframe plugin cannot be loaded";
        return;
      }
    GType type = gst_element_factory_get_element_type (
        GST_ELEMENT_FACTORY (loaded.get ()));
    gpointer element_class = g_type_class_ref (type);
    /* The newest property the library sets. */
    if (!g_object_class_find_property (G_OBJECT_CLASS (element_class),
                                       "decode"))
      {
        object_ptr<GstPlugin> plugin (
            gst_plugin_feature_get_plugin (loaded.get ()));
        const gchar *file
            = plugin ? gst_plugin_get_filename (plugin.get ()) : nullptr;
        problem = std::string ("the installed latestframe plugin (")
                  + (file ? file : "unknown file")
                  + ") is older than this library: install this version";
      }
    g_type_class_unref (element_class);
  });
  return problem;
}

/* Behind the gate the decoder gets only what is analysed, about one key
 * frame a second in key-units mode: libavcodec's slice threads would wait
 * idle for it, one thread per camera (61 threads at 8 cameras rather than
 * 69). So a libav decoder there decodes in its streaming thread alone;
 * ungated (decoding::all), it keeps libav's default, 0 = auto. */
void
on_gated_decoder_element (GstBin *, GstBin *, GstElement *element, gpointer)
{
  GstElementFactory *factory = gst_element_get_factory (element);
  if (!factory
      || !g_str_has_prefix (
          gst_plugin_feature_get_name (GST_PLUGIN_FEATURE (factory)), "avdec_")
      || !g_object_class_find_property (G_OBJECT_GET_CLASS (element),
                                        "max-threads"))
    return;
  g_object_set (element, "max-threads", 1, NULL);
}

} // namespace

std::uint64_t
structure_uint64 (const GstStructure *structure, const char *field)
{
  guint64 value = 0;
  if (gst_structure_get_uint64 (structure, field, &value))
    return value;
  guint small = 0;
  if (gst_structure_get_uint (structure, field, &small))
    return small;
  return 0;
}

bool
structure_boolean (const GstStructure *structure, const char *field)
{
  gboolean value = FALSE;
  gst_structure_get_boolean (structure, field, &value);
  return value;
}

element_counts
element_counts::from (const GstStructure *stats)
{
  element_counts counts;
  counts.received = structure_uint64 (stats, "received");
  counts.pushed = structure_uint64 (stats, "pushed");
  counts.dropped = structure_uint64 (stats, "dropped");
  for (const drop_reason_info &reason : drop_reasons)
    counts.dropped_by_reason[drop_reason_index (reason.reason)]
        = structure_uint64 (stats,
                            (std::string ("dropped-") + reason.name).c_str ());
  counts.capture_time_frames = structure_uint64 (stats, "capture-time-frames");
  counts.capture_time_unused = structure_uint64 (stats, "capture-time-unused");
  return counts;
}

void
element_counts::add (const element_counts &other)
{
  received += other.received;
  pushed += other.pushed;
  dropped += other.dropped;
  for (std::size_t i = 0; i < drop_reason_count; i++)
    dropped_by_reason[i] += other.dropped_by_reason[i];
  capture_time_frames += other.capture_time_frames;
  capture_time_unused += other.capture_time_unused;
  not_decoded += other.not_decoded;
  decode_only += other.decode_only;
}

std::unique_ptr<session>
session::build (const source_spec &source, const capture_options &options,
                std::uint64_t connection, std::uint64_t sequence_base,
                std::string &error)
{
  error = ensure_latestframe ();
  if (!error.empty ())
    return nullptr;
  const bool gated
      = options.decode != decoding::all || options.analysis_rate > 0;
  /* sync=false: the analysis takes each frame as soon as latestframe
   * hands it over; the frames' age is latestframe's business. */
  const std::string description
      = source.description (gated)
        + (options.analysis.empty ()
               ? " ! latestframe name=latest delivery=on-request"
               : " ! latestframe name=latest ! videoconvert ! "
                     + options.analysis
                     /* The sink keeps the newest analysed frame (its
                      * last sample) for last_analysed(): a reference,
                      * counted in flight by latestframe, and no copy
                      * until someone asks. A name no fragment would
                      * give its own elements. */
                     + " ! fakesink name=latestframe-capture-analysed"
                       " sync=false"
                       " enable-last-sample=true");
  GError *parse_error = nullptr;
  GstElement *parsed = gst_parse_launch_full (
      description.c_str (), nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &parse_error);
  if (!parsed)
    {
      /* A description may hold a URI with a password. */
      error = "cannot build the pipeline \"" + redacted_uri (description)
              + "\": " + (parse_error ? parse_error->message : "unknown");
      g_clear_error (&parse_error);
      return nullptr;
    }
  auto built = std::make_unique<session> ();
  built->pipeline_.reset (parsed);
  built->connection_ = connection;
  built->sequence_base_ = sequence_base;
  GstBin *bin = GST_BIN (parsed);
  source.configure (bin, options);
  built->latest_.reset (gst_bin_get_by_name (bin, "latest"));
  g_object_set (built->latest_.get (), "max-age",
                static_cast<guint64> (
                    std::chrono::nanoseconds (options.max_age).count ()),
                "memory-budget-bytes",
                static_cast<guint64> (options.memory_budget_bytes), NULL);
  if (!options.memory_budget.empty ())
    g_object_set (built->latest_.get (), "memory-budget",
                  options.memory_budget.c_str (), NULL);
  built->analysed_.reset (
      gst_bin_get_by_name (bin, "latestframe-capture-analysed"));
  built->gate_.reset (gst_bin_get_by_name (bin, "gate"));
  if (built->gate_)
    {
      gst_util_set_object_arg (G_OBJECT (built->gate_.get ()), "decode",
                               decode_mode_name (options.decode));
      /* max-age too: auto weighs it against the key interval. */
      g_object_set (built->gate_.get (), "analysis-rate", options.analysis_rate,
                    "max-age",
                    static_cast<guint64> (
                        std::chrono::nanoseconds (options.max_age).count ()),
                    NULL);
      /* decodebin adds its decoder once the caps are known, before the
       * decoder opens and reads max-threads; deep-element-added in case
       * it nests the decoder in a bin of its own. */
      object_ptr<GstElement> decoder (
          gst_bin_get_by_name (bin, "latestframe-capture-decoder"));
      if (decoder)
        g_signal_connect (decoder.get (), "deep-element-added",
                          G_CALLBACK (on_gated_decoder_element), nullptr);
    }
  built->bus_.reset (gst_element_get_bus (parsed));
  return built;
}

session::~session () { stop (); }

void
session::play ()
{
  gst_element_set_state (pipeline_.get (), GST_STATE_PLAYING);
}

void
session::stop ()
{
  gst_element_set_state (pipeline_.get (), GST_STATE_NULL);
}

sample_ptr
session::pull (std::chrono::nanoseconds timeout)
{
  GstSample *sample = nullptr;
  g_signal_emit_by_name (
      latest_.get (), "try-pull-frame",
      static_cast<guint64> (std::max<std::int64_t> (timeout.count (), 0)),
      &sample);
  return sample_ptr (sample);
}

sample_ptr
session::last_analysed () const
{
  if (!analysed_)
    return nullptr;
  GstSample *sample = nullptr;
  g_object_get (analysed_.get (), "last-sample", &sample, NULL);
  return sample_ptr (sample);
}

void
session::keep_last_analysed (bool keep)
{
  if (analysed_)
    g_object_set (analysed_.get (), "enable-last-sample",
                  static_cast<gboolean> (keep), NULL);
}

void
session::let_go_of_last_analysed ()
{
  keep_last_analysed (true);
  keep_last_analysed (false);
}

std::int64_t
session::unix_time_of (GstClockTime running_time) const
{
  object_ptr<GstClock> clock (gst_element_get_clock (pipeline_.get ()));
  if (!clock || !GST_CLOCK_TIME_IS_VALID (running_time))
    return -1;
  const GstClockTime at
      = gst_element_get_base_time (pipeline_.get ()) + running_time;
  const GstClockTime now = gst_clock_get_time (clock.get ());
  const std::int64_t unix_now = g_get_real_time () * 1000;
  return unix_now
         - (static_cast<std::int64_t> (now) - static_cast<std::int64_t> (at));
}

session::bus_event
session::wait_bus (std::chrono::milliseconds timeout, std::string &error)
{
  mini_object_ptr<GstMessage> message (gst_bus_timed_pop_filtered (
      bus_.get (), std::chrono::nanoseconds (timeout).count (),
      static_cast<GstMessageType> (GST_MESSAGE_ERROR | GST_MESSAGE_EOS
                                   | GST_MESSAGE_APPLICATION)));
  if (!message || GST_MESSAGE_TYPE (message.get ()) == GST_MESSAGE_APPLICATION)
    return bus_event::none;
  if (GST_MESSAGE_TYPE (message.get ()) == GST_MESSAGE_EOS)
    return bus_event::end;
  GError *gerror = nullptr;
  gst_message_parse_error (message.get (), &gerror, nullptr);
  error = std::string (GST_OBJECT_NAME (GST_MESSAGE_SRC (message.get ())))
          + ": " + (gerror ? gerror->message : "error");
  g_clear_error (&gerror);
  return bus_event::error;
}

void
session::wake ()
{
  gst_bus_post (bus_.get (),
                gst_message_new_application (
                    nullptr, gst_structure_new_empty ("latestframe-wake")));
}

structure_ptr
session::stats () const
{
  GstStructure *stats = nullptr;
  g_object_get (latest_.get (), "stats", &stats, NULL);
  return structure_ptr (stats);
}

element_counts
session::counts (const GstStructure *reader_stats) const
{
  element_counts counts;
  if (reader_stats)
    counts = element_counts::from (reader_stats);
  if (gate_)
    {
      GstStructure *gate = nullptr;
      g_object_get (gate_.get (), "stats", &gate, NULL);
      structure_ptr owned (gate);
      if (owned)
        {
          counts.not_decoded = structure_uint64 (gate, "dropped");
          counts.decode_only = structure_uint64 (gate, "decode-only");
        }
    }
  counts.not_decoded += skipped_delta_units ();
  return counts;
}

namespace
{

/* Adds an rtpinorderbuffer's skipped-delta-units to the total at
 * `skipped`. An installed plugin's older element has no stats: it skips
 * nothing. */
void
add_skipped_delta_units (const GValue *item, gpointer skipped)
{
  GObject *buffer = G_OBJECT (g_value_get_object (item));
  if (!g_object_class_find_property (G_OBJECT_GET_CLASS (buffer), "stats"))
    return;
  GstStructure *stats = nullptr;
  g_object_get (buffer, "stats", &stats, NULL);
  structure_ptr owned (stats);
  if (owned)
    *static_cast<std::uint64_t *> (skipped)
        += structure_uint64 (stats, "skipped-delta-units");
}

} // namespace

std::uint64_t
session::skipped_delta_units () const
{
  std::uint64_t skipped = 0;
  GstIterator *buffers = gst_bin_iterate_all_by_element_factory_name (
      GST_BIN (pipeline_.get ()), "rtpinorderbuffer");
  /* rtpbin may add or remove an element meanwhile: then count again. */
  while (gst_iterator_foreach (buffers, add_skipped_delta_units, &skipped)
         == GST_ITERATOR_RESYNC)
    {
      skipped = 0;
      gst_iterator_resync (buffers);
    }
  gst_iterator_free (buffers);
  return skipped;
}

std::uint64_t
session::received () const
{
  structure_ptr figures = stats ();
  return figures ? structure_uint64 (figures.get (), "received") : 0;
}

bool
session::upstream_live () const
{
  object_ptr<GstPad> sink_pad (
      gst_element_get_static_pad (latest_.get (), "sink"));
  GstQuery *query = gst_query_new_latency ();
  gboolean live = FALSE;
  if (gst_pad_peer_query (sink_pad.get (), query))
    gst_query_parse_latency (query, &live, nullptr, nullptr);
  gst_query_unref (query);
  return live;
}

} // namespace latestframe::detail

namespace latestframe::detail
{

bool
session::video_info (GstVideoInfo &info) const
{
  object_ptr<GstPad> sink_pad (
      gst_element_get_static_pad (latest_.get (), "sink"));
  GstCaps *caps = gst_pad_get_current_caps (sink_pad.get ());
  if (!caps)
    return false;
  const bool known = gst_video_info_from_caps (&info, caps);
  gst_caps_unref (caps);
  return known;
}

} // namespace latestframe::detail
