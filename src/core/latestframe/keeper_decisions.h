/* latestframe — what the keeper's core is asked and what it answers: the
 * outcomes of arrivals and hand-overs, the decisions that say "wait" or
 * "call a hook, then ask again", and the notices the owner warns with.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/accounting.h"
#include "latestframe/containers.h"
#include "latestframe/keeper_types.h"
#include "latestframe/stream_state.h"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace latestframe
{

template <typename Payload> class keeper_core;

/* An entry given back to be destroyed by the caller: a dropped or refused
 * frame, a marker. */
template <typename Payload> struct released_item
{
  Payload item{};
  bool is_frame = false;
  marker_kind marker = marker_kind::plain;
};
template <typename Payload>
using released_list = small_list<released_item<Payload>>;

/* A condition the owner should warn about, once. */
enum class notice_kind : std::uint8_t
{
  none,
  unbounded,         /* no limit and no budget cap bound the held frames */
  frame_over_budget, /* value: the frame's bytes; limit: the budget cap, or
                       a member's share of it (cap / members) */
  arrivals_too_old,  /* value: the arrival age; limit: max-age (ns) */
  rate_ignored,      /* a rate asked for with encoded video decoded whole */
  /* A frame of a chain cut short was shown, not decode-only: value is
   * why (see shown_because). */
  shown_not_decode_only,
};

enum class shown_because : std::uint8_t
{
  out_of_presentation_order = 1, /* the stream is sent reordered */
  cannot_be_hidden = 2,          /* the owner said it cannot make it so */
};

struct keeper_notice
{
  notice_kind kind = notice_kind::none;
  std::uint64_t value = 0;
  std::uint64_t limit = 0;
};

/* ---- arrivals ----------------------------------------------------- */

enum class admit_status : std::uint8_t
{
  queued,
  dropped, /* counted, with `reason` */
  refused, /* not counted: halted (`refused_in`) */
};

template <typename Payload> struct admit_outcome
{
  admit_status status = admit_status::queued;
  drop_reason reason = drop_reason::overflow;
  stream_state refused_in = stream_state::running;
  int failure_code = 0;
  /* The frame's sequence number (1 for the first frame received), when
   * it was received (queued or dropped). */
  std::uint64_t sequence = 0;
  /* A query's ticket for its answer. */
  std::uint64_t ticket = 0;
  /* Held frames this arrival dropped to make room. */
  std::size_t held_dropped = 0;
  keeper_notice note;
  /* What to destroy: the frames dropped, the arriving one if it was not
   * queued. */
  released_list<Payload> released;
};

enum class admit_decision : std::uint8_t
{
  queued,
  dropped,
  refused,
  /* The policy in force blocks: wait until the keeper changes (a frame
   * taken, a setting, a flush), then admit() again. */
  wait_for_room,
  /* Hooks are active and the frame arrived at a limit: signal the
   * overrun, then admit() again (the hook may change the limits). */
  signal_full,
  /* It waited and has room now: signal it, then admit() again. */
  signal_room,
  /* It is aged from its arrival (no running time, max-age set): read the
   * steady time into the arrival, then admit() again. */
  read_steady_clock,
  /* The shared budget is full, this keeper is within its fair share and
   * other members hold frames beyond theirs: with this keeper's lock let
   * go, call keeper_core::budget_claim()'s reclaim() (it takes the other
   * keepers' locks), then admit() again. Once per arrival. */
  reclaim_budget,
};

/* Where one frame's arrival stands, across the admit() calls it may take
 * (its outcome is the caller's, passed beside). */
struct arrival
{
  /* Whether the owner's hooks are active: set before each call. */
  bool hooks_active = false;
  /* The steady time, once read (read_steady_clock): the arrival a frame
   * without running time is aged from. Read only when asked, and late: a
   * clock read under the owner's lock on every frame made the producer and
   * the consumer contend for it. */
  steady_time now{};
  bool now_known = false;

private:
  template <typename> friend class keeper_core;
  bool examined = false;
  bool full_signalled = false;
  bool waited = false;
  bool room_signalled = false;
  bool waiting = false;
  /* reclaim_budget was returned (once per arrival), and the claim it made
   * is still to be spent or withdrawn. */
  bool reclaimed = false;
  bool claim_pending = false;
};

/* ---- hand-over ---------------------------------------------------- */

enum class delivery : std::uint8_t
{
  in_order, /* the next entry, as queued */
  newest,   /* the newest frame: the older ones are dropped (superseded) */
};

/* Who asks for the next entry. The pusher (the owner's thread pushing
 * downstream) and the reader (an application taking frames on request)
 * are served only while the plan names them, and take the delivery the
 * plan says; anyone else (tests, benchmarks) names its delivery. */
enum class taker : std::uint8_t
{
  anyone,
  pusher,
  reader,
};

enum class handover_status : std::uint8_t
{
  handed_over,
  timed_out,
  /* Flushing, unlinked or failed, or the plan names another taker: the
   * pusher stops its thread (pause_pusher_if_idle) until the keeper
   * starts it again. */
  halted,
};

template <typename Payload> struct handover
{
  handover_status status = handover_status::timed_out;
  Payload item{};
  bool is_frame = false;
  marker_kind marker = marker_kind::plain;
  std::uint64_t ticket = 0;
  /* Frames were dropped right before this frame in stream order. */
  bool discont = false;
  /* Handed over only so that the newer frames of its chain held behind it
   * can be decoded (see decode_mode::on_demand): not to be shown. */
  bool decode_only = false;
  /* A key unit handed over while key units alone are (decode_mode::
   * key_units in force on an encoded stream): no frame that depends on it
   * will follow, so a decoder need not keep it, nor wait for one before
   * it outputs its picture. */
  bool key_unit_alone = false;
  std::uint64_t sequence = 0;
  std::uint64_t bytes = 0;
  std::int64_t time_ns = no_time;
  /* Its age now (see take()), when known. */
  std::optional<std::uint64_t> age_ns;
  /* With a capture time (frame_desc::timestamp_running_ns): its age by
   * its own timestamp, beside. */
  std::optional<std::uint64_t> timestamp_age_ns;
  in_flight_charge charge;
  /* Frames dropped on the way (too old, superseded). */
  released_list<Payload> released;
  keeper_notice note;
};

struct take_request
{
  taker who = taker::anyone;
  delivery mode = delivery::in_order; /* anyone's */
  /* The owner's running clock, read just before (no_time: none): a
   * frame's age is this minus its running time. */
  std::int64_t running_now = no_time;
  /* Steady time now, once read (now_known): the pace, and the age of
   * frames without running time. The core asks for it (read_steady_clock)
   * only when the frame at hand needs it. */
  steady_time now{};
  bool now_known = false;
  bool hooks_active = false;
  /* running_now was read before a wait: a timed frame at the front asks
   * for a fresh reading first. */
  bool clock_stale = false;
};

enum class take_decision : std::uint8_t
{
  handed_over,
  halted,
  /* Nothing to hand over yet: wait until an entry comes, or `until`. */
  wait_for_frame,
  signal_empty,      /* hooks: about to wait on an empty keeper (underrun) */
  signal_refilled,   /* hooks: an entry came after an underrun */
  refresh_clock,     /* read the running clock again, then take() again */
  read_steady_clock, /* read the steady time (request.now), take() again */
};

struct take_step
{
  take_decision decision = take_decision::wait_for_frame;
  std::optional<steady_time> until; /* wait_for_frame: the pace's due time */
};

template <typename Payload> struct failure_outcome
{
  /* The producer had already ended the stream (an end_of_stream marker
   * was admitted): it will not see a flow return any more. */
  bool stream_had_ended = false;
  released_list<Payload> released;
};

} // namespace latestframe
