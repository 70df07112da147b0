/* latestframe capture — states, reconnection and the stall watchdog.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "supervisor.h"

#include <algorithm>

namespace latestframe::detail
{

using clock = std::chrono::steady_clock;

supervisor::supervisor (capture_shared &shared, source_spec source,
                        capture_options options)
    : shared_ (shared), source_ (std::move (source)),
      options_ (std::move (options)), random_ (std::random_device{}())
{
}

std::chrono::milliseconds
supervisor::jittered (std::chrono::milliseconds backoff)
{
  std::uniform_int_distribution<std::int64_t> draw (backoff.count () / 2,
                                                    backoff.count ());
  return std::chrono::milliseconds (draw (random_));
}

/* Once frames come the count is read only for the watchdog, whose timeout
 * it may then overrun by up to two reads' interval: a tenth of the
 * timeout, between 100 ms and 1 s (1 s without a watchdog). Each read is a
 * wake-up and a stats structure: every 100 ms they cost a camera at one
 * analysis a second as much CPU as its decoder (0.175 % of a core); every
 * 500 ms (the service's 5 s default), 0.2 % of a core less per camera at 8
 * and 32 cameras (issue 27's side-by-side runs). */
std::chrono::milliseconds
streaming_poll_interval (std::chrono::milliseconds stall_timeout)
{
  using std::chrono::milliseconds;
  if (stall_timeout.count () <= 0)
    return milliseconds (1000);
  return std::clamp (stall_timeout / 10, milliseconds (100),
                     milliseconds (1000));
}

/* Plays one connection until it is lost, ends or the capture closes. The
 * frames are counted by latestframe; the watchdog reads that count. */
supervisor::outcome
supervisor::watch (session &current, std::string &error)
{
  current.play ();
  /* A URI says whether it is live; a description's source tells once it
   * runs (after its first frame). */
  bool live = source_.type () != source_spec::kind::uri || !source_.is_file ();
  bool live_known = source_.type () != source_spec::kind::description;
  const clock::time_point started = clock::now ();
  clock::time_point last_frame = started;
  std::uint64_t frames = 0;
  /* How often the count of frames is read (latestframe's whole stats
   * structure): until the first frame, the delay before open() returns;
   * then the watchdog's resolution only, so more rarely. An error, the
   * end of the stream or close() ends a wait at once. */
  const auto first_frame_poll = std::chrono::milliseconds (20);
  const auto streaming_poll = streaming_poll_interval (options_.stall_timeout);
  for (;;)
    {
      const session::bus_event event = current.wait_bus (
          frames ? streaming_poll : first_frame_poll, error);
      if (event == session::bus_event::error)
        return outcome::lost;
      const std::uint64_t received = current.received ();
      const clock::time_point now = clock::now ();
      if (received != frames)
        {
          frames = received;
          last_frame = now;
        }
      if (!live_known && (event != session::bus_event::none || frames > 0))
        {
          live = current.upstream_live ();
          live_known = true;
        }
      if (event == session::bus_event::end)
        {
          if (!live)
            return outcome::ended;
          error = "the stream ended";
          return outcome::lost;
        }
      checked_lock guard (shared_.lock);
      if (shared_.closing)
        return outcome::closing;
      if (frames > 0 && shared_.state != capture_state::streaming)
        shared_.set_state (capture_state::streaming);
      const auto kept_for = options_.last_analysed_kept_for;
      if (kept_for.count () > 0 && shared_.keeping_last_analysed
          && now - shared_.last_analysed_asked > kept_for)
        {
          shared_.keeping_last_analysed = false;
          current.keep_last_analysed (false);
        }
      else if (!shared_.keeping_last_analysed && current.last_analysed ())
        /* basesink reads enable-last-sample before it takes its lock to
         * store the sample: one rendered as keeping ended may have been
         * stored after the sample was cleared. */
        current.let_go_of_last_analysed ();
      const auto stall = options_.stall_timeout;
      if (stall.count () > 0 && live
          && now - (frames ? last_frame : started) > stall)
        {
          error = "no frame for " + std::to_string (stall.count ()) + " ms";
          /* With the count, under the same lock: stats that show the stall
           * show why (the connection is stopped before the error is set
           * again below). */
          if (frames)
            {
              shared_.stalls++;
              shared_.last_error = error;
            }
          return outcome::lost;
        }
    }
}

/* Stops a connection (a reader waiting for its frames wakes up) and adds
 * its counts to the closed ones. */
void
supervisor::retire (std::shared_ptr<session> current)
{
  current->stop ();
  const element_counts final_counts
      = current->counts (current->stats ().get ());
  checked_lock guard (shared_.lock);
  shared_.closed_counts.add (final_counts);
  shared_.current.reset ();
  shared_.changed.notify_all ();
}

void
supervisor::run ()
{
  auto backoff = options_.backoff_initial;
  bool ever_streamed = false;
  for (;;)
    {
      std::uint64_t connection, sequence_base;
      {
        checked_lock guard (shared_.lock);
        if (shared_.closing)
          return;
        if (shared_.connections > 0)
          shared_.reconnects++;
        connection = ++shared_.connections;
        sequence_base = shared_.closed_counts.received;
        shared_.set_state (connection == 1 ? capture_state::connecting
                                           : capture_state::reconnecting);
      }
      std::string error;
      std::shared_ptr<session> next
          = session::build (source_, options_, connection, sequence_base, error);
      if (!next)
        {
          checked_lock guard (shared_.lock);
          shared_.last_error = error;
          shared_.set_state (capture_state::closed);
          return;
        }
      {
        checked_lock guard (shared_.lock);
        next->keep_last_analysed (shared_.keeping_last_analysed);
        shared_.current = next;
        shared_.changed.notify_all ();
      }
      const outcome how = watch (*next, error);
      const bool streamed = next->received () > 0;
      ever_streamed = ever_streamed || streamed;
      retire (std::move (next));

      checked_lock guard (shared_.lock);
      if (!error.empty ())
        shared_.last_error = error;
      if (how == outcome::closing)
        return;
      if (how == outcome::ended || !options_.reconnect || source_.is_file ())
        {
          shared_.set_state (how == outcome::ended || ever_streamed
                                 ? capture_state::ended
                                 : capture_state::closed);
          while (!shared_.closing)
            guard.wait (shared_.changed);
          return;
        }
      if (streamed)
        backoff = options_.backoff_initial;
      shared_.set_state (capture_state::reconnecting);
      const auto retry_at
          = std::chrono::steady_clock::now () + jittered (backoff);
      while (!shared_.closing && std::chrono::steady_clock::now () < retry_at)
        guard.wait_until (shared_.changed, retry_at);
      if (shared_.closing)
        return;
      backoff = std::min (backoff * 2, options_.backoff_max);
    }
}

} // namespace latestframe::detail
