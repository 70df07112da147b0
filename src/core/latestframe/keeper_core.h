/* latestframe — the newest-frame contract as a single-threaded core: which
 * frame gets in, which is dropped and why, which goes out next.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/accounting.h"
#include "latestframe/chains.h"
#include "latestframe/frame_ledger.h"
#include "latestframe/keeper_decisions.h"
#include "latestframe/freshness.h"
#include "latestframe/keeper_types.h"
#include "latestframe/memory_budget.h"
#include "latestframe/pace.h"
#include "latestframe/query_tickets.h"
#include "latestframe/stream_state.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace latestframe
{

/* The keeper's rules, with no mutex, no condition variable and no clock.
 * Every call takes what happened (an arrival, a request for the next
 * entry, a setting, an event) with the facts and times its caller read,
 * and returns a decision: queued, dropped with its reason, refused, wait
 * for room, wait for a frame (until when), or "call the hook (or have
 * the budget's other members give back room), then ask again".
 * frame_keeper wraps it in one mutex and does the waiting.
 *
 * Its parts, each with its contract at its top: the held entries with
 * their levels and chains (held_entries.h) and the counts with their
 * invariant (keeper_counts.h), kept together by the ledger, the one place
 * frames enter, leave and are dropped (frame_ledger.h); the stream state
 * and its transitions (stream_state.h); the query tickets
 * (query_tickets.h); the pace (pace.h), the max-age gate (freshness.h),
 * the chains' rules and the hand-over plan (chains.h), the memory budget
 * (memory_budget.h). This file holds the rules that join them: what each
 * arrival, request, setting and event does.
 *
 * Two calls cover a frame's life:
 *  - admit() queues it, or drops it (counted with its reason), or refuses
 *    it (halted: not counted), and drops the older frames it pushes out,
 *    all counted before it returns;
 *  - take() returns the next entry in order, or the newest frame, counting
 *    the frames it passes over.
 *
 * Encoded video (frames that are not all key units, see unit_kind): a
 * frame is never handed over after a frame its chain needs was dropped.
 * Whoever drops a frame drops the delta units after it up to the next key
 * unit (counted as broken_chain), and while no key unit has come since,
 * arriving delta units go the same way; the limits on frames count chains,
 * so that a lone chain always fits as a lone frame does; decode_mode says
 * how much of each chain is handed over. A frame is handed over
 * decode-only only when its owner said it can be made so and the stream
 * comes in presentation order; otherwise it is shown, and a shown frame is
 * aged, judged by max-age and paced like any other.
 *
 * Invariant after every call (check_invariants()):
 *     received == handed_over + dropped (all reasons) + held
 * Every drop is counted exactly once, by the ledger.
 *
 * Payload: default-constructible (an empty value that owns nothing) and
 * movable. Payloads given back (released lists, hand-overs) are the
 * caller's to destroy; a query's payload is destroyed here when the query
 * is abandoned, before its producer can learn so (see abandon_query()). */
template <typename Payload> class keeper_core
{
public:
  using entry = held_entry<Payload>;
  using ledger_t = frame_ledger<Payload>;
  /* The words of keeper_decisions.h, for this payload. */
  using released_item = latestframe::released_item<Payload>;
  using released_list = latestframe::released_list<Payload>;
  using notice_kind = latestframe::notice_kind;
  using shown_because = latestframe::shown_because;
  using notice = keeper_notice;
  using admit_status = latestframe::admit_status;
  using admit_outcome = latestframe::admit_outcome<Payload>;
  using admit_decision = latestframe::admit_decision;
  using arrival = latestframe::arrival;
  using delivery = latestframe::delivery;
  using taker = latestframe::taker;
  using handover_status = latestframe::handover_status;
  using handover = latestframe::handover<Payload>;
  using take_request = latestframe::take_request;
  using take_decision = latestframe::take_decision;
  using take_step = latestframe::take_step;
  using failure_outcome = latestframe::failure_outcome<Payload>;

  /* ---- arrivals ----------------------------------------------------- */

  /* Admits a frame (see the class comment); its payload is moved from
   * once the decision is final. */
  LF_INLINE_HOT admit_decision admit (Payload &frame, const frame_desc &desc,
                                      arrival &arriving, admit_outcome &out)
  {
    const admit_decision decision = admit_step (frame, desc, arriving, out);
    if (arriving.claim_pending && decision != admit_decision::reclaim_budget)
      {
        /* The claim made for this arrival was spent by its reservation,
         * or it went another way: no claim outlives its arrival. */
        arriving.claim_pending = false;
        if (membership_)
          membership_->budget ()->withdraw_claim (membership_->account ());
      }
    return decision;
  }

  /* For reclaim_budget: the claim to reclaim() with the lock let go. */
  budget_claim budget_claim_for (const frame_desc &desc) const
  {
    if (!membership_)
      return {};
    return budget_claim{ membership_->budget (), &membership_->account (),
                         desc.bytes };
  }

  /* Admits a marker. Never waits, never dropped by the policy; refused by
   * the states the table says. A query gets a ticket for ack(). */
  admit_outcome admit_marker (Payload marker, marker_kind kind)
  {
    admit_outcome out;
    if (!lifecycle_.admits_marker (kind))
      {
        refuse (out, std::move (marker), kind);
        return out;
      }
    lifecycle_.marker_admitted (kind);
    if (kind == marker_kind::end_of_stream)
      {
        /* As queue: what is held is delivered whatever the thresholds. */
        thresholds_in_force_ = queue_thresholds ();
        if (flush_on_eos_)
          ledger_.discard_frames (drop_reason::flush, out.released);
      }
    const std::uint64_t ticket
        = kind == marker_kind::query ? tickets_.issue () : 0;
    held ().add_marker (std::move (marker), kind, ticket);
    out.ticket = ticket;
    return out;
  }

  /* The answer to the query with `ticket`, once there is one (see
   * query_tickets::collect()). */
  std::optional<ack_result> ack (std::uint64_t ticket)
  {
    return tickets_.collect (ticket);
  }

  /* ---- hand-over ---------------------------------------------------- */

  /* The next entry for `request` into `out` (see the class comment). A
   * frame older than max-age is dropped on the way (counted) and the next
   * one considered. A frame without a running time is aged from its
   * arrival when max-age is set, else has no age. Hooks: signal_empty
   * before waiting on an empty keeper, signal_refilled when an entry came
   * after that; once per transition. A handed-over frame comes with an
   * in_flight_charge that keeps its bytes counted (and reserved in its
   * budget) until the consumer destroys it, wherever that is. */
  LF_INLINE_HOT take_step take (const take_request &request, handover &out)
  {
    for (;;)
      {
        if (halted_for (request.who))
          {
            out.status = handover_status::halted;
            return { take_decision::halted, std::nullopt };
          }
        if (deliverable ())
          {
            if (std::exchange (underrun_signalled_, false))
              return { take_decision::signal_refilled, std::nullopt };
            const entry &front = held ().front ();
            if (request.clock_stale && front.is_frame
                && front.time_ns != no_time)
              return { take_decision::refresh_clock, std::nullopt };
            if (!request.now_known && front.is_frame
                && (plan_.pace_ns != 0 || front.arrival != steady_time ()))
              return { take_decision::read_steady_clock, std::nullopt };
            /* Without a pace, no optional is built: GCC copies one
             * through memory, a store-forwarding stall per hand-over. */
            if (plan_.pace_ns != 0)
              if (const std::optional<steady_time> due = pace_due (request))
                return { take_decision::wait_for_frame, due };
            if (take_next (request, out))
              return { take_decision::handed_over, std::nullopt };
            continue; /* it was too old: consider the next one */
          }
        if (request.hooks_active && !underrun_signalled_
            && (lifecycle_.state () == stream_state::running
                || lifecycle_.state () == stream_state::ended_downstream))
          {
            underrun_signalled_ = true;
            return { take_decision::signal_empty, std::nullopt };
          }
        return { take_decision::wait_for_frame, std::nullopt };
      }
  }

  /* The consumer answers the query with `ticket` that it was handed. */
  void acknowledge (std::uint64_t ticket, bool accepted)
  {
    tickets_.answer (ticket, accepted);
  }

  /* ---- downstream --------------------------------------------------- */

  /* Downstream answered end-of-stream to a frame. Discards what is held up
   * to the next entry that can still be delivered (a new_stream or
   * end_of_stream marker), as queue does: frames count as flushed, queries
   * are refused. With nothing deliverable left, frames are refused until a
   * new stream (ended_downstream). */
  released_list downstream_ended ()
  {
    released_list released;
    const bool boundary
        = ledger_.discard_until_boundary (released, [this] (entry &&query) {
            tickets_.answer (query.ticket, false);
          });
    lifecycle_.downstream_ended (boundary);
    return released;
  }

  /* Downstream is not linked. The frames and events held stay for when it
   * is relinked; a producer waiting for room is refused, and queued
   * queries are abandoned (as queue answers them), so that no upstream
   * thread waits on a consumer that has stopped. */
  failure_outcome downstream_unlinked ()
  {
    failure_outcome out;
    out.stream_had_ended = lifecycle_.downstream_unlinked ();
    withdraw_queued_queries ();
    return out;
  }

  /* Downstream failed with the owner's `code`. Everything held is released
   * (frames counted as flushed, queries abandoned); frames and most markers
   * are refused until flush_start() and resume(). */
  failure_outcome downstream_failed (int code)
  {
    failure_outcome out;
    out.stream_had_ended = lifecycle_.downstream_failed (code);
    drain_into (out.released);
    return out;
  }

  /* Downstream may be linked again: an unlinked keeper delivers again (or
   * goes on ending, when an end of stream is still held). Returns whether
   * it was unlinked. */
  bool relink ()
  {
    return lifecycle_.relink (ledger_.held ().newest_boundary_is_end ());
  }

  /* ---- flushing ----------------------------------------------------- */

  /* Stops everything: producers and consumers return, queued queries are
   * abandoned (in process ones are not: their answer comes). Held entries
   * stay until drain(). */
  void flush_start ()
  {
    lifecycle_.flush_start ();
    withdraw_queued_queries ();
  }

  /* Removes every entry: frames are counted as flushed, queries abandoned;
   * the rest is given back (the owner keeps the sticky ones). Forgets a
   * pending discontinuity. */
  released_list drain ()
  {
    released_list released;
    drain_into (released);
    return released;
  }

  /* Runs again from a clean stream state (activation, FLUSH_STOP): the
   * thresholds are back, the late-arrival warning may come again, and the
   * decoder after starts again too. */
  void resume ()
  {
    lifecycle_.resume ();
    thresholds_in_force_ = thresholds_;
    underrun_signalled_ = false;
    freshness_.reset ();
    ledger_.chain_starts ();
    pace_.restart ();
  }

  bool halted () const { return lifecycle_.halted (); }

  /* Whether the pusher has nothing to do until the keeper starts it again
   * (halted, or the plan has an application take the frames). */
  bool pusher_idle () const { return halted_for (taker::pusher); }

  /* ---- settings ----------------------------------------------------- */

  /* New limits, policy or liveness take effect at once: with drop_oldest
   * in force, the frames over the limits go (overflow). */
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
  /* Not live (and leak_when_not_live off), the policy in force is none and
   * max-age drops nothing: a file is read at the consumer's pace. */
  released_list set_upstream_live (bool live)
  {
    return reconfigure ([&] { upstream_live_ = live; });
  }
  released_list set_leak_when_not_live (bool leak)
  {
    return reconfigure ([&] { leak_when_not_live_ = leak; });
  }

  template <typename Change> void update_thresholds (Change change)
  {
    change (thresholds_);
    thresholds_in_force_ = thresholds_;
  }

  void set_max_age (std::uint64_t max_age_ns)
  {
    freshness_.set_max_age (max_age_ns);
  }
  void set_flush_on_eos (bool flush) { flush_on_eos_ = flush; }

  /* Changes what the hand-over plan is made from (a callable taking
   * hand_over_request&) and applies the plan made from it: mode, pace,
   * newest-first and taker in one step. Returns a notice when the rate
   * asked for cannot apply (once). */
  template <typename Change> notice update_request (Change change)
  {
    change (request_);
    plan_ = plan_hand_over (request_);
    notice note;
    if (plan_.rate_ignored && !std::exchange (warned_rate_ignored_, true))
      note.kind = notice_kind::rate_ignored;
    return note;
  }

  /* Joins, leaves (empty name) or re-caps a process-wide memory budget:
   * the held and in-flight bytes of its members never pass the smallest
   * non-zero cap they ask for, and each member is fair to the others
   * (memory_budget.h). Frames already reserved stay in the budget they were
   * admitted under until they go. */
  void set_budget (std::optional<std::string> name,
                   std::optional<std::uint64_t> cap)
  {
    if (cap)
      budget_cap_ = *cap;
    if (name && *name != budget_name_)
      {
        budget_name_ = *name;
        membership_.reset ();
        if (!budget_name_.empty ())
          membership_.emplace (budget_name_, budget_cap_, reclaimer_);
      }
    else if (membership_)
      membership_->set_cap (budget_cap_);
    warned_unbounded_ = warned_over_budget_ = false;
  }

  /* Who gives back this keeper's held frames when another member of its
   * budget needs room (the wrapper, which locks): joined with each budget
   * from now on. */
  void set_reclaimer (std::shared_ptr<reclaimer_slot> reclaimer)
  {
    reclaimer_ = std::move (reclaimer);
  }

  /* Another member of `budget` needs room within its fair share: drops
   * this keeper's oldest held chains (reason budget; the delta units after
   * them as broken_chain) while the budget says it should give back
   * (memory_budget::should_give_back()). */
  released_list give_back_budget (memory_budget &budget)
  {
    released_list released;
    if (!membership_ || membership_->budget ().get () != &budget)
      return released;
    while (held ().frames () > 0
           && budget.should_give_back (membership_->account ()))
      ledger_.discard_chain_at (held ().oldest_frame_index (),
                                drop_reason::budget, released);
    return released;
  }

  /* ---- reading ------------------------------------------------------ */

  const queue_limits &limits () const { return limits_; }
  leak_policy policy () const { return policy_; }
  const queue_thresholds &thresholds () const { return thresholds_; }
  std::uint64_t max_age () const { return freshness_.max_age (); }
  bool flush_on_eos () const { return flush_on_eos_; }
  bool leak_when_not_live () const { return leak_when_not_live_; }
  const std::string &budget_name () const { return budget_name_; }
  std::uint64_t budget_cap () const { return budget_cap_; }
  /* The budget joined, if any, with this member's account there. */
  const std::optional<budget_membership> &membership () const
  {
    return membership_;
  }
  const hand_over_request &request () const { return request_; }
  const hand_over_plan &plan () const { return plan_; }
  queue_level level () const { return held ().level (); }
  stream_state state () const { return lifecycle_.state (); }
  unsigned producers_waiting () const { return producers_waiting_; }

  /* The figures of keeper_stats that live here; ages as windows, for the
   * caller to summarise (a sort) wherever it likes; the budget, to read
   * with no lock held. */
  void read_stats (keeper_stats &stats, age_window &ages,
                   age_window &timestamp_ages,
                   std::shared_ptr<memory_budget> &budget) const
  {
    const keeper_counts &counts = ledger_.counts ();
    const held_entries<Payload> &held = ledger_.held ();
    stats.received = counts.received;
    stats.handed_over = counts.handed_over;
    stats.decode_only = counts.decode_only;
    stats.decoding = decoding ();
    stats.encoded = request_.encoded;
    stats.key_interval_ns = key_interval_.interval_ns ();
    stats.drops = counts.drops;
    stats.held_frames = held.frames ();
    stats.held_chains = held.chains ();
    stats.held_bytes = held.bytes ();
    stats.held_span_ns = held.span ();
    stats.peak_bytes = counts.peak_bytes;
    stats.upstream_live = upstream_live_;
    ages = counts.ages;
    timestamp_ages = counts.timestamp_ages;
    if (membership_)
      {
        budget = membership_->budget ();
        stats.budget_name = budget_name_;
      }
  }

  /* In flight: atomics, racy by nature. */
  const flight_accounts &flight () const { return *accounts_; }

  /* Every invariant of the parts and between them; empty when all hold,
   * else the first that broke. For the tests, after every step. */
  std::string check_invariants () const
  {
    std::string broken = ledger_.check_invariants ();
    if (!broken.empty ())
      return broken;
    const held_entries<Payload> &held = ledger_.held ();
    std::size_t queries = 0;
    for (std::size_t i = 0; i < held.size (); i++)
      if (!held[i].is_frame && held[i].marker == marker_kind::query)
        {
          queries++;
          if (!tickets_.queued (held[i].ticket))
            return "a held query whose ticket is not queued";
        }
    if (queries != tickets_.queued_count ())
      return std::to_string (tickets_.queued_count ()) + " tickets queued for "
             + std::to_string (queries) + " held queries";
    if (lifecycle_.state () == stream_state::failed && held.frames () != 0)
      return "frames held while failed";
    return {};
  }

private:
  held_entries<Payload> &held () { return ledger_.held (); }
  const held_entries<Payload> &held () const { return ledger_.held (); }

  /* ---- arrivals ----------------------------------------------------- */

  /* admit(), but for settling the claim. */
  LF_INLINE_HOT admit_decision admit_step (Payload &frame,
                                           const frame_desc &desc,
                                           arrival &arriving,
                                           admit_outcome &out)
  {
    if (std::exchange (arriving.waiting, false))
      producers_waiting_--;
    /* On raw video every frame is a key unit, whatever its flags say. */
    const unit_kind unit = request_.encoded ? desc.unit : unit_kind::key;
    if (lifecycle_.refuses_frames ())
      {
        refuse_frame (out, std::move (frame), unit);
        return admit_decision::refused;
      }
    if (!arriving.examined)
      {
        arriving.examined = true;
        note_arrival (desc, unit, out.note);
        if (const std::optional<drop_reason> reason
            = chain_drops_arrival (desc, unit))
          {
            drop_arriving (out, std::move (frame), desc, unit, *reason);
            return admit_decision::dropped;
          }
      }
    if (!held ().fits (limits_, &desc, unit))
      {
        if (arriving.hooks_active && !arriving.full_signalled)
          {
            arriving.full_signalled = true;
            return admit_decision::signal_full;
          }
        switch (policy_in_force ())
          {
          case leak_policy::drop_oldest:
            out.held_dropped += ledger_.drop_oldest_until_fits (
                limits_, &desc, unit,
                plan_.newest ? drop_reason::superseded : drop_reason::overflow,
                out.released);
            break;
          case leak_policy::drop_arriving:
            drop_arriving (out, std::move (frame), desc, unit,
                           drop_reason::overflow);
            return admit_decision::dropped;
          case leak_policy::none:
            arriving.waited = arriving.waiting = true;
            producers_waiting_++;
            return admit_decision::wait_for_room;
          }
      }
    else if (arriving.waited && arriving.hooks_active
             && !arriving.room_signalled)
      {
        arriving.room_signalled = true;
        return admit_decision::signal_room;
      }
    if (desc.time_ns == no_time && freshness_.max_age () != 0
        && !arriving.now_known)
      return admit_decision::read_steady_clock;
    return queue (frame, desc, unit, arriving, out);
  }

  /* Dropping (by limits or age) is allowed: upstream is live, or the user
   * asked to drop for a non-live upstream as well. */
  bool may_drop () const { return upstream_live_ || leak_when_not_live_; }

  leak_policy policy_in_force () const
  {
    return may_drop () ? policy_ : leak_policy::none;
  }

  bool budget_caps () const
  {
    return membership_ && membership_->budget ()->cap_approx () != 0;
  }

  /* What an arrival tells beyond itself: how late frames arrive (max-age's
   * warning), and whether the stream is sent out of presentation order. */
  void note_arrival (const frame_desc &desc, unit_kind unit, notice &note)
  {
    if (desc.presentation_ns != no_time)
      {
        /* A key unit starts again (a stream restarted, looped or flushed
         * goes back in time there). */
        if (unit == unit_kind::key || latest_presentation_ns_ == no_time)
          latest_presentation_ns_ = desc.presentation_ns;
        else if (desc.presentation_ns < latest_presentation_ns_)
          out_of_presentation_order_ = true;
        else
          latest_presentation_ns_ = desc.presentation_ns;
      }
    if (!may_drop () || freshness_.max_age () == 0)
      return;
    const std::uint64_t age
        = desc.time_ns != no_time
              ? ns_after (desc.arrival_running_ns, desc.time_ns)
              : 0;
    if (freshness_.note_arrival (age))
      note
          = notice{ notice_kind::arrivals_too_old, age, freshness_.max_age () };
  }

  /* Whether the arriving frame must go for its chain's sake: a delta unit
   * whose chain was broken, or any delta unit while key units alone are
   * handed over. A key unit starts a whole chain again. */
  std::optional<drop_reason> chain_drops_arrival (const frame_desc &desc,
                                                  unit_kind unit)
  {
    if (unit == unit_kind::key)
      {
        ledger_.chain_starts ();
        key_interval_.key_unit_at (desc.time_ns);
        key_unit_went_alone_ = decoding () == decode_mode::key_units;
        return std::nullopt;
      }
    /* While key units alone are decoded; and after the mode changed, the
     * rest of a chain whose key unit came then: the decoder may have let
     * go of it (handover::key_unit_alone). */
    if (decoding () == decode_mode::key_units || key_unit_went_alone_)
      return drop_reason::skipped_delta;
    if (ledger_.chain_broken ())
      return drop_reason::broken_chain;
    return std::nullopt;
  }

  /* It fits (or room was made): reserve its bytes and hold it. */
  LF_INLINE_HOT admit_decision queue (Payload &frame, const frame_desc &desc,
                                      unit_kind unit, arrival &arriving,
                                      admit_outcome &out)
  {
    budget_reservation reservation;
    if (membership_)
      switch (reserve (desc.bytes, arriving, reservation, out))
        {
        case budget_step::reserved:
          break;
        case budget_step::reclaim:
          return admit_decision::reclaim_budget;
        case budget_step::no_room:
          drop_arriving (out, std::move (frame), desc, unit,
                         drop_reason::budget);
          return admit_decision::dropped;
        }
    if (unit == unit_kind::key)
      /* The room made for it may have cut the chain before it short: the
       * chain it starts is whole. */
      ledger_.chain_starts ();
    else if (ledger_.chain_broken ())
      {
        /* The room made for it took the frames it needs (or the consumer
         * dropped them while a hook ran). */
        reservation.reset ();
        drop_arriving (out, std::move (frame), desc, unit,
                       drop_reason::broken_chain);
        return admit_decision::dropped;
      }
    entry &queued = ledger_.receive (std::move (frame), desc, unit);
    out.sequence = queued.sequence;
    /* A frame without a running time is aged from its arrival, and only
     * when max-age asks for it. */
    if (desc.time_ns == no_time && freshness_.max_age () != 0)
      queued.arrival = arriving.now;
    queued.budget = std::move (reservation);
    ledger_.note_bytes (accounts_->bytes_approx ());
    if (!warned_unbounded_ && limits_.unbounded () && !budget_caps ())
      {
        warned_unbounded_ = true;
        if (out.note.kind == notice_kind::none)
          out.note = notice{ notice_kind::unbounded, 0, 0 };
      }
    return admit_decision::queued;
  }

  void drop_arriving (admit_outcome &out, Payload &&frame,
                      const frame_desc &desc, unit_kind unit,
                      drop_reason reason)
  {
    out.sequence = ledger_.drop_arriving (std::move (frame), desc.bytes, unit,
                                          reason, out.released);
    out.status = admit_status::dropped;
    out.reason = reason;
  }

  /* A refused frame never reaches the decoder either: the delta units
   * after it cannot be decoded, until a flush starts over (resume()). */
  void refuse_frame (admit_outcome &out, Payload &&frame, unit_kind unit)
  {
    ledger_.frame_lost (unit);
    refuse (out, std::move (frame));
  }

  void refuse (admit_outcome &out, Payload &&item,
               std::optional<marker_kind> kind = std::nullopt)
  {
    out.status = admit_status::refused;
    out.refused_in = lifecycle_.state ();
    out.failure_code = lifecycle_.failure_code ();
    out.released.push_back (
        released_item{ std::move (item), !kind.has_value (),
                       kind.value_or (marker_kind::plain) });
  }

  enum class budget_step : std::uint8_t
  {
    reserved,
    reclaim,
    no_room,
  };

  /* Reserves `bytes` in the budget. Within its fair share and the budget
   * full, this keeper first has the members over their share give back
   * (reclaim, once per arrival); then, or beyond its share, it drops its
   * own oldest held chains while they do not fit. no_room when even an
   * empty keeper has none: the arriving frame must go. */
  budget_step reserve (std::uint64_t bytes, arrival &arriving,
                       budget_reservation &reservation, admit_outcome &out)
  {
    for (;;)
      {
        switch (membership_->try_reserve (bytes, reservation))
          {
          case memory_budget::reserve_outcome::reserved:
            return budget_step::reserved;
          case memory_budget::reserve_outcome::others_can_give_back:
            if (!std::exchange (arriving.reclaimed, true))
              {
                arriving.claim_pending = true;
                return budget_step::reclaim;
              }
            break;
          case memory_budget::reserve_outcome::no_room:
            break;
          }
        if (held ().frames () == 0)
          {
            const std::uint64_t cap = membership_->budget ()->cap_approx ();
            if (cap != 0 && bytes > cap && !warned_over_budget_)
              {
                warned_over_budget_ = true;
                out.note = notice{ notice_kind::frame_over_budget, bytes, cap };
              }
            return budget_step::no_room;
          }
        out.held_dropped += ledger_.discard_chain_at (
            held ().oldest_frame_index (), drop_reason::budget, out.released);
      }
  }

  /* ---- queries ------------------------------------------------------ */

  /* The query's payload is destroyed here, before its producer can see the
   * answer and free what it borrows. */
  void abandon_query (entry &&query)
  {
    const std::uint64_t ticket = query.ticket;
    {
      entry gone = std::move (query);
    }
    tickets_.abandon (ticket);
  }

  void withdraw_queued_queries ()
  {
    for (std::size_t i = 0; i < held ().size ();)
      if (!held ()[i].is_frame && held ()[i].marker == marker_kind::query)
        abandon_query (held ().take (i));
      else
        i++;
  }

  void drain_into (released_list &released)
  {
    ledger_.drain (released, [this] (entry &&query) {
      abandon_query (std::move (query));
    });
    pace_.restart ();
  }

  /* ---- hand-over ---------------------------------------------------- */

  bool halted_for (taker who) const
  {
    if (lifecycle_.halted ())
      return true;
    switch (who)
      {
      case taker::pusher:
        return plan_.on_request;
      case taker::reader:
        return !plan_.on_request;
      case taker::anyone:
        break;
      }
    return false;
  }

  decode_mode decoding () const
  {
    return decode_mode_in_force (plan_.mode, plan_.pace_ns,
                                 freshness_.max_age (),
                                 key_interval_.interval_ns ());
  }

  /* Something can be handed over: an entry, and no threshold to wait for
   * (a marker at the tail, a limit reached, or a producer waiting for room
   * end the wait: it would wait for ever otherwise). */
  bool deliverable () const
  {
    if (held ().empty ())
      return false;
    if (thresholds_in_force_.none ())
      return true;
    if (!held ().back ().is_frame || held ().filled (limits_)
        || producers_waiting_ > 0)
      return true;
    return !held ().below (thresholds_in_force_);
  }

  /* When the next frame is due by the consumer's pace, if it is early.
   * Markers are never held back, nor are the frames before an end of
   * stream (as queue lifts its thresholds there), nor key units that come
   * at the pace by themselves (stream_keeps_pace()). */
  std::optional<steady_time> pace_due (const take_request &request) const
  {
    if (plan_.pace_ns == 0 || !held ().front ().is_frame
        || lifecycle_.state () == stream_state::ended || stream_keeps_pace ())
      return std::nullopt;
    return pace_.due (plan_.pace_ns, request.now);
  }

  /* Key units alone, coming no more than a tenth faster than the pace:
   * the stream paces itself. Holding a key unit back until its turn would
   * only age it, by the same lag every time (the first hand-over's phase
   * within the key interval), as the two periods are about equal. Judged
   * by the shortest recent interval: a single late or missing key unit
   * among faster ones must not lift the pace. By the largest it did, for
   * the next four key units: analysis-rate 5 over key units at 10/s could
   * hand over more than 5 a second (the HTTP burst test saw 5.4). */
  bool stream_keeps_pace () const
  {
    const std::uint64_t interval = key_interval_.shortest_interval_ns ();
    return interval != 0 && interval * 10 >= plan_.pace_ns * 9
           && decoding () == decode_mode::key_units;
  }

  delivery delivery_for (const take_request &request) const
  {
    switch (request.who)
      {
      case taker::pusher:
        return plan_.newest ? delivery::newest : delivery::in_order;
      case taker::reader:
        return delivery::newest;
      case taker::anyone:
        break;
      }
    return request.mode;
  }

  /* Whether the front frame, one of the newest chain's before its newest
   * frame, goes decode-only; if it cannot be, it is shown, and the owner
   * hears why, once. */
  bool hide_front (notice &note)
  {
    if (!out_of_presentation_order_ && held ().front ().decode_only_possible)
      return true;
    if (!std::exchange (warned_shown_, true))
      note = notice{ notice_kind::shown_not_decode_only,
                     static_cast<std::uint64_t> (
                         out_of_presentation_order_
                             ? shown_because::out_of_presentation_order
                             : shown_because::cannot_be_hidden),
                     0 };
    return false;
  }

  /* Takes the next entry for take(). False when it was a frame that got
   * too old (dropped and counted): the caller looks again. */
  LF_INLINE_HOT bool take_next (const take_request &request, handover &out)
  {
    const delivery mode = delivery_for (request);
    if (mode == delivery::newest)
      while (held ().front ().is_frame
             && (held ().chains () > 1
                 || (held ().front ().unit == unit_kind::non_reference
                     && held ().frames () > 1)))
        {
          /* A newer chain is held (or a newer frame, and nothing needs
           * this one): it will never be handed over. */
          ledger_.discard_chain_at (0, drop_reason::superseded, out.released);
        }
    entry &next = held ().front ();
    if (!next.is_frame)
      {
        if (next.marker == marker_kind::query)
          tickets_.start (next.ticket);
        out.status = handover_status::handed_over;
        out.item = std::move (next.item);
        out.marker = next.marker;
        out.ticket = next.ticket;
        ledger_.hand_over_front (false);
        return true;
      }
    /* On request, the frames of the newest chain before its newest frame
     * are handed over to be decoded, not looked at: their age is not the
     * question. */
    const bool decode_only = mode == delivery::newest && held ().frames () > 1
                             && hide_front (out.note);
    /* Written in place: an optional copied whole after its two fields were
     * stored one by one costs a store-forwarding stall. */
    out.age_ns = age_of (next, request);
    const std::optional<std::uint64_t> &age = out.age_ns;
    if (age && !decode_only && may_drop ()
        && freshness_.judge (*age, held ().chains () > 1, /* a newer one */
                             held_for (next, request.running_now))
               == freshness_gate::verdict::drop)
      {
        out.age_ns.reset ();
        ledger_.discard_chain_at (0, drop_reason::age, out.released);
        return false;
      }
    /* A member's in-flight bytes stay within its fair share of the
     * budget, so that what it holds beyond it can always be evicted for
     * another member (memory_budget.h): a frame that would pass it goes,
     * as a budget drop, and the next one is considered. */
    if (next.budget && !next.budget.launch ())
      {
        /* One that can never go (larger than a share, not a passing
         * crowd of others in flight) is said once: else every frame
         * would go this way with only a count to show for it. */
        const std::uint64_t share
            = membership_ ? membership_->budget ()->share_approx () : 0;
        if (share != 0 && next.bytes > share
            && !std::exchange (warned_over_budget_, true))
          out.note = notice{ notice_kind::frame_over_budget, next.bytes, share };
        out.age_ns.reset ();
        ledger_.discard_chain_at (0, drop_reason::budget, out.released);
        return false;
      }
    pace_.handed_over (decode_only, plan_.pace_ns != 0, request.now);
    if (!decode_only)
      {
        if (next.timestamp_running_ns != no_time
            && request.running_now != no_time)
          out.timestamp_age_ns
              = ns_after (request.running_now, next.timestamp_running_ns);
        ledger_.note_shown (age, out.timestamp_age_ns);
      }
    out.status = handover_status::handed_over;
    out.is_frame = true;
    out.decode_only = decode_only;
    out.key_unit_alone = request_.encoded && next.unit == unit_kind::key
                         && decoding () == decode_mode::key_units;
    out.discont = next.discont;
    out.sequence = next.sequence;
    out.bytes = next.bytes;
    out.time_ns = next.time_ns;
    out.item = std::move (next.item);
    /* Launched by the wrapper with its lock let go (in_flight_charge). */
    out.charge = in_flight_charge::to_launch (*accounts_, std::move (next.budget),
                                              out.bytes);
    ledger_.hand_over_front (decode_only);
    return true;
  }

  /* How long a frame has been held, if that can be told. */
  static std::optional<std::uint64_t> held_for (const entry &frame,
                                                std::int64_t running_now)
  {
    if (frame.arrival_running_ns == no_time || running_now == no_time)
      return std::nullopt;
    return ns_after (running_now, frame.arrival_running_ns);
  }

  /* How old a frame is now (see take()), if that can be told. */
  static std::optional<std::uint64_t> age_of (const entry &frame,
                                              const take_request &request)
  {
    if (frame.time_ns != no_time)
      {
        if (request.running_now == no_time)
          return std::nullopt;
        return ns_after (request.running_now, frame.time_ns);
      }
    if (frame.arrival == steady_time ())
      return std::nullopt;
    const auto held_ns = std::chrono::duration_cast<std::chrono::nanoseconds> (
                             request.now - frame.arrival)
                             .count ();
    return static_cast<std::uint64_t> (std::max<std::int64_t> (held_ns, 0));
  }

  /* ---- settings ----------------------------------------------------- */

  /* Applies `change`; with drop_oldest in force, the frames that no longer
   * fit go (overflow). */
  template <typename Change> released_list reconfigure (Change change)
  {
    released_list dropped;
    change ();
    if (policy_in_force () == leak_policy::drop_oldest)
      ledger_.drop_oldest_until_fits (limits_, nullptr, unit_kind::key,
                                      drop_reason::overflow, dropped);
    return dropped;
  }

  /* The parts. */
  ledger_t ledger_;
  stream_lifecycle lifecycle_;
  query_tickets tickets_;
  frame_pace pace_;
  key_interval_meter key_interval_;
  freshness_gate freshness_;
  flight_accounts::owner accounts_ = flight_accounts::create ();

  /* Settings, and the plan made from them. */
  queue_limits limits_;
  leak_policy policy_ = leak_policy::drop_oldest;
  queue_thresholds thresholds_;
  bool flush_on_eos_ = false;
  bool upstream_live_ = true;
  bool leak_when_not_live_ = false;
  hand_over_request request_;
  hand_over_plan plan_;
  std::string budget_name_;
  std::uint64_t budget_cap_ = 0;
  std::optional<budget_membership> membership_;
  std::shared_ptr<reclaimer_slot> reclaimer_;

  /* The stream as it goes: the thresholds in force (an end of stream lifts
   * them until resume()); the newest presentation time of this chain and
   * whether one went back; an underrun signalled; producers told to wait
   * for room. */
  queue_thresholds thresholds_in_force_;
  std::int64_t latest_presentation_ns_ = no_time;
  bool out_of_presentation_order_ = false;
  /* The last key unit arrived while key units alone were decoded. */
  bool key_unit_went_alone_ = false;
  bool underrun_signalled_ = false;
  unsigned producers_waiting_ = 0;

  /* Warned once each (until a setting makes it worth saying again). */
  bool warned_unbounded_ = false;
  bool warned_over_budget_ = false;
  bool warned_rate_ignored_ = false;
  bool warned_shown_ = false;
};

} // namespace latestframe
