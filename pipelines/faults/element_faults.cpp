/* The element faults of latestframe-faults (issue 15): what our elements do
 * under state changes and flushes, under a storm of property changes, and
 * when fed bad input. Each fault builds its own pipeline or harness, counts
 * what it sees through pad probes and bus sync handlers (never by sleeping
 * and looking), and frees every object before it returns: the row is
 * measured under the leaks tracer after that.
 *
 *   state-changes  launch  1000 state changes and 500 flushes (short: 50,
 *                          25) of a live 30 fps load
 *   property-storm launch  10,000 (short: 300) random valid values set
 *                          while PLAYING on our elements' properties
 *   bad-input      ELEMENT refused caps, empty and short buffers, no
 *                          timestamps, a BYTES segment, GAP events, a 1x1
 *                          frame, through GstHarness
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "faults.h"

#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace latestframe::faults
{
namespace
{

using std::chrono::milliseconds;
using steady_clock = std::chrono::steady_clock;

/* How long a recovery may take before it counts as failed: a failure
 * bound, never a figure (frames normally flow again in tens of ms). */
constexpr milliseconds recovery_bound{ 10000 };

/* The elements of our two plugins. */
const char *const our_elements[]
    = { "latestframe",    "cvmotion",   "cvfacedetect",
        "cvpeopledetect", "cvqrdecode", "cvoverlay" };

bool
is_ours (GstElement *element)
{
  GstElementFactory *factory = gst_element_get_factory (element);
  if (!factory)
    return false;
  for (const char *name : our_elements)
    if (std::strcmp (GST_OBJECT_NAME (factory), name) == 0)
      return true;
  return false;
}

/* ---- RAII ------------------------------------------------------------ */

struct object_unref
{
  void operator() (gpointer object) const
  {
    if (object)
      gst_object_unref (object);
  }
};
template <typename T> using object_ptr = std::unique_ptr<T, object_unref>;

struct harness_teardown
{
  void operator() (GstHarness *harness) const
  {
    gst_harness_teardown (harness);
  }
};
using harness_ptr = std::unique_ptr<GstHarness, harness_teardown>;

/* A GValue that is unset when it goes. */
class scoped_value
{
public:
  explicit scoped_value (GType type) { g_value_init (&value_, type); }
  scoped_value (const scoped_value &) = delete;
  scoped_value &operator= (const scoped_value &) = delete;
  ~scoped_value () { g_value_unset (&value_); }
  GValue *get () { return &value_; }

private:
  GValue value_ = G_VALUE_INIT;
};

/* ---- what happened --------------------------------------------------- */

/* Counts the GLib criticals and warnings logged while it lives (each one is
 * a bug of whoever logged it: a g_return_if_fail that failed, a value out
 * of a property's range) and keeps the first critical; they are still
 * printed. Any thread may log. One at a time: it replaces GLib's default
 * log handler and puts it back. */
class log_tally
{
public:
  log_tally ()
  {
    previous_ = g_log_set_default_handler (&log_tally::on_log, this);
  }
  log_tally (const log_tally &) = delete;
  log_tally &operator= (const log_tally &) = delete;
  ~log_tally () { g_log_set_default_handler (previous_, nullptr); }

  std::uint64_t criticals () const { return criticals_; }
  std::uint64_t warnings () const { return warnings_; }
  std::string first_critical () const
  {
    std::lock_guard<std::mutex> hold (lock_);
    return first_critical_;
  }
  /* "criticals 0, g_warnings 0" and the first critical. */
  std::string summary () const
  {
    std::string text = "criticals " + std::to_string (criticals ())
                       + ", g_warnings " + std::to_string (warnings ());
    if (criticals () > 0)
      text = "FAIL: " + text + " (first: " + first_critical () + ")";
    return text;
  }

private:
  static void on_log (const gchar *domain, GLogLevelFlags level,
                      const gchar *message, gpointer data)
  {
    auto *self = static_cast<log_tally *> (data);
    if (level & G_LOG_LEVEL_CRITICAL)
      {
        if (self->criticals_++ == 0)
          {
            std::lock_guard<std::mutex> hold (self->lock_);
            self->first_critical_ = std::string (domain ? domain : "") + ": "
                                    + (message ? message : "");
          }
      }
    else if (level & G_LOG_LEVEL_WARNING)
      self->warnings_++;
    g_log_default_handler (domain, level, message, nullptr);
  }

  GLogFunc previous_ = nullptr;
  std::atomic<std::uint64_t> criticals_{ 0 };
  std::atomic<std::uint64_t> warnings_{ 0 };
  mutable std::mutex lock_;
  std::string first_critical_;
};

/* Counts the errors and warnings posted on a bus, keeps the first error's
 * text, and drops every message at once: nothing piles up on a bus no one
 * pops (the cv elements post a message per frame). Streaming threads post,
 * the main thread reads. Destroy it only once nothing posts any more. */
class bus_tally
{
public:
  /* Takes `bus` (a reference). */
  explicit bus_tally (GstBus *bus) : bus_ (bus)
  {
    gst_bus_set_sync_handler (bus_.get (), &bus_tally::on_message, this,
                              nullptr);
  }
  bus_tally (const bus_tally &) = delete;
  bus_tally &operator= (const bus_tally &) = delete;
  ~bus_tally ()
  {
    gst_bus_set_sync_handler (bus_.get (), nullptr, nullptr, nullptr);
  }

  GstBus *bus () const { return bus_.get (); }
  std::uint64_t errors () const { return errors_; }
  std::uint64_t warnings () const { return warnings_; }
  std::string first_error () const
  {
    std::lock_guard<std::mutex> hold (lock_);
    return first_error_;
  }
  std::string first_warning () const
  {
    std::lock_guard<std::mutex> hold (lock_);
    return first_warning_;
  }
  /* The first warning `expected` (taking "source: message") does not
   * allow, "" when there is none. The first 64 warnings are kept. */
  std::string first_warning_but (
      const std::function<bool (const std::string &)> &expected) const
  {
    std::lock_guard<std::mutex> hold (lock_);
    for (const std::string &text : warning_texts_)
      if (!expected (text))
        return text;
    return {};
  }
  /* How many EOS messages have come so far. */
  std::uint64_t eos_count () const
  {
    std::lock_guard<std::mutex> hold (lock_);
    return eos_count_;
  }
  /* Waits up to `bound` for an EOS message past the first `seen`. */
  bool wait_for_eos_after (std::uint64_t seen, milliseconds bound) const
  {
    std::unique_lock<std::mutex> hold (lock_);
    return eos_seen_.wait_for (hold, bound,
                               [this, seen] { return eos_count_ > seen; });
  }

private:
  /* "source: message (debug)", or without the debug details. */
  static std::string describe (GstMessage *message, bool with_debug = true)
  {
    GError *error = nullptr;
    gchar *debug = nullptr;
    if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR)
      gst_message_parse_error (message, &error, &debug);
    else
      gst_message_parse_warning (message, &error, &debug);
    std::string text = std::string (GST_MESSAGE_SRC_NAME (message)) + ": "
                       + (error ? error->message : "?");
    if (debug && with_debug)
      text += std::string (" (") + debug + ")";
    g_clear_error (&error);
    g_free (debug);
    return text;
  }

  static GstBusSyncReply on_message (GstBus *, GstMessage *message,
                                     gpointer data)
  {
    auto *self = static_cast<bus_tally *> (data);
    switch (GST_MESSAGE_TYPE (message))
      {
      case GST_MESSAGE_ERROR:
        if (self->errors_++ == 0)
          {
            std::string text = describe (message);
            std::lock_guard<std::mutex> hold (self->lock_);
            self->first_error_ = std::move (text);
          }
        break;
      case GST_MESSAGE_WARNING:
        {
          std::string text = describe (message, false);
          std::lock_guard<std::mutex> hold (self->lock_);
          if (self->warnings_++ == 0)
            self->first_warning_ = describe (message);
          if (self->warning_texts_.size () < 64)
            self->warning_texts_.push_back (std::move (text));
          break;
        }
      case GST_MESSAGE_EOS:
        {
          std::lock_guard<std::mutex> hold (self->lock_);
          self->eos_count_++;
          self->eos_seen_.notify_all ();
          break;
        }
      default:
        break;
      }
    /* A handler that drops a message owns it. */
    gst_message_unref (message);
    return GST_BUS_DROP;
  }

  object_ptr<GstBus> bus_;
  std::atomic<std::uint64_t> errors_{ 0 };
  std::atomic<std::uint64_t> warnings_{ 0 };
  mutable std::mutex lock_;
  mutable std::condition_variable eos_seen_;
  std::string first_error_;
  std::string first_warning_;
  std::vector<std::string> warning_texts_;
  std::uint64_t eos_count_ = 0;
};

/* What has passed a pad so far. */
struct frames_seen
{
  std::uint64_t count = 0;
  /* The newest PTS and buffer offset seen (NONE before any). */
  GstClockTime newest_pts = GST_CLOCK_TIME_NONE;
  guint64 newest_offset = GST_BUFFER_OFFSET_NONE;
};

/* Counts the buffers that pass a pad (a buffer probe, on the streaming
 * thread) and lets the main thread wait until what it saw meets a
 * condition. Destroy it only once nothing streams through the pad: a probe
 * removed while it runs would outlive its counter. */
class frame_counter
{
public:
  /* Takes `pad` (a reference). */
  explicit frame_counter (GstPad *pad) : pad_ (pad)
  {
    probe_ = gst_pad_add_probe (pad_.get (), GST_PAD_PROBE_TYPE_BUFFER,
                                &frame_counter::on_buffer, this, nullptr);
  }
  frame_counter (const frame_counter &) = delete;
  frame_counter &operator= (const frame_counter &) = delete;
  ~frame_counter () { gst_pad_remove_probe (pad_.get (), probe_); }

  /* Racy by nature: frames keep passing. */
  frames_seen seen_approx () const
  {
    std::lock_guard<std::mutex> hold (lock_);
    return seen_;
  }

  /* Waits up to `bound` until `done` holds for what was seen; whether it
   * did. Main thread. */
  bool wait_until (const std::function<bool (const frames_seen &)> &done,
                   milliseconds bound) const
  {
    std::unique_lock<std::mutex> hold (lock_);
    return passed_.wait_for (hold, bound, [&] { return done (seen_); });
  }
  /* Waits until more than `count` buffers have passed. */
  bool wait_for_more_than (std::uint64_t count, milliseconds bound) const
  {
    return wait_until (
        [count] (const frames_seen &seen) { return seen.count > count; },
        bound);
  }

private:
  static GstPadProbeReturn on_buffer (GstPad *, GstPadProbeInfo *info,
                                      gpointer data)
  {
    auto *self = static_cast<frame_counter *> (data);
    GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
    {
      std::lock_guard<std::mutex> hold (self->lock_);
      frames_seen &seen = self->seen_;
      seen.count++;
      if (GST_BUFFER_PTS_IS_VALID (buffer)
          && (seen.newest_pts == GST_CLOCK_TIME_NONE
              || GST_BUFFER_PTS (buffer) > seen.newest_pts))
        seen.newest_pts = GST_BUFFER_PTS (buffer);
      if (GST_BUFFER_OFFSET_IS_VALID (buffer)
          && (seen.newest_offset == GST_BUFFER_OFFSET_NONE
              || GST_BUFFER_OFFSET (buffer) > seen.newest_offset))
        seen.newest_offset = GST_BUFFER_OFFSET (buffer);
    }
    self->passed_.notify_all ();
    return GST_PAD_PROBE_OK;
  }

  object_ptr<GstPad> pad_;
  gulong probe_ = 0;
  mutable std::mutex lock_;
  mutable std::condition_variable passed_;
  frames_seen seen_;
};

/* ---- a live load ----------------------------------------------------- */

/* A pipeline from a launch line with a `latestframe name=lf` and a
 * `fakesink name=sink`: its bus tallied, the frames reaching the sink
 * counted. Set to NULL and freed when it goes. */
class live_load
{
public:
  explicit live_load (const std::string &launch)
  {
    GError *error = nullptr;
    GstElement *parsed = gst_parse_launch (launch.c_str (), &error);
    if (error)
      {
        problem_ = std::string ("cannot build the pipeline: ") + error->message;
        g_error_free (error);
        if (parsed)
          gst_object_unref (parsed);
        return;
      }
    pipeline_.reset (parsed);
    tally_
        = std::make_unique<bus_tally> (gst_element_get_bus (pipeline_.get ()));
    latest_.reset (gst_bin_get_by_name (GST_BIN (parsed), "lf"));
    object_ptr<GstElement> sink (
        gst_bin_get_by_name (GST_BIN (parsed), "sink"));
    if (!latest_ || !sink)
      {
        problem_ = "the pipeline has no latestframe 'lf' or no 'sink'";
        return;
      }
    at_sink_ = std::make_unique<frame_counter> (
        gst_element_get_static_pad (sink.get (), "sink"));
    latest_out_ = std::make_unique<frame_counter> (
        gst_element_get_static_pad (latest_.get (), "src"));
  }
  live_load (const live_load &) = delete;
  live_load &operator= (const live_load &) = delete;
  /* Streaming stops before the probes and the bus handler go. */
  ~live_load ()
  {
    if (pipeline_)
      gst_element_set_state (pipeline_.get (), GST_STATE_NULL);
  }

  /* Why the load could not be built ("" when it was). */
  const std::string &problem () const { return problem_; }
  GstElement *pipeline () const { return pipeline_.get (); }
  GstElement *latest () const { return latest_.get (); }
  const frame_counter &at_sink () const { return *at_sink_; }
  const frame_counter &latest_out () const { return *latest_out_; }
  const bus_tally &bus () const { return *tally_; }

  /* Sets the pipeline to `target` and waits for the change to complete (a
   * live pipeline does not preroll: NO_PREROLL completes it too). */
  bool change_state (GstState target) const
  {
    if (gst_element_set_state (pipeline_.get (), target)
        == GST_STATE_CHANGE_FAILURE)
      return false;
    GstState now = GST_STATE_VOID_PENDING;
    const GstStateChangeReturn result = gst_element_get_state (
        pipeline_.get (), &now, nullptr,
        std::chrono::duration_cast<std::chrono::nanoseconds> (recovery_bound)
            .count ());
    return (result == GST_STATE_CHANGE_SUCCESS
            || result == GST_STATE_CHANGE_NO_PREROLL)
           && now == target;
  }

  /* Waits for latestframe to push its next frame, so that what follows
   * races a frame on its way through the analysis (not an idle
   * pipeline); whether one came. */
  bool wait_mid_flow () const
  {
    return latest_out_->wait_for_more_than (latest_out_->seen_approx ().count,
                                            recovery_bound);
  }

  /* Whether a frame passes the sink after now. */
  bool frames_flow () const
  {
    return at_sink_->wait_for_more_than (at_sink_->seen_approx ().count,
                                         recovery_bound);
  }

  /* The elements of ours in the pipeline, in no particular order (a
   * reference each). */
  std::vector<object_ptr<GstElement>> our_elements () const
  {
    std::vector<object_ptr<GstElement>> found;
    GstIterator *iterator
        = gst_bin_iterate_elements (GST_BIN (pipeline_.get ()));
    GValue item = G_VALUE_INIT;
    while (gst_iterator_next (iterator, &item) == GST_ITERATOR_OK)
      {
        auto *element = GST_ELEMENT (g_value_get_object (&item));
        if (is_ours (element))
          found.emplace_back (GST_ELEMENT (gst_object_ref (element)));
        g_value_reset (&item);
      }
    g_value_unset (&item);
    gst_iterator_free (iterator);
    return found;
  }

private:
  std::string problem_;
  /* Destroyed in reverse: the counters' probes and the bus handler after
   * the pipeline is stopped, the pipeline's last reference before the
   * bus's. */
  std::unique_ptr<bus_tally> tally_;
  object_ptr<GstElement> pipeline_;
  object_ptr<GstElement> latest_;
  std::unique_ptr<frame_counter> at_sink_;
  std::unique_ptr<frame_counter> latest_out_;
};

/* The bus figures of a load for a note: "bus: 0 errors, 3 warnings (first:
 * ...)". */
std::string
bus_summary (const bus_tally &tally)
{
  std::string text = "bus: " + std::to_string (tally.errors ()) + " errors";
  if (tally.errors () > 0)
    text += " (first: " + tally.first_error () + ")";
  text += ", " + std::to_string (tally.warnings ()) + " warnings";
  if (tally.warnings () > 0)
    text += " (first: " + tally.first_warning () + ")";
  return text;
}

/* "note; more" */
void
append (std::string &note, const std::string &more)
{
  if (!more.empty ())
    note += (note.empty () ? "" : "; ") + more;
}

/* Checks the latestframe stats of a row: every frame counted, and (for a
 * run spanning state changes) the counts kept across them. */
void
check_counts (fault_row &row)
{
  if (row.counts.lost_uncounted () != 0)
    append (row.note, "FAIL: " + std::to_string (row.counts.lost_uncounted ())
                          + " frames lost uncounted");
  if (row.counts.pushed < row.analysed)
    append (row.note, "FAIL: stats pushed " + std::to_string (row.counts.pushed)
                          + " < frames at the sink "
                          + std::to_string (row.analysed)
                          + ": the stats were reset");
}

/* Ends a live load's note: the counts checked, the bus's errors (each a
 * failure) and warnings. */
void
finish_note (fault_row &row, const bus_tally &bus)
{
  check_counts (row);
  if (bus.errors () > 0)
    append (row.note, "FAIL: " + bus.first_error ());
  append (row.note, bus_summary (bus));
}

/* ---- state-changes --------------------------------------------------- */

const char *const state_change_launch
    = "videotestsrc is-live=true pattern=ball ! "
      "video/x-raw,width=640,height=480,framerate=30/1 ! latestframe name=lf "
      "! videoconvert ! cvmotion ! fakesink name=sink";

/* Flushes a PLAYING pipeline: by flush events, which the pipeline sends
 * to its source (as an application does to drop what is queued; running
 * time goes on), or by a flushing seek (as a player does; running time
 * starts again). */
bool
flush (GstElement *pipeline, bool by_seek)
{
  if (by_seek)
    return gst_element_seek_simple (pipeline, GST_FORMAT_TIME,
                                    GST_SEEK_FLAG_FLUSH, 0);
  return gst_element_send_event (pipeline, gst_event_new_flush_start ())
         && gst_element_send_event (pipeline, gst_event_new_flush_stop (FALSE));
}

/* Steps:
 * 1. Build the live 30 fps load and see frames reach the sink.
 * 2. Cycle through state changes, each pattern ending in PLAYING, some
 *    through READY and NULL, each waited for; at each PLAYING, wait for a
 *    new frame at the sink. A pattern starts just as latestframe pushes a
 *    frame, so that it races the frame through the analysis.
 * 3. After each PLAYING, flush as many times as keeps the flushes in
 *    proportion (events and flushing seeks by turns), each just as
 *    latestframe pushes a frame, waiting for a frame at the sink after
 *    each.
 * 4. Read latestframe's stats while still PLAYING.
 * Invariant: every change completes and frames flow after it; no bus
 * error; the stats count every frame and survive the state changes. */
fault_row
run_state_changes (const fault_settings &settings, const std::string &)
{
  fault_row row;
  const log_tally logged;
  const std::uint64_t changes_asked = settings.full ? 1000 : 50;
  const std::uint64_t flushes_asked = settings.full ? 500 : 25;
  /* Each pattern ends in PLAYING, where recovery is seen. */
  const std::vector<std::vector<GstState>> patterns = {
    { GST_STATE_PAUSED, GST_STATE_PLAYING },
    { GST_STATE_PAUSED, GST_STATE_READY, GST_STATE_PAUSED, GST_STATE_PLAYING },
    { GST_STATE_READY, GST_STATE_PLAYING },
    { GST_STATE_NULL, GST_STATE_PLAYING },
    { GST_STATE_PAUSED, GST_STATE_READY, GST_STATE_NULL, GST_STATE_READY,
      GST_STATE_PAUSED, GST_STATE_PLAYING },
  };

  {
    live_load load (state_change_launch);
    if (!load.problem ().empty ())
      {
        row.note = "FAIL: " + load.problem ();
        return row;
      }
    if (!load.change_state (GST_STATE_PLAYING) || !load.frames_flow ())
      {
        row.note = "FAIL: no frames at the start; " + bus_summary (load.bus ());
        return row;
      }
    row.rss_start_kb = rss_kb ();

    std::uint64_t changes = 0, changes_recovered = 0;
    std::uint64_t flushes = 0, flushes_recovered = 0, seeks_refused = 0;
    std::uint64_t unrecovered_in_a_row = 0;
    std::string first_failure;
    for (std::size_t cycle = 0;
         changes < changes_asked && unrecovered_in_a_row < 3; cycle++)
      {
        const std::vector<GstState> &pattern
            = patterns[cycle % patterns.size ()];
        std::uint64_t completed = 0;
        load.wait_mid_flow ();
        for (GstState target : pattern)
          {
            changes++;
            if (load.change_state (target))
              completed++;
            else if (first_failure.empty ())
              first_failure = std::string ("change to ")
                              + gst_element_state_get_name (target)
                              + " did not complete";
          }
        /* The pattern ended in PLAYING: its changes recovered if frames
         * flow now. */
        if (completed == pattern.size () && load.frames_flow ())
          {
            changes_recovered += completed;
            unrecovered_in_a_row = 0;
          }
        else
          {
            unrecovered_in_a_row++;
            if (first_failure.empty ())
              first_failure = "no frames after cycle " + std::to_string (cycle);
            continue;
          }
        while (flushes < flushes_asked
               && flushes * changes_asked < changes * flushes_asked)
          {
            const bool by_seek = flushes % 2 == 1;
            flushes++;
            load.wait_mid_flow ();
            const bool flushed = flush (load.pipeline (), by_seek);
            if (!flushed && by_seek)
              seeks_refused++;
            if (flushed && load.frames_flow ())
              flushes_recovered++;
            else if (first_failure.empty ())
              first_failure
                  = std::string (by_seek ? "flushing seek" : "flush") + " "
                    + std::to_string (flushes)
                    + (flushed ? ": no frames after it" : ": refused");
          }
      }

    row.repetitions = changes + flushes;
    row.recovered = changes_recovered + flushes_recovered;
    row.analysed = load.at_sink ().seen_approx ().count;
    row.rss_end_kb = rss_kb ();
    row.counts.add_element (load.latest ());
    row.note = "recovered = the change completed (within "
               + std::to_string (recovery_bound.count () / 1000)
               + " s) and frames reached the sink at the next PLAYING, or "
                 "frames reached it after the flush; "
               + std::to_string (changes) + " state changes (some through "
               + "NULL), " + std::to_string (flushes)
               + " flushes (flush events and flushing seeks by turns), each "
                 "pattern and flush started as latestframe pushed a frame";
    if (unrecovered_in_a_row >= 3)
      append (row.note, "stopped after 3 cycles without frames");
    if (seeks_refused > 0)
      append (row.note,
              std::to_string (seeks_refused) + " flushing seeks refused");
    if (!first_failure.empty ())
      append (row.note, "first failure: " + first_failure);
    if (row.counts.pushed >= row.analysed)
      append (row.note, "stats kept across states (pushed "
                            + std::to_string (row.counts.pushed)
                            + " >= frames at the sink "
                            + std::to_string (row.analysed) + ")");
    finish_note (row, load.bus ());
  }
  append (row.note, logged.summary ());
  return row;
}

/* ---- property-storm -------------------------------------------------- */

/* 320x240 rather than 640x480: at the slowest settings the storm uses
 * (cvpeopledetect win-stride=1 scale=1.01) a 640x480 frame takes about 7 s
 * on two cores (320x240: 4.5 s), and the storm would run with the flow
 * stalled most of the time instead of racing it. */
const char *const storm_launch
    = "videotestsrc is-live=true pattern=ball ! "
      "video/x-raw,width=320,height=240,framerate=30/1 ! latestframe name=lf "
      "! videoconvert ! cvmotion ! cvfacedetect ! cvpeopledetect ! cvqrdecode "
      "! cvoverlay ! fakesink name=sink";

constexpr std::uint32_t storm_seed = 20150115;

/* Meaningful values of the string properties we know; any other string
 * property is not set (its valid values are unknown). */
std::vector<const char *>
known_strings (const char *property)
{
  if (std::strcmp (property, "memory-budget") == 0)
    return { "a", "b", "" };
  return {};
}

/* Whether the storm may set `pspec` while PLAYING: writable after
 * construction, and documented as changeable in PLAYING. That leaves out
 * cvfacedetect's cascade (READY: loaded at READY->PAUSED), and the base
 * classes' name, parent and qos. latestframe's delivery is in: on request
 * with no reader, the analysis gets nothing until it goes back to push
 * (the mode-switches fault adds a reader). */
bool
storm_may_set (GParamSpec *pspec)
{
  const GParamFlags flags = pspec->flags;
  if (!(flags & G_PARAM_WRITABLE) || (flags & G_PARAM_CONSTRUCT_ONLY)
      || !(flags & GST_PARAM_MUTABLE_PLAYING))
    return false;
  if (G_PARAM_SPEC_VALUE_TYPE (pspec) == G_TYPE_STRING)
    return !known_strings (pspec->name).empty ();
  return true;
}

/* A random integer in [minimum, maximum], biased towards where limits
 * bite: the edges, small values, and powers of two (every scale of a
 * nanosecond or byte limit). */
template <typename T>
T
biased_integer (std::mt19937 &random, T minimum, T maximum)
{
  /* Offsets from the minimum, in unsigned arithmetic: a signed full range
   * would overflow. */
  const std::uint64_t span = static_cast<std::uint64_t> (maximum)
                             - static_cast<std::uint64_t> (minimum);
  std::uint64_t offset = 0;
  switch (std::uniform_int_distribution<int> (0, 4) (random))
    {
    case 0:
      break;
    case 1:
      offset = span;
      break;
    case 2:
      offset = std::uniform_int_distribution<std::uint64_t> (
          0, std::min<std::uint64_t> (span, 16)) (random);
      break;
    case 3:
      offset = std::min<std::uint64_t> (
          span, std::uint64_t{ 1 }
                    << std::uniform_int_distribution<int> (0, 63) (random));
      break;
    default:
      offset = std::uniform_int_distribution<std::uint64_t> (0, span) (random);
      break;
    }
  return static_cast<T> (static_cast<std::uint64_t> (minimum) + offset);
}

double
biased_double (std::mt19937 &random, double minimum, double maximum)
{
  switch (std::uniform_int_distribution<int> (0, 3) (random))
    {
    case 0:
      return minimum;
    case 1:
      return maximum;
    case 2:
      return minimum
             + std::uniform_real_distribution<double> (0, (maximum - minimum)
                                                              / 100) (random);
    default:
      return std::uniform_real_distribution<double> (minimum, maximum) (random);
    }
}

/* Fills `value` (initialised to the pspec's type) with a random valid
 * value for `pspec`. */
void
random_value (std::mt19937 &random, GParamSpec *pspec, GValue *value)
{
  const GType type = G_PARAM_SPEC_VALUE_TYPE (pspec);
  if (G_IS_PARAM_SPEC_INT (pspec))
    {
      auto *spec = G_PARAM_SPEC_INT (pspec);
      g_value_set_int (value,
                       biased_integer (random, spec->minimum, spec->maximum));
    }
  else if (G_IS_PARAM_SPEC_UINT (pspec))
    {
      auto *spec = G_PARAM_SPEC_UINT (pspec);
      g_value_set_uint (value,
                        biased_integer (random, spec->minimum, spec->maximum));
    }
  else if (G_IS_PARAM_SPEC_INT64 (pspec))
    {
      auto *spec = G_PARAM_SPEC_INT64 (pspec);
      g_value_set_int64 (
          value, biased_integer<gint64> (random, spec->minimum, spec->maximum));
    }
  else if (G_IS_PARAM_SPEC_UINT64 (pspec))
    {
      auto *spec = G_PARAM_SPEC_UINT64 (pspec);
      g_value_set_uint64 (value, biased_integer<guint64> (random, spec->minimum,
                                                          spec->maximum));
    }
  else if (G_IS_PARAM_SPEC_DOUBLE (pspec))
    {
      auto *spec = G_PARAM_SPEC_DOUBLE (pspec);
      g_value_set_double (value, biased_double (random, spec->minimum,
                                                spec->maximum));
    }
  else if (G_IS_PARAM_SPEC_BOOLEAN (pspec))
    g_value_set_boolean (value, std::bernoulli_distribution () (random));
  else if (G_IS_PARAM_SPEC_ENUM (pspec))
    {
      GEnumClass *klass = G_PARAM_SPEC_ENUM (pspec)->enum_class;
      g_value_set_enum (value,
                        klass
                            ->values[std::uniform_int_distribution<guint> (
                                0, klass->n_values - 1) (random)]
                            .value);
    }
  else if (G_IS_PARAM_SPEC_FLAGS (pspec))
    {
      GFlagsClass *klass = G_PARAM_SPEC_FLAGS (pspec)->flags_class;
      guint flags = 0;
      for (guint i = 0; i < klass->n_values; i++)
        if (std::bernoulli_distribution () (random))
          flags |= klass->values[i].value;
      g_value_set_flags (value, flags);
    }
  else if (type == G_TYPE_STRING)
    {
      const std::vector<const char *> strings = known_strings (pspec->name);
      g_value_set_string (value,
                          strings[std::uniform_int_distribution<std::size_t> (
                              0, strings.size () - 1) (random)]);
    }
  else
    g_param_value_set_default (pspec, value);
}

/* One element of ours and the properties the storm sets on it. */
struct storm_target
{
  object_ptr<GstElement> element;
  std::string factory;
  std::vector<GParamSpec *> properties;
};

/* Steps:
 * 1. Build the live load with every element of ours and see frames flow.
 * 2. N times: a random one of our elements, a random property of it that
 *    may change in PLAYING, a random valid value (fixed seed), at random
 *    intervals of 0-4 ms (the storm's pace, not a wait).
 * 3. Set latestframe's properties back to their defaults; wait for a frame
 *    that left latestframe after that to reach the sink.
 * Invariant: no bus error, no critical, frames flow again. */
fault_row
run_property_storm (const fault_settings &settings, const std::string &)
{
  fault_row row;
  const log_tally logged;
  const std::uint64_t sets_asked = settings.full ? 10000 : 300;

  {
    live_load load (storm_launch);
    if (!load.problem ().empty ())
      {
        row.note = "FAIL: " + load.problem ();
        return row;
      }
    std::vector<storm_target> targets;
    std::set<std::string> not_set;
    for (object_ptr<GstElement> &element : load.our_elements ())
      {
        storm_target target;
        guint n = 0;
        GParamSpec **specs = g_object_class_list_properties (
            G_OBJECT_GET_CLASS (element.get ()), &n);
        const std::string factory
            = GST_OBJECT_NAME (gst_element_get_factory (element.get ()));
        for (guint i = 0; i < n; i++)
          if (storm_may_set (specs[i]))
            target.properties.push_back (specs[i]);
          else if ((specs[i]->flags & G_PARAM_WRITABLE)
                   && specs[i]->owner_type != GST_TYPE_OBJECT)
            not_set.insert (factory + "." + specs[i]->name);
        g_free (specs);
        if (target.properties.empty ())
          not_set.insert (factory + " (nothing to set)");
        else
          {
            target.element = std::move (element);
            target.factory = factory;
            targets.push_back (std::move (target));
          }
      }
    if (targets.empty ())
      {
        row.note = "FAIL: no property of ours to set";
        return row;
      }
    if (!load.change_state (GST_STATE_PLAYING) || !load.frames_flow ())
      {
        row.note = "FAIL: no frames at the start; " + bus_summary (load.bus ());
        return row;
      }
    row.rss_start_kb = rss_kb ();

    std::mt19937 random (storm_seed);
    std::uint64_t sets = 0;
    for (; sets < sets_asked; sets++)
      {
        const storm_target &target
            = targets[std::uniform_int_distribution<std::size_t> (
                0, targets.size () - 1) (random)];
        GParamSpec *pspec
            = target.properties[std::uniform_int_distribution<std::size_t> (
                0, target.properties.size () - 1) (random)];
        scoped_value value (G_PARAM_SPEC_VALUE_TYPE (pspec));
        random_value (random, pspec, value.get ());
        g_object_set_property (G_OBJECT (target.element.get ()), pspec->name,
                               value.get ());
        std::this_thread::sleep_for (std::chrono::microseconds (
            std::uniform_int_distribution<int> (0, 4000) (random)));
      }
    const std::uint64_t frames_in_storm = load.at_sink ().seen_approx ().count;

    /* Back to latestframe's defaults; the cv elements keep their last
     * random settings, so the frames show those pass too. */
    for (const storm_target &target : targets)
      if (target.element.get () == load.latest ())
        for (GParamSpec *pspec : target.properties)
          {
            scoped_value value (G_PARAM_SPEC_VALUE_TYPE (pspec));
            g_param_value_set_default (pspec, value.get ());
            g_object_set_property (G_OBJECT (load.latest ()), pspec->name,
                                   value.get ());
          }
    /* Recovered: a frame latestframe pushed after the reset reaches the
     * sink (not one already on its way through the cv elements). */
    const auto reset_at = steady_clock::now ();
    const std::uint64_t pushed_before = load.latest_out ().seen_approx ().count;
    bool recovered = false;
    if (load.latest_out ().wait_for_more_than (pushed_before, recovery_bound))
      {
        const GstClockTime pushed_after
            = load.latest_out ().seen_approx ().newest_pts;
        recovered = load.at_sink ().wait_until (
            [pushed_after] (const frames_seen &seen) {
              return seen.newest_pts != GST_CLOCK_TIME_NONE
                     && seen.newest_pts >= pushed_after;
            },
            recovery_bound * 3);
      }
    const auto recovery_ms = std::chrono::duration_cast<milliseconds> (
                                 steady_clock::now () - reset_at)
                                 .count ();

    row.repetitions = sets;
    /* Every set was survived when frames flow again at the end. */
    row.recovered = recovered ? sets : 0;
    row.analysed = load.at_sink ().seen_approx ().count;
    row.rss_end_kb = rss_kb ();
    row.counts.add_element (load.latest ());
    std::string targeted;
    for (const storm_target &target : targets)
      {
        targeted += targeted.empty () ? "" : ", ";
        targeted += target.factory + " "
                    + std::to_string (target.properties.size ());
      }
    std::string skipped;
    for (const std::string &name : not_set)
      skipped += (skipped.empty () ? "" : ", ") + name;
    row.note
        = "seed " + std::to_string (storm_seed) + ", " + std::to_string (sets)
          + " sets at 0-4 ms intervals, " + std::to_string (frames_in_storm)
          + " frames at the sink during the storm (320x240); "
            "properties set (per element): "
          + targeted + "; not set: " + skipped
          + "; recovered = after latestframe's defaults, a frame it "
            "pushed reached the sink ("
          + (recovered
                 ? "in " + std::to_string (recovery_ms) + " ms"
                 : "FAIL: not within " + std::to_string (recovery_ms) + " ms")
          + ")";
    finish_note (row, load.bus ());
  }
  append (row.note, logged.summary ());
  return row;
}

/* ---- mode-switches --------------------------------------------------- */

/* The setup that once hung (issue 23): a live source, latestframe, and a
 * consumer slower than a frame (identity, 20 ms). The sink does not
 * preroll (async=false): under settings that drop every frame (a max-age
 * of 1 ns, a budget of 4 bytes) a prerolling sink never completes a state
 * change, as behind `valve drop=true`, and the flips would wait for it. */
const char *const mode_switch_launch
    = "videotestsrc is-live=true ! "
      "video/x-raw,width=160,height=120,framerate=30/1 ! latestframe name=lf "
      "! identity sleep-time=20000 ! fakesink name=sink async=false";

/* How long the end of the stream may take after the last change: a failure
 * bound, not a figure (it takes a few ms). The issue's. */
constexpr milliseconds eos_bound{ 5000 };

/* Warnings latestframe posts on purpose for some of the settings a storm
 * makes (no limit at all, a max-age below the pipeline's latency, a budget
 * smaller than a frame): the element doing its job, not a fault. Any other
 * warning is one. */
bool
is_setting_warning (const std::string &text)
{
  static const char *const expected[]
      = { "Memory held by latestframe is unbounded",
          "Frames arrive too old for max-age",
          "A frame is larger than this element's share of the memory budget",
          "max-size-buffers, max-size-bytes and max-size-time are all 0",
          "frames arrive ", "-byte frame arrived, but memory budget" };
  for (const char *known : expected)
    if (text.find (known) != std::string::npos)
      return true;
  return false;
}

/* Counts the GStreamer debug messages at WARNING and above, from any
 * category, while it lives, but the ones `expected` allows; keeps the
 * first. Raises every category below WARNING to it meanwhile (the fault
 * matrix runs at *:1) and puts each back. Create it once the pipeline's
 * elements exist (their categories with them). */
class gst_log_tally
{
public:
  explicit gst_log_tally (std::function<bool (const std::string &)> expected)
      : expected_ (std::move (expected))
  {
    GSList *categories = gst_debug_get_all_categories ();
    for (GSList *each = categories; each; each = each->next)
      {
        auto *category = static_cast<GstDebugCategory *> (each->data);
        if (gst_debug_category_get_threshold (category) < GST_LEVEL_WARNING)
          {
            lowered_.push_back (
                { category, gst_debug_category_get_threshold (category) });
            gst_debug_category_set_threshold (category, GST_LEVEL_WARNING);
          }
      }
    g_slist_free (categories);
    gst_debug_add_log_function (&gst_log_tally::on_log, this, nullptr);
  }
  gst_log_tally (const gst_log_tally &) = delete;
  gst_log_tally &operator= (const gst_log_tally &) = delete;
  ~gst_log_tally ()
  {
    gst_debug_remove_log_function_by_data (this);
    for (const auto &[category, level] : lowered_)
      gst_debug_category_set_threshold (category, level);
  }

  std::uint64_t unexpected () const { return unexpected_; }
  std::string first () const
  {
    std::lock_guard<std::mutex> hold (lock_);
    return first_;
  }

private:
  static void on_log (GstDebugCategory *category, GstDebugLevel level,
                      const gchar *, const gchar *function, gint,
                      GObject *object, GstDebugMessage *message, gpointer data)
  {
    if (level > GST_LEVEL_WARNING)
      return;
    auto *self = static_cast<gst_log_tally *> (data);
    const gchar *text = gst_debug_message_get (message);
    const std::string line
        = std::string (gst_debug_category_get_name (category)) + " "
          + (function ? function : "") + " <"
          + (object && GST_IS_OBJECT (object) ? GST_OBJECT_NAME (object) : "")
          + ">: " + (text ? text : "");
    if (self->expected_ (line))
      return;
    if (self->unexpected_++ == 0)
      {
        std::lock_guard<std::mutex> hold (self->lock_);
        self->first_ = line;
      }
  }

  std::function<bool (const std::string &)> expected_;
  std::vector<std::pair<GstDebugCategory *, GstDebugLevel>> lowered_;
  std::atomic<std::uint64_t> unexpected_{ 0 };
  mutable std::mutex lock_;
  std::string first_;
};

/* An application reading latestframe on request (try-pull-frame), only
 * while the storm has delivery=on-request: switching delivery waits for a
 * pull under way to end (pulls wait 5 ms at most), as an application that
 * owns both the switch and the reading thread would. */
class storm_reader
{
public:
  explicit storm_reader (GstElement *latest)
      : latest_ (latest), thread_ ([this] { run (); })
  {
  }
  storm_reader (const storm_reader &) = delete;
  storm_reader &operator= (const storm_reader &) = delete;
  ~storm_reader () { stop (); }

  void set_delivery (bool on_request)
  {
    std::unique_lock<std::mutex> hold (lock_);
    switching_ = true;
    changed_.wait (hold, [this] { return !pulling_; });
    gst_util_set_object_arg (G_OBJECT (latest_), "delivery",
                             on_request ? "on-request" : "push");
    on_request_ = on_request;
    switching_ = false;
    changed_.notify_all ();
  }

  void stop ()
  {
    {
      std::lock_guard<std::mutex> hold (lock_);
      quit_ = true;
    }
    changed_.notify_all ();
    if (thread_.joinable ())
      thread_.join ();
  }

  std::uint64_t taken () const { return taken_; }

private:
  void run ()
  {
    std::unique_lock<std::mutex> hold (lock_);
    for (;;)
      {
        changed_.wait (hold,
                       [this] { return quit_ || (on_request_ && !switching_); });
        if (quit_)
          return;
        pulling_ = true;
        hold.unlock ();
        GstSample *sample = nullptr;
        g_signal_emit_by_name (latest_, "try-pull-frame", 5 * GST_MSECOND,
                               &sample);
        if (sample)
          {
            taken_++;
            gst_sample_unref (sample);
          }
        hold.lock ();
        pulling_ = false;
        changed_.notify_all ();
      }
  }

  GstElement *latest_;
  std::mutex lock_;
  std::condition_variable changed_;
  bool on_request_ = false;
  bool switching_ = false;
  bool pulling_ = false;
  bool quit_ = false;
  std::atomic<std::uint64_t> taken_{ 0 };
  std::thread thread_;
};

/* Steps:
 * 1. Build the live load and see frames flow; a reader thread waits.
 * 2. N times (short: 400), at random intervals of 0-4 ms (the storm's
 *    pace, not a wait), one of: delivery push or on-request (the reader
 *    pulls while it is on request); leaky no, upstream or downstream;
 *    another writable property of latestframe to a random valid value;
 *    a flushing seek; a PAUSED -> PLAYING flip. Seeded (--seed).
 * 3. delivery=push: the last change. Send EOS to the pipeline from a
 *    second thread, as an application stopping it would.
 * Invariant: EOS reaches the bus within 5 s of the last change (and the
 * application's send_event returns); received == pushed + dropped + held;
 * no GLib critical or warning ("Got data flow before segment event" is
 * one), no GStreamer WARNING or ERROR in the debug log and no warning on
 * the bus but latestframe's own for the settings made, no bus error. */
fault_row
run_mode_switches (const fault_settings &settings, const std::string &)
{
  fault_row row;
  const log_tally logged;
  const std::uint64_t changes_asked = settings.full ? 10000 : 400;
  const std::uint32_t seed = settings.seed ? settings.seed : 1;
  std::uint64_t changes = 0, deliveries = 0, leaky_no = 0, seeks = 0,
                flips = 0, taken = 0;
  long eos_ms = -1;
  std::uint64_t unexpected_logs = 0;
  std::string first_unexpected_log;

  {
    live_load load (mode_switch_launch);
    if (!load.problem ().empty ())
      {
        row.note = "FAIL: " + load.problem ();
        return row;
      }
    GstElement *latest = load.latest ();
    std::vector<GParamSpec *> properties;
    {
      guint n = 0;
      GParamSpec **specs
          = g_object_class_list_properties (G_OBJECT_GET_CLASS (latest), &n);
      for (guint i = 0; i < n; i++)
        if ((specs[i]->flags & G_PARAM_WRITABLE)
            && !(specs[i]->flags & G_PARAM_CONSTRUCT_ONLY)
            && specs[i]->owner_type != GST_TYPE_OBJECT
            && std::strcmp (specs[i]->name, "delivery") != 0
            && (G_PARAM_SPEC_VALUE_TYPE (specs[i]) != G_TYPE_STRING
                || !known_strings (specs[i]->name).empty ()))
          properties.push_back (specs[i]);
      g_free (specs);
    }
    /* basesrc warns of the second copy of a flushing seek when latestframe
     * is on request: the pipeline sends a seek to each of its sinks, and
     * on request latestframe is one (it posts EOS as a sink does), while
     * in this storm its src pad stays linked to the other. */
    const gst_log_tally gst_logged ([] (const std::string &line) {
      return (line.rfind ("latestframe ", 0) == 0 && is_setting_warning (line))
             || (line.rfind ("basesrc gst_base_src_perform_seek ", 0) == 0
                 && line.find ("duplicate event found") != std::string::npos);
    });
    if (!load.change_state (GST_STATE_PLAYING) || !load.frames_flow ())
      {
        row.note = "FAIL: no frames at the start; " + bus_summary (load.bus ());
        return row;
      }
    row.rss_start_kb = rss_kb ();

    storm_reader reader (latest);
    std::mt19937 random (seed);
    auto roll = [&random] (int low, int high) {
      return std::uniform_int_distribution<int> (low, high) (random);
    };
    for (; changes < changes_asked; changes++)
      {
        const int what = roll (0, 99);
        if (what < 20)
          {
            reader.set_delivery (roll (0, 1) == 1);
            deliveries++;
          }
        else if (what < 35)
          {
            static const char *const leaky[] = { "no", "upstream", "downstream" };
            const int pick = roll (0, 2);
            gst_util_set_object_arg (G_OBJECT (latest), "leaky", leaky[pick]);
            leaky_no += pick == 0;
          }
        else if (what < 85)
          {
            GParamSpec *pspec = properties[std::uniform_int_distribution<
                std::size_t> (0, properties.size () - 1) (random)];
            scoped_value value (G_PARAM_SPEC_VALUE_TYPE (pspec));
            random_value (random, pspec, value.get ());
            g_object_set_property (G_OBJECT (latest), pspec->name,
                                   value.get ());
          }
        else if (what < 93)
          {
            gst_element_seek_simple (load.pipeline (), GST_FORMAT_TIME,
                                     GST_SEEK_FLAG_FLUSH, 0);
            seeks++;
          }
        else
          {
            load.change_state (GST_STATE_PAUSED);
            load.change_state (GST_STATE_PLAYING);
            flips++;
          }
        std::this_thread::sleep_for (
            std::chrono::microseconds (roll (0, 4000)));
      }
    reader.set_delivery (false);
    const auto last_change = steady_clock::now ();
    reader.stop ();
    taken = reader.taken ();

    /* The EOS message can reach the bus before the sender's call returns
     * (the sink posts it from the streaming thread), so the sender gets
     * what is left of the same bound to return: a call blocked behind a
     * stream lock still fails, a thread not yet scheduled does not. */
    std::promise<void> sent;
    std::future<void> returned_future = sent.get_future ();
    const std::uint64_t eos_before = load.bus ().eos_count ();
    std::thread stopper ([&load, &sent] {
      gst_element_send_event (load.pipeline (), gst_event_new_eos ());
      sent.set_value ();
    });
    const bool eos = load.bus ().wait_for_eos_after (eos_before, eos_bound);
    eos_ms = std::chrono::duration_cast<milliseconds> (steady_clock::now ()
                                                       - last_change)
                 .count ();
    const bool returned
        = returned_future.wait_until (last_change + eos_bound)
          == std::future_status::ready;
    row.counts.add_element (latest);
    row.analysed = load.at_sink ().seen_approx ().count;
    /* A sender still blocked is released by the stop. */
    load.change_state (GST_STATE_NULL);
    stopper.join ();

    row.repetitions = changes;
    row.recovered = eos && returned ? changes : 0;
    row.rss_end_kb = rss_kb ();
    row.note = "seed " + std::to_string (seed) + ", "
               + std::to_string (changes) + " changes at 0-4 ms intervals ("
               + std::to_string (deliveries) + " of delivery, "
               + std::to_string (leaky_no) + " to leaky=no, "
               + std::to_string (seeks) + " flushing seeks, "
               + std::to_string (flips) + " PAUSED/PLAYING flips), "
               + std::to_string (taken)
               + " frames taken on request; recovered = EOS on the bus "
               + (eos ? "in " + std::to_string (eos_ms) + " ms"
                      : "FAIL: not within " + std::to_string (eos_ms) + " ms")
               + " of the last change"
               + (returned ? "" : " (FAIL: send_event had not returned)");
    const std::string warned = load.bus ().first_warning_but (is_setting_warning);
    if (!warned.empty ())
      append (row.note, "FAIL: bus warning " + warned);
    finish_note (row, load.bus ());
    unexpected_logs = gst_logged.unexpected ();
    first_unexpected_log = gst_logged.first ();
  }
  if (unexpected_logs > 0)
    append (row.note, "FAIL: " + std::to_string (unexpected_logs)
                          + " GStreamer warnings or errors logged (first: "
                          + first_unexpected_log + ")");
  if (logged.warnings () > 0)
    append (row.note, "FAIL: g_warnings logged");
  append (row.note, logged.summary ());
  return row;
}

/* ---- bad-input ------------------------------------------------------- */

const char *const good_caps
    = "video/x-raw,format=BGR,width=320,height=240,framerate=30/1";
constexpr GstClockTime frame_duration = GST_SECOND / 30;

/* One element in a GstHarness, with a bus of its own (tallied) and the
 * buffers it pushes out counted; the harness drops them. */
class harnessed_element
{
public:
  explicit harnessed_element (const char *factory)
      : tally_ (gst_bus_new ()), harness_ (gst_harness_new (factory))
  {
    gst_element_set_bus (harness_->element, tally_.bus ());
    gst_harness_set_drop_buffers (harness_.get (), TRUE);
    out_ = std::make_unique<frame_counter> (
        GST_PAD (gst_object_ref (harness_->sinkpad)));
  }
  harnessed_element (const harnessed_element &) = delete;
  harnessed_element &operator= (const harnessed_element &) = delete;
  /* The element stops before the counter's probe and the bus handler go. */
  ~harnessed_element ()
  {
    gst_element_set_bus (harness_->element, nullptr);
    harness_.reset ();
  }

  GstElement *element () const { return harness_->element; }
  const bus_tally &bus () const { return tally_; }
  const frame_counter &out () const { return *out_; }

  bool send_caps (const char *caps_text)
  {
    GstCaps *caps = gst_caps_from_string (caps_text);
    GstEvent *event = gst_event_new_caps (caps);
    gst_caps_unref (caps);
    return gst_harness_push_event (harness_.get (), event);
  }
  bool send_segment (GstFormat format)
  {
    GstSegment segment;
    gst_segment_init (&segment, format);
    return gst_harness_push_event (harness_.get (),
                                   gst_event_new_segment (&segment));
  }
  bool send_event (GstEvent *event)
  {
    return gst_harness_push_event (harness_.get (), event);
  }

  /* Pushes a frame of `size` bytes (mid grey) with one region of interest
   * on it, so that cvoverlay draws (and maps) it too. */
  GstFlowReturn push_frame (gsize size, GstClockTime pts, guint64 serial)
  {
    GstBuffer *buffer = gst_buffer_new_allocate (nullptr, size, nullptr);
    if (size > 0)
      gst_buffer_memset (buffer, 0, 0x80, size);
    GST_BUFFER_PTS (buffer) = pts;
    GST_BUFFER_DTS (buffer) = GST_CLOCK_TIME_NONE;
    GST_BUFFER_DURATION (buffer)
        = GST_CLOCK_TIME_IS_VALID (pts) ? frame_duration : GST_CLOCK_TIME_NONE;
    GST_BUFFER_OFFSET (buffer) = serial;
    gst_buffer_add_video_region_of_interest_meta (buffer, "fault", 10, 10, 40,
                                                  40);
    return gst_harness_push (harness_.get (), buffer);
  }

  /* A good stream again (caps, a TIME segment) and a good frame, marked by
   * the next serial; whether it came out. */
  bool good_frame_passes ()
  {
    GstVideoInfo info;
    GstCaps *caps = gst_caps_from_string (good_caps);
    gst_video_info_from_caps (&info, caps);
    gst_caps_unref (caps);
    send_caps (good_caps);
    send_segment (GST_FORMAT_TIME);
    const guint64 serial = ++good_frames_in_;
    push_frame (GST_VIDEO_INFO_SIZE (&info), next_pts (), serial);
    const bool passed = out_->wait_until (
        [serial] (const frames_seen &seen) {
          return seen.newest_offset != GST_BUFFER_OFFSET_NONE
                 && seen.newest_offset >= serial;
        },
        recovery_bound);
    if (passed)
      good_frames_out_++;
    return passed;
  }

  /* Timestamps go on growing across the cases. */
  GstClockTime next_pts () { return (pts_frames_++) * frame_duration; }
  /* Good frames that came out (only they count as analysed). */
  std::uint64_t good_frames_out () const { return good_frames_out_; }

private:
  /* Destroyed in reverse, after the destructor stopped the element. */
  bus_tally tally_;
  harness_ptr harness_;
  std::unique_ptr<frame_counter> out_;
  guint64 good_frames_in_ = 0;
  std::uint64_t good_frames_out_ = 0;
  guint64 pts_frames_ = 0;
};

/* One kind of bad input: does it to the element, and says what the element
 * answered when that is worth a note ("" when it took it quietly). */
struct bad_case
{
  const char *name;
  std::function<std::string (harnessed_element &)> inflict;
};

std::string
answered (bool event_handled, GstFlowReturn flow)
{
  std::string text;
  if (!event_handled)
    text = "event refused";
  if (flow != GST_FLOW_OK)
    text += (text.empty () ? "" : ", ") + std::string ("push ")
            + gst_flow_get_name (flow);
  return text;
}

std::vector<bad_case>
bad_cases ()
{
  return {
    { "caps-audio",
      [] (harnessed_element &h) {
        const bool handled = h.send_caps (
            "audio/x-raw,format=S16LE,layout=interleaved,rate=48000,"
            "channels=1");
        return answered (handled, h.push_frame (1920, h.next_pts (),
                                                GST_BUFFER_OFFSET_NONE));
      } },
    { "caps-format",
      [] (harnessed_element &h) {
        /* A packed 4:2:2 format none of the cv elements takes. */
        const bool handled = h.send_caps (
            "video/x-raw,format=YUY2,width=320,height=240,framerate=30/1");
        return answered (handled, h.push_frame (320 * 240 * 2, h.next_pts (),
                                                GST_BUFFER_OFFSET_NONE));
      } },
    { "caps-incomplete",
      [] (harnessed_element &h) {
        /* Fixed, but no height: no frame size can be known. */
        const bool handled
            = h.send_caps ("video/x-raw,format=BGR,width=320,framerate=30/1");
        return answered (handled, h.push_frame (320 * 240 * 3, h.next_pts (),
                                                GST_BUFFER_OFFSET_NONE));
      } },
    { "zero-size",
      [] (harnessed_element &h) {
        return answered (
            true, h.push_frame (0, h.next_pts (), GST_BUFFER_OFFSET_NONE));
      } },
    { "no-timestamps",
      [] (harnessed_element &h) {
        return answered (true, h.push_frame (320 * 240 * 3, GST_CLOCK_TIME_NONE,
                                             GST_BUFFER_OFFSET_NONE));
      } },
    { "bytes-segment",
      [] (harnessed_element &h) {
        const bool handled = h.send_segment (GST_FORMAT_BYTES);
        return answered (handled, h.push_frame (320 * 240 * 3, h.next_pts (),
                                                GST_BUFFER_OFFSET_NONE));
      } },
    { "short-frame",
      [] (harnessed_element &h) {
        /* 320x240 BGR caps claim 230400 bytes. */
        return answered (
            true, h.push_frame (100, h.next_pts (), GST_BUFFER_OFFSET_NONE));
      } },
    { "gap",
      [] (harnessed_element &h) {
        bool handled
            = h.send_event (gst_event_new_gap (h.next_pts (), frame_duration));
        handled = h.send_event (
                      gst_event_new_gap (h.next_pts (), GST_CLOCK_TIME_NONE))
                  && handled;
        return answered (handled, GST_FLOW_OK);
      } },
    { "tiny-frame",
      [] (harnessed_element &h) {
        /* Valid, but smaller than any detector's window (and than the
         * region drawn on it): one pixel, rows padded to 4 bytes. */
        const bool handled = h.send_caps (
            "video/x-raw,format=BGR,width=1,height=1,framerate=30/1");
        return answered (
            handled, h.push_frame (4, h.next_pts (), GST_BUFFER_OFFSET_NONE));
      } },
  };
}

/* Steps, for one element in a harness:
 * 1. A good stream (caps, TIME segment) and a good frame: it comes out.
 * 2. For each bad case: the bad input, then a good stream and a good frame
 *    again; the case recovered if that frame came out.
 * Invariant: no crash, abort or hang; no critical; a good frame passes
 * after each case. An element error is an acceptable answer to bad input
 * (the note names the cases that posted one). */
fault_row
run_bad_input (const fault_settings &, const std::string &shape)
{
  fault_row row;
  const log_tally logged;
  object_ptr<GstElementFactory> factory (
      gst_element_factory_find (shape.c_str ()));
  if (!factory)
    {
      row.note = "FAIL: no element " + shape + " (GST_PLUGIN_PATH?)";
      return row;
    }

  {
    harnessed_element h (shape.c_str ());
    if (!h.good_frame_passes ())
      {
        row.note = "FAIL: a good frame did not pass before any bad input; "
                   + bus_summary (h.bus ());
        return row;
      }
    std::string answers, posted_errors, unrecovered;
    for (const bad_case &bad : bad_cases ())
      {
        const std::uint64_t errors_before = h.bus ().errors ();
        const std::uint64_t criticals_before = logged.criticals ();
        const std::string answer = bad.inflict (h);
        const bool error_posted = h.bus ().errors () > errors_before;
        row.repetitions++;
        if (h.good_frame_passes ())
          row.recovered++;
        else
          unrecovered
              += (unrecovered.empty () ? "" : ", ") + std::string (bad.name);
        if (error_posted)
          posted_errors
              += (posted_errors.empty () ? "" : ", ") + std::string (bad.name);
        std::string what = answer;
        if (logged.criticals () > criticals_before)
          what += (what.empty () ? "" : ", ") + std::string ("CRITICAL");
        if (!what.empty ())
          answers += (answers.empty () ? "" : "; ") + std::string (bad.name)
                     + ": " + what;
      }
    if (shape == "latestframe")
      row.counts.add_element (h.element ());
    row.analysed = h.good_frames_out ();

    row.note = "recovered = a good caps, segment and frame passed after the "
               "case; cases: caps-audio, caps-format (YUY2), caps-incomplete "
               "(no height), zero-size, no-timestamps, bytes-segment, "
               "short-frame (100 bytes for 320x240 BGR), gap (with and "
               "without duration), tiny-frame (1x1)";
    append (row.note, "answers: " + (answers.empty () ? "none" : answers));
    append (row.note, "errors posted by: "
                          + (posted_errors.empty () ? "none" : posted_errors));
    if (!unrecovered.empty ())
      append (row.note, "FAIL: not recovered after " + unrecovered);
    if (shape == "latestframe")
      check_counts (row);
    append (row.note, bus_summary (h.bus ()));
  }
  append (row.note, logged.summary ());
  if (logged.criticals () > 0)
    row.note = "FAIL (criticals): " + row.note;
  return row;
}

} // namespace

std::vector<fault>
element_faults ()
{
  std::vector<std::string> bad_input_shapes (std::begin (our_elements),
                                             std::end (our_elements));
  return {
    { "state-changes",
      { "launch" },
      run_state_changes,
      "1000 state changes (some through NULL) and 500 flushes of a live 30 "
      "fps load (short: 50 and 25)" },
    { "property-storm",
      { "launch" },
      run_property_storm,
      "10,000 random valid values (short: 300) set on our elements' "
      "properties while PLAYING under a live load" },
    { "mode-switches",
      { "launch" },
      run_mode_switches,
      "delivery switched between push and on-request (a reader pulling), "
      "leaky=no and back, every other property of latestframe at random, "
      "flushing seeks and PAUSED/PLAYING flips: 10,000 changes (short: "
      "400); EOS within 5 s of the last" },
    { "bad-input", bad_input_shapes, run_bad_input,
      "refused caps, empty, short and untimed buffers, a BYTES segment, GAP "
      "events, a 1x1 frame, each followed by a good frame (GstHarness)" },
  };
}

} // namespace latestframe::faults
