/* libFuzzer target: latestframe::frame_keeper, driven by operations decoded
 * from the input, with every promise of its contract checked after each
 * operation (an abort reports a broken one).
 *
 * The input is a list of operations: one opcode byte (taken modulo the
 * number of operations) and a fixed number of argument bytes each, read
 * from the front; a short input reads zeros past its end. The table below
 * is the format tests/fuzz/make_seeds.py writes its seeds in. The input's
 * length decides whether, at the end, the keepers go before or after the
 * in-flight charges they handed out (which must outlive them).
 *
 * | op | name            | argument bytes                                   |
 * |----|-----------------|--------------------------------------------------|
 * |  0 | admit-frame     | flags (bits 0-1 unit: key, delta, non-reference, |
 * |    |                 | key; 2 timed; 3 time goes back; 4 capture time;  |
 * |    |                 | 5 hooks active; 6 time near 2^63 ns), size (x4   |
 * |    |                 | bytes), ms ago (of now, or of 2^63 ns)           |
 * |  1 | admit-marker    | kind (plain, sticky, new-stream, end, query)     |
 * |  2 | hand-over       | flags (0 newest; 1 keep the charge; 2 hooks      |
 * |    |                 | active; 3 accept a query)                        |
 * |  3 | release-charge  | which                                            |
 * |  4 | advance-clock   | ms (255: ten seconds)                            |
 * |  5 | set-limits      | frames (mod 5), bytes (x8), span (ms)            |
 * |  6 | set-policy      | none, drop-arriving, drop-oldest                 |
 * |  7 | set-live        | bit 0: live                                      |
 * |  8 | set-leak-non-live | bit 0                                          |
 * |  9 | set-budget      | name (keep, none, a, b), cap (keep when 255;     |
 * |    |                 | else x16 bytes)                                  |
 * | 10 | set-max-age     | ms (0: off)                                      |
 * | 11 | set-thresholds  | frames (mod 4), bytes (x64, mod 4), span (x10 ms)|
 * | 12 | set-flush-on-eos| bit 0                                            |
 * | 13 | set-on-request  | bit 0 (the plan then takes the newest)           |
 * | 14 | set-decode-mode | all, on-demand, key-units, auto                  |
 * | 15 | set-pace        | ms (0: none), as the rate it stands for          |
 * | 16 | flush-start     | -                                                |
 * | 17 | flush-stop      | - (drain, then resume: FLUSH_STOP)               |
 * | 18 | deactivate      | - (flush-start, then drain)                      |
 * | 19 | activate        | - (if halted: drain, then resume if halted)      |
 * | 20 | downstream-eos  | -                                                |
 * | 21 | unlinked        | -                                                |
 * | 22 | relink          | -                                                |
 * | 23 | failed          | -                                                |
 * | 24 | neighbour-admit | size (x8 bytes): a raw frame into a second keeper |
 * | 25 | neighbour-take  | flags (0 keep the charge; 1 release the oldest)  |
 * | 26 | neighbour-budget| name ("", a, b), cap (x16 bytes)                 |
 *
 * What is checked (the contract in frame_keeper.h, as
 * tests/core/test_keeper_model.cpp checks it on random sequences):
 *  - received == handed over + dropped (all reasons) + held, in the stats
 *    and in what this driver saw given back;
 *  - no frame is handed over twice, entries come out in the order they went
 *    in, sequence numbers grow, a frame after a gap carries discont;
 *  - no delta or non-reference unit is handed over unless every reference
 *    frame of its chain that came before it was; a frame dropped as
 *    broken-chain had lost one;
 *  - a frame is queued only within the limits (a lone chain excepted) and
 *    with its bytes under the budget's cap, also when a second keeper (the
 *    neighbour) holds frames in the same budget; after a tighter setting
 *    with drop-oldest in force, the held frames are within the limits;
 *  - in flight: one live charge per frame counted, and none once all went;
 *  - a query's producer always gets the answer it was given, and never
 *    waits for one that is not coming;
 *  - no payload leaks or is destroyed twice.
 *
 * Single-threaded and deterministic: hand-overs never wait (their deadline
 * is now), and where the policy in force would block the producer, the
 * overrun hook (called with the keeper's lock released, as the element's
 * "overrun" signal is) plays the consumer and empties the keeper first.
 * LATESTFRAME_FUZZ_TRACE=1 prints each operation. */
#include "input_reader.h"
#include "core/fake_clock.h"
#include "core/tracked.h"
#include "latestframe/frame_keeper.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace
{

namespace lf = latestframe;
namespace fake_clock = latestframe_test::fake_clock;
using latestframe_test::lifetimes;
using latestframe_test::tracked;
using keeper_t = lf::frame_keeper<tracked>;

constexpr std::uint64_t ms = 1000000;
constexpr std::size_t max_operations = 512;

using latestframe_fuzz::input_reader;

[[noreturn]] void
violated (std::size_t operation, const std::string &what)
{
  std::fprintf (stderr, "fuzz_keeper: operation %zu: %s\n", operation,
                what.c_str ());
  std::abort ();
}

class keeper_run;

/* The keeper's hooks: an underrun is signalled once per transition; an
 * overrun where the producer would block makes room (see make_room()). */
struct run_hooks
{
  keeper_run *run;
  bool signals;

  bool active () const { return signals; }
  void full ();
  void room_after_wait () {}
  void empty ();
  void refilled ();
};

class keeper_run
{
public:
  keeper_run ()
  {
    /* 100 ms: frames captured before the running clock started (their
     * capture time placed on it) have negative times. */
    fake_clock::now_ns = 100 * ms;
    keeper_ = std::make_unique<keeper_t> ();
    keeper_->set_clock (&fake_clock::steady_now);
    /* Encoded caps: the frames' units count. */
    keeper_->update_request (
        [] (lf::hand_over_request &request) { request.encoded = true; });
    /* Slot 0: ids start at 1. */
    records_.emplace_back ();
  }

  /* `order`: bit 0, the keeper goes before the charges it handed out
   * (they outlive it); bit 1, so does the neighbour. */
  void run (input_reader &in, std::size_t order)
  {
    for (operation_ = 0; operation_ < max_operations && !in.done ();
         operation_++)
      {
        const std::uint8_t op = in.byte () % 27;
        if (trace_)
          std::fprintf (stderr, "op %zu: %u (state %d)\n", operation_, op,
                        static_cast<int> (keeper_->state_approx ()));
        apply (op, in);
        check_balance ();
      }
    finish (order);
  }

  /* ---- hooks -------------------------------------------------------- */

  /* The arriving frame does not fit. Where the policy in force would block
   * the producer for good (no consumer thread here), play the consumer:
   * hand over everything held (an empty keeper always takes a frame). */
  void make_room ()
  {
    if (policy_in_force () != lf::leak_policy::none)
      return;
    for (int attempt = 0; keeper_->level_approx ().frames > 0; attempt++)
      {
        if (attempt > 100000)
          fail ("the consumer cannot make room for a blocked producer");
        if (take (keeper_t::delivery::in_order, false, false, true)
            == keeper_t::handover_status::timed_out)
          {
            /* Held back by the pace or a threshold: as time passes, or as
             * queue's blocked producer ends a threshold's wait. */
            fake_clock::advance (pace_ns_ + ms);
            keeper_->set_thresholds ({});
          }
      }
  }

  void underrun ()
  {
    if (underrun_)
      fail ("underrun signalled twice in a row");
    underrun_ = true;
  }

  void refill ()
  {
    if (!underrun_)
      fail ("refilled without an underrun");
    underrun_ = false;
  }

private:
  struct frame_record
  {
    bool is_frame = false;
    bool neighbour = false; /* the neighbour's: not in the chain model */
    std::uint64_t chain = 0;
    lf::unit_kind unit = lf::unit_kind::key;
    std::uint64_t bytes = 0;
    bool handed = false;
    bool gone = false; /* dropped or refused */
  };

  [[noreturn]] void fail (const std::string &what) const
  {
    violated (operation_, what);
  }

  lf::leak_policy policy_in_force () const
  {
    const bool may_drop
        = keeper_->stats ().upstream_live || keeper_->leak_when_not_live ();
    return may_drop ? keeper_->policy () : lf::leak_policy::none;
  }

  void apply (std::uint8_t op, input_reader &in)
  {
    switch (op)
      {
      case 0:
        {
          const std::uint8_t flags = in.byte ();
          const std::uint8_t size = in.byte ();
          const std::uint8_t ago = in.byte ();
          admit_frame (flags, size, ago);
          break;
        }
      case 1:
        admit_marker (in.byte ());
        break;
      case 2:
        {
          const std::uint8_t flags = in.byte ();
          take (flags & 1 ? keeper_t::delivery::newest
                          : keeper_t::delivery::in_order,
                flags & 2, flags & 4, flags & 8);
          break;
        }
      case 3:
        {
          const std::uint8_t which = in.byte ();
          if (!charges_.empty ())
            charges_.erase (charges_.begin () + which % charges_.size ());
          break;
        }
      case 4:
        {
          const std::uint8_t amount = in.byte ();
          fake_clock::advance (amount == 255 ? 10000 * ms : amount * ms);
          break;
        }
      case 5:
        {
          lf::queue_limits limits;
          limits.max_frames = in.byte () % 5;
          limits.max_bytes = in.byte () * 8u;
          limits.max_span_ns = in.byte () * ms;
          reconfigured (keeper_->set_limits (limits));
          break;
        }
      case 6:
        {
          static const lf::leak_policy policies[]
              = { lf::leak_policy::none, lf::leak_policy::drop_arriving,
                  lf::leak_policy::drop_oldest };
          reconfigured (keeper_->set_policy (policies[in.byte () % 3]));
          break;
        }
      case 7:
        reconfigured (keeper_->set_upstream_live (in.byte () & 1));
        break;
      case 8:
        reconfigured (keeper_->set_leak_when_not_live (in.byte () & 1));
        break;
      case 9:
        {
          static const char *const names[]
              = { nullptr, "", "fuzz-a", "fuzz-b" };
          const char *name = names[in.byte () % 4];
          const std::uint8_t cap = in.byte ();
          keeper_->set_budget (
              name ? std::optional<std::string> (name) : std::nullopt,
              cap == 255 ? std::nullopt
                         : std::optional<std::uint64_t> (cap * 16u));
          break;
        }
      case 10:
        keeper_->set_max_age (in.byte () * ms);
        break;
      case 11:
        {
          lf::queue_thresholds thresholds;
          thresholds.frames = in.byte () % 4;
          thresholds.bytes = (in.byte () % 4) * 64u;
          thresholds.span_ns = (in.byte () % 4) * 10 * ms;
          keeper_->set_thresholds (thresholds);
          break;
        }
      case 12:
        keeper_->set_flush_on_eos (in.byte () & 1);
        break;
      case 13:
        {
          /* Frames taken on request: the plan takes the newest. */
          const bool on_request = in.byte () & 1;
          keeper_->update_request ([on_request] (lf::hand_over_request &r) {
            r.on_request = on_request;
          });
          break;
        }
      case 14:
        {
          const auto mode = static_cast<lf::decode_mode> (in.byte () % 4);
          keeper_->update_request (
              [mode] (lf::hand_over_request &r) { r.decode = mode; });
          break;
        }
      case 15:
        {
          /* A pace, as the rate of analysis it stands for. */
          pace_ns_ = in.byte () * ms;
          const double rate = pace_ns_ != 0 ? 1e9 / pace_ns_ : 0;
          keeper_->update_request (
              [rate] (lf::hand_over_request &r) { r.rate = rate; });
          break;
        }
      case 16:
        keeper_->flush_start ();
        break;
      case 17:
        /* FLUSH_STOP: emptied, then running from a clean state; the
         * decoder after starts again too. */
        given_back (keeper_->drain ());
        gap_needs_discont_ = false;
        keeper_->resume ();
        resumed ();
        break;
      case 18:
        keeper_->flush_start ();
        given_back (keeper_->drain ());
        gap_needs_discont_ = false;
        break;
      case 19:
        {
          /* A pad activation follows its deactivation (op 18): a halted
           * keeper is drained first, as the owner promises resume(). */
          const lf::stream_state before = keeper_->state_approx ();
          if (before == lf::stream_state::flushing
              || before == lf::stream_state::unlinked
              || before == lf::stream_state::failed)
            {
              given_back (keeper_->drain ());
              gap_needs_discont_ = false;
              keeper_->resume_if_halted ([] {});
              resumed ();
            }
          else
            keeper_->resume_if_halted ([] {});
          break;
        }
      case 20:
        given_back (keeper_->downstream_ended ());
        gap_needs_discont_ = false;
        break;
      case 21:
        keeper_->downstream_unlinked ();
        break;
      case 22:
        keeper_->relink ();
        break;
      case 23:
        given_back (keeper_->downstream_failed (-5).released);
        gap_needs_discont_ = false;
        break;
      case 24:
        neighbour_admit (in.byte ());
        break;
      case 25:
        neighbour_take (in.byte ());
        break;
      default:
        {
          static const char *const names[] = { "", "fuzz-a", "fuzz-b" };
          const char *name = names[in.byte () % 3];
          neighbour ().set_budget (std::string (name), in.byte () * 16u);
          break;
        }
      }
  }

  /* ---- a neighbour: another keeper, maybe in the same budget ---------- */

  keeper_t &neighbour ()
  {
    if (!neighbour_)
      {
        neighbour_ = std::make_unique<keeper_t> ();
        neighbour_->set_limits ({ 4, 0, 0 });
      }
    return *neighbour_;
  }

  /* Raw frames, never blocking (drop-oldest, live). */
  void neighbour_admit (std::uint8_t size)
  {
    lf::frame_desc desc;
    desc.bytes = size * 8u;
    const std::uint64_t id = new_id (true);
    records_[id].neighbour = true;
    keeper_t::admit_outcome out = neighbour ().admit_frame (tracked (id), desc);
    note_evictions ();
    if (out.sequence != 0)
      neighbour_received_++;
    for (std::size_t i = 0; i < out.released.size (); i++)
      if (out.released[i].is_frame)
        neighbour_dropped_++;
    if (out.status == keeper_t::admit_status::queued)
      {
        const lf::keeper_stats stats = neighbour_->stats ();
        if (stats.has_budget && stats.budget_cap > 0
            && stats.budget_used > stats.budget_cap)
          fail ("the neighbour queued a frame over the budget's cap");
      }
    check_neighbour ();
  }

  /* Frames of the keeper under test that the neighbour's arrival had it
   * give back (the neighbour within its fair share of a budget they
   * share, the keeper over its own: memory_budget.h). No call of ours
   * returns them; their payloads are destroyed. They are drops (reason
   * budget), which check_balance() then finds in the stats. */
  void note_evictions ()
  {
    for (std::uint64_t id = 1; id < records_.size (); id++)
      {
        frame_record &record = records_[id];
        if (record.is_frame && !record.neighbour && !record.gone
            && !record.handed && !latestframe_test::lifetimes::is_alive (id))
          {
            record.gone = true;
            dropped_++;
          }
      }
  }

  void neighbour_take (std::uint8_t flags)
  {
    keeper_t::handover next = neighbour ().hand_over (
        keeper_t::delivery::in_order, keeper_t::clock::now ());
    for (std::size_t i = 0; i < next.released.size (); i++)
      if (next.released[i].is_frame)
        neighbour_dropped_++;
    if (next.status == keeper_t::handover_status::handed_over && next.is_frame)
      {
        neighbour_handed_++;
        if (flags & 1)
          neighbour_charges_.push_back (std::move (next.charge));
      }
    if (flags & 2 && !neighbour_charges_.empty ())
      neighbour_charges_.erase (neighbour_charges_.begin ());
    check_neighbour ();
  }

  void check_neighbour ()
  {
    const lf::keeper_stats stats = neighbour_->stats ();
    /* Frames the neighbour gave back so that the main keeper, within its
     * fair share of a budget they share, had room (memory_budget.h) are
     * its drops too, reason budget, made during the main keeper's calls:
     * counted here as they come, and only as budget drops. */
    const std::uint64_t budget_drops
        = stats.dropped_for (lf::drop_reason::budget).frames;
    if (stats.dropped () < neighbour_dropped_
        || stats.dropped () - neighbour_dropped_
               > budget_drops - neighbour_budget_drops_)
      fail ("the neighbour dropped frames it was not told of, not for the "
            "budget");
    neighbour_dropped_ = stats.dropped ();
    neighbour_budget_drops_ = budget_drops;
    if (stats.received != neighbour_received_
        || stats.handed_over != neighbour_handed_
        || stats.dropped () != neighbour_dropped_
        || stats.received
               != stats.handed_over + stats.dropped () + stats.held_frames)
      fail ("the neighbour's counts do not balance");
  }

  /* After resume(): a clean stream, whose delta units start a new chain,
   * and no underrun signalled. */
  void resumed ()
  {
    chain_++;
    underrun_ = false;
  }

  std::uint64_t new_id (bool is_frame)
  {
    records_.emplace_back ();
    records_.back ().is_frame = is_frame;
    return records_.size () - 1;
  }

  void admit_frame (std::uint8_t flags, std::uint8_t size, std::uint8_t ago)
  {
    static const lf::unit_kind units[]
        = { lf::unit_kind::key, lf::unit_kind::delta,
            lf::unit_kind::non_reference, lf::unit_kind::key };
    lf::frame_desc desc;
    desc.unit = units[flags & 3];
    desc.bytes = size * 4u;
    const std::int64_t now = fake_clock::now_ns.load ();
    if (flags & 4)
      {
        /* Running times in decode order, some while ago; going back when
         * asked (then the span may widen as frames go: not checked). */
        /* Or close to 2^63 ns (a segment's base taken to the limit). */
        std::int64_t time
            = (flags & 64 ? std::numeric_limits<std::int64_t>::max () : now)
              - static_cast<std::int64_t> (ago * ms);
        if (flags & 8)
          times_went_back_ |= time < last_time_ns_;
        else
          time = std::max (time, last_time_ns_);
        last_time_ns_ = std::max (last_time_ns_, time);
        desc.time_ns = time;
        desc.arrival_running_ns = now;
        if (flags & 16)
          desc.timestamp_running_ns = time - static_cast<std::int64_t> (ms);
      }
    const std::uint64_t id = new_id (true);
    frame_record &record = records_[id];
    if (desc.unit == lf::unit_kind::key)
      chain_++;
    record.chain = chain_;
    record.unit = desc.unit;
    record.bytes = desc.bytes;
    if (desc.unit != lf::unit_kind::non_reference)
      references_[chain_].push_back (id);

    /* Blocking would wait for ever: the overrun hook makes room first. */
    const bool signals
        = (flags & 32) || policy_in_force () == lf::leak_policy::none;
    keeper_t::admit_outcome out
        = keeper_->admit_frame (tracked (id), desc, run_hooks{ this, signals });
    if (trace_)
      std::fprintf (
          stderr,
          "  frame %llu (unit %d, chain %llu, %llu bytes, time "
          "%lld): status %d, reason %s, %zu held dropped\n",
          static_cast<unsigned long long> (id), static_cast<int> (desc.unit),
          static_cast<unsigned long long> (chain_),
          static_cast<unsigned long long> (desc.bytes),
          static_cast<long long> (desc.time_ns), static_cast<int> (out.status),
          lf::drop_reason_name (out.reason), out.held_dropped);
    admitted (out, id);
    if (out.status == keeper_t::admit_status::refused)
      records_[id].gone = true;
    if (out.status == keeper_t::admit_status::dropped
        && out.reason == lf::drop_reason::broken_chain)
      check_chain_was_broken (id);
    if (out.status == keeper_t::admit_status::queued)
      {
        check_within_limits ("a frame was queued over the limits");
        const lf::keeper_stats stats = keeper_->stats ();
        if (stats.has_budget && stats.budget_cap > 0
            && stats.budget_used > stats.budget_cap)
          fail ("a frame was queued over the budget's cap");
      }
  }

  /* The outcome of an arrival: its sequence, and what it gave back. */
  void admitted (keeper_t::admit_outcome &out, std::uint64_t id)
  {
    if (out.sequence != 0)
      {
        received_++;
        if (out.sequence != received_)
          fail ("sequence " + std::to_string (out.sequence) + " for frame "
                + std::to_string (received_));
      }
    else if (out.status != keeper_t::admit_status::refused)
      fail ("a frame that was not refused has no sequence");
    for (std::size_t i = 0; i < out.released.size (); i++)
      if (out.released[i].is_frame)
        {
          const std::uint64_t gone = out.released[i].item.id;
          /* The arriving frame refused before it was received is no
           * drop. */
          if (gone != id || out.sequence != 0)
            dropped (gone);
          else
            records_[gone].gone = true;
        }
    out.released.clear ();
  }

  void admit_marker (std::uint8_t which)
  {
    static const lf::marker_kind kinds[]
        = { lf::marker_kind::plain, lf::marker_kind::sticky,
            lf::marker_kind::new_stream, lf::marker_kind::end_of_stream,
            lf::marker_kind::query };
    const lf::marker_kind kind = kinds[which % 5];
    keeper_t::admit_outcome out
        = keeper_->admit_marker (tracked (new_id (false)), kind);
    if (out.status == keeper_t::admit_status::queued
        && kind == lf::marker_kind::query)
      tickets_.push_back (out.ticket);
    given_back (std::move (out.released));
    /* A frame after an end of stream begins a new one: no gap to mark
     * (flush-on-eos drops without one). */
    if (kind == lf::marker_kind::end_of_stream)
      gap_needs_discont_ = false;
  }

  /* A frame went elsewhere than to the consumer: counted once. */
  void dropped (std::uint64_t id)
  {
    if (trace_)
      std::fprintf (stderr, "  dropped %llu\n",
                    static_cast<unsigned long long> (id));
    if (id >= records_.size () || !records_[id].is_frame
        || records_[id].neighbour)
      fail ("a marker, a neighbour's frame or an unknown payload was given "
            "back as a frame");
    if (records_[id].gone || records_[id].handed)
      fail ("frame " + std::to_string (id)
            + " given back after it had gone already");
    records_[id].gone = true;
    dropped_++;
  }

  void given_back (keeper_t::released_list released)
  {
    for (std::size_t i = 0; i < released.size (); i++)
      if (released[i].is_frame)
        dropped (released[i].item.id);
  }

  /* After a setting changed: what it dropped, and with drop-oldest in
   * force, the held frames are within the limits again. */
  void reconfigured (keeper_t::released_list released)
  {
    given_back (std::move (released));
    if (policy_in_force () == lf::leak_policy::drop_oldest)
      check_within_limits ("frames over the new limits stayed held");
  }

  keeper_t::handover_status take (keeper_t::delivery mode, bool keep_charge,
                                  bool signals, bool accept)
  {
    keeper_t::handover next = keeper_->hand_over (mode, keeper_t::clock::now (),
                                                  fake_clock::running_now (),
                                                  run_hooks{ this, signals });
    given_back (std::move (next.released));
    if (next.status != keeper_t::handover_status::handed_over)
      return next.status;
    const std::uint64_t id = next.item.id;
    if (trace_)
      std::fprintf (stderr, "  handed over %llu%s%s\n",
                    static_cast<unsigned long long> (id),
                    next.decode_only ? " (decode-only)" : "",
                    next.discont ? " (discont)" : "");
    if (id == 0 || id >= records_.size ())
      fail ("an entry without a payload was handed over");
    if (id <= last_handed_id_)
      fail ("entry " + std::to_string (id) + " came after "
            + std::to_string (last_handed_id_));
    last_handed_id_ = id;
    frame_record &record = records_[id];
    if (record.neighbour)
      fail ("the neighbour's frame " + std::to_string (id)
            + " came out of this keeper");
    if (record.is_frame != next.is_frame)
      fail ("entry " + std::to_string (id) + " changed kind");
    if (!next.is_frame)
      {
        if (next.marker == lf::marker_kind::query)
          answer (next.ticket, accept);
        return next.status;
      }
    if (record.handed || record.gone)
      fail ("frame " + std::to_string (id)
            + " handed over twice, or after "
              "it was dropped");
    if (next.bytes != record.bytes)
      fail ("frame " + std::to_string (id) + " handed over with "
            + std::to_string (next.bytes) + " bytes, "
            + std::to_string (record.bytes) + " admitted");
    check_chain (id);
    record.handed = true;
    handed_++;
    if (next.sequence <= last_handed_sequence_)
      fail ("frame sequence went back");
    if (gap_needs_discont_ && next.sequence > last_handed_sequence_ + 1
        && !next.discont)
      fail ("frame " + std::to_string (next.sequence)
            + " after a gap without discont");
    last_handed_sequence_ = next.sequence;
    gap_needs_discont_ = true;
    if (!next.charge.charged ())
      fail ("a frame handed over without its charge");
    if (keep_charge)
      charges_.push_back (std::move (next.charge));
    return next.status;
  }

  /* The consumer answers a query it was handed; its producer, waiting
   * now, gets that answer at once. */
  void answer (std::uint64_t ticket, bool accept)
  {
    keeper_->acknowledge (ticket, accept);
    const lf::ack_result result = keeper_->wait_ack (ticket);
    if (result != (accept ? lf::ack_result::accepted : lf::ack_result::refused))
      fail ("a query's producer did not get the consumer's answer");
    for (std::size_t i = 0; i < tickets_.size (); i++)
      if (tickets_[i] == ticket)
        {
          tickets_.erase (tickets_.begin () + i);
          return;
        }
    fail ("a query was handed over twice, or never queued");
  }

  /* A delta or non-reference unit handed over: every reference frame of
   * its chain before it was handed over before it. */
  void check_chain (std::uint64_t id)
  {
    const frame_record &record = records_[id];
    if (record.unit == lf::unit_kind::key)
      return;
    for (std::uint64_t needed : references_[record.chain])
      {
        if (needed >= id)
          break;
        if (!records_[needed].handed)
          fail ("frame " + std::to_string (id) + " handed over, but frame "
                + std::to_string (needed) + " of its chain was not");
      }
  }

  /* A frame dropped as broken-chain: a frame of its chain that it needs
   * went elsewhere (dropped, refused). */
  void check_chain_was_broken (std::uint64_t id)
  {
    for (std::uint64_t needed : references_[records_[id].chain])
      if (needed < id && records_[needed].gone)
        return;
    fail ("frame " + std::to_string (id)
          + " dropped as broken-chain, but its chain is whole");
  }

  void check_within_limits (const char *what)
  {
    const lf::queue_limits limits = keeper_->limits ();
    const lf::keeper_stats stats = keeper_->stats ();
    if (stats.held_chains <= 1)
      return;
    if ((limits.max_frames > 0 && stats.held_chains > limits.max_frames)
        || (limits.max_bytes > 0 && stats.held_bytes > limits.max_bytes)
        || (limits.max_span_ns > 0 && !times_went_back_
            && stats.held_span_ns > limits.max_span_ns))
      fail (std::string (what) + ": " + std::to_string (stats.held_chains)
            + " chains, " + std::to_string (stats.held_bytes) + " bytes, "
            + std::to_string (stats.held_span_ns) + " ns held; limits "
            + std::to_string (limits.max_frames) + ", "
            + std::to_string (limits.max_bytes) + ", "
            + std::to_string (limits.max_span_ns));
  }

  void check_balance ()
  {
    const lf::keeper_stats stats = keeper_->stats ();
    if (stats.received
        != stats.handed_over + stats.dropped () + stats.held_frames)
      fail ("received != handed over + dropped + held in the stats ("
            + std::to_string (stats.received)
            + " != " + std::to_string (stats.handed_over) + " + "
            + std::to_string (stats.dropped ()) + " + "
            + std::to_string (stats.held_frames) + ")");
    if (stats.received != received_ || stats.handed_over != handed_
        || stats.dropped () != dropped_)
      fail ("stats (received " + std::to_string (stats.received) + ", handed "
            + std::to_string (stats.handed_over) + ", dropped "
            + std::to_string (stats.dropped ())
            + ") differ from what was seen (" + std::to_string (received_)
            + ", " + std::to_string (handed_) + ", " + std::to_string (dropped_)
            + ")");
    std::uint64_t bytes = 0;
    for (const lf::in_flight_charge &charge : charges_)
      bytes += charge.bytes ();
    if (stats.in_flight_frames != charges_.size ()
        || stats.in_flight_bytes != bytes)
      fail ("in flight " + std::to_string (stats.in_flight_frames) + " frames, "
            + std::to_string (stats.in_flight_bytes) + " bytes, but "
            + std::to_string (charges_.size ()) + " charges alive with "
            + std::to_string (bytes) + " bytes");
  }

  /* Stops as the element does, then lets go of everything: in flight
   * charges before or after the keeper itself (they outlive it). */
  void finish (std::size_t order)
  {
    if (neighbour_)
      {
        neighbour_->flush_start ();
        keeper_t::released_list drained = neighbour_->drain ();
        for (std::size_t i = 0; i < drained.size (); i++)
          if (drained[i].is_frame)
            neighbour_dropped_++;
        check_neighbour ();
        if (!(order & 2))
          neighbour_charges_.clear ();
        neighbour_.reset ();
        neighbour_charges_.clear ();
      }
    keeper_->flush_start ();
    given_back (keeper_->drain ());
    check_balance ();
    if (keeper_->stats ().held_frames != 0)
      fail ("frames held after a drain");
    /* Every query not answered was abandoned or refused: its producer
     * returns at once. */
    for (std::uint64_t ticket : tickets_)
      if (keeper_->wait_ack (ticket) == lf::ack_result::accepted)
        fail ("a query nobody answered was accepted");
    tickets_.clear ();
    if (order & 1)
      {
        keeper_.reset ();
        charges_.clear ();
        return;
      }
    charges_.clear ();
    const lf::keeper_stats stats = keeper_->stats ();
    if (stats.in_flight_frames != 0 || stats.in_flight_bytes != 0)
      fail ("frames still in flight after every charge went");
    if (stats.has_budget && stats.budget_used != 0)
      fail ("budget bytes still used with nothing held or in flight");
    keeper_.reset ();
  }

  std::unique_ptr<keeper_t> keeper_;
  std::vector<lf::in_flight_charge> charges_;
  std::unique_ptr<keeper_t> neighbour_;
  std::vector<lf::in_flight_charge> neighbour_charges_;
  std::uint64_t neighbour_received_ = 0;
  std::uint64_t neighbour_handed_ = 0;
  std::uint64_t neighbour_dropped_ = 0;
  /* The neighbour's budget drops at the last check. */
  std::uint64_t neighbour_budget_drops_ = 0;
  std::vector<frame_record> records_;
  /* The reference frames (key and delta units) of each chain, by id. */
  std::map<std::uint64_t, std::vector<std::uint64_t>> references_;
  std::vector<std::uint64_t> tickets_;
  /* LATESTFRAME_FUZZ_TRACE=1 prints each operation and its outcome. */
  const bool trace_ = std::getenv ("LATESTFRAME_FUZZ_TRACE") != nullptr;
  std::size_t operation_ = 0;
  std::uint64_t chain_ = 0;
  std::uint64_t received_ = 0;
  std::uint64_t handed_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t last_handed_id_ = 0;
  std::uint64_t last_handed_sequence_ = 0;
  std::uint64_t pace_ns_ = 0;
  std::int64_t last_time_ns_ = std::numeric_limits<std::int64_t>::min ();
  bool times_went_back_ = false;
  bool gap_needs_discont_ = false;
  bool underrun_ = false;
};

void
run_hooks::full ()
{
  run->make_room ();
}

void
run_hooks::empty ()
{
  run->underrun ();
}

void
run_hooks::refilled ()
{
  run->refill ();
}

} // namespace

extern "C" int
LLVMFuzzerTestOneInput (const std::uint8_t *data, std::size_t size)
{
  lifetimes::reset ();
  {
    input_reader in (data, size);
    keeper_run run;
    /* The input's length decides the order things go in at the end. */
    run.run (in, size);
  }
  if (lifetimes::alive_count () != 0)
    violated (max_operations,
              std::to_string (lifetimes::alive_count ()) + " payloads leaked");
  if (lifetimes::destroyed_twice () != 0)
    violated (max_operations, "a payload was destroyed twice");
  return 0;
}
