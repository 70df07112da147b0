/* latestframe — "always the newest frame" capture for applications.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The public class: options, read() and the figures. What it stands on:
 *   source.h      what to build for a URI, a device or a description
 *   session.h     one connection's pipeline, ending in latestframe
 *                 delivery=on-request, which hands read() the newest frame
 *   supervisor.h  states, reconnection, the stall watchdog (its own thread)
 *   frame.h       the frame taken, converted to the reader's format, as a
 *                 cv::Mat that shares its memory
 * and, with an analysis, the newest analysed frame (last_analysed()).
 */
#include "latestframe/capture.h"

#include "frame.h"
#include "frameinfometa.h"
#include "region_boxes.h"
#include "supervisor.h"

#include <gst/video/video.h>

#include <thread>

namespace latestframe
{

const char *
to_string (capture_state state)
{
  switch (state)
    {
    case capture_state::closed:
      return "closed";
    case capture_state::connecting:
      return "connecting";
    case capture_state::streaming:
      return "streaming";
    case capture_state::reconnecting:
      return "reconnecting";
    case capture_state::ended:
      return "ended";
    }
  return "unknown";
}

namespace
{

using clock = std::chrono::steady_clock;

/* A year stands for "for ever" without overflowing the clock. */
clock::time_point
deadline_after (std::chrono::milliseconds timeout)
{
  return clock::now ()
         + std::min<std::chrono::milliseconds> (timeout,
                                                std::chrono::hours (24 * 365));
}

bool
is_over (capture_state state)
{
  return state == capture_state::closed || state == capture_state::ended;
}

} // namespace

struct capture::impl
{
  detail::capture_shared shared;
  capture_options options;
  const detail::mat_format *format = nullptr;
  std::thread supervisor;
  /* The reader's (read() is called from one thread at a time). */
  std::unique_ptr<detail::frame_converter> converter;

  /* The current session's newest analysed sample (null when none), and
   * that session in `from`, for its sequence base and clock. A call, so
   * with options.last_analysed_kept_for the frames analysed from now on
   * are kept again if they were not: this call then has none (a frame the
   * sink stored as it was let go of is not the newest). */
  detail::sample_ptr
  last_analysed_sample (std::shared_ptr<detail::session> &from)
  {
    {
      checked_lock guard (shared.lock);
      from = shared.current;
      shared.last_analysed_asked = clock::now ();
      if (!shared.keeping_last_analysed)
        {
          shared.keeping_last_analysed = true;
          if (from)
            from->keep_last_analysed (true);
          return nullptr;
        }
    }
    return from ? from->last_analysed () : nullptr;
  }

  /* What read() returned. */
  std::uint64_t returned_sequence LF_GUARDED_BY (shared.lock) = 0;
  std::uint64_t returned LF_GUARDED_BY (shared.lock) = 0;
  std::uint64_t skipped LF_GUARDED_BY (shared.lock) = 0;
  std::uint64_t copied LF_GUARDED_BY (shared.lock) = 0;

  /* With no supervisor running: everything as new. False, with last_error
   * set, for options that cannot work. */
  bool start_over (capture_options new_options) LF_REQUIRES (shared.lock)
  {
    format = detail::find_mat_format (new_options.format);
    options = std::move (new_options);
    options.backoff_initial
        = std::max (options.backoff_initial, std::chrono::milliseconds (1));
    options.backoff_max
        = std::max (options.backoff_max, options.backoff_initial);
    shared.state = capture_state::closed;
    shared.closing = false;
    shared.last_error.clear ();
    shared.current.reset ();
    shared.connections = shared.reconnects = shared.stalls = 0;
    shared.closed_counts = {};
    /* Kept from the first call on. */
    shared.keeping_last_analysed = options.last_analysed_kept_for.count () <= 0;
    returned_sequence = returned = skipped = copied = 0;
    converter = format ? std::make_unique<detail::frame_converter> (*format)
                       : nullptr;
    if (!format)
      shared.last_error = "unsupported format \"" + options.format + "\" ("
                          + detail::mat_format_names () + ")";
    else if (!detail::are_rtsp_protocols (options.protocols))
      shared.last_error = "unknown RTSP protocols \"" + options.protocols
                          + "\" (tcp, udp, udp-mcast, http, tls, joined by +)";
    return shared.last_error.empty ();
  }

  /* The connection to take a frame from, waiting for one until `deadline`;
   * null when there is none to wait for, or none came in time. */
  std::shared_ptr<detail::session>
  connection_to_read (clock::time_point deadline)
  {
    checked_lock guard (shared.lock);
    for (;;)
      {
        if (shared.closing || is_over (shared.state))
          return nullptr;
        if (shared.current)
          return shared.current;
        if (clock::now () >= deadline)
          return nullptr;
        guard.wait_until (shared.changed, deadline);
      }
  }

  /* The frame taken as a Mat, and what is known of it. Returned or not (a
   * frame that cannot be converted), every frame up to it counts as
   * returned or skipped. */
  bool take (detail::sample_ptr sample, const detail::session &from,
             clock::time_point handed_over, cv::Mat &frame, frame_info *info)
  {
    const GstStructure *about = gst_sample_get_info (sample.get ());
    frame_info taken;
    taken.sequence
        = from.sequence_base () + detail::structure_uint64 (about, "sequence");
    gint64 age = -1;
    gst_structure_get_int64 (about, "age", &age);
    taken.age_ns = age;
    guint64 captured = 0;
    if (gst_structure_get_uint64 (about, "capture-time", &captured))
      taken.capture_time_ns = static_cast<std::int64_t> (captured);
    taken.received
        = handed_over - std::chrono::nanoseconds (std::max<gint64> (age, 0));
    GstBuffer *buffer = gst_sample_get_buffer (sample.get ());
    taken.pts_ns = GST_BUFFER_PTS_IS_VALID (buffer)
                       ? static_cast<std::int64_t> (GST_BUFFER_PTS (buffer))
                       : -1;
    taken.connection = from.connection ();

    bool was_copied = false;
    std::string error;
    cv::Mat mat = converter->to_mat (std::move (sample), was_copied, error);

    checked_lock guard (shared.lock);
    /* The supervisor notices the first frame of a connection within its
     * poll; a reader that got one already knows. */
    if (shared.current.get () == &from
        && (shared.state == capture_state::connecting
            || shared.state == capture_state::reconnecting))
      shared.set_state (capture_state::streaming);
    taken.skipped = taken.sequence > returned_sequence
                        ? taken.sequence - returned_sequence - 1
                        : 0;
    returned_sequence = std::max (returned_sequence, taken.sequence);
    if (mat.empty ())
      {
        skipped += taken.skipped + 1;
        shared.last_error = error;
        return false;
      }
    frame = std::move (mat);
    returned++;
    skipped += taken.skipped;
    if (was_copied)
      copied++;
    if (info)
      *info = taken;
    return true;
  }

  bool read (cv::Mat &frame, std::chrono::milliseconds timeout,
             frame_info *info)
  {
    const clock::time_point deadline = deadline_after (timeout);
    for (;;)
      {
        std::shared_ptr<detail::session> from = connection_to_read (deadline);
        if (!from)
          return false;
        detail::sample_ptr sample = from->pull (deadline - clock::now ());
        const clock::time_point now = clock::now ();
        if (sample)
          return take (std::move (sample), *from, now, frame, info);
        if (now >= deadline)
          return false;
        /* Stopped, or the end of its stream: wait for what the supervisor
         * makes of it (the next connection, or the end). */
        checked_lock guard (shared.lock);
        while (!shared.closing && shared.current == from
               && !is_over (shared.state) && clock::now () < deadline)
          guard.wait_until (shared.changed, deadline);
      }
  }

  capture_stats stats ()
  {
    capture_stats figures;
    detail::element_counts counts;
    checked_lock guard (shared.lock);
    figures.state = shared.state;
    figures.returned = returned;
    figures.skipped = skipped;
    figures.reconnects = shared.reconnects;
    figures.stalls = shared.stalls;
    figures.copied = copied;
    figures.last_error = shared.last_error;
    counts = shared.closed_counts;
    /* Under the lock, so that a connection being retired cannot be counted
     * twice or not at all. */
    detail::structure_ptr live
        = shared.current ? shared.current->stats () : nullptr;
    if (live)
      {
        const GstStructure *raw = live.get ();
        counts.add (shared.current->counts (raw));
        using detail::structure_uint64;
        figures.held_frames = structure_uint64 (raw, "current-level-buffers");
        figures.held_bytes = structure_uint64 (raw, "current-level-bytes");
        figures.in_flight_bytes = structure_uint64 (raw, "in-flight-bytes");
        figures.peak_bytes = structure_uint64 (raw, "peak-bytes");
        figures.capture_clock_fallback
            = detail::structure_boolean (raw, "capture-clock-fallback");
        figures.age_p50_ns = structure_uint64 (raw, "age-p50");
        figures.age_p95_ns = structure_uint64 (raw, "age-p95");
        figures.age_max_ns = structure_uint64 (raw, "age-max");
        figures.memory_budget_bytes
            = structure_uint64 (raw, "memory-budget-bytes");
        figures.memory_budget_used
            = structure_uint64 (raw, "memory-budget-used");
        GstVideoInfo video;
        if (shared.current->video_info (video))
          {
            figures.width = GST_VIDEO_INFO_WIDTH (&video);
            figures.height = GST_VIDEO_INFO_HEIGHT (&video);
            if (GST_VIDEO_INFO_FPS_D (&video) > 0)
              figures.fps = static_cast<double> (GST_VIDEO_INFO_FPS_N (&video))
                            / GST_VIDEO_INFO_FPS_D (&video);
          }
      }
    figures.received = counts.received;
    figures.pushed = counts.pushed;
    figures.dropped = counts.dropped;
    figures.dropped_by_reason = counts.dropped_by_reason;
    figures.capture_time_frames = counts.capture_time_frames;
    figures.capture_time_unused = counts.capture_time_unused;
    figures.not_decoded = counts.not_decoded;
    figures.decode_only = counts.decode_only;
    return figures;
  }
};

capture::capture () : impl_ (std::make_unique<impl> ()) {}

capture::capture (const std::string &source, capture_options options)
    : impl_ (std::make_unique<impl> ())
{
  open (source, std::move (options));
}

capture::~capture () { release (); }

capture::capture (capture &&) noexcept = default;

capture &
capture::operator= (capture &&other) noexcept
{
  if (this != &other)
    {
      release ();
      impl_ = std::move (other.impl_);
    }
  return *this;
}

bool
capture::open (const std::string &source, capture_options options)
{
  release ();
  if (!gst_is_initialized ())
    gst_init (nullptr, nullptr);
  /* One impl for the capture's life (other threads may be in stats()), so
   * only a moved-from capture makes a new one. */
  if (!impl_)
    impl_ = std::make_unique<impl> ();
  impl &self = *impl_;
  checked_lock guard (self.shared.lock);
  if (!self.start_over (std::move (options)))
    return false;
  const detail::source_spec spec (source);
  self.shared.last_error = spec.credentials_problem (self.options);
  if (!self.shared.last_error.empty ())
    {
      self.shared.state = capture_state::closed;
      return false;
    }
  /* Connecting until the supervisor has a first frame (streaming), a file's
   * end (ended) or gives up (closed). */
  self.shared.state = capture_state::connecting;
  self.supervisor
      = std::thread ([&shared = self.shared, spec, opts = self.options] {
          detail::supervisor (shared, spec, opts).run ();
        });
  if (self.options.open_in_background)
    return true;
  const clock::time_point open_by = deadline_after (self.options.open_timeout);
  auto still_connecting = [] (capture_state state) {
    return state == capture_state::connecting
           || state == capture_state::reconnecting;
  };
  while (still_connecting (self.shared.state) && clock::now () < open_by)
    guard.wait_until (self.shared.changed, open_by);
  const bool started = !still_connecting (self.shared.state);
  const bool opened = self.shared.state == capture_state::streaming
                      || (self.shared.state == capture_state::ended && started);
  if (opened)
    return true;
  if (self.shared.last_error.empty ())
    self.shared.last_error
        = "no frame within "
          + std::to_string (self.options.open_timeout.count ()) + " ms";
  const std::string why = self.shared.last_error;
  guard.unlock ();
  release ();
  checked_lock again (self.shared.lock);
  self.shared.last_error = why;
  return false;
}

bool
capture::open (int index, capture_options options)
{
  return open ("/dev/video" + std::to_string (index), std::move (options));
}

bool
capture::isOpened () const
{
  if (!impl_)
    return false;
  checked_lock guard (impl_->shared.lock);
  return impl_->supervisor.joinable () && !impl_->shared.closing;
}

bool
capture::read (cv::Mat &frame)
{
  return read (frame, impl_ ? impl_->options.read_timeout
                            : std::chrono::milliseconds (0));
}

bool
capture::read (cv::Mat &frame, std::chrono::milliseconds timeout,
               frame_info *info)
{
  if (!impl_ || !impl_->converter)
    return false;
  if (!impl_->options.analysis.empty ())
    {
      checked_lock guard (impl_->shared.lock);
      impl_->shared.last_error
          = "the frames go to the capture's analysis (options.analysis): "
            "read() has none";
      return false;
    }
  return impl_->read (frame, timeout, info);
}

capture &
capture::operator>> (cv::Mat &frame)
{
  if (!read (frame))
    frame.release ();
  return *this;
}

void
capture::release ()
{
  if (!impl_)
    return;
  detail::capture_shared &shared = impl_->shared;
  {
    checked_lock guard (shared.lock);
    shared.closing = true;
    shared.changed.notify_all ();
    /* The supervisor may be waiting on its bus: it sees `closing` now. */
    if (shared.current)
      shared.current->wake ();
  }
  if (impl_->supervisor.joinable ())
    impl_->supervisor.join ();
  checked_lock guard (shared.lock);
  shared.state = capture_state::closed;
}

bool
capture::last_analysed (analysed_frame &frame) const
{
  if (!impl_)
    return false;
  std::shared_ptr<detail::session> from;
  detail::sample_ptr sample = impl_->last_analysed_sample (from);
  if (!sample)
    return false;
  GstBuffer *buffer = gst_sample_get_buffer (sample.get ());
  analysed_frame taken;
  taken.regions = boxes_of (buffer);
  if (const LatestFrameInfoMeta *about = latest_frame_info_meta_get (buffer))
    {
      taken.sequence = from->sequence_base () + about->sequence;
      taken.age_ns = about->age;
      /* The age runs from the capture time when the camera told it, else
       * from the frame's running time: either plus the age is the
       * hand-over. */
      if (GST_CLOCK_TIME_IS_VALID (about->capture_time))
        {
          taken.capture_time_ns
              = static_cast<std::int64_t> (about->capture_time);
          if (about->age >= 0)
            taken.analysed_unix_ns = taken.capture_time_ns + about->age;
        }
      else if (GST_CLOCK_TIME_IS_VALID (about->running_time)
               && about->age >= 0)
        taken.analysed_unix_ns = from->unix_time_of (
            about->running_time + static_cast<GstClockTime> (about->age));
    }
  /* A converter of its own: read()'s belongs to the reader's thread. */
  detail::frame_converter to_bgr (*detail::find_mat_format ("BGR"));
  bool copied = false;
  std::string error;
  cv::Mat image = to_bgr.to_mat (std::move (sample), copied, error);
  if (image.empty ())
    return false;
  /* Not the pipeline's memory: the caller may draw on it. */
  taken.image = copied ? image : image.clone ();
  frame = std::move (taken);
  return true;
}

std::uint64_t
capture::last_analysed_sequence () const
{
  if (!impl_)
    return 0;
  std::shared_ptr<detail::session> from;
  detail::sample_ptr sample = impl_->last_analysed_sample (from);
  const LatestFrameInfoMeta *about
      = sample ? latest_frame_info_meta_get (
            gst_sample_get_buffer (sample.get ()))
               : nullptr;
  return about ? from->sequence_base () + about->sequence : 0;
}

capture_state
capture::state () const
{
  if (!impl_)
    return capture_state::closed;
  checked_lock guard (impl_->shared.lock);
  return impl_->shared.state;
}

capture_stats
capture::stats () const
{
  return impl_ ? impl_->stats () : capture_stats{};
}

std::string
capture::last_error () const
{
  if (!impl_)
    return {};
  checked_lock guard (impl_->shared.lock);
  return impl_->shared.last_error;
}

} // namespace latestframe
