/* Unit tests of the accounting core: ledger, charges, budgets, max-age. */
#include "latestframe/frame_ledger.h"
#include "latestframe/frame_queue.h"
#include "latestframe/freshness.h"
#include "latestframe/memory_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

using namespace latestframe;

namespace
{
constexpr std::uint64_t ms = 1000000;
}

// A charge is held, then in flight, then gone: the ledger follows each step.
TEST (FrameLedger, ChargeMovesFromHeldToInFlightToGone)
{
  auto ledger = std::make_shared<frame_ledger> ();
  {
    frame_charge charge (ledger, nullptr, 100);
    EXPECT_EQ (ledger->snapshot ().held_frames, 1u);
    EXPECT_EQ (ledger->snapshot ().held_bytes, 100u);
    auto shared = std::make_shared<frame_charge> (std::move (charge));
    shared->take_off ();
    ledger_snapshot flying = ledger->snapshot ();
    EXPECT_EQ (flying.held_frames, 0u);
    EXPECT_EQ (flying.in_flight_frames, 1u);
    EXPECT_EQ (flying.in_flight_bytes, 100u);
    auto copy = shared; /* a copy of the buffer shares the charge */
    shared.reset ();
    EXPECT_EQ (ledger->snapshot ().in_flight_frames, 1u);
  }
  ledger_snapshot after = ledger->snapshot ();
  EXPECT_EQ (after.held_frames + after.in_flight_frames, 0u);
  EXPECT_EQ (after.held_bytes + after.in_flight_bytes, 0u);
  EXPECT_EQ (after.peak_bytes, 100u);
}

// The peak is the highest held + in-flight sum, whichever side holds it.
TEST (FrameLedger, PeakCountsHeldPlusInFlight)
{
  auto ledger = std::make_shared<frame_ledger> ();
  frame_charge a (ledger, nullptr, 10);
  frame_charge b (ledger, nullptr, 20);
  b.take_off ();
  frame_charge c (ledger, nullptr, 30);
  EXPECT_EQ (ledger->snapshot ().peak_bytes, 60u);
  {
    frame_charge gone = std::move (c);
  }
  frame_charge d (ledger, nullptr, 5);
  EXPECT_EQ (ledger->snapshot ().peak_bytes, 60u);
  ledger->reset_counts ();
  EXPECT_EQ (ledger->snapshot ().peak_bytes, 35u) << "reset keeps what is held";
}

// Drops are counted by reason with their bytes; dropped() sums them.
TEST (FrameLedger, DropsByReason)
{
  frame_ledger ledger;
  ledger.count_drop (drop_reason::overflow, 1);
  ledger.count_drop (drop_reason::overflow, 2);
  ledger.count_drop (drop_reason::age, 4);
  ledger.count_drop (drop_reason::budget, 8);
  ledger.count_drop (drop_reason::flush, 16);
  ledger_snapshot counts = ledger.snapshot ();
  EXPECT_EQ (counts.overflow.frames, 2u);
  EXPECT_EQ (counts.overflow.bytes, 3u);
  EXPECT_EQ (counts.age.frames, 1u);
  EXPECT_EQ (counts.budget.bytes, 8u);
  EXPECT_EQ (counts.flush.frames, 1u);
  EXPECT_EQ (counts.dropped (), 5u);
  EXPECT_EQ (counts.dropped_bytes (), 31u);
}

// Percentiles by nearest rank over the most recent window only.
TEST (AgeWindow, PercentilesOverRecentWindow)
{
  age_window ages;
  EXPECT_EQ (ages.summary ().samples, 0u);
  for (std::uint64_t i = 1; i <= 100; i++)
    ages.record (i * ms);
  age_summary summary = ages.summary ();
  EXPECT_EQ (summary.p50_ns, 50 * ms);
  EXPECT_EQ (summary.p95_ns, 95 * ms);
  EXPECT_EQ (summary.max_ns, 100 * ms);
  for (std::size_t i = 0; i < age_window::window; i++)
    ages.record (7 * ms);
  summary = ages.summary ();
  EXPECT_EQ (summary.max_ns, 7 * ms) << "old samples left the window";
  EXPECT_EQ (summary.samples, age_window::window);
}

// A reservation fails, reserving nothing, when it would pass the cap.
TEST (MemoryBudget, ReservationNeverPassesCap)
{
  budget_membership member ("core-cap", 100);
  memory_budget &budget = *member.budget ();
  EXPECT_TRUE (budget.try_reserve (60));
  EXPECT_FALSE (budget.try_reserve (41));
  EXPECT_EQ (budget.used_approx (), 60u);
  EXPECT_TRUE (budget.try_reserve (40));
  budget.release (100);
  EXPECT_EQ (budget.used_approx (), 0u);
  EXPECT_FALSE (budget.try_reserve (101)) << "larger than the cap itself";
}

// Members naming the same budget share it; the smallest non-zero cap wins
// and the cap is recomputed when a member leaves.
TEST (MemoryBudget, SmallestMemberCapApplies)
{
  budget_membership first ("core-shared", 1000);
  {
    budget_membership second ("core-shared", 300);
    EXPECT_EQ (first.budget (), second.budget ());
    EXPECT_EQ (first.budget ()->cap_approx (), 300u);
    budget_membership uncapped ("core-shared", 0);
    EXPECT_EQ (first.budget ()->cap_approx (), 300u);
  }
  EXPECT_EQ (first.budget ()->cap_approx (), 1000u);
  first.set_cap (0);
  EXPECT_EQ (first.budget ()->cap_approx (), 0u);
  EXPECT_TRUE (first.budget ()->try_reserve (1u << 30))
      << "no cap: accounting only";
}

// A budget lives while a member or a charged frame does, then is forgotten.
TEST (MemoryBudget, LivesWhileMembersOrChargesDo)
{
  auto ledger = std::make_shared<frame_ledger> ();
  std::weak_ptr<memory_budget> weak;
  frame_charge charge;
  {
    budget_membership member ("core-lifetime", 50);
    weak = member.budget ();
    ASSERT_TRUE (member.budget ()->try_reserve (10));
    charge = frame_charge (ledger, member.budget (), 10);
  }
  ASSERT_FALSE (weak.expired ()) << "a charged frame keeps it alive";
  EXPECT_EQ (weak.lock ()->used_approx (), 10u);
  charge = frame_charge ();
  EXPECT_TRUE (weak.expired ());
  budget_membership again ("core-lifetime", 50);
  EXPECT_EQ (again.budget ()->used_approx (), 0u) << "a fresh budget";
}

// Many threads reserving and releasing never see the used bytes pass the cap.
TEST (MemoryBudget, ConcurrentReservationsStayUnderCap)
{
  budget_membership member ("core-concurrent", 6000);
  std::shared_ptr<memory_budget> budget = member.budget ();
  std::atomic<bool> over{ false };
  std::atomic<int> refused{ 0 };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++)
    threads.emplace_back ([&] {
      for (int i = 0; i < 20000; i++)
        {
          if (budget->try_reserve (1000))
            {
              if (budget->used_approx () > 6000)
                over = true;
              budget->release (1000);
            }
          else
            refused++;
        }
    });
  for (auto &thread : threads)
    thread.join ();
  EXPECT_FALSE (over.load ());
  EXPECT_EQ (budget->used_approx (), 0u);
  EXPECT_LE (budget->peak_used_approx (), 6000u);
}

// Frames older than max-age are dropped; the gate off or fresh frames pass.
TEST (FreshnessGate, DropsFramesOlderThanMaxAge)
{
  freshness_gate gate;
  EXPECT_EQ (gate.judge (1000 * ms, false), freshness_gate::verdict::push);
  gate.set_max_age (50 * ms);
  EXPECT_FALSE (gate.note_arrival (5 * ms));
  EXPECT_EQ (gate.judge (50 * ms, true), freshness_gate::verdict::push);
  EXPECT_EQ (gate.judge (51 * ms, false), freshness_gate::verdict::drop);
  EXPECT_EQ (gate.judge (51 * ms, true), freshness_gate::verdict::drop);
}

// When frames arrive too old, the newest is still pushed and the owner is
// told once; fresh arrivals bring the strict rule back.
TEST (FreshnessGate, LateArrivalsKeepNewestAndWarnOnce)
{
  freshness_gate gate;
  gate.set_max_age (10 * ms);
  EXPECT_TRUE (gate.note_arrival (30 * ms)) << "first late arrival: warn";
  EXPECT_FALSE (gate.note_arrival (31 * ms)) << "only once";
  EXPECT_TRUE (gate.late_arrivals ());
  EXPECT_EQ (gate.judge (40 * ms, false), freshness_gate::verdict::push);
  EXPECT_EQ (gate.judge (40 * ms, true), freshness_gate::verdict::drop);
  EXPECT_FALSE (gate.note_arrival (2 * ms));
  EXPECT_EQ (gate.judge (40 * ms, false), freshness_gate::verdict::drop);
  gate.reset ();
  EXPECT_TRUE (gate.note_arrival (30 * ms)) << "a new stream warns again";
}

// take_oldest_frame removes the oldest frame only and marks the gap.
TEST (FrameQueueBudget, TakeOldestFrameMarksGap)
{
  frame_queue<int> queue;
  queue.set_limits ({ 3, 0, 0 });
  queue.push_marker (-1);
  queue.push_frame (0, 10, 0);
  queue.push_frame (1, 10, 0);
  auto oldest = queue.take_oldest_frame ();
  ASSERT_TRUE (oldest.has_value ());
  EXPECT_EQ (oldest->item, 0);
  EXPECT_EQ (queue.level_approx ().bytes, 10u);
  EXPECT_EQ (queue.try_pop ().popped->item, -1);
  auto next = queue.try_pop ();
  EXPECT_EQ (next.popped->item, 1);
  EXPECT_TRUE (next.popped->discont);
  EXPECT_FALSE (queue.take_oldest_frame ().has_value ());
}

// mark_gap after a consumer-side drop makes the next frame discont.
TEST (FrameQueueBudget, MarkGapFlagsNextFrame)
{
  frame_queue<int> queue;
  queue.push_frame (0, 1, 0);
  queue.mark_gap ();
  EXPECT_TRUE (queue.try_pop ().popped->discont);
  queue.mark_gap ();
  queue.push_frame (1, 1, 0);
  EXPECT_TRUE (queue.try_pop ().popped->discont);
}

// make_room_for applies the limits before anything is charged: drop_oldest
// drops, drop_arriving answers and records the gap, none changes nothing.
TEST (FrameQueueBudget, MakeRoomForAppliesLimitsFirst)
{
  frame_queue<int> queue;
  queue.push_frame (0, 10, 0);
  auto room = queue.make_room_for (10, 1);
  EXPECT_TRUE (room.fits);
  ASSERT_EQ (room.released.size (), 1u);
  EXPECT_EQ (queue.level_approx ().frames, 0u);

  queue.set_policy (leak_policy::drop_arriving);
  queue.push_frame (1, 10, 2);
  room = queue.make_room_for (10, 3);
  EXPECT_FALSE (room.fits);
  EXPECT_TRUE (room.released.empty ());
  queue.try_pop ();
  queue.push_frame (2, 10, 4);
  EXPECT_TRUE (queue.try_pop ().popped->discont)
      << "the refused frame left a gap";

  queue.set_policy (leak_policy::none);
  queue.push_frame (3, 10, 5);
  room = queue.make_room_for (10, 6);
  EXPECT_TRUE (room.fits) << "a blocking push waits instead";
  EXPECT_EQ (queue.level_approx ().frames, 1u);
}

// A halted queue makes no room: it says why, and drops nothing it holds
// (kept for when it resumes).
TEST (FrameQueueBudget, MakeRoomForRefusesWhenHalted)
{
  frame_queue<int> queue;
  queue.push_frame (0, 10, 0);
  queue.halt (-2);
  auto room = queue.make_room_for (10, 1);
  EXPECT_FALSE (room.fits);
  EXPECT_EQ (room.halt_reason, -2);
  EXPECT_TRUE (room.released.empty ());
  EXPECT_EQ (queue.level_approx ().frames, 1u);
  queue.resume ();
  EXPECT_EQ (queue.make_room_for (10, 1).halt_reason, 0);
}
