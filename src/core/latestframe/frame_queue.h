/* latestframe — a bounded queue that keeps the newest frames.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace latestframe
{

/* What to do with a frame that does not fit. */
enum class leak_policy
{
  none,          /* block the producer until the consumer makes room */
  drop_arriving, /* drop the frame that does not fit */
  drop_oldest,   /* drop the oldest held frames until the new one fits */
};

/* Limits on the frames held; 0 means no limit on that axis. A lone frame is
 * always accepted, even when it alone is larger than max_bytes, otherwise a
 * too-small byte limit would stop the stream for good. */
struct queue_limits
{
  std::uint32_t max_frames = 1;
  std::uint64_t max_bytes = 0;
  std::uint64_t max_span_ns = 0; /* newest frame time minus oldest frame time */
};

struct queue_level
{
  std::uint32_t frames = 0;
  std::uint64_t bytes = 0;
  std::uint64_t span_ns = 0;
};

/* A frame time that is not known (no timestamp, no segment). */
inline constexpr std::int64_t no_time = -1;

/* The result a consumer gave to an item that the producer waits on. */
enum class ack_result
{
  accepted,
  refused,
  abandoned, /* never handled: flushed, or withdrawn while the queue halted */
};

/* A FIFO of frames and markers (events, queries: anything that is not a
 * frame) with leaky, bounded semantics for the frames only:
 *
 *  - frames count against the limits and may be dropped by the policy;
 *    markers never count and are never dropped, so their order relative to
 *    the surviving frames is kept;
 *  - the first frame delivered after a gap (a drop) carries `discont`;
 *  - one halt reason (0 = running) is the only stop flag: every wait returns
 *    when it is set, and it is re-checked after every wake-up. The owner picks
 *    the codes (the GStreamer element stores its flow return);
 *  - a marker may carry a ticket that its producer waits on until the
 *    consumer acknowledges it (serialized queries).
 *
 * One producer thread and one consumer thread are expected, but every method
 * is thread-safe. T must be movable; it is destroyed by whoever receives it
 * (entries that the queue gives back are returned, never destroyed under the
 * lock). */
template <typename T> class frame_queue
{
public:
  struct entry
  {
    T item;
    bool is_frame = false;
    std::uint64_t bytes = 0;
    std::int64_t time_ns = no_time;
    /* Frames were dropped right before this frame in stream order. */
    bool discont = false;
    /* Non-zero: the producer waits for acknowledge() with this ticket. */
    std::uint64_t ticket = 0;
  };

  enum class push_status
  {
    queued,
    dropped, /* the arriving frame was dropped (drop_arriving policy) */
    halted,  /* not queued: the queue is halted; the item is returned */
  };

  struct push_outcome
  {
    push_status status = push_status::queued;
    /* Entries the queue gives back: the frames dropped to make room, the
     * arriving frame when it was dropped or refused. */
    std::vector<entry> released;
    std::uint64_t ticket = 0;
    int halt_reason = 0; /* the reason in force, when halted */
  };

  enum class pop_status
  {
    popped,
    halted,
    timed_out,
  };

  struct pop_outcome
  {
    pop_status status = pop_status::halted;
    int halt_reason = 0; /* the reason in force, when halted */
    std::optional<entry> popped;
  };

  frame_queue () = default;
  frame_queue (const frame_queue &) = delete;
  frame_queue &operator= (const frame_queue &) = delete;

  /* Producer. Queues a frame of `bytes` bytes at `time_ns` (no_time if
   * unknown), applying the leak policy when it does not fit. With
   * leak_policy::none it blocks until it fits or the queue halts; the other
   * policies never block. */
  push_outcome push_frame (T item, std::uint64_t bytes, std::int64_t time_ns)
  {
    push_outcome outcome;
    entry arriving{ std::move (item), true, bytes, time_ns, false, 0 };
    const frame_size size{ bytes, time_ns };
    {
      std::unique_lock<std::mutex> lock (mutex_);
      for (;;)
        {
          if (halt_reason_ != 0)
            {
              outcome.status = push_status::halted;
              outcome.halt_reason = halt_reason_;
              outcome.released.push_back (std::move (arriving));
              return outcome;
            }
          if (fits_locked (&size))
            break;
          if (policy_ == leak_policy::drop_oldest)
            {
              drop_oldest_until_fits_locked (&size, outcome.released);
              break;
            }
          if (policy_ == leak_policy::drop_arriving)
            {
              pending_discont_ = true;
              outcome.status = push_status::dropped;
              outcome.released.push_back (std::move (arriving));
              return outcome;
            }
          room_changed_.wait (lock);
        }
      arriving.discont = pending_discont_;
      pending_discont_ = false;
      frames_++;
      bytes_ += arriving.bytes;
      entries_.push_back (std::move (arriving));
    }
    item_added_.notify_one ();
    return outcome;
  }

  struct room_outcome
  {
    /* Whether a frame of that size fits now (or will, for leak_policy::none,
     * whose push blocks until it does). */
    bool fits = true;
    /* Frames dropped to make room. */
    std::vector<entry> released;
    /* Nonzero when the queue is halted (its reason): nothing was dropped,
     * and the frame must be refused. */
    int halt_reason = 0;
  };

  /* Producer. Makes room for a frame about to be pushed, before the caller
   * charges anything for it: drop_oldest drops the oldest frames until it
   * fits; drop_arriving tells whether it fits, and when it does not, records
   * the gap (the caller then drops the frame); none changes nothing. A
   * halted queue changes nothing and says why. Never blocks. */
  room_outcome make_room_for (std::uint64_t bytes, std::int64_t time_ns)
  {
    room_outcome outcome;
    {
      std::lock_guard<std::mutex> lock (mutex_);
      if (halt_reason_ != 0)
        {
          outcome.fits = false;
          outcome.halt_reason = halt_reason_;
          return outcome;
        }
      const frame_size arriving{ bytes, time_ns };
      if (fits_locked (&arriving))
        return outcome;
      if (policy_ == leak_policy::drop_oldest)
        drop_oldest_until_fits_locked (&arriving, outcome.released);
      else if (policy_ == leak_policy::drop_arriving)
        {
          pending_discont_ = true;
          outcome.fits = false;
        }
    }
    if (!outcome.released.empty ())
      room_changed_.notify_all ();
    return outcome;
  }

  /* Producer. Queues a marker; never blocks, never dropped by the policy.
   * With `awaits_ack` the outcome carries a ticket for wait_ack(). A halted
   * queue refuses it, unless `even_if_halted` (what must keep its place
   * among the queued entries for when the queue resumes). */
  push_outcome push_marker (T item, bool awaits_ack = false,
                            bool even_if_halted = false)
  {
    push_outcome outcome;
    {
      std::lock_guard<std::mutex> lock (mutex_);
      entry marker{ std::move (item), false, 0, no_time, false, 0 };
      if (halt_reason_ != 0 && !(even_if_halted && !awaits_ack))
        {
          outcome.status = push_status::halted;
          outcome.halt_reason = halt_reason_;
          outcome.released.push_back (std::move (marker));
          return outcome;
        }
      if (awaits_ack)
        {
          marker.ticket = ++last_ticket_;
          tickets_[marker.ticket] = ticket_state::queued;
          outcome.ticket = marker.ticket;
        }
      entries_.push_back (std::move (marker));
    }
    item_added_.notify_one ();
    return outcome;
  }

  /* Producer. Waits until the marker with `ticket` was acknowledged by the
   * consumer, or was flushed, or the queue halted while the marker was still
   * waiting in line (it is then withdrawn, so the consumer never sees it).
   * Never returns while the consumer is handling the marker, so the item may
   * be destroyed as soon as this returns. */
  ack_result wait_ack (std::uint64_t ticket)
  {
    /* Declared before the lock so that it is destroyed after the unlock. */
    std::optional<entry> withdrawn;
    std::unique_lock<std::mutex> lock (mutex_);
    for (;;)
      {
        auto found = tickets_.find (ticket);
        if (found == tickets_.end ())
          return ack_result::abandoned;
        ticket_state state = found->second;
        if (state == ticket_state::accepted || state == ticket_state::refused
            || state == ticket_state::abandoned)
          {
            tickets_.erase (found);
            return state == ticket_state::accepted  ? ack_result::accepted
                   : state == ticket_state::refused ? ack_result::refused
                                                    : ack_result::abandoned;
          }
        if (state == ticket_state::queued && halt_reason_ != 0)
          {
            withdrawn = withdraw_marker_locked (ticket);
            tickets_.erase (found);
            return ack_result::abandoned;
          }
        ack_changed_.wait (lock);
      }
  }

  /* Consumer. Takes the oldest entry, waiting until `deadline` (or forever
   * without one) while the queue is empty. Returns halted as soon as the
   * queue halts, even when entries are left. */
  pop_outcome
  wait_pop (std::optional<std::chrono::steady_clock::time_point> deadline
            = std::nullopt)
  {
    pop_outcome outcome;
    {
      std::unique_lock<std::mutex> lock (mutex_);
      for (;;)
        {
          if (halt_reason_ != 0)
            {
              outcome.status = pop_status::halted;
              outcome.halt_reason = halt_reason_;
              return outcome;
            }
          if (!entries_.empty ())
            break;
          if (!deadline)
            item_added_.wait (lock);
          else if (item_added_.wait_until (lock, *deadline)
                   == std::cv_status::timeout)
            {
              if (halt_reason_ != 0)
                continue;
              if (entries_.empty ())
                {
                  outcome.status = pop_status::timed_out;
                  return outcome;
                }
            }
        }
      outcome.status = pop_status::popped;
      outcome.popped = pop_front_locked ();
    }
    room_changed_.notify_all ();
    return outcome;
  }

  /* Consumer. Like wait_pop() but never waits: timed_out when empty. */
  pop_outcome try_pop ()
  {
    return wait_pop (std::chrono::steady_clock::time_point::min ());
  }

  /* Consumer. Answers the marker with `ticket` that it popped. */
  void acknowledge (std::uint64_t ticket, bool accepted)
  {
    {
      std::lock_guard<std::mutex> lock (mutex_);
      auto found = tickets_.find (ticket);
      if (found == tickets_.end ())
        return;
      found->second = accepted ? ticket_state::accepted : ticket_state::refused;
    }
    ack_changed_.notify_all ();
  }

  /* Any thread. Removes the oldest held frame, for a reason other than the
   * limits (a memory budget); the frame after it is marked discont. Empty
   * when no frame is held. */
  std::optional<entry> take_oldest_frame ()
  {
    std::optional<entry> oldest;
    {
      std::lock_guard<std::mutex> lock (mutex_);
      if (frames_ == 0)
        return oldest;
      oldest = remove_oldest_frame_locked ();
    }
    room_changed_.notify_all ();
    return oldest;
  }

  /* Consumer. A popped frame was dropped: the next frame carries discont. */
  void mark_gap ()
  {
    std::lock_guard<std::mutex> lock (mutex_);
    mark_next_frame_discont_locked (entries_.begin ());
  }

  /* Any thread. Stops the queue with a non-zero reason: pushes are refused,
   * waits return. */
  void halt (int reason)
  {
    {
      std::lock_guard<std::mutex> lock (mutex_);
      halt_reason_ = reason;
    }
    notify_all_waiters ();
  }

  /* Any thread. Lets the queue run again. */
  void resume ()
  {
    std::lock_guard<std::mutex> lock (mutex_);
    halt_reason_ = 0;
  }

  /* Any thread. 0 while running. Racy by nature: the queue may halt or resume
   * right after this returns. */
  int halt_reason () const
  {
    std::lock_guard<std::mutex> lock (mutex_);
    return halt_reason_;
  }

  /* Any thread. Halts with `reason` unless the queue is already halted for
   * another reason; returns the reason in force afterwards. */
  int halt_if_running (int reason)
  {
    int in_force;
    {
      std::lock_guard<std::mutex> lock (mutex_);
      if (halt_reason_ == 0)
        halt_reason_ = reason;
      in_force = halt_reason_;
    }
    notify_all_waiters ();
    return in_force;
  }

  /* Any thread. Removes and returns every entry but the markers waited on
   * (their items stay their producers'): those are destroyed here and
   * answered `abandoned`, only then, so that no caller touches an item its
   * producer may free as soon as it is answered. Forgets a pending
   * discontinuity. */
  std::vector<entry> drain ()
  {
    std::vector<entry> drained;
    {
      std::lock_guard<std::mutex> lock (mutex_);
      drained.reserve (entries_.size ());
      std::vector<std::uint64_t> abandoned;
      for (auto &queued : entries_)
        if (queued.ticket != 0)
          abandoned.push_back (queued.ticket);
        else
          drained.push_back (std::move (queued));
      entries_.clear ();
      for (std::uint64_t ticket : abandoned)
        tickets_[ticket] = ticket_state::abandoned;
      frames_ = 0;
      bytes_ = 0;
      pending_discont_ = false;
    }
    notify_all_waiters ();
    return drained;
  }

  /* Any thread. New limits take effect at once: with drop_oldest, frames over
   * the new limits are dropped and returned; a blocked producer re-checks. */
  std::vector<entry> set_limits (const queue_limits &limits)
  {
    return reconfigure ([&] { limits_ = limits; });
  }

  /* Any thread. Like set_limits(), changing the limits in force with
   * `change` (a callable taking queue_limits&) in one step. */
  template <typename Change> std::vector<entry> update_limits (Change change)
  {
    return reconfigure ([&] { change (limits_); });
  }

  /* Any thread. Like set_limits(), for the policy. */
  std::vector<entry> set_policy (leak_policy policy)
  {
    return reconfigure ([&] { policy_ = policy; });
  }

  queue_limits limits () const
  {
    std::lock_guard<std::mutex> lock (mutex_);
    return limits_;
  }

  leak_policy policy () const
  {
    std::lock_guard<std::mutex> lock (mutex_);
    return policy_;
  }

  /* Any thread. The frames held now; racy by nature. */
  queue_level level_approx () const
  {
    std::lock_guard<std::mutex> lock (mutex_);
    return queue_level{ frames_, bytes_, span_locked (nullptr) };
  }

  /* Any thread. Entries of any kind held now; racy by nature. */
  std::size_t size_approx () const
  {
    std::lock_guard<std::mutex> lock (mutex_);
    return entries_.size ();
  }

private:
  enum class ticket_state
  {
    queued,
    in_process,
    accepted,
    refused,
    abandoned,
  };

  void notify_all_waiters ()
  {
    item_added_.notify_all ();
    room_changed_.notify_all ();
    ack_changed_.notify_all ();
  }

  /* A frame about to arrive. */
  struct frame_size
  {
    std::uint64_t bytes;
    std::int64_t time_ns;
  };

  /* The span of the held frames, with `extra` counted as the newest frame. */
  std::uint64_t span_locked (const frame_size *extra) const
  {
    std::int64_t oldest = no_time;
    std::int64_t newest = no_time;
    for (const auto &queued : entries_)
      if (queued.is_frame && queued.time_ns != no_time)
        {
          oldest = queued.time_ns;
          break;
        }
    if (extra && extra->time_ns != no_time)
      newest = extra->time_ns;
    else
      for (auto it = entries_.rbegin (); it != entries_.rend (); ++it)
        if (it->is_frame && it->time_ns != no_time)
          {
            newest = it->time_ns;
            break;
          }
    if (oldest == no_time && extra)
      oldest = extra->time_ns;
    if (oldest == no_time || newest == no_time || newest < oldest)
      return 0;
    return static_cast<std::uint64_t> (newest - oldest);
  }

  /* Whether the held frames plus `arriving` (if any) are within the limits.
   * An empty queue always takes one frame. */
  bool fits_locked (const frame_size *arriving) const
  {
    std::uint32_t frames = frames_ + (arriving ? 1 : 0);
    std::uint64_t bytes = bytes_ + (arriving ? arriving->bytes : 0);
    if (frames <= 1)
      return true;
    if (limits_.max_frames > 0 && frames > limits_.max_frames)
      return false;
    if (limits_.max_bytes > 0 && bytes > limits_.max_bytes)
      return false;
    if (limits_.max_span_ns > 0 && span_locked (arriving) > limits_.max_span_ns)
      return false;
    return true;
  }

  /* Any thread: applies `change` (to the limits or the policy) under the
   * lock; with drop_oldest, the frames that no longer fit are dropped and
   * returned; a blocked producer re-checks. */
  template <typename Change> std::vector<entry> reconfigure (Change change)
  {
    std::vector<entry> dropped;
    {
      std::lock_guard<std::mutex> lock (mutex_);
      change ();
      if (policy_ == leak_policy::drop_oldest)
        drop_oldest_until_fits_locked (nullptr, dropped);
    }
    room_changed_.notify_all ();
    return dropped;
  }

  /* Drops the oldest frames until the held ones (plus `arriving`) fit; the
   * frame that follows each gap is marked discont. */
  void drop_oldest_until_fits_locked (const frame_size *arriving,
                                      std::vector<entry> &dropped)
  {
    while (frames_ > 0 && !fits_locked (arriving))
      {
        if (!arriving && frames_ == 1)
          break;
        dropped.push_back (remove_oldest_frame_locked ());
      }
  }

  /* Removes the oldest frame (one must be held) and marks the gap. */
  entry remove_oldest_frame_locked ()
  {
    auto oldest = entries_.begin ();
    while (!oldest->is_frame)
      ++oldest;
    frames_--;
    bytes_ -= oldest->bytes;
    entry removed = std::move (*oldest);
    mark_next_frame_discont_locked (entries_.erase (oldest));
    return removed;
  }

  /* The first frame from `from` on follows a gap; with none held, the next
   * frame to arrive does. */
  void
  mark_next_frame_discont_locked (typename std::deque<entry>::iterator from)
  {
    while (from != entries_.end () && !from->is_frame)
      ++from;
    if (from != entries_.end ())
      from->discont = true;
    else
      pending_discont_ = true;
  }

  entry pop_front_locked ()
  {
    entry front = std::move (entries_.front ());
    entries_.pop_front ();
    if (front.is_frame)
      {
        frames_--;
        bytes_ -= front.bytes;
      }
    else if (front.ticket != 0)
      tickets_[front.ticket] = ticket_state::in_process;
    return front;
  }

  std::optional<entry> withdraw_marker_locked (std::uint64_t ticket)
  {
    for (auto it = entries_.begin (); it != entries_.end (); ++it)
      if (it->ticket == ticket)
        {
          entry withdrawn = std::move (*it);
          entries_.erase (it);
          return withdrawn;
        }
    return std::nullopt;
  }

  mutable std::mutex mutex_;
  std::condition_variable item_added_;
  std::condition_variable room_changed_;
  std::condition_variable ack_changed_;
  std::deque<entry> entries_;
  std::map<std::uint64_t, ticket_state> tickets_;
  queue_limits limits_;
  leak_policy policy_ = leak_policy::drop_oldest;
  std::uint32_t frames_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint64_t last_ticket_ = 0;
  bool pending_discont_ = false;
  int halt_reason_ = 0;
};

} // namespace latestframe
