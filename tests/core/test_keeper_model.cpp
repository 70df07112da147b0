/* Randomized model tests of latestframe::frame_keeper: random sequences of
 * admit / hand-over / flush / limit, policy, liveness, budget and max-age
 * changes / downstream events, checked after every step against a small
 * reference model of what must hold, with a lifetime-counting payload.
 *
 * The model does not re-implement the rules: it follows every payload the
 * keeper takes and gives back, and checks the contract:
 *  - received == handed over + dropped + held, in the keeper's own stats
 *    and in the model's counts of what it saw given back;
 *  - a frame is queued only within the limits (a lone frame excepted), and
 *    only with its bytes reserved under the budget cap;
 *  - entries come out in the order they went in, a frame after a gap
 *    carries discont, in-flight frames are those whose charges live;
 *  - on encoded video (half the seeds: random key, delta and non-reference
 *    units, random decode modes and paces), no frame is handed over after a
 *    frame of its chain that it needs went anywhere else (dropped, refused),
 *    and the frame limit holds on chains;
 *  - no payload leaks or is destroyed twice.
 * Seeds are printed on failure: LATESTFRAME_MODEL_SEED=N re-runs one. */
#include "core/fake_clock.h"
#include "core/tracked.h"
#include "latestframe/frame_keeper.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <random>
#include <set>
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
using keeper_t = latestframe::frame_keeper<tracked>;

constexpr std::int64_t ms = 1000000;

namespace fake_clock = latestframe_test::fake_clock;

/* A second thread that runs one job at a time: the admits that may block,
 * so that the model's thread can hand over until they return. */
class worker
{
public:
  worker () : thread_ ([this] { serve (); }) {}
  ~worker ()
  {
    {
      std::lock_guard<std::mutex> lock (mutex_);
      quit_ = true;
    }
    wake_.notify_all ();
    thread_.join ();
  }

  void start (std::function<void ()> job)
  {
    {
      std::lock_guard<std::mutex> lock (mutex_);
      job_ = std::move (job);
      done_ = false;
    }
    wake_.notify_all ();
  }

  bool done ()
  {
    std::lock_guard<std::mutex> lock (mutex_);
    return done_;
  }

private:
  void serve ()
  {
    std::unique_lock<std::mutex> lock (mutex_);
    for (;;)
      {
        wake_.wait (lock, [this] { return quit_ || job_; });
        if (quit_)
          return;
        std::function<void ()> job = std::move (job_);
        job_ = nullptr;
        lock.unlock ();
        job ();
        lock.lock ();
        done_ = true;
      }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::function<void ()> job_;
  bool done_ = true;
  bool quit_ = false;
  std::thread thread_;
};

/* One sequence, single-threaded but for producers blocked for room, whose
 * admit runs on a worker thread while this one hands over until it
 * returns. */
class sequence_model
{
public:
  explicit sequence_model (std::uint32_t seed)
      : random_ (seed), encoded_ (seed % 2 == 0)
  {
    keeper_ = std::make_unique<keeper_t> ();
    keeper_->set_clock (&fake_clock::steady_now);
    keeper_->update_request ([this] (latestframe::hand_over_request &r) {
      r.encoded = encoded_;
    });
    keeper_->set_limits (random_limits ());
    keeper_->set_policy (random_policy ());
    budget_name_ = "model-" + std::to_string (seed % 3);
  }

  /* Runs `steps` random operations; false (with a message) at the first
   * broken promise. */
  bool run (int steps, std::string &failure)
  {
    for (int step = 0; step < steps && failure.empty (); step++)
      {
        fake_clock::now_ns += pick (0, 20) * ms;
        one_step (failure);
        if (failure.empty ())
          check_balance (failure);
        if (!failure.empty ())
          failure = "step " + std::to_string (step) + ": " + failure;
      }
    if (failure.empty ())
      finish (failure);
    return failure.empty ();
  }

private:
  int pick (int low, int high)
  {
    return std::uniform_int_distribution<int> (low, high) (random_);
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
    int roll = pick (0, 104);
    if (trace_)
      {
        latestframe::keeper_stats stats = keeper_->stats ();
        std::fprintf (stderr,
                      "roll %d: held %u, received %llu, state %d, policy %d\n",
                      roll, stats.held_frames,
                      static_cast<unsigned long long> (stats.received),
                      static_cast<int> (keeper_->state_approx ()),
                      static_cast<int> (keeper_->policy ()));
      }
    if (roll < 38)
      admit_frame (failure);
    else if (roll < 46)
      admit_marker ();
    else if (roll < 74)
      take (failure);
    else if (roll < 80)
      release_some_charge ();
    else if (roll < 82)
      flush_cycle ();
    else if (roll < 85)
      count_given_back (keeper_->set_limits (random_limits ()));
    else if (roll < 87)
      count_given_back (keeper_->set_policy (random_policy ()));
    else if (roll < 88)
      count_given_back (keeper_->set_upstream_live (pick (0, 3) != 0));
    else if (roll < 89)
      count_given_back (keeper_->set_leak_when_not_live (pick (0, 1) == 1));
    else if (roll < 91)
      keeper_->set_budget (
          pick (0, 3) == 0 ? std::string () : budget_name_,
          static_cast<std::uint64_t> (pick (0, 2) == 0 ? 0 : pick (100, 900)));
    else if (roll < 93)
      keeper_->set_max_age (pick (0, 1) == 0 ? 0 : pick (1, 80) * ms);
    else if (roll < 94)
      keeper_->set_thresholds (
          { static_cast<std::uint32_t> (pick (0, 2)), 0, 0 });
    else if (roll < 95)
      keeper_->set_flush_on_eos (pick (0, 1) == 1);
    else if (roll < 100)
      downstream_event ();
    else if (roll < 103)
      keeper_->update_request ([&] (latestframe::hand_over_request &r) {
        r.encoded = encoded_;
        r.decode = static_cast<latestframe::decode_mode> (pick (0, 3));
      });
    else
      keeper_->update_request ([&] (latestframe::hand_over_request &r) {
        r.rate = pick (0, 1) == 0 ? 0 : 1000.0 / pick (1, 50);
      });
  }

  /* Encoded video: mostly delta units, a key unit now and then. */
  unit_kind random_unit ()
  {
    if (!encoded_)
      return unit_kind::key;
    const int roll = pick (0, 9);
    return roll < 2 ? unit_kind::key
           : roll < 4 ? unit_kind::non_reference
                      : unit_kind::delta;
  }

  /* A frame arrives (received or refused): its chain is the current one;
   * a key unit starts a new one. */
  void note_arrival (std::uint64_t id, unit_kind unit)
  {
    if (unit == unit_kind::key)
      chain_++;
    units_[id] = frame_record{ chain_, unit };
    if (unit != unit_kind::non_reference)
      references_[chain_].push_back (id);
  }

  /* A frame dropped for a broken chain: a frame of its chain that it needs
   * went somewhere else than the consumer. */
  void check_chain_was_broken (std::uint64_t id, std::string &failure)
  {
    for (std::uint64_t needed : references_[units_[id].chain])
      if (needed < id && gone_.count (needed) != 0)
        return;
    failure = "frame " + std::to_string (id)
              + " dropped as broken-chain, but its chain is whole";
  }

  /* A flush: the decoder after starts again. (A new segment or stream
   * start does not: delta units after it may still need frames before.) */
  void new_chain () { chain_++; }

  /* A frame handed over needs every reference frame of its chain that
   * arrived before it handed over before it. */
  void check_chain (std::uint64_t id, std::string &failure)
  {
    handed_ids_.push_back (id);
    const frame_record &record = units_[id];
    if (record.unit == unit_kind::key)
      return;
    for (std::uint64_t needed : references_[record.chain])
      {
        if (needed >= id)
          break;
        if (!std::binary_search (handed_ids_.begin (), handed_ids_.end (),
                                 needed))
          failure = "frame " + std::to_string (id)
                    + " handed over, but frame " + std::to_string (needed)
                    + " of its chain was not";
      }
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
        last_time_ns_ = std::max (last_time_ns_, fake_clock::now_ns.load ()
                                                     - pick (0, 60) * ms);
        desc.time_ns = last_time_ns_;
        desc.arrival_running_ns = fake_clock::now_ns.load ();
      }
    desc.unit = random_unit ();
    const std::uint64_t id = ++next_id_;
    note_arrival (id, desc.unit);
    keeper_t::admit_outcome out;
    if (may_block ())
      {
        /* The admit may wait for room: hand over while it does. */
        producer_.start (
            [&] { out = keeper_->admit_frame (tracked (id), desc); });
        while (!producer_.done ())
          if (keeper_->blocked_producers_approx () > 0)
            {
              /* Time goes on while it waits (a pace falls due). */
              fake_clock::now_ns += ms;
              take (failure);
            }
          else
            std::this_thread::yield ();
      }
    else
      out = keeper_->admit_frame (tracked (id), desc);
    if (out.status == keeper_t::admit_status::refused)
      gone_.insert (id);
    const bool broken = out.status == keeper_t::admit_status::dropped
                        && out.reason == drop_reason::broken_chain;
    if (trace_)
      std::fprintf (stderr,
                    "  frame %llu (unit %d, chain %llu): status %d, reason %s, "
                    "dropped %zu held\n",
                    static_cast<unsigned long long> (id),
                    static_cast<int> (desc.unit),
                    static_cast<unsigned long long> (units_[id].chain),
                    static_cast<int> (out.status),
                    latestframe::drop_reason_name (out.reason),
                    out.held_dropped);
    note_admitted (out, failure);
    if (broken)
      check_chain_was_broken (id, failure);
    if (out.status == keeper_t::admit_status::queued)
      check_within_limits (failure);
  }

  /* Whether an admit may block: the policy in force is none. The model
   * keeps its own view of the settings that decide it. */
  bool may_block () const
  {
    return keeper_->policy () == leak_policy::none
           || !keeper_->stats ().upstream_live;
  }

  void note_admitted (keeper_t::admit_outcome &out, std::string &failure)
  {
    if (out.sequence != 0)
      {
        received_++;
        if (out.sequence != received_)
          failure = "sequence " + std::to_string (out.sequence)
                    + " for frame " + std::to_string (received_);
      }
    else if (out.status != keeper_t::admit_status::refused)
      failure = "a frame that was not refused has no sequence";
    /* The arriving frame given back counts as dropped only if it was
     * received; a refusal before that is not a drop. */
    for (std::size_t i = 0; i < out.released.size (); i++)
      if (out.released[i].is_frame)
        {
          const bool arriving = out.released[i].item.id == next_id_;
          if (!arriving || out.sequence != 0)
            dropped_++;
          gone_.insert (out.released[i].item.id);
        }
    out.released.clear ();
  }

  void admit_marker ()
  {
    static const marker_kind kinds[]
        = { marker_kind::plain, marker_kind::sticky, marker_kind::new_stream,
            marker_kind::new_stream, marker_kind::end_of_stream };
    const marker_kind kind = kinds[pick (0, 4)];
    keeper_t::admit_outcome out
        = keeper_->admit_marker (tracked (++next_id_), kind);
    count_given_back (std::move (out.released));
    /* A frame after an end of stream begins a new one: no gap to mark
     * (flush-on-eos drops without one). */
    if (kind == marker_kind::end_of_stream)
      gap_needs_discont_ = false;
  }

  void take (std::string &failure,
             std::optional<keeper_t::clock::time_point> deadline
             = std::nullopt)
  {
    const auto mode = pick (0, 3) == 0 ? keeper_t::delivery::newest
                                       : keeper_t::delivery::in_order;
    keeper_t::handover next = keeper_->hand_over (
        mode, deadline.value_or (keeper_t::clock::now ()),
        fake_clock::running_now ());
    count_given_back (std::move (next.released));
    if (next.status != keeper_t::handover_status::handed_over)
      return;
    if (next.item.id <= last_handed_id_)
      failure = "entry " + std::to_string (next.item.id) + " came after "
                + std::to_string (last_handed_id_);
    last_handed_id_ = next.item.id;
    if (!next.is_frame)
      return;
    handed_++;
    check_chain (next.item.id, failure);
    if (next.sequence <= last_handed_sequence_)
      failure = "frame sequence went back";
    if (trace_)
      std::fprintf (stderr, "  handed frame %llu (seq %llu)%s\n",
                    static_cast<unsigned long long> (next.item.id),
                    static_cast<unsigned long long> (next.sequence),
                    next.discont ? " discont" : "");
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

  void release_some_charge ()
  {
    if (charges_.empty ())
      return;
    charges_.erase (charges_.begin () + pick (0, static_cast<int> (charges_.size ()) - 1));
  }

  void flush_cycle ()
  {
    keeper_->flush_start ();
    count_given_back (keeper_->drain ());
    keeper_->resume ();
    gap_needs_discont_ = false;
    new_chain ();
  }

  void downstream_event ()
  {
    switch (pick (0, 3))
      {
      case 0:
        count_given_back (keeper_->downstream_ended ());
        gap_needs_discont_ = false;
        break;
      case 1:
        keeper_->downstream_unlinked ();
        break;
      case 2:
        keeper_->relink ();
        break;
      default:
        if (pick (0, 3) == 0)
          {
            count_given_back (keeper_->downstream_failed (-5).released);
            keeper_->flush_start ();
            keeper_->resume ();
            gap_needs_discont_ = false;
            new_chain ();
          }
        break;
      }
  }

  void count_given_back (keeper_t::released_list released)
  {
    for (std::size_t i = 0; i < released.size (); i++)
      if (released[i].is_frame)
        {
          dropped_++;
          gone_.insert (released[i].item.id);
        }
  }

  void check_within_limits (std::string &failure)
  {
    const queue_limits limits = keeper_->limits ();
    const latestframe::keeper_stats stats = keeper_->stats ();
    if (stats.held_chains > 1
        && ((limits.max_frames > 0 && stats.held_chains > limits.max_frames)
            || (limits.max_bytes > 0 && stats.held_bytes > limits.max_bytes)
            || (limits.max_span_ns > 0
                && stats.held_span_ns > limits.max_span_ns)))
      failure = "a frame was queued over the limits: "
                + std::to_string (stats.held_frames) + " frames, "
                + std::to_string (stats.held_bytes) + " bytes, "
                + std::to_string (stats.held_span_ns) + " ns held; limits "
                + std::to_string (limits.max_frames) + ", "
                + std::to_string (limits.max_bytes) + ", "
                + std::to_string (limits.max_span_ns);
    if (stats.has_budget && stats.budget_cap > 0
        && stats.budget_used > stats.budget_cap)
      failure = "a frame was queued over the budget cap";
  }

  void check_balance (std::string &failure)
  {
    const latestframe::keeper_stats stats = keeper_->stats ();
    const std::uint64_t held = received_ - handed_ - dropped_;
    if (stats.received != stats.handed_over + stats.dropped ()
                              + stats.held_frames)
      failure = "received != handed over + dropped + held in the stats ("
                + std::to_string (stats.received) + " != "
                + std::to_string (stats.handed_over) + " + "
                + std::to_string (stats.dropped ()) + " + "
                + std::to_string (stats.held_frames) + ")";
    else if (stats.received != received_ || stats.handed_over != handed_
             || stats.dropped () != dropped_ || stats.held_frames != held)
      failure = "stats (received " + std::to_string (stats.received)
                + ", handed " + std::to_string (stats.handed_over)
                + ", dropped " + std::to_string (stats.dropped ())
                + ", held " + std::to_string (stats.held_frames)
                + ") differ from what was seen (" + std::to_string (received_)
                + ", " + std::to_string (handed_) + ", "
                + std::to_string (dropped_) + ", " + std::to_string (held)
                + ")";
    else if (stats.in_flight_frames != charges_.size ())
      failure = "in flight " + std::to_string (stats.in_flight_frames)
                + " but " + std::to_string (charges_.size ())
                + " charges alive";
  }

  void finish (std::string &failure)
  {
    keeper_->flush_start ();
    count_given_back (keeper_->drain ());
    check_balance (failure);
    charges_.clear ();
    if (keeper_->stats ().in_flight_bytes != 0)
      failure = "bytes still in flight after every charge went";
    keeper_.reset ();
  }

  struct frame_record
  {
    std::uint64_t chain = 0;
    unit_kind unit = unit_kind::key;
  };

  std::mt19937 random_;
  bool encoded_;
  std::uint64_t chain_ = 0;
  std::map<std::uint64_t, frame_record> units_;
  std::map<std::uint64_t, std::vector<std::uint64_t>> references_;
  std::vector<std::uint64_t> handed_ids_; /* ascending: handed in order */
  std::set<std::uint64_t> gone_;          /* dropped or refused */
  /* LATESTFRAME_MODEL_TRACE=1 prints every step. */
  bool trace_ = std::getenv ("LATESTFRAME_MODEL_TRACE") != nullptr;
  worker producer_;
  std::unique_ptr<keeper_t> keeper_;
  std::string budget_name_;
  std::vector<latestframe::in_flight_charge> charges_;
  std::uint64_t next_id_ = 0;
  std::int64_t last_time_ns_ = 0;
  std::uint64_t received_ = 0;
  std::uint64_t handed_ = 0;
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

// Ten thousand random single-threaded sequences keep every promise of the
// contract after every step, and nothing leaks or is destroyed twice.
TEST (KeeperModel, RandomSequencesKeepTheContract)
{
  const std::uint32_t only = fixed_seed ();
  const std::uint32_t first = only ? only : 1;
  const std::uint32_t last = only ? only : 10000;
  for (std::uint32_t seed = first; seed <= last; seed++)
    {
      lifetimes::reset ();
      std::string failure;
      {
        sequence_model model (seed);
        model.run (60, failure);
      }
      if (failure.empty () && lifetimes::alive_count () != 0)
        failure = std::to_string (lifetimes::alive_count ())
                  + " payloads leaked";
      if (failure.empty () && lifetimes::destroyed_twice () != 0)
        failure = "a payload was destroyed twice";
      ASSERT_TRUE (failure.empty ()) << "seed " << seed << ": " << failure;
    }
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
        if (out.status == keeper_t::admit_status::refused
            && out.sequence == 0)
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
            if (producer_done && keeper.state_approx ()
                                     == stream_state::flushing)
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
                 + " handed " + std::to_string (stats.handed_over)
                 + " dropped " + std::to_string (stats.dropped ())
                 + "; seen " + std::to_string (counts.received.load ()) + ", "
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
