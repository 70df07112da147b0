/* Randomized model tests of the keeper.
 *
 * KeeperModel.RandomSequencesKeepTheContract drives the single-threaded
 * core (latestframe::keeper_core) directly: random sequences of arrivals
 * (acting on every decision the core returns: a hook to call, room to wait
 * for, retried as the wrapper does when woken), markers and queries,
 * hand-overs to each kind of taker, flushes, every setting, downstream
 * events, with a lifetime-counting payload. After every step the core's own
 * check_invariants() must hold, and the model checks the contract from
 * what it saw, without re-implementing the rules:
 *  - received == handed over + dropped + held, in the core's figures and in
 *    the model's counts of what it saw given back; frames shown (handed
 *    over, not decode-only) are those counted as handed over less the
 *    decode-only ones;
 *  - a frame is queued only within the limits (a lone chain excepted), and
 *    only with its bytes reserved under the budget cap;
 *  - entries come out in the order they went in, a frame after a gap
 *    carries discont, in-flight frames are those whose charges live;
 *  - on encoded video (half the seeds: key, delta and non-reference units,
 *    presentation times sometimes out of order, frames that cannot be made
 *    decode-only), no frame is handed over after a frame of its chain that
 *    it needs went anywhere else, a frame dropped as broken-chain had lost
 *    one, and a frame is decode-only only when it could be made so in a
 *    stream sent in presentation order;
 *  - the pusher is served only while the plan has it push, the reader
 *    only while frames are taken on request;
 *  - a query's producer gets the answer it was given, or abandoned;
 *  - no payload leaks or is destroyed twice.
 * Seeds are printed on failure: LATESTFRAME_MODEL_SEED=N re-runs one,
 * LATESTFRAME_MODEL_TRACE=1 prints its steps. LATESTFRAME_MODEL_SEQUENCES
 * sets how many (the suite: 100,000 in the plain build).
 *
 * KeeperModel.ConcurrentRunsKeepTheContract drives the blocking wrapper
 * (latestframe::frame_keeper) from a producer, a consumer and a controller
 * at once. */
#include "core/tracked.h"
#include "latestframe/frame_keeper.h"
#include "latestframe/keeper_core.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace
{

using latestframe::drop_reason;
using latestframe::frame_desc;
using latestframe::leak_policy;
using latestframe::marker_kind;
using latestframe::queue_limits;
using latestframe::stream_state;
using latestframe::unit_kind;
using latestframe_test::lifetimes;
using latestframe_test::tracked;
using core_t = latestframe::keeper_core<tracked>;
using keeper_t = latestframe::frame_keeper<tracked>;

constexpr std::int64_t ms = 1000000;

/* One sequence against one core. */
class sequence_model
{
public:
  explicit sequence_model (std::uint32_t seed)
      : random_ (seed), encoded_ (seed % 2 == 0)
  {
    core_ = std::make_unique<core_t> ();
    core_->update_request (
        [this] (latestframe::hand_over_request &r) { r.encoded = encoded_; });
    core_->update_limits ([this] (queue_limits &l) { l = random_limits (); });
    core_->set_policy (random_policy ());
    budget_name_ = "model-" + std::to_string (seed % 3);
    records_.emplace_back (); /* ids start at 1 */
  }

  /* Runs `steps` random operations; false (with a message) at the first
   * broken promise. */
  bool run (int steps, std::string &failure)
  {
    for (int step = 0; step < steps && failure.empty (); step++)
      {
        now_ns_ += pick (0, 20) * ms;
        one_step (failure);
        if (failure.empty () && pending_)
          retry_pending (failure);
        if (failure.empty ())
          check (failure);
        if (!failure.empty ())
          failure = "step " + std::to_string (step) + ": " + failure;
      }
    if (failure.empty ())
      finish (failure);
    return failure.empty ();
  }

private:
  struct frame_record
  {
    std::uint64_t chain = 0;
    unit_kind unit = unit_kind::key;
    bool decode_only_possible = true;
    bool gone = false; /* dropped or refused */
    bool handed = false;
  };

  /* An arrival told to wait for room: retried after each step, as the
   * wrapper retries when it is woken. */
  struct pending_arrival
  {
    tracked frame;
    frame_desc desc;
    core_t::arrival progress;
    core_t::admit_outcome out;
    std::uint64_t id = 0;
    bool looked_at = false;
  };

  int pick (int low, int high)
  {
    return std::uniform_int_distribution<int> (low, high) (random_);
  }

  latestframe::steady_time steady_now () const
  {
    return latestframe::steady_time (std::chrono::nanoseconds (now_ns_));
  }

  queue_limits random_limits ()
  {
    queue_limits limits;
    limits.max_frames = static_cast<std::uint32_t> (pick (0, 4));
    limits.max_bytes = pick (0, 2) == 0 ? 0 : pick (50, 400);
    limits.max_span_ns = pick (0, 2) == 0 ? 0 : pick (20, 200) * ms;
    if (limits.unbounded () && pick (0, 1) == 0)
      limits.max_frames = 2;
    return limits;
  }

  leak_policy random_policy ()
  {
    switch (pick (0, 4))
      {
      case 0:
        return leak_policy::none;
      case 1:
        return leak_policy::drop_arriving;
      default:
        return leak_policy::drop_oldest;
      }
  }

  void one_step (std::string &failure)
  {
    const int roll = pick (0, 109);
    if (trace_)
      std::fprintf (stderr, "roll %d: state %d, plan mode %d, pending %d\n",
                    roll, static_cast<int> (core_->state ()),
                    static_cast<int> (core_->plan ().mode), pending_ ? 1 : 0);
    /* One producer: while its frame waits for room, it admits nothing
     * else. */
    if (roll < 36)
      {
        if (!pending_)
          admit_frame (failure);
      }
    else if (roll < 44)
      {
        if (!pending_)
          admit_marker ();
      }
    else if (roll < 72)
      take (failure);
    else if (roll < 76)
      release_some_charge ();
    else if (roll < 78)
      collect_answers (failure);
    else if (roll < 80)
      flush_cycle (failure);
    else if (roll < 83)
      given_back (core_->update_limits (
          [this] (queue_limits &l) { l = random_limits (); }));
    else if (roll < 85)
      given_back (core_->set_policy (random_policy ()));
    else if (roll < 86)
      given_back (core_->set_upstream_live (pick (0, 3) != 0));
    else if (roll < 87)
      given_back (core_->set_leak_when_not_live (pick (0, 1) == 1));
    else if (roll < 89)
      core_->set_budget (
          pick (0, 3) == 0 ? std::string () : budget_name_,
          static_cast<std::uint64_t> (pick (0, 2) == 0 ? 0 : pick (100, 900)));
    else if (roll < 91)
      core_->set_max_age (pick (0, 1) == 0 ? 0 : pick (1, 80) * ms);
    else if (roll < 92)
      core_->update_thresholds ([this] (latestframe::queue_thresholds &t) {
        t = { static_cast<std::uint32_t> (pick (0, 2)), 0, 0 };
      });
    else if (roll < 93)
      core_->set_flush_on_eos (pick (0, 1) == 1);
    else if (roll < 98)
      downstream_event (failure);
    else if (roll < 101)
      change_request ([this] (latestframe::hand_over_request &r) {
        r.decode = static_cast<latestframe::decode_mode> (pick (0, 3));
      });
    else if (roll < 104)
      change_request ([this] (latestframe::hand_over_request &r) {
        r.rate = pick (0, 1) == 0 ? 0 : 1000.0 / pick (1, 50);
      });
    else
      change_request ([this] (latestframe::hand_over_request &r) {
        r.on_request = pick (0, 2) == 0;
      });
  }

  template <typename Change> void change_request (Change change)
  {
    core_->update_request (change);
    on_request_ = core_->plan ().on_request;
  }

  /* Encoded video: mostly delta units, a key unit now and then. */
  unit_kind random_unit ()
  {
    if (!encoded_)
      return unit_kind::key;
    const int roll = pick (0, 9);
    return roll < 2   ? unit_kind::key
           : roll < 4 ? unit_kind::non_reference
                      : unit_kind::delta;
  }

  /* A frame arrives (received or refused): its chain is the current one;
   * a key unit starts a new one. */
  void note_arrival (std::uint64_t id, const frame_desc &desc)
  {
    const unit_kind unit = encoded_ ? desc.unit : unit_kind::key;
    if (unit == unit_kind::key)
      chain_++;
    frame_record record;
    record.chain = chain_;
    record.unit = unit;
    record.decode_only_possible = desc.decode_only_possible;
    records_.resize (id + 1);
    records_[id] = record;
    references_.resize (chain_ + 1);
    if (unit != unit_kind::non_reference)
      references_[chain_].push_back (id);
  }

  /* A frame the core looked at (not refused at once) tells whether the
   * stream goes out of presentation order: a delta unit presented before
   * the frames of its chain sent ahead of it. */
  void note_presentation (const frame_desc &desc)
  {
    const unit_kind unit = encoded_ ? desc.unit : unit_kind::key;
    if (desc.presentation_ns == latestframe::no_time)
      return;
    if (unit == unit_kind::key || latest_presentation_ == latestframe::no_time)
      latest_presentation_ = desc.presentation_ns;
    else if (desc.presentation_ns < latest_presentation_)
      reordered_ = true;
    else
      latest_presentation_ = desc.presentation_ns;
  }

  void admit_frame (std::string &failure)
  {
    frame_desc desc;
    desc.bytes = static_cast<std::uint64_t> (pick (1, 200));
    /* Most frames have a running time, some while ago, never going back
     * (running times in decode order; with times going back, handing over
     * the oldest frame could widen the span of those left). */
    if (pick (0, 4) != 0)
      {
        last_time_ns_ = std::max (last_time_ns_, now_ns_ - pick (0, 60) * ms);
        desc.time_ns = last_time_ns_;
        desc.arrival_running_ns = now_ns_;
        /* Aged from a capture time: its own running time kept beside. */
        if (pick (0, 3) == 0)
          desc.timestamp_running_ns = desc.time_ns + pick (0, 30) * ms;
      }
    desc.unit = random_unit ();
    /* Presentation times: in order, but in a quarter of the encoded seeds
     * a delta unit goes back now and then (B-frames). */
    presentation_ += 33 * ms;
    desc.presentation_ns = presentation_;
    if (encoded_ && seed_reorders_ && pick (0, 5) == 0)
      desc.presentation_ns = presentation_ - 50 * ms;
    desc.decode_only_possible = pick (0, 15) != 0;
    const std::uint64_t id = ++next_id_;
    note_arrival (id, desc);
    pending_arrival arriving;
    arriving.frame = tracked (id);
    arriving.desc = desc;
    arriving.id = id;
    pending_.emplace (std::move (arriving));
    retry_pending (failure);
  }

  /* Admits the pending arrival, acting on what the core decides; it stays
   * pending while told to wait for room. */
  void retry_pending (std::string &failure)
  {
    pending_arrival &arriving = *pending_;
    for (;;)
      {
        arriving.progress.hooks_active = pick (0, 2) == 0;
        const core_t::admit_decision decision
            = core_->admit (arriving.frame, arriving.desc, arriving.progress,
                            arriving.out);
        if (!arriving.looked_at && decision != core_t::admit_decision::refused)
          {
            arriving.looked_at = true;
            note_presentation (arriving.desc);
          }
        switch (decision)
          {
          case core_t::admit_decision::signal_full:
            /* The overrun hook: an application may raise the limits in
             * it, or the consumer may take a frame meanwhile. */
            if (pick (0, 3) == 0)
              given_back (core_->update_limits (
                  [this] (queue_limits &l) { l = random_limits (); }));
            else if (pick (0, 3) == 0)
              take (failure);
            continue;
          case core_t::admit_decision::signal_room:
            continue;
          case core_t::admit_decision::reclaim_budget:
            /* As the wrapper: other members of the budget give back. */
            core_->budget_claim_for (arriving.desc).reclaim ();
            continue;
          case core_t::admit_decision::read_steady_clock:
            if (arriving.progress.now_known)
              failure = "asked for the steady time it was given";
            arriving.progress.now = steady_now ();
            arriving.progress.now_known = true;
            continue;
          case core_t::admit_decision::wait_for_room:
            if (core_->producers_waiting () != 1)
              failure = "waiting for room, but the core counts "
                        + std::to_string (core_->producers_waiting ())
                        + " producers waiting";
            return;
          case core_t::admit_decision::queued:
          case core_t::admit_decision::dropped:
          case core_t::admit_decision::refused:
            break;
          }
        break;
      }
    if (core_->producers_waiting () != 0)
      failure = "a producer still counted waiting after its admit ended";
    core_t::admit_outcome out = std::move (arriving.out);
    const std::uint64_t id = arriving.id;
    if (trace_)
      std::fprintf (stderr,
                    "  frame %llu (unit %d, chain %llu): status %d, reason %s, "
                    "dropped %zu held\n",
                    static_cast<unsigned long long> (id),
                    static_cast<int> (records_[id].unit),
                    static_cast<unsigned long long> (records_[id].chain),
                    static_cast<int> (out.status),
                    latestframe::drop_reason_name (out.reason),
                    out.held_dropped);
    pending_.reset ();
    if (out.status == core_t::admit_status::refused)
      records_[id].gone = true;
    if (out.sequence != 0)
      {
        received_++;
        if (out.sequence != received_)
          failure = "sequence " + std::to_string (out.sequence) + " for frame "
                    + std::to_string (received_);
      }
    else if (out.status != core_t::admit_status::refused)
      failure = "a frame that was not refused has no sequence";
    for (std::size_t i = 0; i < out.released.size (); i++)
      if (out.released[i].is_frame)
        {
          /* The arriving frame given back counts as dropped only if it
           * was received; a refusal before that is not a drop. */
          const bool arriving_one = out.released[i].item.id == id;
          if (!arriving_one || out.sequence != 0)
            dropped_++;
          records_[out.released[i].item.id].gone = true;
        }
    out.released.clear ();
    if (out.status == core_t::admit_status::dropped
        && out.reason == drop_reason::broken_chain)
      check_chain_was_broken (id, failure);
    if (out.status == core_t::admit_status::queued)
      check_within_limits (failure);
  }

  /* A frame dropped for a broken chain: a frame of its chain that it needs
   * went somewhere else than the consumer. */
  void check_chain_was_broken (std::uint64_t id, std::string &failure)
  {
    for (std::uint64_t needed : references_[records_[id].chain])
      if (needed < id && records_[needed].gone)
        return;
    failure = "frame " + std::to_string (id)
              + " dropped as broken-chain, but its chain is whole";
  }

  void admit_marker ()
  {
    static const marker_kind kinds[]
        = { marker_kind::plain,         marker_kind::sticky,
            marker_kind::new_stream,    marker_kind::new_stream,
            marker_kind::end_of_stream, marker_kind::query };
    const marker_kind kind = kinds[pick (0, 5)];
    core_t::admit_outcome out
        = core_->admit_marker (tracked (++next_id_), kind);
    records_.resize (next_id_ + 1);
    if (kind == marker_kind::query
        && out.status == core_t::admit_status::queued)
      asked_.push_back (query{ out.ticket, std::nullopt });
    given_back (std::move (out.released));
    /* A frame after an end of stream begins a new one: no gap to mark
     * (flush-on-eos drops without one). */
    if (kind == marker_kind::end_of_stream)
      gap_needs_discont_ = false;
  }

  void take (std::string &failure)
  {
    static const core_t::taker takers[]
        = { core_t::taker::anyone, core_t::taker::pusher,
            core_t::taker::reader };
    core_t::take_request request;
    request.who = takers[pick (0, 2)];
    request.mode = pick (0, 3) == 0 ? core_t::delivery::newest
                                    : core_t::delivery::in_order;
    request.running_now = now_ns_;
    if (pick (0, 1) == 0)
      {
        request.now = steady_now ();
        request.now_known = true;
      }
    request.clock_stale = pick (0, 4) == 0;
    core_t::handover next;
    for (;;)
      {
        request.hooks_active = pick (0, 1) == 0;
        const core_t::take_step step = core_->take (request, next);
        if (step.decision == core_t::take_decision::signal_empty
            || step.decision == core_t::take_decision::signal_refilled)
          continue;
        if (step.decision == core_t::take_decision::refresh_clock)
          {
            request.clock_stale = false;
            continue;
          }
        if (step.decision == core_t::take_decision::read_steady_clock)
          {
            if (request.now_known)
              failure = "asked for the steady time it was given";
            request.now = steady_now ();
            request.now_known = true;
            continue;
          }
        if (step.decision == core_t::take_decision::wait_for_frame && step.until
            && *step.until <= request.now)
          failure = "told to wait for a pace already due";
        break;
      }
    /* As the wrapper does, once its lock is let go. */
    next.charge.launch ();
    given_back (std::move (next.released));
    const bool served
        = request.who == core_t::taker::anyone
          || (request.who == core_t::taker::pusher) != on_request_;
    if (!served && next.status != core_t::handover_status::halted)
      failure = "a taker the plan does not name was served";
    if (next.status != core_t::handover_status::handed_over)
      return;
    if (next.item.id <= last_handed_id_)
      failure = "entry " + std::to_string (next.item.id) + " came after "
                + std::to_string (last_handed_id_);
    last_handed_id_ = next.item.id;
    if (!next.is_frame)
      {
        if (next.marker == marker_kind::query)
          answer (next.ticket);
        return;
      }
    handed_++;
    if (!next.decode_only)
      shown_++;
    check_chain (next.item.id, failure);
    const frame_record &record = records_[next.item.id];
    if (next.decode_only && (!record.decode_only_possible || reordered_))
      failure = "frame " + std::to_string (next.item.id)
                + " made decode-only, though it "
                + (record.decode_only_possible
                       ? "came in a stream sent out of presentation order"
                       : "could not be");
    if (next.sequence <= last_handed_sequence_)
      failure = "frame sequence went back";
    if (trace_)
      std::fprintf (stderr, "  handed frame %llu (seq %llu)%s%s\n",
                    static_cast<unsigned long long> (next.item.id),
                    static_cast<unsigned long long> (next.sequence),
                    next.discont ? " discont" : "",
                    next.decode_only ? " decode-only" : "");
    if (gap_needs_discont_ && next.sequence > last_handed_sequence_ + 1
        && !next.discont)
      failure = "frame " + std::to_string (next.sequence)
                + " after a gap without discont";
    last_handed_sequence_ = next.sequence;
    gap_needs_discont_ = true;
    if (!next.charge.charged ())
      failure = "a handed-over frame without its charge";
    if (pick (0, 2) != 0)
      charges_.push_back (std::move (next.charge));
  }

  /* A frame handed over needs every reference frame of its chain that
   * arrived before it handed over before it. */
  void check_chain (std::uint64_t id, std::string &failure)
  {
    records_[id].handed = true;
    const frame_record &record = records_[id];
    if (record.unit == unit_kind::key)
      return;
    for (std::uint64_t needed : references_[record.chain])
      {
        if (needed >= id)
          break;
        if (!records_[needed].handed)
          failure = "frame " + std::to_string (id) + " handed over, but frame "
                    + std::to_string (needed) + " of its chain was not";
      }
  }

  struct query
  {
    std::uint64_t ticket;
    std::optional<bool> answer; /* what the consumer answered, once it did */
  };

  void answer (std::uint64_t ticket)
  {
    const bool accepted = pick (0, 1) == 1;
    core_->acknowledge (ticket, accepted);
    for (query &asked : asked_)
      if (asked.ticket == ticket)
        asked.answer = accepted;
  }

  /* The producers of the queries asked collect what they can: the answer
   * given, or abandoned for those never handled. */
  void collect_answers (std::string &failure)
  {
    for (auto it = asked_.begin (); it != asked_.end ();)
      {
        const std::optional<latestframe::ack_result> result
            = core_->ack (it->ticket);
        if (!result)
          {
            if (it->answer)
              failure = "a query answered, and its producer cannot see it";
            ++it;
            continue;
          }
        const latestframe::ack_result expected
            = !it->answer   ? latestframe::ack_result::abandoned
              : *it->answer ? latestframe::ack_result::accepted
                            : latestframe::ack_result::refused;
        /* Refused by downstream's end of stream is an answer too. */
        if (*result != expected
            && !(!it->answer && *result == latestframe::ack_result::refused))
          failure = "a query's producer got another answer than given";
        it = asked_.erase (it);
      }
  }

  void release_some_charge ()
  {
    if (charges_.empty ())
      return;
    charges_.erase (charges_.begin ()
                    + pick (0, static_cast<int> (charges_.size ()) - 1));
  }

  /* A flush: the decoder after starts again. (A new segment or stream
   * start does not: delta units after it may still need frames before.)
   * A producer waiting for room leaves (refused) before the flush ends, as
   * FLUSH_STOP waits for the stream lock its chain holds. */
  void flush_cycle (std::string &failure)
  {
    core_->flush_start ();
    if (pending_)
      retry_pending (failure);
    given_back (core_->drain ());
    core_->resume ();
    gap_needs_discont_ = false;
    chain_++;
  }

  void downstream_event (std::string &failure)
  {
    switch (pick (0, 3))
      {
      case 0:
        given_back (core_->downstream_ended ());
        gap_needs_discont_ = false;
        break;
      case 1:
        given_back (core_->downstream_unlinked ().released);
        break;
      case 2:
        core_->relink ();
        break;
      default:
        if (pick (0, 3) == 0)
          {
            given_back (core_->downstream_failed (-5).released);
            flush_cycle (failure);
          }
        break;
      }
  }

  void given_back (core_t::released_list released)
  {
    for (std::size_t i = 0; i < released.size (); i++)
      if (released[i].is_frame)
        {
          dropped_++;
          records_[released[i].item.id].gone = true;
        }
  }

  void check_within_limits (std::string &failure)
  {
    const queue_limits limits = core_->limits ();
    latestframe::keeper_stats stats = read_stats ();
    if (stats.held_chains > 1
        && ((limits.max_frames > 0 && stats.held_chains > limits.max_frames)
            || (limits.max_bytes > 0 && stats.held_bytes > limits.max_bytes)
            || (limits.max_span_ns > 0
                && stats.held_span_ns > limits.max_span_ns)))
      failure = "a frame was queued over the limits: "
                + std::to_string (stats.held_frames) + " frames, "
                + std::to_string (stats.held_bytes) + " bytes, "
                + std::to_string (stats.held_span_ns) + " ns held";
    if (stats.has_budget && stats.budget_cap > 0
        && stats.budget_used > stats.budget_cap)
      failure = "a frame was queued over the budget cap";
  }

  latestframe::keeper_stats read_stats () const
  {
    latestframe::keeper_stats stats;
    latestframe::age_window ages, timestamp_ages;
    std::shared_ptr<latestframe::memory_budget> budget;
    core_->read_stats (stats, ages, timestamp_ages, budget);
    if (budget)
      {
        stats.has_budget = true;
        stats.budget_cap = budget->cap_approx ();
        stats.budget_used = budget->used_approx ();
      }
    return stats;
  }

  void check (std::string &failure)
  {
    const std::string broken = core_->check_invariants ();
    if (!broken.empty ())
      {
        failure = "check_invariants (): " + broken;
        return;
      }
    const latestframe::keeper_stats stats = read_stats ();
    const std::uint64_t held = received_ - handed_ - dropped_;
    if (stats.received != received_ || stats.handed_over != handed_
        || stats.dropped () != dropped_ || stats.held_frames != held)
      failure = "stats (received " + std::to_string (stats.received)
                + ", handed " + std::to_string (stats.handed_over)
                + ", dropped " + std::to_string (stats.dropped ()) + ", held "
                + std::to_string (stats.held_frames)
                + ") differ from what was seen (" + std::to_string (received_)
                + ", " + std::to_string (handed_) + ", "
                + std::to_string (dropped_) + ", " + std::to_string (held)
                + ")";
    else if (stats.handed_over - stats.decode_only != shown_)
      failure = std::to_string (shown_) + " frames shown, but "
                + std::to_string (stats.handed_over - stats.decode_only)
                + " counted as handed over and not decode-only";
    else if (core_->flight ().frames_approx () != charges_.size ())
      failure = "in flight "
                + std::to_string (core_->flight ().frames_approx ()) + " but "
                + std::to_string (charges_.size ()) + " charges alive";
  }

  void finish (std::string &failure)
  {
    core_->flush_start ();
    if (pending_)
      retry_pending (failure);
    given_back (core_->drain ());
    collect_answers (failure);
    check (failure);
    if (!asked_.empty () && failure.empty ())
      failure = "a query's producer still waits after a flush";
    charges_.clear ();
    if (core_->flight ().bytes_approx () != 0)
      failure = "bytes still in flight after every charge went";
    core_.reset ();
  }

  std::mt19937 random_;
  bool encoded_;
  bool seed_reorders_ = random_ () % 4 == 0;
  std::unique_ptr<core_t> core_;
  std::optional<pending_arrival> pending_;
  std::vector<frame_record> records_;
  std::vector<std::vector<std::uint64_t>> references_;
  std::vector<query> asked_;
  std::vector<latestframe::in_flight_charge> charges_;
  std::string budget_name_;
  /* LATESTFRAME_MODEL_TRACE=1 prints every step. */
  bool trace_ = std::getenv ("LATESTFRAME_MODEL_TRACE") != nullptr;
  std::int64_t now_ns_ = 1000 * ms;
  std::int64_t last_time_ns_ = 0;
  std::int64_t presentation_ = 0;
  std::int64_t latest_presentation_ = latestframe::no_time;
  bool reordered_ = false;
  bool on_request_ = false;
  std::uint64_t chain_ = 0;
  std::uint64_t next_id_ = 0;
  std::uint64_t received_ = 0;
  std::uint64_t handed_ = 0;
  std::uint64_t shown_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t last_handed_id_ = 0;
  std::uint64_t last_handed_sequence_ = 0;
  bool gap_needs_discont_ = false;
};

std::uint32_t
fixed_seed ()
{
  const char *seed = std::getenv ("LATESTFRAME_MODEL_SEED");
  return seed ? static_cast<std::uint32_t> (std::strtoul (seed, nullptr, 10))
              : 0;
}

std::uint32_t
sequences ()
{
  const char *count = std::getenv ("LATESTFRAME_MODEL_SEQUENCES");
  return count ? static_cast<std::uint32_t> (std::strtoul (count, nullptr, 10))
               : 100000;
}

// Random single-threaded sequences on the core (100,000 by default) keep
// every promise of the contract and every invariant of its parts after
// every step, and nothing leaks or is destroyed twice.
TEST (KeeperModel, RandomSequencesKeepTheContract)
{
  const std::uint32_t only = fixed_seed ();
  const std::uint32_t first = only ? only : 1;
  const std::uint32_t last = only ? only : sequences ();
  const auto started = std::chrono::steady_clock::now ();
  for (std::uint32_t seed = first; seed <= last; seed++)
    {
      lifetimes::reset ();
      std::string failure;
      {
        sequence_model model (seed);
        model.run (60, failure);
      }
      if (failure.empty () && lifetimes::alive_count () != 0)
        failure
            = std::to_string (lifetimes::alive_count ()) + " payloads leaked";
      if (failure.empty () && lifetimes::destroyed_twice () != 0)
        failure = "a payload was destroyed twice";
      ASSERT_TRUE (failure.empty ()) << "seed " << seed << ": " << failure;
    }
  std::printf ("%u sequences of 60 steps in %.1f s\n", last - first + 1,
               std::chrono::duration<double> (std::chrono::steady_clock::now ()
                                              - started)
                   .count ());
}

/* Counts shared by the threads of a concurrent run. */
struct concurrent_counts
{
  std::atomic<std::uint64_t> received{ 0 };
  std::atomic<std::uint64_t> handed{ 0 };
  std::atomic<std::uint64_t> dropped{ 0 };
  std::atomic<bool> broken{ false };
  std::string failure;
  std::mutex failure_lock;

  void fail (const std::string &what)
  {
    std::lock_guard<std::mutex> lock (failure_lock);
    if (!broken.exchange (true))
      failure = what;
  }
  void count_given_back (keeper_t::released_list &released)
  {
    for (std::size_t i = 0; i < released.size (); i++)
      if (released[i].is_frame)
        dropped++;
    released.clear ();
  }
};

/* A producer, a consumer and a controller on one keeper at once. */
void
run_concurrently (std::uint32_t seed, concurrent_counts &counts)
{
  keeper_t keeper;
  std::mt19937 setup (seed);
  auto pick = [&setup] (int low, int high) {
    return std::uniform_int_distribution<int> (low, high) (setup);
  };
  const std::uint64_t cap = pick (0, 1) ? 0 : pick (300, 1500);
  keeper.set_budget ("concurrent-" + std::to_string (seed), cap);
  keeper.set_limits ({ static_cast<std::uint32_t> (pick (1, 4)), 0, 0 });
  std::atomic<bool> producer_done{ false };
  std::atomic<std::uint64_t> next_id{ 0 };

  std::thread producer ([&, seed] {
    std::mt19937 random (seed * 7 + 1);
    auto roll = [&random] (int low, int high) {
      return std::uniform_int_distribution<int> (low, high) (random);
    };
    for (int i = 0; i < 400 && !counts.broken; i++)
      {
        const int what = roll (0, 19);
        if (what == 0)
          {
            keeper_t::admit_outcome out
                = keeper.admit_marker (tracked (++next_id), marker_kind::query);
            counts.count_given_back (out.released);
            if (out.status == keeper_t::admit_status::queued)
              keeper.wait_ack (out.ticket);
            continue;
          }
        if (what == 1)
          {
            keeper_t::admit_outcome out = keeper.admit_marker (
                tracked (++next_id),
                roll (0, 1) ? marker_kind::sticky : marker_kind::new_stream);
            counts.count_given_back (out.released);
            continue;
          }
        frame_desc desc{ static_cast<std::uint64_t> (roll (10, 300)),
                         latestframe::no_time };
        keeper_t::admit_outcome out
            = keeper.admit_frame (tracked (++next_id), desc);
        if (out.sequence != 0)
          counts.received++;
        /* Refused before it was received, the frame given back is no
         * drop; anything else given back is. */
        if (out.status == keeper_t::admit_status::refused && out.sequence == 0)
          out.released.clear ();
        counts.count_given_back (out.released);
      }
    producer_done = true;
  });

  std::thread consumer ([&, seed] {
    std::mt19937 random (seed * 13 + 5);
    auto roll = [&random] (int low, int high) {
      return std::uniform_int_distribution<int> (low, high) (random);
    };
    std::vector<latestframe::in_flight_charge> kept;
    std::uint64_t last_id = 0;
    while (!counts.broken)
      {
        keeper_t::handover next = keeper.hand_over (
            roll (0, 3) ? keeper_t::delivery::in_order
                        : keeper_t::delivery::newest,
            keeper_t::clock::now () + std::chrono::milliseconds (2));
        counts.count_given_back (next.released);
        if (next.status == keeper_t::handover_status::halted)
          {
            if (producer_done
                && keeper.state_approx () == stream_state::flushing)
              break;
            std::this_thread::yield ();
            continue;
          }
        if (next.status != keeper_t::handover_status::handed_over)
          continue;
        if (next.item.id <= last_id)
          counts.fail ("entries out of order");
        last_id = next.item.id;
        if (next.marker == marker_kind::query && !next.is_frame)
          keeper.acknowledge (next.ticket, roll (0, 1) == 1);
        if (!next.is_frame)
          continue;
        counts.handed++;
        kept.push_back (std::move (next.charge));
        if (kept.size () > static_cast<std::size_t> (roll (0, 3)))
          kept.erase (kept.begin ());
        if (roll (0, 40) == 0)
          {
            keeper.downstream_unlinked ();
            keeper.relink ();
          }
      }
  });

  std::mt19937 random (seed * 31 + 3);
  auto roll = [&random] (int low, int high) {
    return std::uniform_int_distribution<int> (low, high) (random);
  };
  while (!producer_done && !counts.broken)
    {
      latestframe::keeper_stats stats = keeper.stats ();
      if (stats.received
          != stats.handed_over + stats.dropped () + stats.held_frames)
        counts.fail ("received != handed over + dropped + held");
      if (cap > 0 && stats.budget_used > cap)
        counts.fail ("budget used over its cap");
      switch (roll (0, 9))
        {
        case 0:
          {
            keeper.flush_start ();
            keeper_t::released_list drained = keeper.drain ();
            counts.count_given_back (drained);
            keeper.resume ();
            break;
          }
        case 1:
          {
            keeper_t::released_list dropped = keeper.set_limits (
                { static_cast<std::uint32_t> (roll (0, 4)), 0, 0 });
            counts.count_given_back (dropped);
            break;
          }
        case 2:
          {
            static const leak_policy policies[]
                = { leak_policy::none, leak_policy::drop_arriving,
                    leak_policy::drop_oldest };
            keeper_t::released_list dropped
                = keeper.set_policy (policies[roll (0, 2)]);
            counts.count_given_back (dropped);
            break;
          }
        case 3:
          {
            keeper_t::released_list dropped
                = keeper.set_upstream_live (roll (0, 2) != 0);
            counts.count_given_back (dropped);
            break;
          }
        case 4:
          keeper.set_max_age (roll (0, 1) ? 0 : roll (1, 5) * ms);
          break;
        default:
          std::this_thread::yield ();
          break;
        }
    }
  /* Releases a producer waiting for room or an answer when a check broke
   * the run early; after a whole run the producer is done already. */
  keeper.flush_start ();
  producer.join ();
  consumer.join ();
  keeper_t::released_list drained = keeper.drain ();
  counts.count_given_back (drained);
  latestframe::keeper_stats stats = keeper.stats ();
  if (stats.received != counts.received || stats.handed_over != counts.handed
      || stats.dropped () != counts.dropped || stats.held_frames != 0)
    counts.fail ("at the end: stats received " + std::to_string (stats.received)
                 + " handed " + std::to_string (stats.handed_over) + " dropped "
                 + std::to_string (stats.dropped ()) + "; seen "
                 + std::to_string (counts.received.load ()) + ", "
                 + std::to_string (counts.handed.load ()) + ", "
                 + std::to_string (counts.dropped.load ()));
}

// A producer, a consumer (keeping charges) and a controller changing
// settings and flushing, at once: the balance holds in every snapshot and
// at the end, the budget cap holds, order holds, nothing leaks.
TEST (KeeperModel, ConcurrentRunsKeepTheContract)
{
  const std::uint32_t only = fixed_seed ();
  const std::uint32_t runs = only ? 1 : 150;
  for (std::uint32_t run = 0; run < runs; run++)
    {
      const std::uint32_t seed = only ? only : run + 1;
      lifetimes::reset ();
      concurrent_counts counts;
      run_concurrently (seed, counts);
      ASSERT_FALSE (counts.broken.load ())
          << "seed " << seed << ": " << counts.failure;
      ASSERT_EQ (lifetimes::alive_count (), 0) << "seed " << seed;
      ASSERT_EQ (lifetimes::destroyed_twice (), 0) << "seed " << seed;
    }
}

} // namespace
