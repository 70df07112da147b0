/* Unit tests of the accounting pieces of the core: in-flight charges,
 * budgets, ages, the max-age gate. */
#include "latestframe/accounting.h"
#include "latestframe/capture_clock.h"
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
constexpr auto reserved_ok = memory_budget::reserve_outcome::reserved;
constexpr auto no_room = memory_budget::reserve_outcome::no_room;
}

// A charge is in flight from its making to its end, moves keep it one
// charge, and its bytes go back to the budget it holds.
TEST (InFlightCharge, LandsOnceWhenItGoes)
{
  flight_accounts::owner accounts = flight_accounts::create ();
  budget_membership member ("core-charge", 0);
  budget_reservation reserved;
  ASSERT_EQ (member.try_reserve (100, reserved), reserved_ok);
  {
    in_flight_charge charge (*accounts, std::move (reserved), 100);
    EXPECT_EQ (accounts->frames_approx (), 1u);
    EXPECT_EQ (accounts->bytes_approx (), 100u);
    in_flight_charge moved = std::move (charge);
    EXPECT_FALSE (charge.charged ());
    EXPECT_EQ (accounts->frames_approx (), 1u) << "a move is the same charge";
    charge = std::move (moved);
  }
  EXPECT_EQ (accounts->frames_approx (), 0u);
  EXPECT_EQ (accounts->bytes_approx (), 0u);
  EXPECT_EQ (member.budget ()->used_approx (), 0u);
}

// The accounts outlive their owner while a frame is in flight, and go with
// the last one (ASan and the leak checker prove it).
TEST (FlightAccounts, LiveUntilTheLastFrameLands)
{
  flight_accounts::owner accounts = flight_accounts::create ();
  in_flight_charge first (*accounts, budget_reservation (), 7);
  in_flight_charge second (*accounts, budget_reservation (), 5);
  EXPECT_EQ (accounts->frames_approx (), 2u);
  EXPECT_EQ (accounts->bytes_approx (), 12u);
  accounts.reset ();
  first = in_flight_charge ();
  second = in_flight_charge ();
}

// Drops are counted by reason with their bytes; dropped() sums them.
TEST (KeeperStats, DropsByReasonSum)
{
  keeper_stats stats;
  stats.drops[static_cast<std::size_t> (drop_reason::overflow)] = { 2, 3 };
  stats.drops[static_cast<std::size_t> (drop_reason::superseded)] = { 1, 4 };
  EXPECT_EQ (stats.dropped (), 3u);
  EXPECT_EQ (stats.dropped_bytes (), 7u);
  EXPECT_EQ (stats.dropped_for (drop_reason::superseded).bytes, 4u);
  EXPECT_STREQ (drop_reason_name (drop_reason::superseded), "superseded");
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
  budget_reservation sixty, forty, more;
  EXPECT_EQ (member.try_reserve (60, sixty), reserved_ok);
  EXPECT_EQ (member.try_reserve (41, more), no_room);
  EXPECT_FALSE (more) << "nothing reserved";
  EXPECT_EQ (budget.used_approx (), 60u);
  EXPECT_EQ (member.try_reserve (40, forty), reserved_ok);
  sixty.reset ();
  forty.reset ();
  EXPECT_EQ (budget.used_approx (), 0u);
  EXPECT_EQ (member.try_reserve (101, more), no_room)
      << "larger than the cap itself";
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
  budget_reservation huge;
  EXPECT_EQ (first.try_reserve (1u << 30, huge), reserved_ok)
      << "no cap: accounting only";
}

// A budget lives while a member or a charged frame does, then is forgotten.
TEST (MemoryBudget, LivesWhileMembersOrChargesDo)
{
  flight_accounts::owner accounts = flight_accounts::create ();
  std::weak_ptr<memory_budget> weak;
  in_flight_charge charge;
  {
    budget_membership member ("core-lifetime", 50);
    weak = member.budget ();
    budget_reservation reserved;
    ASSERT_EQ (member.try_reserve (10, reserved), reserved_ok);
    charge = in_flight_charge (*accounts, std::move (reserved), 10);
  }
  ASSERT_FALSE (weak.expired ()) << "a charged frame keeps it alive";
  EXPECT_EQ (weak.lock ()->used_approx (), 10u);
  charge = in_flight_charge ();
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
          budget_reservation reserved;
          if (member.try_reserve (1000, reserved) == reserved_ok)
            {
              if (budget->used_approx () > 6000)
                over = true;
              reserved.reset ();
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

// While arrivals are late, the newest frame still goes, but not one that
// has waited here longer than the limit: the next arrival is fresher.
TEST (FreshnessGate, LateArrivalsDropFramesHeldLongerThanTheLimit)
{
  freshness_gate gate;
  gate.set_max_age (10 * ms);
  gate.note_arrival (12 * ms);
  EXPECT_EQ (gate.judge (15 * ms, false, 3 * ms), freshness_gate::verdict::push)
      << "late, but taken soon after it arrived";
  EXPECT_EQ (gate.judge (25 * ms, false, 13 * ms),
             freshness_gate::verdict::drop)
      << "held longer than the limit";
  EXPECT_EQ (gate.judge (25 * ms, false, std::nullopt),
             freshness_gate::verdict::push)
      << "held for an unknown time: the newest goes";
  EXPECT_EQ (gate.judge (8 * ms, false, 30 * ms), freshness_gate::verdict::push)
      << "within the limit, however long held";
  gate.set_max_age (0);
  EXPECT_EQ (gate.judge (500 * ms, true, 400 * ms),
             freshness_gate::verdict::push)
      << "the gate off passes everything";
}

// The capture clock works in signed ns.
constexpr std::int64_t clock_ms = static_cast<std::int64_t> (ms);

// A capture time lands on the running clock at arrival minus its age; one
// too far from the wall clock (100 ms ahead, 3 s behind) is not used, and
// only capture times that stay so for the settle period make the clock out
// of step, reported once.
TEST (CaptureClock, PlacesCaptureTimesAndRefusesAClockOutOfStep)
{
  latestframe::capture_clock clock;
  const std::int64_t wall = 1'700'000'000'000'000'000, running = 5000 * clock_ms;
  auto placed = clock.place (wall - 30 * clock_ms, wall, running);
  EXPECT_EQ (placed.running_ns, running - 30 * clock_ms);
  EXPECT_FALSE (placed.out_of_step_age_ns);
  EXPECT_EQ (clock.frames (), 1u);

  const std::int64_t settle = latestframe::capture_clock::settle_ns;
  for (const std::int64_t after : { std::int64_t{ 0 }, settle / 2, settle - 1 })
    {
      placed = clock.place (wall + 5000 * clock_ms, wall, running + after);
      EXPECT_FALSE (placed.running_ns) << after;
      EXPECT_FALSE (placed.out_of_step_age_ns) << "not yet, " << after;
      EXPECT_FALSE (clock.out_of_step ()) << after;
    }
  placed = clock.place (wall + 5000 * clock_ms, wall, running + settle);
  EXPECT_FALSE (placed.running_ns);
  EXPECT_EQ (placed.out_of_step_age_ns, -5000 * clock_ms);
  EXPECT_TRUE (clock.out_of_step ());
  placed = clock.place (wall + 5000 * clock_ms, wall, running + 2 * settle);
  EXPECT_FALSE (placed.out_of_step_age_ns) << "reported once";
  EXPECT_EQ (clock.frames (), 1u);
  EXPECT_EQ (clock.unused (), 5u);

  clock.new_stream ();
  EXPECT_FALSE (clock.out_of_step ());
  placed = clock.place (wall - 3001 * clock_ms, wall, running);
  EXPECT_FALSE (placed.running_ns) << "more than 3 s behind";
  placed = clock.place (wall - 3001 * clock_ms, wall, running + settle);
  EXPECT_EQ (placed.out_of_step_age_ns, 3001 * clock_ms);
  EXPECT_EQ (clock.frames (), 1u);
}

// After a network stall the held-up frames arrive in a burst, seconds old by
// their capture times, then fresh ones: those old times are not used, and
// the clock is not taken for one out of step.
TEST (CaptureClock, ABurstOfOldFramesIsNotAClockOutOfStep)
{
  latestframe::capture_clock clock;
  const std::int64_t wall = 1'700'000'000'000'000'000;
  const std::int64_t settle = latestframe::capture_clock::settle_ns;
  std::int64_t running = 1000 * clock_ms;
  EXPECT_TRUE (clock.place (wall - 20 * clock_ms, wall, running).running_ns);
  /* A stall of 5 s: every frame it held up, 33 ms apart by capture, comes
   * within a second and a half of running time, the oldest first. */
  for (int frame = 0; frame < 150; frame++)
    {
      running += 10 * clock_ms;
      const std::int64_t age = 5000 * clock_ms - frame * 33 * clock_ms;
      const auto placed = clock.place (wall + running - age, wall + running,
                                       running);
      EXPECT_EQ (placed.running_ns.has_value (), age <= 3000 * clock_ms) << frame;
      EXPECT_FALSE (placed.out_of_step_age_ns) << frame;
    }
  /* Fresh frames again, until long after the first old one. */
  for (int frame = 0; frame < 2 * settle / (33 * clock_ms); frame++)
    {
      running += 33 * clock_ms;
      const auto placed = clock.place (wall + running - 20 * clock_ms,
                                       wall + running, running);
      EXPECT_TRUE (placed.running_ns) << frame;
      EXPECT_FALSE (placed.out_of_step_age_ns) << frame;
    }
  EXPECT_FALSE (clock.out_of_step ());
  EXPECT_GT (clock.unused (), 0u);
}

// A camera that boots with its clock wrong and sets it by NTP later: out of
// step first, then its capture times are used again once they have stayed
// within the limits for the settle period; one out of them on the way
// starts that period over.
TEST (CaptureClock, AClockSetRightIsUsedAgain)
{
  latestframe::capture_clock clock;
  const std::int64_t wall = 1'700'000'000'000'000'000;
  const std::int64_t settle = latestframe::capture_clock::settle_ns;
  const std::int64_t hour = 3600'000 * clock_ms;
  clock.place (wall - hour, wall, 0);
  ASSERT_TRUE (clock.place (wall - hour, wall, settle).out_of_step_age_ns);
  ASSERT_TRUE (clock.out_of_step ());

  /* NTP set it at 3 s: in the limits since, but for one more frame off. */
  std::int64_t running = 3000 * clock_ms;
  auto placed = clock.place (wall - 20 * clock_ms, wall, running);
  EXPECT_FALSE (placed.running_ns) << "not before the settle period";
  placed = clock.place (wall - hour, wall, running + settle / 2);
  EXPECT_FALSE (placed.running_ns);
  running += settle / 2 + 1;
  placed = clock.place (wall - 20 * clock_ms, wall, running);
  EXPECT_FALSE (placed.running_ns) << "the period started over";
  placed = clock.place (wall - 20 * clock_ms, wall, running + settle - 1);
  EXPECT_FALSE (placed.running_ns);
  EXPECT_TRUE (clock.out_of_step ());

  placed = clock.place (wall - 20 * clock_ms, wall, running + settle);
  EXPECT_TRUE (placed.back_in_step);
  EXPECT_EQ (clock.unused (), 6u);
  EXPECT_EQ (placed.running_ns,
             running + settle - 20 * clock_ms);
  EXPECT_FALSE (clock.out_of_step ());
  EXPECT_EQ (clock.frames (), 1u);
  placed = clock.place (wall - 20 * clock_ms, wall, running + 2 * settle);
  EXPECT_FALSE (placed.back_in_step) << "said once";
  EXPECT_TRUE (placed.running_ns);
}

// A running clock that goes back (a new segment) while a change of state is
// under way starts its period over, rather than wait for the clock to come
// back to where the period began.
TEST (CaptureClock, ARunningClockGoingBackStartsThePeriodOver)
{
  latestframe::capture_clock clock;
  const std::int64_t wall = 1'700'000'000'000'000'000;
  const std::int64_t settle = latestframe::capture_clock::settle_ns;
  const std::int64_t late = 5000 * clock_ms;
  EXPECT_FALSE (clock.place (wall - late, wall, 600'000 * clock_ms).running_ns);
  EXPECT_FALSE (clock.place (wall - late, wall, 1000 * clock_ms).running_ns);
  EXPECT_TRUE (
      clock.place (wall - late, wall, 1000 * clock_ms + settle).out_of_step_age_ns)
      << "out of step a settle period after the clock went back";
}
