/* latestframe — the keeper for threads: the single-threaded core behind one
 * mutex, with the waits and the hooks.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/keeper_core.h"
#include "latestframe/thread_annotations.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace latestframe
{

/* The owner's clock on the axis of frame times (the pipeline clock's
 * running time now), or no_time when it has none. The keeper calls it with
 * its lock released, only to refresh a reading that went stale while it
 * waited. */
using running_clock = std::int64_t (*) (void *context);

/* Hooks a keeper calls, with its lock released, at the points where
 * GStreamer's `queue` emits its signals; the keeper re-checks everything
 * after each. `silent_hooks` calls nothing. */
struct silent_hooks
{
  bool active () const { return false; }
  void full () {}            /* a frame arrived at a limit (overrun) */
  void room_after_wait () {} /* a blocked producer got room (running) */
  void empty () {}    /* nothing to hand over: about to wait (underrun) */
  void refilled () {} /* something to hand over again (running, pushing) */
};

/* keeper_core (the rules: see there) for a producer thread, a consumer
 * thread and anyone changing settings: one mutex around the core, three
 * condition variables, the hooks called with the mutex released, and the
 * clocks read here. It decides nothing: every call is "lock, ask the
 * core, do what it says (wait, call a hook, ask again), wake whoever
 * waits for what changed".
 *
 * Threads: one producer (admit_*) and one consumer at a time (hand_over,
 * push_next or pull_newest, downstream_*) are expected; every method is
 * thread-safe. Waits: a producer waits only when the core says
 * wait_for_room (leak_policy::none, or a non-live upstream being paced);
 * a consumer waits in its hand-over; a query's producer in wait_ack().
 * Condition variables are notified only when someone waits.
 *
 * The shape is moodycamel's BlockingReaderWriterQueue over its
 * ReaderWriterQueue: the blocking layer adds waiting, never rules. */
template <typename Payload>
class frame_keeper final : private budget_reclaimer
{
  using core_t = keeper_core<Payload>;

public:
  using clock = std::chrono::steady_clock;
  using now_function = clock::time_point (*) ();

  using released_item = typename core_t::released_item;
  using released_list = typename core_t::released_list;
  using notice_kind = typename core_t::notice_kind;
  using shown_because = typename core_t::shown_because;
  using notice = typename core_t::notice;
  using admit_status = typename core_t::admit_status;
  using admit_outcome = typename core_t::admit_outcome;
  using delivery = typename core_t::delivery;
  using handover_status = typename core_t::handover_status;
  using handover = typename core_t::handover;
  using failure_outcome = typename core_t::failure_outcome;

  frame_keeper ()
      : reclaimer_ (std::make_shared<reclaimer_slot> (
          static_cast<budget_reclaimer &> (*this)))
  {
    checked_lock lock (mutex_);
    core_.set_reclaimer (reclaimer_);
  }
  /* No other member's thread is in give_back_over_share() after this. */
  ~frame_keeper () { reclaimer_->withdraw (); }
  frame_keeper (const frame_keeper &) = delete;
  frame_keeper &operator= (const frame_keeper &) = delete;

  /* ---- producer ---------------------------------------------------- */

  /* Admits a frame (keeper_core::admit()). Waits only while the core says
   * wait_for_room. `hooks` are called with the lock released: full()
   * before the policy applies, room_after_wait() after a wait. */
  template <typename Hooks = silent_hooks>
  admit_outcome admit_frame (Payload frame, const frame_desc &desc,
                             Hooks &&hooks = Hooks ()) LF_EXCLUDES (mutex_)
  {
    admit_outcome out;
    typename core_t::arrival arriving;
    checked_lock lock (mutex_);
    for (;;)
      {
        arriving.hooks_active = hooks.active ();
        switch (core_.admit (frame, desc, arriving, out))
          {
          case core_t::admit_decision::queued:
            {
              const bool consumer = consumer_waiting_ > 0;
              lock.unlock ();
              if (consumer)
                items_.notify_one ();
              return out;
            }
          case core_t::admit_decision::dropped:
          case core_t::admit_decision::refused:
            return out;
          case core_t::admit_decision::wait_for_room:
            /* A consumer waiting for a threshold takes what is held now. */
            if (consumer_waiting_ > 0)
              items_.notify_one ();
            lock.wait (room_);
            break;
          case core_t::admit_decision::signal_full:
            /* As queue: the handler may change the limits, or unblock
             * downstream; the core checks everything again. */
            lock.unlock ();
            hooks.full ();
            lock.lock ();
            break;
          case core_t::admit_decision::signal_room:
            lock.unlock ();
            hooks.room_after_wait ();
            lock.lock ();
            break;
          case core_t::admit_decision::read_steady_clock:
            arriving.now = now_ ();
            arriving.now_known = true;
            break;
          case core_t::admit_decision::reclaim_budget:
            {
              /* Other keepers' locks are taken with this one let go: two
               * members reclaiming from each other cannot deadlock. */
              const budget_claim claim = core_.budget_claim_for (desc);
              lock.unlock ();
              claim.reclaim ();
              lock.lock ();
              break;
            }
          }
      }
  }

  /* Admits a marker (keeper_core::admit_marker()). Never waits. */
  admit_outcome admit_marker (Payload marker, marker_kind kind)
      LF_EXCLUDES (mutex_)
  {
    checked_lock lock (mutex_);
    admit_outcome out = core_.admit_marker (std::move (marker), kind);
    const bool consumer = consumer_waiting_ > 0;
    lock.unlock ();
    if (consumer)
      items_.notify_one ();
    return out;
  }

  /* Producer of a query. Waits until the query with `ticket` was answered
   * by the consumer, or abandoned (flushed, or withdrawn while halted).
   * Never returns while the consumer is handling it, so its payload may be
   * freed as soon as this returns. */
  ack_result wait_ack (std::uint64_t ticket) LF_EXCLUDES (mutex_)
  {
    checked_lock lock (mutex_);
    for (;;)
      {
        if (const std::optional<ack_result> result = core_.ack (ticket))
          return *result;
        ack_waiting_++;
        lock.wait (acks_);
        ack_waiting_--;
      }
  }

  /* ---- consumer ---------------------------------------------------- */

  /* Hands over the next entry by `mode` (keeper_core::take(), for a
   * consumer that names its delivery: tests, benchmarks), waiting until
   * `deadline` (or for ever without one) while there is nothing to hand
   * over. Returns halted at once while flushing, unlinked or failed.
   * `running_now` is the owner's running clock, read just before the call
   * (no_time: none); when the call had to wait, the clock given to
   * set_running_clock() is read again. `hooks`, with the lock released:
   * empty() before waiting on an empty keeper, refilled() when an entry
   * came after that; once per transition. */
  template <typename Hooks = silent_hooks>
  handover hand_over (delivery mode = delivery::in_order,
                      std::optional<clock::time_point> deadline = std::nullopt,
                      std::int64_t running_now = no_time,
                      Hooks &&hooks = Hooks ()) LF_EXCLUDES (mutex_)
  {
    return take (core_t::taker::anyone, mode, deadline, running_now, hooks);
  }

  /* hand_over() for the owner's thread that pushes downstream: the
   * delivery the plan says; halted too while an application takes the
   * frames on request (then pause_pusher_if_idle()). */
  template <typename Hooks = silent_hooks>
  handover push_next (std::optional<clock::time_point> deadline,
                      std::int64_t running_now, Hooks &&hooks = Hooks ())
      LF_EXCLUDES (mutex_)
  {
    return take (core_t::taker::pusher, delivery::in_order, deadline,
                 running_now, hooks);
  }

  /* hand_over() for an application taking the newest frame on request:
   * halted while the plan has the owner's thread push them. */
  template <typename Hooks = silent_hooks>
  handover pull_newest (std::optional<clock::time_point> deadline,
                        std::int64_t running_now, Hooks &&hooks = Hooks ())
      LF_EXCLUDES (mutex_)
  {
    return take (core_t::taker::reader, delivery::newest, deadline, running_now,
                 hooks);
  }

  /* The consumer answers the query with `ticket` that it was handed. */
  void acknowledge (std::uint64_t ticket, bool accepted) LF_EXCLUDES (mutex_)
  {
    checked_lock lock (mutex_);
    core_.acknowledge (ticket, accepted);
    const bool waiting = ack_waiting_ > 0;
    lock.unlock ();
    if (waiting)
      acks_.notify_all ();
  }

  /* keeper_core::downstream_ended(), and whoever waits re-checks. */
  released_list downstream_ended () LF_EXCLUDES (mutex_)
  {
    wake_on_exit wake (*this);
    checked_lock lock (mutex_);
    wake.note (waiting_now ());
    return core_.downstream_ended ();
  }

  failure_outcome downstream_unlinked () LF_EXCLUDES (mutex_)
  {
    wake_on_exit wake (*this);
    checked_lock lock (mutex_);
    wake.note (waiting_now ());
    return core_.downstream_unlinked ();
  }

  failure_outcome downstream_failed (int code) LF_EXCLUDES (mutex_)
  {
    wake_on_exit wake (*this);
    checked_lock lock (mutex_);
    wake.note (waiting_now ());
    return core_.downstream_failed (code);
  }

  /* ---- the pusher's thread -------------------------------------------
   * The owner's pushing thread stops itself when the core says it is idle
   * (pause_pusher_if_idle), and the calls that end idleness (resume,
   * relink, a plan that pushes) start it again with `start_pusher`, under
   * the same lock: a start can never be undone by a pusher that saw the
   * keeper idle just before. */

  /* Downstream may be linked again: an unlinked keeper delivers again (or
   * goes on ending, when an end of stream is still held). Returns whether
   * it was unlinked. */
  template <typename Start>
  bool relink (Start start_pusher) LF_EXCLUDES (mutex_)
  {
    wake_on_exit wake (*this);
    checked_lock lock (mutex_);
    wake.note (waiting_now ());
    if (!core_.relink ())
      return false;
    if (!core_.pusher_idle ())
      start_pusher ();
    return true;
  }
  bool relink ()
  {
    return relink ([] {});
  }

  /* Runs again from a clean stream state (activation, FLUSH_STOP). */
  template <typename Start>
  void resume (Start start_pusher) LF_EXCLUDES (mutex_)
  {
    wake_on_exit wake (*this);
    checked_lock lock (mutex_);
    wake.note (waiting_now ());
    core_.resume ();
    if (!core_.pusher_idle ())
      start_pusher ();
  }
  void resume ()
  {
    resume ([] {});
  }

  /* resume(), only if halted: a second activation of a running keeper
   * changes nothing. */
  template <typename Start>
  void resume_if_halted (Start start_pusher) LF_EXCLUDES (mutex_)
  {
    wake_on_exit wake (*this);
    checked_lock lock (mutex_);
    wake.note (waiting_now ());
    if (!core_.halted ())
      return;
    core_.resume ();
    if (!core_.pusher_idle ())
      start_pusher ();
  }

  /* The pusher: calls `stop` under the lock if it has nothing to do until
   * the keeper starts it again; returns whether it did. */
  template <typename Stop>
  bool pause_pusher_if_idle (Stop stop) LF_EXCLUDES (mutex_)
  {
    checked_lock lock (mutex_);
    if (!core_.pusher_idle ())
      return false;
    stop ();
    return true;
  }

  /* ---- any thread -------------------------------------------------- */

  /* Stops everything: producers and consumers return, queued queries are
   * abandoned (in process ones are not: their answer comes). Held entries
   * stay until drain(). */
  void flush_start () LF_EXCLUDES (mutex_)
  {
    wake_on_exit wake (*this);
    checked_lock lock (mutex_);
    wake.note (waiting_now ());
    core_.flush_start ();
  }

  /* Removes every entry (keeper_core::drain()). */
  released_list drain () LF_EXCLUDES (mutex_)
  {
    wake_on_exit wake (*this);
    checked_lock lock (mutex_);
    wake.note (waiting_now ());
    return core_.drain ();
  }

  /* New limits take effect at once: with drop_oldest in force, frames over
   * them are dropped (overflow) and given back; a blocked producer
   * re-checks. */
  released_list set_limits (const queue_limits &limits) LF_EXCLUDES (mutex_)
  {
    return update_limits ([&] (queue_limits &in_force) { in_force = limits; });
  }

  /* Like set_limits(), changing the limits with `change` (a callable taking
   * queue_limits&) in one step. */
  template <typename Change>
  released_list update_limits (Change change) LF_EXCLUDES (mutex_)
  {
    wake_on_exit wake (*this);
    checked_lock lock (mutex_);
    wake.note (waiting_now ());
    return core_.update_limits (change);
  }

  released_list set_policy (leak_policy policy) LF_EXCLUDES (mutex_)
  {
    wake_on_exit wake (*this);
    checked_lock lock (mutex_);
    wake.note (waiting_now ());
    return core_.set_policy (policy);
  }

  /* Whether upstream is live (a fact the owner learns). */
  released_list set_upstream_live (bool live) LF_EXCLUDES (mutex_)
  {
    wake_on_exit wake (*this);
    checked_lock lock (mutex_);
    wake.note (waiting_now ());
    return core_.set_upstream_live (live);
  }

  released_list set_leak_when_not_live (bool leak) LF_EXCLUDES (mutex_)
  {
    wake_on_exit wake (*this);
    checked_lock lock (mutex_);
    wake.note (waiting_now ());
    return core_.set_leak_when_not_live (leak);
  }

  void set_thresholds (const queue_thresholds &thresholds) LF_EXCLUDES (mutex_)
  {
    update_thresholds (
        [&] (queue_thresholds &in_force) { in_force = thresholds; });
  }

  /* Like set_thresholds(), changing them with `change` (a callable taking
   * queue_thresholds&) in one step. */
  template <typename Change>
  void update_thresholds (Change change) LF_EXCLUDES (mutex_)
  {
    wake_on_exit wake (*this);
    checked_lock lock (mutex_);
    wake.note (waiting_now ());
    core_.update_thresholds (change);
  }

  void set_max_age (std::uint64_t max_age_ns) LF_EXCLUDES (mutex_)
  {
    wake_on_exit wake (*this);
    checked_lock lock (mutex_);
    wake.note (waiting_now ());
    core_.set_max_age (max_age_ns);
    max_age_.store (max_age_ns, std::memory_order_relaxed);
  }

  void set_flush_on_eos (bool flush) LF_EXCLUDES (mutex_)
  {
    checked_lock lock (mutex_);
    core_.set_flush_on_eos (flush);
  }

  /* One apply: changes what the hand-over plan is made from (a callable
   * taking hand_over_request&: the caps' encoding, the decode mode, the
   * rate, who takes the frames) and applies the new plan, all under one
   * lock; then starts the pusher if the plan has it push. Whoever waits
   * re-checks (a pusher the plan no longer names goes idle, a reader the
   * plan no longer names returns). Returns the core's notice (a rate that
   * cannot apply, once). */
  template <typename Change, typename Start>
  notice update_request (Change change, Start start_pusher) LF_EXCLUDES (mutex_)
  {
    wake_on_exit wake (*this);
    checked_lock lock (mutex_);
    wake.note (waiting_now ());
    const notice note = core_.update_request (change);
    if (!core_.pusher_idle ())
      start_pusher ();
    return note;
  }
  template <typename Change> notice update_request (Change change)
  {
    return update_request (change, [] {});
  }

  /* keeper_core::set_budget(). */
  void set_budget (std::optional<std::string> name,
                   std::optional<std::uint64_t> cap) LF_EXCLUDES (mutex_)
  {
    checked_lock lock (mutex_);
    core_.set_budget (std::move (name), cap);
  }

  /* The owner's running clock (see running_clock), to refresh a reading a
   * hand-over was given when it had to wait. */
  void set_running_clock (running_clock read, void *context)
      LF_EXCLUDES (mutex_)
  {
    checked_lock lock (mutex_);
    running_clock_ = read;
    running_clock_context_ = context;
  }

  /* For tests: the steady clock arrivals and the pace are read from. */
  void set_clock (now_function now) LF_EXCLUDES (mutex_)
  {
    checked_lock lock (mutex_);
    now_ = now;
  }

  queue_limits limits () const LF_EXCLUDES (mutex_)
  {
    return read (&core_t::limits);
  }
  leak_policy policy () const LF_EXCLUDES (mutex_)
  {
    return read (&core_t::policy);
  }
  queue_thresholds thresholds () const LF_EXCLUDES (mutex_)
  {
    return read (&core_t::thresholds);
  }
  /* Lock-free (a copy kept beside the core's, written under the lock):
   * the owner asks per frame whether to read its clock. */
  std::uint64_t max_age () const
  {
    return max_age_.load (std::memory_order_relaxed);
  }
  bool flush_on_eos () const LF_EXCLUDES (mutex_)
  {
    return read (&core_t::flush_on_eos);
  }
  bool leak_when_not_live () const LF_EXCLUDES (mutex_)
  {
    return read (&core_t::leak_when_not_live);
  }
  std::string budget_name () const LF_EXCLUDES (mutex_)
  {
    return read (&core_t::budget_name);
  }
  std::uint64_t budget_cap () const LF_EXCLUDES (mutex_)
  {
    return read (&core_t::budget_cap);
  }
  hand_over_request request () const LF_EXCLUDES (mutex_)
  {
    return read (&core_t::request);
  }
  hand_over_plan plan () const LF_EXCLUDES (mutex_)
  {
    return read (&core_t::plan);
  }

  /* The frames held now; racy by nature. */
  queue_level level_approx () const LF_EXCLUDES (mutex_)
  {
    return read (&core_t::level);
  }

  /* Racy by nature. */
  stream_state state_approx () const LF_EXCLUDES (mutex_)
  {
    return read (&core_t::state);
  }

  /* Whether a consumer waits in its hand-over now; racy by nature (for
   * tests and logs). */
  bool consumer_waiting_approx () const LF_EXCLUDES (mutex_)
  {
    checked_lock lock (mutex_);
    return consumer_waiting_ > 0;
  }

  /* Producers blocked for room now; racy by nature (for tests and logs). */
  unsigned blocked_producers_approx () const LF_EXCLUDES (mutex_)
  {
    return read (&core_t::producers_waiting);
  }

  /* Every figure at one moment: the counts, levels and ages are consistent
   * with each other (read under the lock); the ages are summarised after
   * (a sort, kept off the lock the streaming threads take per frame). */
  keeper_stats stats () const LF_EXCLUDES (mutex_)
  {
    keeper_stats stats;
    age_window ages, timestamp_ages;
    std::shared_ptr<memory_budget> budget;
    {
      checked_lock lock (mutex_);
      core_.read_stats (stats, ages, timestamp_ages, budget);
      stats.in_flight_frames = core_.flight ().frames_approx ();
      stats.in_flight_bytes = core_.flight ().bytes_approx ();
    }
    stats.ages = ages.summary ();
    stats.timestamp_ages = timestamp_ages.summary ();
    if (budget)
      {
        stats.has_budget = true;
        stats.budget_cap = budget->cap_approx ();
        stats.budget_used = budget->used_approx ();
      }
    return stats;
  }

  /* keeper_core::check_invariants(), under the lock. */
  std::string check_invariants () const LF_EXCLUDES (mutex_)
  {
    return read (&core_t::check_invariants);
  }

private:
  /* Another member of `budget` needs room within its fair share
   * (keeper_core::give_back_budget()); a producer waiting for room
   * re-checks, and the frames given back are destroyed with no lock
   * held. */
  void give_back_over_share (memory_budget &budget) override
      LF_EXCLUDES (mutex_)
  {
    released_list given_back;
    wake_on_exit wake (*this);
    checked_lock lock (mutex_);
    given_back = core_.give_back_budget (budget);
    if (!given_back.empty ())
      wake.note (waiting_now ());
  }

  struct waiters
  {
    bool consumer = false;
    bool producers = false;
    bool acks = false;
  };

  waiters waiting_now () const LF_REQUIRES (mutex_)
  {
    return waiters{ consumer_waiting_ > 0, core_.producers_waiting () > 0,
                    ack_waiting_ > 0 };
  }

  /* One of the core's getters, under the lock; a copy of what it says. */
  template <typename Value>
  std::decay_t<Value> read (Value (core_t::*get) () const) const
      LF_EXCLUDES (mutex_)
  {
    checked_lock lock (mutex_);
    return (core_.*get) ();
  }

  /* With the lock released: whoever waits re-checks. */
  void wake (const waiters &waiting)
  {
    if (waiting.consumer)
      items_.notify_all ();
    if (waiting.producers)
      room_.notify_all ();
    if (waiting.acks)
      acks_.notify_all ();
  }

  /* Wakes, as it goes out of scope, whoever waited when note() was
   * called. Declared before the lock, it goes after it: the woken threads
   * do not wake into a mutex still held. */
  class wake_on_exit
  {
  public:
    explicit wake_on_exit (frame_keeper &keeper) : keeper_ (keeper) {}
    ~wake_on_exit () { keeper_.wake (waiting_); }
    wake_on_exit (const wake_on_exit &) = delete;
    wake_on_exit &operator= (const wake_on_exit &) = delete;
    void note (const waiters &waiting) { waiting_ = waiting; }

  private:
    frame_keeper &keeper_;
    waiters waiting_;
  };

  /* `deadline` by reference: by value, GCC passes it through the stack
   * and reads it back wider than it wrote it (a store-forwarding stall). */
  template <typename Hooks>
  handover take (typename core_t::taker who, delivery mode,
                 const std::optional<clock::time_point> &deadline,
                 std::int64_t running_now, Hooks &hooks) LF_EXCLUDES (mutex_)
  {
    handover out;
    typename core_t::take_request request;
    request.who = who;
    request.mode = mode;
    request.running_now = running_now;
    checked_lock lock (mutex_);
    for (;;)
      {
        request.hooks_active = hooks.active ();
        const typename core_t::take_step step = core_.take (request, out);
        switch (step.decision)
          {
          case core_t::take_decision::handed_over:
            {
              /* One producer thread feeds a keeper. */
              const bool room = core_.producers_waiting () > 0;
              lock.unlock ();
              out.charge.launch ();
              if (room)
                room_.notify_one ();
              return out;
            }
          case core_t::take_decision::halted:
            return out;
          case core_t::take_decision::signal_empty:
            lock.unlock ();
            hooks.empty ();
            lock.lock ();
            break;
          case core_t::take_decision::signal_refilled:
            lock.unlock ();
            hooks.refilled ();
            lock.lock ();
            break;
          case core_t::take_decision::read_steady_clock:
            request.now = now_ ();
            request.now_known = true;
            break;
          case core_t::take_decision::refresh_clock:
            {
              /* An entry came while this call waited: the reading is
               * older than it. */
              const running_clock read_clock = running_clock_;
              void *context = running_clock_context_;
              lock.unlock ();
              request.running_now = read_clock (context);
              lock.lock ();
              request.clock_stale = false;
              break;
            }
          case core_t::take_decision::wait_for_frame:
            {
              /* Frames dropped on the way (too old) made room. */
              if (!out.released.empty () && core_.producers_waiting () > 0)
                room_.notify_all ();
              /* The clock is read only for a wait with an end. */
              std::optional<clock::time_point> until;
              if (deadline || step.until)
                {
                  const clock::time_point now = clock::now ();
                  if (deadline && now >= *deadline)
                    {
                      out.status = handover_status::timed_out;
                      return out;
                    }
                  until = deadline;
                  if (step.until)
                    {
                      /* The pace's due time is on now_()'s axis. */
                      const clock::time_point due
                          = now + (*step.until - request.now);
                      until = deadline && *deadline < due ? *deadline : due;
                    }
                }
              consumer_waiting_++;
              if (until)
                lock.wait_until (items_, *until);
              else
                lock.wait (items_);
              consumer_waiting_--;
              request.clock_stale = running_clock_ != nullptr;
              request.now_known = false;
              break;
            }
          }
      }
  }

  mutable checked_mutex mutex_;
  core_t core_ LF_GUARDED_BY (mutex_);
  std::condition_variable items_; /* the consumer waits for entries */
  std::condition_variable room_;  /* a blocked producer waits for room */
  std::condition_variable acks_;  /* query producers wait for answers */
  unsigned consumer_waiting_ LF_GUARDED_BY (mutex_) = 0;
  unsigned ack_waiting_ LF_GUARDED_BY (mutex_) = 0;
  now_function now_ LF_GUARDED_BY (mutex_) = &clock::now;
  running_clock running_clock_ LF_GUARDED_BY (mutex_) = nullptr;
  void *running_clock_context_ LF_GUARDED_BY (mutex_) = nullptr;
  std::atomic<std::uint64_t> max_age_{ 0 };
  /* This keeper as its budget's reclaimer; withdrawn first when it goes. */
  const std::shared_ptr<reclaimer_slot> reclaimer_;
};

} // namespace latestframe
