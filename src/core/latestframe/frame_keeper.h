/* latestframe — the newest-frame contract: which frame gets in, which is
 * dropped and why, which goes out next.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/accounting.h"
#include "latestframe/chains.h"
#include "latestframe/freshness.h"
#include "latestframe/memory_budget.h"
#include "latestframe/containers.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace latestframe
{

/* What to do with a frame that does not fit. */
enum class leak_policy : std::uint8_t
{
  none,          /* block the producer until the consumer makes room */
  drop_arriving, /* drop the frame that does not fit */
  drop_oldest,   /* drop the oldest held frames until the new one fits */
};

/* Limits on the frames held; 0 means no limit on that axis. A lone frame is
 * always accepted, even when it alone is larger than max_bytes, otherwise a
 * too-small byte limit would stop the stream for good. On encoded video,
 * max_frames counts chains (see unit_kind), and a lone chain is accepted as
 * a lone frame is. */
struct queue_limits
{
  std::uint32_t max_frames = 1;
  std::uint64_t max_bytes = 0;
  std::uint64_t max_span_ns = 0; /* newest frame time minus oldest frame time */

  bool unbounded () const
  {
    return max_frames == 0 && max_bytes == 0 && max_span_ns == 0;
  }
};

/* How much the consumer waits to be held before it takes anything (queue's
 * min-threshold-*); 0 = no wait on that axis. A limit reached, an end of
 * stream, or a marker at the tail ends the wait, so that a query is never
 * held back for good. */
struct queue_thresholds
{
  std::uint32_t frames = 0;
  std::uint64_t bytes = 0;
  std::uint64_t span_ns = 0;

  bool none () const { return frames == 0 && bytes == 0 && span_ns == 0; }
};

struct queue_level
{
  std::uint32_t frames = 0;
  std::uint64_t bytes = 0;
  std::uint64_t span_ns = 0;
};

/* A frame time that is not known (no timestamp, no segment). */
inline constexpr std::int64_t no_time = -1;

/* How long `later` is after `earlier` (0 if it is not). Times on the
 * running clock may be anywhere in 64 bits: a capture time placed before
 * the clock started is negative, a running time may be close to 2^63 ns;
 * their difference may not fit a signed integer, and always fits this. */
inline std::uint64_t
ns_after (std::int64_t later, std::int64_t earlier)
{
  return later > earlier ? static_cast<std::uint64_t> (later)
                               - static_cast<std::uint64_t> (earlier)
                         : 0;
}

/* What a marker (anything queued that is not a frame) means to the rules. */
enum class marker_kind : std::uint8_t
{
  plain,         /* refused while halted (a serialized, non-sticky event) */
  sticky,        /* keeps its place among the held entries even while halted */
  new_stream,    /* sticky, and begins a stream: ends `ended` */
  end_of_stream, /* the producer is done: frames are refused after it */
  query,         /* its producer waits (wait_ack) for the consumer's answer */
};

/* Where the stream stands: one value, read and changed under the keeper's
 * lock only.
 *
 * | state            | entered by                      | frames  | markers admitted            | hand_over         | left by                       |
 * |------------------|---------------------------------|---------|-----------------------------|-------------------|-------------------------------|
 * | running          | resume() (activation,           | admitted| all                         | delivers          | the entries below             |
 * |                  | FLUSH_STOP), new_stream, relink |         |                             |                   |                               |
 * | ended            | end_of_stream admitted          | refused | new_stream (-> running),    | delivers what is  | new_stream; flush_start();    |
 * |                  |                                 |         | queries                     | held, then waits  | downstream_* ()               |
 * | ended_downstream | downstream_ended() found nothing| refused | all; new_stream -> running, | delivers          | new_stream, end_of_stream;    |
 * |                  | it could still deliver          |         | end_of_stream -> ended      |                   | flush_start()                 |
 * | unlinked         | downstream_unlinked()           | refused | sticky, new_stream          | returns halted    | relink(); flush_start()       |
 * | failed           | downstream_failed(): all held   | refused | sticky, new_stream          | returns halted    | flush_start(), resume()       |
 * |                  | entries are released            |         |                             |                   |                               |
 * | flushing         | flush_start() (FLUSH_START,     | refused | sticky, new_stream          | returns halted    | resume()                      |
 * |                  | deactivation)                   |         |                             | at once           |                               |
 *
 * "Refused" means the call returns `refused` with the state (and, for
 * failed, the owner's failure code): the owner turns it into its own flow
 * return. A refused frame never counts as received. */
enum class stream_state : std::uint8_t
{
  running,
  ended,
  ended_downstream,
  unlinked,
  failed,
  flushing,
};

/* The answer a query's producer gets from wait_ack(). */
enum class ack_result : std::uint8_t
{
  accepted,
  refused,
  abandoned, /* never handled: flushed, or withdrawn while halted */
};

/* The owner's clock on the axis of frame times (the pipeline clock's
 * running time now), or no_time when it has none. The keeper calls it with
 * its lock released, only to refresh a reading that went stale while it
 * waited. */
using running_clock = std::int64_t (*) (void *context);

/* An arriving frame, as the keeper needs to know it. */
struct frame_desc
{
  std::uint64_t bytes = 0;
  /* Its running time, or no_time: the axis max_span_ns limits, and what its
   * age is measured from. */
  std::int64_t time_ns = no_time;
  /* The owner's running clock when it arrived: how old it already is, for
   * max-age's warning about frames arriving too old. May stay unknown
   * (no_time) while max-age is off. */
  std::int64_t arrival_running_ns = no_time;
  /* When time_ns is not the frame's own timestamp but its capture time
   * (read from the stream, expressed on the running clock): the running
   * time of its timestamp, whose ages are kept beside the others, for
   * comparison. no_time otherwise. */
  std::int64_t timestamp_running_ns = no_time;
  /* What it depends on: a raw frame is a key unit. */
  unit_kind unit = unit_kind::key;
};

/* Hooks a keeper calls, with its lock released, at the points where
 * GStreamer's `queue` emits its signals; the keeper re-checks everything
 * after each. `silent_hooks` calls nothing and never releases the lock. */
struct silent_hooks
{
  bool active () const { return false; }
  void full () {}            /* a frame arrived at a limit (overrun) */
  void room_after_wait () {} /* a blocked producer got room (running) */
  void empty () {}           /* nothing to hand over: about to wait (underrun) */
  void refilled () {}        /* something to hand over again (running, pushing) */
};

/* The frames a producer hands in and a consumer takes out, with everything
 * that decides their fate in one place: the held entries (frames and
 * markers, in order), the limits and leak policy, whether upstream is live,
 * the memory budget and each frame's reservation in it, the max-age gate,
 * the stream state, and the counts.
 *
 * Two operations cover a frame's life:
 *  - admit_frame() (the producer's thread) queues it, or drops it (counted
 *    with its reason), or refuses it (halted: not counted), and drops the
 *    older frames it pushes out, all counted before it returns;
 *  - hand_over() (the consumer's thread) returns the next entry in order, or
 *    on request the newest frame, counting the frames it passes over. A
 *    handed-over frame comes with an in_flight_charge that keeps its bytes
 *    counted (and reserved in its budget) until the consumer destroys it.
 *
 * Encoded video (frames that are not all key units, see unit_kind): a
 * frame is never handed over after a frame its chain needs was dropped.
 * Whoever drops a frame drops the delta units after it up to the next key
 * unit (counted as broken_chain), and while no key unit has come since,
 * arriving delta units go the same way; the limits on frames count chains,
 * so that a lone chain always fits as a lone frame does; decode_mode says
 * how much of each chain is handed over.
 *
 * Invariant, at every moment the lock is free:
 *     received == handed_over + dropped (all reasons) + held
 * Every drop is counted exactly once, here; the owner counts nothing.
 *
 * Payload: default-constructible (an empty value that owns nothing) and
 * movable. Payloads given back (released lists, handovers) are destroyed by
 * the caller, never under the lock; but a query's payload is destroyed under
 * the lock when the query is abandoned, so that its producer may free it as
 * soon as wait_ack() returns.
 *
 * Threads: one producer (admit_*) and one consumer (hand_over, downstream_*)
 * are expected; every method is thread-safe. Waits: a producer blocks only
 * with leak_policy::none (or a non-live upstream being paced); the consumer
 * waits in hand_over(). Condition variables are notified only when someone
 * waits. */
template <typename Payload> class frame_keeper
{
public:
  using clock = std::chrono::steady_clock;
  using now_function = clock::time_point (*) ();

  /* An entry given back to be destroyed by the caller. */
  struct released_item
  {
    Payload item{};
    bool is_frame = false;
    marker_kind marker = marker_kind::plain;
  };
  using released_list = small_list<released_item>;

  /* A condition the owner should warn about, once. */
  enum class notice_kind : std::uint8_t
  {
    none,
    unbounded,         /* no limit and no budget cap bound the held frames */
    frame_over_budget, /* value: the frame's bytes; limit: the budget cap */
    arrivals_too_old,  /* value: the arrival age; limit: max-age (ns) */
  };
  struct notice
  {
    notice_kind kind = notice_kind::none;
    std::uint64_t value = 0;
    std::uint64_t limit = 0;
  };

  enum class admit_status : std::uint8_t
  {
    queued,
    dropped, /* counted, with `reason` */
    refused, /* not counted: halted (`refused_in`) */
  };

  struct admit_outcome
  {
    admit_status status = admit_status::queued;
    drop_reason reason = drop_reason::overflow;
    stream_state refused_in = stream_state::running;
    int failure_code = 0;
    /* The frame's sequence number (1 for the first frame received), when
     * it was received (queued or dropped). */
    std::uint64_t sequence = 0;
    /* A query's ticket for wait_ack(). */
    std::uint64_t ticket = 0;
    /* Held frames this arrival dropped to make room. */
    std::size_t held_dropped = 0;
    notice note;
    /* What to destroy: the frames dropped, the arriving one if it was not
     * queued. */
    released_list released;
  };

  enum class delivery : std::uint8_t
  {
    in_order, /* the next entry, as queued */
    newest,   /* the newest frame: the older ones are dropped (superseded) */
  };

  enum class handover_status : std::uint8_t
  {
    handed_over,
    timed_out,
    /* Flushing, unlinked or failed: the owner stops its consumer thread
     * (stop_if_halted) until resume() or relink() starts it again. */
    halted,
  };

  struct handover
  {
    handover_status status = handover_status::timed_out;
    Payload item{};
    bool is_frame = false;
    marker_kind marker = marker_kind::plain;
    std::uint64_t ticket = 0;
    /* Frames were dropped right before this frame in stream order. */
    bool discont = false;
    /* Handed over only so that the newer frames of its chain held behind it
     * can be decoded (see decode_mode::on_demand): not to be analysed. */
    bool decode_only = false;
    std::uint64_t sequence = 0;
    std::uint64_t bytes = 0;
    std::int64_t time_ns = no_time;
    /* Its age now (see hand_over()), when known. */
    std::optional<std::uint64_t> age_ns;
    /* With a capture time (frame_desc::timestamp_running_ns): its age by
     * its own timestamp, beside. */
    std::optional<std::uint64_t> timestamp_age_ns;
    in_flight_charge charge;
    /* Frames dropped on the way (too old, superseded). */
    released_list released;
  };

  struct failure_outcome
  {
    /* The producer had already ended the stream (an end_of_stream marker
     * was admitted): it will not see a flow return any more. */
    bool stream_had_ended = false;
    released_list released;
  };

  frame_keeper () = default;
  frame_keeper (const frame_keeper &) = delete;
  frame_keeper &operator= (const frame_keeper &) = delete;

  /* ---- producer ---------------------------------------------------- */

  /* Admits a frame (see the class comment). Blocks only while the policy
   * in force is none and the frame does not fit. `hooks` are called with
   * the lock released: full() before the policy applies, room_after_wait()
   * after a wait. */
  template <typename Hooks = silent_hooks>
  admit_outcome admit_frame (Payload frame, const frame_desc &desc,
                             Hooks &&hooks = Hooks ())
  {
    admit_outcome out;
    std::unique_lock<std::mutex> lock (mutex_);
    if (refuses_frames_locked ())
      {
        refuse_frame_locked (out, std::move (frame), desc);
        return out;
      }
    note_arrival_locked (desc, out.note);
    if (const std::optional<drop_reason> reason = chain_refuses_locked (desc))
      {
        drop_arriving_locked (out, std::move (frame), desc, *reason);
        return out;
      }

    bool signalled_full = false, waited = false, signalled_room = false;
    for (;;)
      {
        if (fits_locked (&desc))
          {
            if (!waited || signalled_room || !hooks.active ())
              break;
            signalled_room = true;
            lock.unlock ();
            hooks.room_after_wait ();
            lock.lock ();
          }
        else if (hooks.active () && !signalled_full)
          {
            /* As queue: the handler may change the limits, or unblock
             * downstream; everything is checked again. */
            signalled_full = true;
            lock.unlock ();
            hooks.full ();
            lock.lock ();
          }
        else
          {
            const leak_policy policy = policy_in_force_locked ();
            if (policy == leak_policy::drop_oldest)
              {
                out.held_dropped += drop_oldest_until_fits_locked (
                    &desc,
                    newest_only_ ? drop_reason::superseded
                                 : drop_reason::overflow,
                    out.released);
                break;
              }
            if (policy == leak_policy::drop_arriving)
              {
                drop_arriving_locked (out, std::move (frame), desc,
                                      drop_reason::overflow);
                return out;
              }
            waited = true;
            producers_waiting_++;
            /* A consumer waiting for a threshold takes what is held now. */
            if (consumer_waiting_ > 0)
              items_.notify_one ();
            room_.wait (lock);
            producers_waiting_--;
          }
        if (refuses_frames_locked ())
          {
            /* Halted while it waited (or while a hook ran): refused. */
            refuse_frame_locked (out, std::move (frame), desc);
            return out;
          }
      }

    std::shared_ptr<memory_budget> budget
        = membership_ ? membership_->budget () : nullptr;
    if (budget && !reserve_locked (*budget, desc.bytes, out))
      {
        drop_arriving_locked (out, std::move (frame), desc,
                              drop_reason::budget);
        return out;
      }
    if (desc.unit == unit_kind::key)
      /* The room made for it may have cut the chain before it short: the
       * chain it starts is whole. */
      chain_broken_ = false;
    else if (chain_broken_)
      {
        /* The room made for it took the frames it needs (or the consumer
         * dropped them while a hook ran). */
        if (budget)
          budget->release (desc.bytes);
        drop_arriving_locked (out, std::move (frame), desc,
                              drop_reason::broken_chain);
        return out;
      }

    out.sequence = ++received_;
    entry &queued = entries_.push_slot ();
    queued.item = std::move (frame);
    queued.is_frame = true;
    queued.marker = marker_kind::plain;
    queued.discont = std::exchange (pending_discont_, false);
    queued.unit = desc.unit;
    if (desc.unit != unit_kind::key)
      held_deltas_++;
    queued.bytes = desc.bytes;
    queued.time_ns = desc.time_ns;
    queued.timestamp_running_ns = desc.timestamp_running_ns;
    queued.arrival_running_ns = desc.arrival_running_ns;
    /* A frame without a running time is aged from its arrival, and only
     * when max-age asks for it: the steady clock is not free. */
    queued.arrival = desc.time_ns == no_time && freshness_.max_age () != 0
                         ? now_ ()
                         : clock::time_point ();
    queued.sequence = out.sequence;
    queued.ticket = 0;
    queued.budget = std::move (budget);
    frames_++;
    bytes_ += desc.bytes;
    peak_bytes_ = std::max (peak_bytes_, bytes_ + accounts_->bytes_approx ());
    if (!warned_unbounded_ && limits_.unbounded () && !budget_caps_locked ())
      {
        warned_unbounded_ = true;
        if (out.note.kind == notice_kind::none)
          out.note = notice{ notice_kind::unbounded, 0, 0 };
      }
    wake_consumer (lock);
    return out;
  }

  /* Admits a marker. Never blocks, never dropped by the policy; refused by
   * the states the table says. A query gets a ticket for wait_ack(). */
  admit_outcome admit_marker (Payload marker, marker_kind kind)
  {
    admit_outcome out;
    std::unique_lock<std::mutex> lock (mutex_);
    if (!admits_marker_locked (kind))
      {
        refuse_locked (out, std::move (marker), kind);
        return out;
      }
    if (kind == marker_kind::new_stream
        && (state_ == stream_state::ended
            || state_ == stream_state::ended_downstream))
      state_ = stream_state::running;
    if (kind == marker_kind::end_of_stream)
      {
        if (state_ == stream_state::running
            || state_ == stream_state::ended_downstream)
          state_ = stream_state::ended;
        /* As queue: what is held is delivered whatever the thresholds. */
        thresholds_in_force_ = queue_thresholds ();
        if (flush_on_eos_)
          discard_frames_locked (drop_reason::flush, out.released);
      }
    entry &queued = entries_.push_slot ();
    queued = entry ();
    queued.item = std::move (marker);
    queued.marker = kind;
    if (kind == marker_kind::query)
      {
        queued.ticket = ++last_ticket_;
        tickets_.push_back (ticket_slot{ queued.ticket, ticket_state::queued });
        out.ticket = queued.ticket;
      }
    wake_consumer (lock);
    return out;
  }

  /* Producer of a query. Waits until the query with `ticket` was answered
   * by the consumer, or abandoned (flushed, or withdrawn while halted).
   * Never returns while the consumer is handling it, so its payload may be
   * freed as soon as this returns. */
  ack_result wait_ack (std::uint64_t ticket)
  {
    std::unique_lock<std::mutex> lock (mutex_);
    for (;;)
      {
        auto slot = find_ticket_locked (ticket);
        if (slot == tickets_.end ())
          return ack_result::abandoned;
        if (slot->state != ticket_state::queued
            && slot->state != ticket_state::in_process)
          {
            ack_result result = slot->state == ticket_state::accepted
                                    ? ack_result::accepted
                                : slot->state == ticket_state::refused
                                    ? ack_result::refused
                                    : ack_result::abandoned;
            tickets_.erase (slot);
            return result;
          }
        ack_waiting_++;
        acks_.wait (lock);
        ack_waiting_--;
      }
  }

  /* ---- consumer ---------------------------------------------------- */

  /* Hands over the next entry (see `delivery`), waiting until `deadline`
   * (or for ever without one) while there is nothing to hand over. Returns
   * halted at once while flushing, unlinked or failed. A frame older than
   * max-age is dropped on the way (counted) and the next one considered.
   * A frame's age is the owner's running clock now minus its running time:
   * `running_now`, read by the owner just before the call (no_time: none),
   * or, when this call had to wait, a fresh reading of set_running_clock()'s
   * clock. A frame without a running time is aged from its arrival when
   * max-age is set, else has no age. `hooks`, with the lock released:
   * empty() before waiting on an empty keeper, refilled() when an entry came
   * after that; once per transition. */
  template <typename Hooks = silent_hooks>
  handover hand_over (delivery mode = delivery::in_order,
                      std::optional<clock::time_point> deadline = std::nullopt,
                      std::int64_t running_now = no_time,
                      Hooks &&hooks = Hooks ())
  {
    handover out;
    bool waited = false;
    std::shared_ptr<memory_budget> reservation;
    std::unique_lock<std::mutex> lock (mutex_);
    for (;;)
      {
        if (halted_locked ())
          {
            out.status = handover_status::halted;
            return out;
          }
        if (deliverable_locked ())
          {
            if (underrun_signalled_)
              {
                underrun_signalled_ = false;
                lock.unlock ();
                hooks.refilled ();
                lock.lock ();
                continue;
              }
            if (waited && running_clock_ && entries_.front ().is_frame
                && entries_.front ().time_ns != no_time)
              {
                /* It came while this call waited: the reading is older. */
                waited = false;
                const running_clock read = running_clock_;
                void *context = running_clock_context_;
                lock.unlock ();
                running_now = read (context);
                lock.lock ();
                continue;
              }
            if (const std::optional<clock::duration> early
                = before_pace_locked ())
              {
                if (deadline && clock::now () >= *deadline)
                  {
                    out.status = handover_status::timed_out;
                    return out;
                  }
                clock::time_point until = clock::now () + *early;
                if (deadline && *deadline < until)
                  until = *deadline;
                consumer_waiting_++;
                items_.wait_until (lock, until);
                consumer_waiting_--;
                waited = true;
                continue;
              }
            if (take_next_locked (mode, running_now, out, reservation))
              break;
            continue; /* it was too old: consider the next one */
          }
        if (hooks.active () && !underrun_signalled_
            && (state_ == stream_state::running
                || state_ == stream_state::ended_downstream))
          {
            underrun_signalled_ = true;
            lock.unlock ();
            hooks.empty ();
            lock.lock ();
            continue;
          }
        /* Frames dropped on the way (too old) made room. */
        if (!out.released.empty () && producers_waiting_ > 0)
          room_.notify_all ();
        if (deadline && clock::now () >= *deadline)
          {
            out.status = handover_status::timed_out;
            return out;
          }
        consumer_waiting_++;
        if (deadline)
          items_.wait_until (lock, *deadline);
        else
          items_.wait (lock);
        consumer_waiting_--;
        waited = true;
      }
    /* One producer thread feeds a keeper. */
    const bool room = producers_waiting_ > 0;
    lock.unlock ();
    if (room)
      room_.notify_one ();
    if (out.is_frame)
      out.charge
          = in_flight_charge (*accounts_, std::move (reservation), out.bytes);
    return out;
  }

  /* Consumer: answers the query with `ticket` that it was handed. */
  void acknowledge (std::uint64_t ticket, bool accepted)
  {
    std::unique_lock<std::mutex> lock (mutex_);
    auto slot = find_ticket_locked (ticket);
    if (slot == tickets_.end ())
      return;
    slot->state = accepted ? ticket_state::accepted : ticket_state::refused;
    wake_ack_waiters (lock);
  }

  /* Consumer: downstream answered end-of-stream to a frame. Discards what
   * is held up to the next entry that can still be delivered (a new_stream
   * or end_of_stream marker), as queue does: frames count as flushed,
   * queries are refused. With nothing deliverable left, frames are refused
   * until a new stream (ended_downstream). */
  released_list downstream_ended ()
  {
    released_list released;
    std::unique_lock<std::mutex> lock (mutex_);
    bool deliverable = false;
    bool chain_cut = false;
    while (!entries_.empty () && !deliverable)
      {
        entry &head = entries_.front ();
        deliverable = !head.is_frame
                      && (head.marker == marker_kind::new_stream
                          || head.marker == marker_kind::end_of_stream);
        if (deliverable)
          break;
        entry skipped = take_locked (0);
        if (skipped.is_frame)
          {
            chain_cut |= skipped.unit != unit_kind::non_reference;
            discard_locked (std::move (skipped), drop_reason::flush,
                            released);
          }
        else if (skipped.marker == marker_kind::query)
          answer_locked (skipped.ticket, ticket_state::refused);
        else
          released.push_back (released_item{ std::move (skipped.item), false,
                                             skipped.marker });
      }
    if (chain_cut)
      /* A new segment does not start a new chain: the delta units after
       * the boundary may need what was discarded. */
      break_chain_from_locked (0, released);
    if (!deliverable && state_ == stream_state::running)
      state_ = stream_state::ended_downstream;
    /* Refused queries' producers, and a producer blocked for the room the
     * discarded frames made (it is refused now, or queues). */
    wake_all (lock);
    return released;
  }

  /* Consumer: downstream is not linked. The frames and events held stay
   * for when it is relinked; a producer blocked for room returns refused,
   * and queued queries are abandoned (as queue answers them), so that no
   * upstream thread waits on a consumer that has stopped. */
  failure_outcome downstream_unlinked ()
  {
    failure_outcome out;
    std::unique_lock<std::mutex> lock (mutex_);
    out.stream_had_ended = state_ == stream_state::ended;
    if (state_ == stream_state::running || state_ == stream_state::ended
        || state_ == stream_state::ended_downstream)
      state_ = stream_state::unlinked;
    withdraw_queued_queries_locked ();
    wake_all (lock);
    return out;
  }

  /* Consumer: downstream failed with the owner's `code`. Everything held is
   * released (frames counted as flushed, queries abandoned); frames and
   * most markers are refused until flush_start() and resume(). */
  failure_outcome downstream_failed (int code)
  {
    failure_outcome out;
    std::unique_lock<std::mutex> lock (mutex_);
    out.stream_had_ended = state_ == stream_state::ended;
    if (state_ != stream_state::flushing)
      {
        state_ = stream_state::failed;
        failure_code_ = code;
      }
    drain_locked (out.released);
    wake_all (lock);
    return out;
  }

  /* ---- any thread -------------------------------------------------- */

  /* Downstream may be linked again: an unlinked keeper delivers again (or
   * goes on ending, when an end of stream is still held), and `then` runs
   * under the lock (see resume()). Returns whether it was unlinked. */
  template <typename Then> bool relink (Then then)
  {
    std::unique_lock<std::mutex> lock (mutex_);
    if (state_ != stream_state::unlinked)
      return false;
    state_ = newest_boundary_is_end_locked () ? stream_state::ended
                                              : stream_state::running;
    then ();
    wake_consumer (lock);
    return true;
  }

  bool relink ()
  {
    return relink ([] {});
  }

  /* Stops everything: producers and consumer return, queued queries are
   * abandoned (in process ones are not: their answer comes). Held entries
   * stay until drain(). */
  void flush_start ()
  {
    std::unique_lock<std::mutex> lock (mutex_);
    state_ = stream_state::flushing;
    withdraw_queued_queries_locked ();
    wake_all (lock);
  }

  /* Removes every entry: frames are counted as flushed, queries abandoned;
   * the rest is given back (the owner keeps the sticky ones). Forgets a
   * pending discontinuity. */
  released_list drain ()
  {
    released_list released;
    std::unique_lock<std::mutex> lock (mutex_);
    drain_locked (released);
    wake_all (lock);
    return released;
  }

  /* Runs again from a clean stream state (activation, FLUSH_STOP): the
   * thresholds are back, the late-arrival warning may come again. Then
   * calls `then` under the same lock: what the owner starts there (its
   * consumer thread) cannot be undone by a consumer that saw it halted and
   * stops itself in stop_if_halted(). */
  template <typename Then> void resume (Then then)
  {
    std::unique_lock<std::mutex> lock (mutex_);
    resume_locked ();
    then ();
    wake_all (lock);
  }

  void resume ()
  {
    resume ([] {});
  }

  /* resume(), only if halted (flushing, unlinked or failed): a second
   * activation of a running keeper changes nothing. */
  template <typename Then> void resume_if_halted (Then then)
  {
    std::unique_lock<std::mutex> lock (mutex_);
    if (!halted_locked ())
      return;
    resume_locked ();
    then ();
    wake_all (lock);
  }

  /* Consumer: calls `stop` under the lock if the keeper is still halted
   * (see resume()); returns whether it did. */
  template <typename Stop> bool stop_if_halted (Stop stop)
  {
    std::lock_guard<std::mutex> lock (mutex_);
    if (!halted_locked ())
      return false;
    stop ();
    return true;
  }

  /* New limits take effect at once: with drop_oldest in force, frames over
   * them are dropped (overflow) and given back; a blocked producer
   * re-checks. */
  released_list set_limits (const queue_limits &limits)
  {
    return update_limits ([&] (queue_limits &in_force) { in_force = limits; });
  }

  /* Like set_limits(), changing the limits with `change` (a callable taking
   * queue_limits&) in one step. */
  template <typename Change> released_list update_limits (Change change)
  {
    return reconfigure ([&] {
      change (limits_);
      warned_unbounded_ = false;
    });
  }

  released_list set_policy (leak_policy policy)
  {
    return reconfigure ([&] { policy_ = policy; });
  }

  /* Whether upstream is live. Not live (and leak_when_not_live off), the
   * policy in force is none and max-age drops nothing: a file is read at
   * the consumer's pace, every frame. */
  released_list set_upstream_live (bool live)
  {
    return reconfigure ([&] { upstream_live_ = live; });
  }

  released_list set_leak_when_not_live (bool leak)
  {
    return reconfigure ([&] { leak_when_not_live_ = leak; });
  }

  void set_thresholds (const queue_thresholds &thresholds)
  {
    update_thresholds ([&] (queue_thresholds &in_force) {
      in_force = thresholds;
    });
  }

  /* Like set_thresholds(), changing them with `change` (a callable taking
   * queue_thresholds&) in one step. */
  template <typename Change> void update_thresholds (Change change)
  {
    std::unique_lock<std::mutex> lock (mutex_);
    change (thresholds_);
    thresholds_in_force_ = thresholds_;
    wake_consumer (lock);
  }

  void set_max_age (std::uint64_t max_age_ns)
  {
    std::lock_guard<std::mutex> lock (mutex_);
    freshness_.set_max_age (max_age_ns);
  }

  void set_flush_on_eos (bool flush)
  {
    std::lock_guard<std::mutex> lock (mutex_);
    flush_on_eos_ = flush;
  }

  /* The consumer takes only the newest frame (hand_over with
   * delivery::newest): a held frame that a newer arrival pushes out could
   * never have been handed over, so its drop counts as superseded rather
   * than overflow. */
  void set_newest_only (bool newest_only)
  {
    std::lock_guard<std::mutex> lock (mutex_);
    newest_only_ = newest_only;
  }

  /* How much of each chain of encoded video is handed over (see
   * decode_mode); hand over with delivery::newest for any mode but all. */
  void set_decode_mode (decode_mode mode)
  {
    std::unique_lock<std::mutex> lock (mutex_);
    decode_mode_ = mode;
    wake_consumer (lock);
  }

  /* The consumer's pace: at most one frame (decode-only ones aside) per
   * `interval_ns`, the newest when it is due; 0: as fast as it asks. */
  void set_pace (std::uint64_t interval_ns)
  {
    std::unique_lock<std::mutex> lock (mutex_);
    pace_ns_ = interval_ns;
    wake_consumer (lock);
  }

  /* Joins, leaves (empty name) or re-caps a process-wide memory budget:
   * the held and in-flight bytes of its members never pass the smallest
   * non-zero cap they ask for. Frames already reserved stay in the budget
   * they were admitted under until they go. */
  void set_budget (std::optional<std::string> name,
                   std::optional<std::uint64_t> cap)
  {
    std::lock_guard<std::mutex> lock (mutex_);
    if (cap)
      budget_cap_ = *cap;
    if (name && *name != budget_name_)
      {
        budget_name_ = *name;
        membership_.reset ();
        if (!budget_name_.empty ())
          membership_.emplace (budget_name_, budget_cap_);
      }
    else if (membership_)
      membership_->set_cap (budget_cap_);
    warned_unbounded_ = warned_over_budget_ = false;
  }

  /* The owner's running clock (see running_clock), to refresh a reading
   * hand_over() was given when it had to wait. */
  void set_running_clock (running_clock clock, void *context)
  {
    std::lock_guard<std::mutex> lock (mutex_);
    running_clock_ = clock;
    running_clock_context_ = context;
  }

  /* For tests: the clock arrivals are stamped with. */
  void set_clock (now_function now)
  {
    std::lock_guard<std::mutex> lock (mutex_);
    now_ = now;
  }

  queue_limits limits () const { return read ([&] { return limits_; }); }
  leak_policy policy () const { return read ([&] { return policy_; }); }
  queue_thresholds thresholds () const
  {
    return read ([&] { return thresholds_; });
  }
  /* Lock-free: the owner asks per frame whether to read its clock. */
  std::uint64_t max_age () const { return freshness_.max_age (); }
  bool flush_on_eos () const { return read ([&] { return flush_on_eos_; }); }
  bool leak_when_not_live () const
  {
    return read ([&] { return leak_when_not_live_; });
  }
  std::string budget_name () const
  {
    return read ([&] { return budget_name_; });
  }
  std::uint64_t budget_cap () const
  {
    return read ([&] { return budget_cap_; });
  }

  /* The frames held now; racy by nature. */
  queue_level level_approx () const
  {
    return read ([&] {
      return queue_level{ frames_, bytes_, span_locked (nullptr) };
    });
  }

  /* Racy by nature. */
  stream_state state_approx () const { return read ([&] { return state_; }); }

  /* Whether the consumer waits in hand_over() now; racy by nature (for
   * tests and logs). */
  bool consumer_waiting_approx () const
  {
    return read ([&] { return consumer_waiting_ > 0; });
  }

  /* Producers blocked for room now; racy by nature (for tests and logs). */
  unsigned blocked_producers_approx () const
  {
    return read ([&] { return producers_waiting_; });
  }

  keeper_stats stats () const
  {
    keeper_stats stats;
    age_window ages, timestamp_ages;
    std::shared_ptr<memory_budget> budget;
    {
      std::lock_guard<std::mutex> lock (mutex_);
      stats.received = received_;
      stats.handed_over = handed_over_;
      stats.decode_only = decode_only_;
      stats.decoding = decoding_locked ();
      stats.key_interval_ns = key_interval_.interval_ns ();
      stats.drops = drops_;
      stats.held_frames = frames_;
      stats.held_chains = chains_locked ();
      stats.held_bytes = bytes_;
      stats.held_span_ns = span_locked (nullptr);
      stats.peak_bytes = peak_bytes_;
      stats.upstream_live = upstream_live_;
      ages = ages_;
      timestamp_ages = timestamp_ages_;
      if (membership_)
        {
          budget = membership_->budget ();
          stats.budget_name = budget_name_;
        }
    }
    /* Sorted outside the lock: the streaming threads take it per frame. */
    stats.ages = ages.summary ();
    stats.timestamp_ages = timestamp_ages.summary ();
    stats.in_flight_frames = accounts_->frames_approx ();
    stats.in_flight_bytes = accounts_->bytes_approx ();
    if (budget)
      {
        stats.has_budget = true;
        stats.budget_cap = budget->cap_approx ();
        stats.budget_used = budget->used_approx ();
      }
    return stats;
  }

private:
  enum class ticket_state : std::uint8_t
  {
    queued,
    in_process,
    accepted,
    refused,
    abandoned,
  };

  struct ticket_slot
  {
    std::uint64_t ticket;
    ticket_state state;
  };

  struct entry
  {
    Payload item{};
    bool is_frame = false;
    marker_kind marker = marker_kind::plain;
    bool discont = false;
    unit_kind unit = unit_kind::key;
    std::uint64_t bytes = 0;
    std::int64_t time_ns = no_time;
    std::int64_t timestamp_running_ns = no_time;
    /* The owner's running clock when it arrived (when known): how long it
     * has been held, for max-age while arrivals are late. */
    std::int64_t arrival_running_ns = no_time;
    clock::time_point arrival{};
    std::uint64_t sequence = 0;
    std::uint64_t ticket = 0;
    /* The budget its bytes are reserved in, if any. */
    std::shared_ptr<memory_budget> budget;
  };

  template <typename Read> auto read (Read reader) const
  {
    std::lock_guard<std::mutex> lock (mutex_);
    return reader ();
  }

  /* ---- waking: only whoever waits ----------------------------------- */

  void wake_consumer (std::unique_lock<std::mutex> &lock)
  {
    const bool waiting = consumer_waiting_ > 0;
    lock.unlock ();
    if (waiting)
      items_.notify_one ();
  }

  void wake_ack_waiters (std::unique_lock<std::mutex> &lock)
  {
    const bool waiting = ack_waiting_ > 0;
    lock.unlock ();
    if (waiting)
      acks_.notify_all ();
  }

  void wake_all (std::unique_lock<std::mutex> &lock)
  {
    const bool consumer = consumer_waiting_ > 0;
    const bool producers = producers_waiting_ > 0;
    const bool acks = ack_waiting_ > 0;
    lock.unlock ();
    if (consumer)
      items_.notify_all ();
    if (producers)
      room_.notify_all ();
    if (acks)
      acks_.notify_all ();
  }

  /* ---- the rules ---------------------------------------------------- */

  /* A clean stream state (see resume()). */
  void resume_locked ()
  {
    state_ = stream_state::running;
    failure_code_ = 0;
    thresholds_in_force_ = thresholds_;
    underrun_signalled_ = false;
    freshness_.reset ();
    /* Flushed (or just activated): the decoder after starts again too. */
    chain_broken_ = false;
    batch_open_ = false;
  }

  /* No hand-over until resume() or relink(). */
  bool halted_locked () const
  {
    return state_ == stream_state::flushing || state_ == stream_state::unlinked
           || state_ == stream_state::failed;
  }

  bool refuses_frames_locked () const
  {
    return state_ != stream_state::running;
  }

  bool admits_marker_locked (marker_kind kind) const
  {
    switch (state_)
      {
      case stream_state::running:
      case stream_state::ended_downstream:
        return true;
      case stream_state::ended:
        return kind == marker_kind::new_stream || kind == marker_kind::query;
      case stream_state::unlinked:
      case stream_state::failed:
      case stream_state::flushing:
        return kind == marker_kind::sticky || kind == marker_kind::new_stream;
      }
    return false;
  }

  /* Dropping (by limits or age) is allowed: upstream is live, or the user
   * asked to drop for a non-live upstream as well. */
  bool may_drop_locked () const { return upstream_live_ || leak_when_not_live_; }

  leak_policy policy_in_force_locked () const
  {
    return may_drop_locked () ? policy_ : leak_policy::none;
  }

  bool budget_caps_locked () const
  {
    return membership_ && membership_->budget ()->cap_approx () != 0;
  }

  void note_arrival_locked (const frame_desc &desc, notice &note)
  {
    if (!may_drop_locked () || freshness_.max_age () == 0)
      return;
    const std::uint64_t age
        = desc.time_ns != no_time
              ? ns_after (desc.arrival_running_ns, desc.time_ns)
              : 0;
    if (freshness_.note_arrival (age))
      note = notice{ notice_kind::arrivals_too_old, age, freshness_.max_age () };
  }

  /* Whether the arriving frame must go for its chain's sake: a delta unit
   * whose chain was broken, or any delta unit while key units alone are
   * handed over. A key unit starts a whole chain again. */
  std::optional<drop_reason> chain_refuses_locked (const frame_desc &desc)
  {
    if (desc.unit == unit_kind::key)
      {
        chain_broken_ = false;
        key_interval_.key_unit_at (desc.time_ns);
        return std::nullopt;
      }
    if (decoding_locked () == decode_mode::key_units)
      return drop_reason::skipped_delta;
    if (chain_broken_)
      return drop_reason::broken_chain;
    return std::nullopt;
  }

  decode_mode decoding_locked () const
  {
    return decode_mode_in_force (decode_mode_, pace_ns_, freshness_.max_age (),
                                 key_interval_.interval_ns ());
  }

  /* The chains held: the key units, and the delta units at the head whose
   * key unit was handed over already. Frames of raw video are one each. */
  std::uint32_t chains_locked () const
  {
    if (held_deltas_ == 0)
      return frames_;
    const std::uint32_t keys = frames_ - held_deltas_;
    return entries_[oldest_frame_index_locked ()].unit == unit_kind::key
               ? keys
               : keys + 1;
  }

  /* A frame about to arrive, for the limits. */
  std::uint64_t span_locked (const frame_desc *arriving) const
  {
    std::int64_t oldest = no_time;
    std::int64_t newest = no_time;
    for (std::size_t i = 0; i < entries_.size (); i++)
      if (entries_[i].is_frame && entries_[i].time_ns != no_time)
        {
          oldest = entries_[i].time_ns;
          break;
        }
    if (arriving && arriving->time_ns != no_time)
      newest = arriving->time_ns;
    else
      for (std::size_t i = entries_.size (); i-- > 0;)
        if (entries_[i].is_frame && entries_[i].time_ns != no_time)
          {
            newest = entries_[i].time_ns;
            break;
          }
    if (oldest == no_time && arriving)
      oldest = arriving->time_ns;
    if (oldest == no_time || newest == no_time)
      return 0;
    return ns_after (newest, oldest);
  }

  /* Whether the held frames plus `arriving` (if any) are within the
   * limits. An empty keeper always takes one frame, and one chain always
   * takes its next delta unit. */
  bool fits_locked (const frame_desc *arriving) const
  {
    const bool starts_chain
        = arriving && (arriving->unit == unit_kind::key || frames_ == 0);
    const std::uint32_t chains = chains_locked () + (starts_chain ? 1 : 0);
    const std::uint64_t bytes = bytes_ + (arriving ? arriving->bytes : 0);
    if (chains <= 1)
      return true;
    if (limits_.max_frames > 0 && chains > limits_.max_frames)
      return false;
    if (limits_.max_bytes > 0 && bytes > limits_.max_bytes)
      return false;
    if (limits_.max_span_ns > 0 && span_locked (arriving) > limits_.max_span_ns)
      return false;
    return true;
  }

  /* At a limit now (queue's "filled"). */
  bool filled_locked () const
  {
    return (limits_.max_frames > 0 && chains_locked () >= limits_.max_frames)
           || (limits_.max_bytes > 0 && bytes_ >= limits_.max_bytes)
           || (limits_.max_span_ns > 0
               && span_locked (nullptr) >= limits_.max_span_ns);
  }

  /* Something can be handed over: an entry, and no threshold to wait for
   * (a marker at the tail or a limit reached end the wait). */
  bool deliverable_locked () const
  {
    if (entries_.empty ())
      return false;
    if (thresholds_in_force_.none ())
      return true;
    /* A producer blocked for room would wait for ever otherwise. */
    const entry &tail = entries_[entries_.size () - 1];
    if (!tail.is_frame || filled_locked () || producers_waiting_ > 0)
      return true;
    const queue_thresholds &wait = thresholds_in_force_;
    const bool below
        = (wait.frames > 0 && frames_ < wait.frames)
          || (wait.bytes > 0 && bytes_ < wait.bytes)
          || (wait.span_ns > 0 && span_locked (nullptr) < wait.span_ns);
    return !below;
  }

  /* ---- the one place drops are counted ------------------------------ */

  void count_drop_locked (drop_reason reason, std::uint64_t bytes)
  {
    drop_tally &tally = drops_[static_cast<std::size_t> (reason)];
    tally.frames++;
    tally.bytes += bytes;
  }

  /* A held frame goes: counted, its reservation returned to the budget it
   * was admitted under, its payload given back. */
  void discard_locked (entry &&dropped, drop_reason reason,
                       released_list &released)
  {
    count_drop_locked (reason, dropped.bytes);
    if (dropped.budget)
      {
        dropped.budget->release (dropped.bytes);
        dropped.budget.reset ();
      }
    released.push_back (
        released_item{ std::move (dropped.item), true, dropped.marker });
  }

  /* The held frame at `index` goes (see discard_locked()). */
  void discard_at_locked (std::size_t index, drop_reason reason,
                          released_list &released)
  {
    entry &dropped = entries_[index];
    forget_held_locked (dropped);
    discard_locked (std::move (dropped), reason, released);
    if (index == 0)
      entries_.pop_front ();
    else
      entries_.take (index);
  }

  /* The arriving frame is received, and goes; unless nothing needs it, the
   * delta units after it must go too. */
  void drop_arriving_locked (admit_outcome &out, Payload &&frame,
                             const frame_desc &desc, drop_reason reason)
  {
    out.sequence = ++received_;
    count_drop_locked (reason, desc.bytes);
    pending_discont_ = true;
    if (desc.unit != unit_kind::non_reference)
      chain_broken_ = true;
    out.status = admit_status::dropped;
    out.reason = reason;
    out.released.push_back (released_item{ std::move (frame), true,
                                           marker_kind::plain });
  }

  /* A refused frame never reaches the decoder either: the delta units
   * after it cannot be decoded, until a flush starts over (resume()). */
  void refuse_frame_locked (admit_outcome &out, Payload &&frame,
                            const frame_desc &desc)
  {
    if (desc.unit != unit_kind::non_reference)
      chain_broken_ = true;
    refuse_locked (out, std::move (frame));
  }

  void refuse_locked (admit_outcome &out, Payload &&item,
                      std::optional<marker_kind> kind = std::nullopt)
  {
    out.status = admit_status::refused;
    out.refused_in = state_;
    out.failure_code = failure_code_;
    out.released.push_back (released_item{
        std::move (item), !kind.has_value (), kind.value_or (marker_kind::plain) });
  }

  /* ---- entries ------------------------------------------------------ */

  entry take_locked (std::size_t index)
  {
    entry taken = entries_.take (index);
    if (taken.is_frame)
      forget_held_locked (taken);
    return taken;
  }

  /* A held frame leaves the counts of what is held. */
  void forget_held_locked (const entry &frame)
  {
    frames_--;
    bytes_ -= frame.bytes;
    if (frame.unit != unit_kind::key)
      held_deltas_--;
  }

  /* The held frame at `index` goes for `reason`, and unless nothing needs
   * it, so do the delta units after it up to the next key unit (a broken
   * chain); with no key unit held after it, arriving delta units will go
   * too. The next frame kept follows a gap. Returns how many went. */
  std::size_t discard_chain_at_locked (std::size_t index, drop_reason reason,
                                       released_list &released)
  {
    const bool needed = entries_[index].unit != unit_kind::non_reference;
    discard_at_locked (index, reason, released);
    std::size_t dropped = 1;
    if (needed)
      dropped += break_chain_from_locked (index, released);
    mark_gap_locked (index);
    return dropped;
  }

  /* A frame the held delta units from `index` on need went: they go
   * (broken chain) up to the next key unit, or with none held, arriving
   * delta units will. Returns how many went. */
  std::size_t break_chain_from_locked (std::size_t index,
                                       released_list &released)
  {
    std::size_t dropped = 0;
    for (std::size_t i = index;;)
      {
        if (i == entries_.size ())
          {
            chain_broken_ = true;
            return dropped;
          }
        if (!entries_[i].is_frame)
          {
            i++;
            continue;
          }
        if (entries_[i].unit == unit_kind::key)
          return dropped;
        discard_at_locked (i, drop_reason::broken_chain, released);
        dropped++;
      }
  }

  /* The first frame from `index` on follows a gap; with none held, the
   * next frame to arrive does. */
  void mark_gap_locked (std::size_t index)
  {
    for (std::size_t i = index; i < entries_.size (); i++)
      if (entries_[i].is_frame)
        {
          entries_[i].discont = true;
          return;
        }
    pending_discont_ = true;
  }

  std::size_t oldest_frame_index_locked () const
  {
    std::size_t i = 0;
    while (!entries_[i].is_frame)
      i++;
    return i;
  }

  /* Drops the oldest frames until the held ones plus `arriving` fit (with
   * no arrival, one frame always stays). Returns how many. */
  std::size_t drop_oldest_until_fits_locked (const frame_desc *arriving,
                                             drop_reason reason,
                                             released_list &released)
  {
    std::size_t dropped = 0;
    while (frames_ > 0 && !fits_locked (arriving))
      {
        if (!arriving && chains_locked () == 1)
          break;
        dropped += discard_chain_at_locked (oldest_frame_index_locked (),
                                            reason, released);
      }
    return dropped;
  }

  /* Every held frame goes: unless nothing needs them (non-reference units
   * alone), delta units arriving next have lost their chain. */
  void discard_frames_locked (drop_reason reason, released_list &released)
  {
    while (frames_ > 0)
      {
        const std::size_t oldest = oldest_frame_index_locked ();
        if (entries_[oldest].unit != unit_kind::non_reference)
          chain_broken_ = true;
        discard_at_locked (oldest, reason, released);
      }
  }

  /* Reserves `bytes` in the budget, dropping this keeper's oldest held
   * frames while they do not fit. False when even an empty keeper has no
   * room: the arriving frame must go. */
  bool reserve_locked (memory_budget &budget, std::uint64_t bytes,
                       admit_outcome &out)
  {
    while (!budget.try_reserve (bytes))
      {
        if (frames_ == 0)
          {
            const std::uint64_t cap = budget.cap_approx ();
            if (cap != 0 && bytes > cap && !warned_over_budget_)
              {
                warned_over_budget_ = true;
                out.note = notice{ notice_kind::frame_over_budget, bytes, cap };
              }
            return false;
          }
        out.held_dropped += discard_chain_at_locked (
            oldest_frame_index_locked (), drop_reason::budget, out.released);
      }
    return true;
  }

  /* Takes the next entry for hand_over(). False when it was a frame that
   * got too old (dropped and counted): the caller looks again. */
  bool take_next_locked (delivery mode, std::int64_t running_now,
                         handover &out,
                         std::shared_ptr<memory_budget> &reservation)
  {
    if (mode == delivery::newest)
      while (entries_.front ().is_frame
             && (chains_locked () > 1
                 || (entries_.front ().unit == unit_kind::non_reference
                     && frames_ > 1)))
        {
          /* A newer chain is held (or a newer frame, and nothing needs
           * this one): it will never be handed over. */
          discard_chain_at_locked (0, drop_reason::superseded, out.released);
        }
    entry &next = entries_.front ();
    if (!next.is_frame)
      {
        if (next.marker == marker_kind::query)
          answer_locked (next.ticket, ticket_state::in_process);
        out.status = handover_status::handed_over;
        out.item = std::move (next.item);
        out.marker = next.marker;
        out.ticket = next.ticket;
        entries_.pop_front ();
        return true;
      }
    /* On request, the frames of the newest chain before its newest frame
     * are handed over to be decoded, not looked at: their age is not the
     * question. */
    const bool decode_only = mode == delivery::newest && frames_ > 1;
    const std::optional<std::uint64_t> age = age_locked (next, running_now);
    if (age && !decode_only && may_drop_locked ()
        && freshness_.judge (*age, chains_locked () > 1, /* a newer one */
                             held_locked (next, running_now))
               == freshness_gate::verdict::drop)
      {
        discard_chain_at_locked (0, drop_reason::age, out.released);
        return false;
      }
    forget_held_locked (next);
    handed_over_++;
    batch_open_ = decode_only;
    if (decode_only)
      {
        decode_only_++;
        out.decode_only = true;
      }
    else if (pace_ns_ != 0)
      last_paced_ = now_ ();
    if (age && !decode_only)
      ages_.record (*age);
    if (next.timestamp_running_ns != no_time && running_now != no_time
        && !decode_only)
      {
        out.timestamp_age_ns = ns_after (running_now, next.timestamp_running_ns);
        timestamp_ages_.record (*out.timestamp_age_ns);
      }
    out.status = handover_status::handed_over;
    out.is_frame = true;
    out.item = std::move (next.item);
    out.discont = next.discont;
    out.sequence = next.sequence;
    out.bytes = next.bytes;
    out.time_ns = next.time_ns;
    out.age_ns = age;
    /* Charged in flight by the caller, outside the lock. */
    reservation = std::move (next.budget);
    entries_.pop_front ();
    return true;
  }

  /* How long the next frame is early for the consumer's pace, if it is:
   * a frame is handed over (decode-only ones aside) at most once per pace
   * interval. Markers are never held back. */
  std::optional<clock::duration> before_pace_locked () const
  {
    if (pace_ns_ == 0 || batch_open_ || !entries_[0].is_frame
        || last_paced_ == clock::time_point () || stream_keeps_pace_locked ())
      return std::nullopt;
    const clock::time_point due
        = last_paced_ + std::chrono::nanoseconds (pace_ns_);
    const clock::time_point now = now_ ();
    if (now >= due)
      return std::nullopt;
    return due - now;
  }

  /* Key units alone, coming no more than a tenth faster than the pace:
   * the stream paces itself. Holding a key unit back until its turn would
   * only age it, by the same lag every time (the first hand-over's phase
   * within the key interval), as the two periods are about equal. */
  bool stream_keeps_pace_locked () const
  {
    const std::uint64_t interval = key_interval_.interval_ns ();
    return interval != 0 && interval * 10 >= pace_ns_ * 9
           && decoding_locked () == decode_mode::key_units;
  }

  /* How long a frame has been held, if that can be told. */
  static std::optional<std::uint64_t> held_locked (const entry &frame,
                                                   std::int64_t running_now)
  {
    if (frame.arrival_running_ns == no_time || running_now == no_time)
      return std::nullopt;
    return ns_after (running_now, frame.arrival_running_ns);
  }

  /* How old a frame is now (see hand_over()), if that can be told. */
  std::optional<std::uint64_t> age_locked (const entry &frame,
                                           std::int64_t running_now) const
  {
    if (frame.time_ns != no_time)
      {
        if (running_now == no_time)
          return std::nullopt;
        return ns_after (running_now, frame.time_ns);
      }
    if (frame.arrival == clock::time_point ())
      return std::nullopt;
    const auto held = std::chrono::duration_cast<std::chrono::nanoseconds> (
                          now_ () - frame.arrival)
                          .count ();
    return static_cast<std::uint64_t> (std::max<std::int64_t> (held, 0));
  }

  /* Whether the newest stream boundary held is an end of stream. */
  bool newest_boundary_is_end_locked () const
  {
    for (std::size_t i = entries_.size (); i-- > 0;)
      {
        const entry &candidate = entries_[i];
        if (candidate.is_frame)
          continue;
        if (candidate.marker == marker_kind::end_of_stream)
          return true;
        if (candidate.marker == marker_kind::new_stream)
          return false;
      }
    return false;
  }

  void drain_locked (released_list &released)
  {
    while (!entries_.empty ())
      {
        entry drained = take_locked (0);
        if (drained.is_frame)
          discard_locked (std::move (drained), drop_reason::flush, released);
        else if (drained.marker == marker_kind::query)
          abandon_locked (std::move (drained));
        else
          released.push_back (released_item{ std::move (drained.item), false,
                                             drained.marker });
      }
    pending_discont_ = false;
    batch_open_ = false;
  }

  /* ---- queries ------------------------------------------------------ */

  typename std::vector<ticket_slot>::iterator
  find_ticket_locked (std::uint64_t ticket)
  {
    return std::find_if (
        tickets_.begin (), tickets_.end (),
        [ticket] (const ticket_slot &slot) { return slot.ticket == ticket; });
  }

  void answer_locked (std::uint64_t ticket, ticket_state state)
  {
    auto slot = find_ticket_locked (ticket);
    if (slot != tickets_.end ())
      slot->state = state;
  }

  /* The query's payload is destroyed here, under the lock, before its
   * producer can see the answer and free what it borrows. */
  void abandon_locked (entry &&query)
  {
    const std::uint64_t ticket = query.ticket;
    {
      entry gone = std::move (query);
    }
    answer_locked (ticket, ticket_state::abandoned);
  }

  void withdraw_queued_queries_locked ()
  {
    for (std::size_t i = 0; i < entries_.size ();)
      if (!entries_[i].is_frame && entries_[i].marker == marker_kind::query)
        abandon_locked (take_locked (i));
      else
        i++;
  }

  /* ---- reconfiguration ---------------------------------------------- */

  /* Applies `change` under the lock; with drop_oldest in force, the frames
   * that no longer fit go (overflow); a blocked producer re-checks. */
  template <typename Change> released_list reconfigure (Change change)
  {
    released_list dropped;
    std::unique_lock<std::mutex> lock (mutex_);
    change ();
    if (policy_in_force_locked () == leak_policy::drop_oldest)
      drop_oldest_until_fits_locked (nullptr, drop_reason::overflow, dropped);
    wake_all (lock);
    return dropped;
  }

  mutable std::mutex mutex_;
  std::condition_variable items_; /* the consumer waits for entries */
  std::condition_variable room_;  /* a blocked producer waits for room */
  std::condition_variable acks_;  /* query producers wait for answers */
  unsigned consumer_waiting_ = 0;
  unsigned producers_waiting_ = 0;
  unsigned ack_waiting_ = 0;

  ring_fifo<entry> entries_;
  std::uint32_t frames_ = 0;
  std::uint64_t bytes_ = 0;
  bool pending_discont_ = false;
  /* Encoded video: held delta and non-reference units; the newest chain
   * lost a frame and no key unit came since; a decode-only run is being
   * handed over (the pace waits for its end). */
  std::uint32_t held_deltas_ = 0;
  bool chain_broken_ = false;
  bool batch_open_ = false;
  decode_mode decode_mode_ = decode_mode::all;
  key_interval_meter key_interval_;
  std::uint64_t pace_ns_ = 0;
  clock::time_point last_paced_{};

  queue_limits limits_;
  leak_policy policy_ = leak_policy::drop_oldest;
  queue_thresholds thresholds_;
  queue_thresholds thresholds_in_force_;
  bool flush_on_eos_ = false;
  bool newest_only_ = false;
  bool upstream_live_ = true;
  bool leak_when_not_live_ = false;
  freshness_gate freshness_;

  stream_state state_ = stream_state::running;
  int failure_code_ = 0;
  bool underrun_signalled_ = false;

  std::string budget_name_;
  std::uint64_t budget_cap_ = 0;
  std::optional<budget_membership> membership_;
  bool warned_unbounded_ = false;
  bool warned_over_budget_ = false;

  std::uint64_t received_ = 0;
  std::uint64_t handed_over_ = 0;
  std::uint64_t decode_only_ = 0;
  std::array<drop_tally, drop_reason_count> drops_{};
  std::uint64_t peak_bytes_ = 0;
  age_window ages_;
  age_window timestamp_ages_;
  flight_accounts::owner accounts_ = flight_accounts::create ();

  std::uint64_t last_ticket_ = 0;
  std::vector<ticket_slot> tickets_;
  now_function now_ = &clock::now;
  running_clock running_clock_ = nullptr;
  void *running_clock_context_ = nullptr;
};

} // namespace latestframe
