/* Model tests of a memory budget shared by several keepers: fairness.
 *
 * BudgetFairness.RandomSequencesNeverStarveAMemberWithinItsShare drives two
 * or three single-threaded cores (latestframe::keeper_core) joined to one
 * budget, with the budget's real reclaim path (a reclaimer per core that
 * gives back its held frames, as frame_keeper does). Member 0 is greedy:
 * its consumer never lets go of a frame it was handed, and in half the
 * seeds it never takes one either (it only holds). The others take frames
 * and let them go at random. After every step:
 *  - every core's own check_invariants() holds (received == handed over +
 *    dropped + held), and the drops the model saw given back (admitted,
 *    taken, or given back to another member) are the drops each core
 *    counts;
 *  - the budget: used <= cap; used == the members' charges; each member's
 *    charge == its held bytes + the bytes of its live in-flight charges,
 *    and its in-flight bytes == those charges' and stay within its share;
 * and the guarantee of memory_budget.h: an arrival from a member whose
 * charge plus the frame is within its share is queued, never dropped.
 * Seeds are printed on failure: LATESTFRAME_MODEL_SEED=N re-runs one;
 * LATESTFRAME_MODEL_SEQUENCES sets how many. */
#include "core/tracked.h"
#include "latestframe/frame_keeper.h"
#include "latestframe/keeper_core.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace
{

using latestframe::drop_reason;
using latestframe::frame_desc;
using latestframe::memory_budget;
using latestframe::queue_limits;
using latestframe_test::lifetimes;
using latestframe_test::tracked;
using core_t = latestframe::keeper_core<tracked>;
using keeper_t = latestframe::frame_keeper<tracked>;

/* One member: its core, what the model saw of it, and the reclaimer that
 * gives back its held frames when another member asks. */
class member_model final : public latestframe::budget_reclaimer
{
public:
  member_model ()
      : slot_ (std::make_shared<latestframe::reclaimer_slot> (*this))
  {
    core.set_reclaimer (slot_);
  }
  member_model (const member_model &) = delete;
  member_model &operator= (const member_model &) = delete;
  ~member_model () { slot_->withdraw (); }

  void give_back_over_share (memory_budget &budget) override
  {
    count_given_back (core.give_back_budget (budget));
  }

  /* Frames given back to be destroyed: each a drop. */
  void count_given_back (core_t::released_list &&released)
  {
    released.for_each ([this] (core_t::released_item &item) {
      if (item.is_frame)
        dropped_seen++;
    });
  }

  std::uint64_t in_flight_bytes () const
  {
    std::uint64_t bytes = 0;
    for (const latestframe::in_flight_charge &charge : kept)
      bytes += charge.bytes ();
    return bytes;
  }

  core_t core;
  /* The charges of the frames its consumer still has. */
  std::vector<latestframe::in_flight_charge> kept;
  std::uint64_t dropped_seen = 0;
  /* Arrivals within the share admitted only after others gave back. */
  std::uint64_t admitted_by_reclaim = 0;

private:
  std::shared_ptr<latestframe::reclaimer_slot> slot_;
};

class fairness_model
{
public:
  explicit fairness_model (std::uint32_t seed)
      : random_ (seed), greedy_takes_ (seed % 2 == 0)
  {
    const int count = pick (2, 3);
    cap_ = static_cast<std::uint64_t> (pick (300, 1500));
    const std::string name = "fairness-" + std::to_string (seed);
    for (int i = 0; i < count; i++)
      {
        members_.push_back (std::make_unique<member_model> ());
        core_t &core = members_.back ()->core;
        /* Member 0 holds whatever it gets; the others keep a few frames. */
        core.update_limits ([&] (queue_limits &l) {
          l.max_frames = i == 0 ? 0 : static_cast<std::uint32_t> (pick (1, 4));
          l.max_bytes = i == 0 ? 0 : cap_;
        });
        core.set_budget (name, cap_);
      }
  }

  bool run (int steps, std::string &failure)
  {
    for (int step = 0; step < steps && failure.empty (); step++)
      {
        one_step (failure);
        if (failure.empty ())
          check (failure);
        if (!failure.empty ())
          failure = "step " + std::to_string (step) + ": " + failure;
      }
    return failure.empty ();
  }

  std::uint64_t admitted_by_reclaim () const
  {
    std::uint64_t admitted = 0;
    for (const auto &member : members_)
      admitted += member->admitted_by_reclaim;
    return admitted;
  }

private:
  int pick (int low, int high)
  {
    return std::uniform_int_distribution<int> (low, high) (random_);
  }

  void one_step (std::string &failure)
  {
    const std::size_t who
        = static_cast<std::size_t> (pick (0, members_.size () - 1));
    member_model &member = *members_[who];
    const int roll = pick (0, 9);
    if (roll < 5)
      admit (member, failure);
    else if (roll < 8)
      {
        if (who != 0 || greedy_takes_)
          take (member);
      }
    else if (who != 0 && !member.kept.empty ())
      /* The consumer lets go of a frame: its bytes land. */
      member.kept.erase (member.kept.begin ()
                         + pick (0, member.kept.size () - 1));
  }

  void admit (member_model &member, std::string &failure)
  {
    frame_desc desc;
    /* Frames small enough that a share holds a few. */
    const std::uint64_t share = share_of (member);
    desc.bytes = static_cast<std::uint64_t> (
        pick (1, static_cast<int> (std::max<std::uint64_t> (share / 3, 1))));
    const memory_budget::member_figures before = figures (member);
    const bool within_share
        = before.charged + desc.bytes <= before.share && all_within_shares ();
    tracked frame (++next_id_);
    core_t::arrival arriving;
    core_t::admit_outcome out;
    bool reclaimed = false;
    for (;;)
      {
        const core_t::admit_decision decision
            = member.core.admit (frame, desc, arriving, out);
        if (decision == core_t::admit_decision::reclaim_budget)
          {
            member.core.budget_claim_for (desc).reclaim ();
            reclaimed = true;
            continue;
          }
        if (decision == core_t::admit_decision::queued
            || decision == core_t::admit_decision::dropped)
          break;
        failure = "an unexpected decision "
                  + std::to_string (static_cast<int> (decision));
        return;
      }
    member.count_given_back (std::move (out.released));
    if (within_share)
      {
        if (out.status != core_t::admit_status::queued)
          failure = "a frame of " + std::to_string (desc.bytes)
                    + " bytes from a member charged "
                    + std::to_string (before.charged) + " of its share "
                    + std::to_string (before.share) + " was dropped ("
                    + latestframe::drop_reason_name (out.reason) + ")";
        else if (reclaimed)
          member.admitted_by_reclaim++;
      }
  }

  void take (member_model &member)
  {
    core_t::take_request request;
    request.now_known = true;
    core_t::handover out;
    const core_t::take_step step = member.core.take (request, out);
    member.count_given_back (std::move (out.released));
    if (step.decision == core_t::take_decision::handed_over)
      {
        out.charge.launch ();
        member.kept.push_back (std::move (out.charge));
      }
  }

  std::uint64_t share_of (member_model &member)
  {
    return figures (member).share;
  }

  memory_budget::member_figures figures (member_model &member)
  {
    const latestframe::budget_membership &joined = *member.core.membership ();
    return joined.budget ()->figures (joined.account ());
  }

  bool all_within_shares ()
  {
    for (const auto &member : members_)
      {
        const memory_budget::member_figures f = figures (*member);
        if (f.in_flight > f.share)
          return false;
      }
    return true;
  }

  void check (std::string &failure)
  {
    std::uint64_t charged = 0;
    for (std::size_t i = 0; i < members_.size () && failure.empty (); i++)
      {
        member_model &member = *members_[i];
        const std::string who = "member " + std::to_string (i) + ": ";
        failure = member.core.check_invariants ();
        if (!failure.empty ())
          {
            failure = who + failure;
            return;
          }
        latestframe::keeper_stats stats;
        latestframe::age_window ages, timestamp_ages;
        std::shared_ptr<memory_budget> joined;
        member.core.read_stats (stats, ages, timestamp_ages, joined);
        if (stats.dropped () != member.dropped_seen)
          failure = who + std::to_string (stats.dropped ())
                    + " drops counted, " + std::to_string (member.dropped_seen)
                    + " frames given back";
        const memory_budget::member_figures f = figures (member);
        charged += f.charged;
        if (f.charged != stats.held_bytes + member.in_flight_bytes ())
          failure = who + "charged " + std::to_string (f.charged)
                    + ", holds " + std::to_string (stats.held_bytes)
                    + " and has " + std::to_string (member.in_flight_bytes ())
                    + " in flight";
        else if (f.in_flight != member.in_flight_bytes ())
          failure = who + "in flight " + std::to_string (f.in_flight)
                    + " in the budget, " + std::to_string (member.in_flight_bytes ())
                    + " kept downstream";
        else if (f.in_flight > f.share)
          failure = who + "in flight " + std::to_string (f.in_flight)
                    + " over its share " + std::to_string (f.share);
      }
    if (!failure.empty ())
      return;
    const std::uint64_t used
        = members_[0]->core.membership ()->budget ()->used_approx ();
    if (used > cap_)
      failure = "used " + std::to_string (used) + " over the cap "
                + std::to_string (cap_);
    else if (used != charged)
      failure = "used " + std::to_string (used) + ", members charged "
                + std::to_string (charged);
  }

  std::mt19937 random_;
  bool greedy_takes_;
  std::uint64_t cap_ = 0;
  std::vector<std::unique_ptr<member_model>> members_;
  std::uint64_t next_id_ = 0;
};

std::uint32_t
env_number (const char *name, std::uint32_t otherwise)
{
  const char *value = std::getenv (name);
  return value ? static_cast<std::uint32_t> (std::strtoul (value, nullptr, 10))
               : otherwise;
}

// Random sequences of two or three keepers on one budget, one of them
// never letting go of its frames: a member within its share is never
// starved, and the budget's figures match every keeper's after every step.
TEST (BudgetFairness, RandomSequencesNeverStarveAMemberWithinItsShare)
{
  const std::uint32_t only = env_number ("LATESTFRAME_MODEL_SEED", 0);
  const std::uint32_t first = only ? only : 1;
  const std::uint32_t last
      = only ? only : env_number ("LATESTFRAME_MODEL_SEQUENCES", 5000);
  std::uint64_t admitted_by_reclaim = 0;
  for (std::uint32_t seed = first; seed <= last; seed++)
    {
      lifetimes::reset ();
      std::string failure;
      {
        fairness_model model (seed);
        model.run (200, failure);
        admitted_by_reclaim += model.admitted_by_reclaim ();
      }
      if (failure.empty () && lifetimes::alive_count () != 0)
        failure
            = std::to_string (lifetimes::alive_count ()) + " payloads leaked";
      if (failure.empty () && lifetimes::destroyed_twice () != 0)
        failure = "a payload was destroyed twice";
      ASSERT_TRUE (failure.empty ()) << "seed " << seed << ": " << failure;
    }
  /* The guarantee was put to the test: arrivals got in only because
   * others gave back. */
  EXPECT_GT (admitted_by_reclaim, 0u);
}

// Two keepers on one budget, each with a producer (in bursts) and a
// consumer thread that keeps a few frames: members over their share give
// back to each other from their producers' threads at once. Nothing deadlocks (a hang
// fails the test by its timeout), the cap holds at every arrival, each
// keeper's counts add up, and the budget is empty once everything went.
TEST (BudgetFairness, ConcurrentMembersReclaimFromEachOther)
{
  lifetimes::reset ();
  constexpr std::uint64_t cap = 4000;
  constexpr int frames = 10000;
  std::atomic<bool> over_cap{ false };
  {
    keeper_t keepers[2];
    for (keeper_t &keeper : keepers)
      {
        keeper.set_limits (queue_limits{ 0, 0, 0 });
        keeper.set_budget (std::string ("fairness-concurrent"), cap);
      }
    std::vector<std::thread> threads;
    std::atomic<int> producers_done{ 0 };
    for (int k = 0; k < 2; k++)
      {
        keeper_t &keeper = keepers[k];
        threads.emplace_back ([&, k] {
          std::mt19937 random (k + 1);
          for (int i = 0; i < frames; i++)
            {
              frame_desc desc;
              desc.bytes = std::uniform_int_distribution<int> (100, 600) (random);
              const std::uint64_t id
                  = static_cast<std::uint64_t> (k) * frames + i + 1;
              keeper.admit_frame (tracked (id), desc);
              if (keeper.stats ().budget_used > cap)
                over_cap = true;
              /* Bursts: after each, this member waits for its consumer to
               * take everything, while the other borrows the free room;
               * its next frames, within its share, make room again. */
              if (std::uniform_int_distribution<int> (0, 15) (random) == 0)
                while (keeper.level_approx ().frames != 0)
                  std::this_thread::yield ();
            }
          producers_done++;
        });
        threads.emplace_back ([&, k] {
          std::mt19937 random (k + 11);
          std::vector<latestframe::in_flight_charge> kept;
          while (producers_done.load () < 2)
            {
              keeper_t::handover out = keeper.hand_over (
                  latestframe::delivery::in_order,
                  keeper_t::clock::now () + std::chrono::milliseconds (1));
              if (out.is_frame)
                kept.push_back (std::move (out.charge));
              /* Keeps up to two frames (within its share), letting one go
               * now and then. */
              if (kept.size () > 2
                  || (!kept.empty ()
                      && std::uniform_int_distribution<int> (0, 3) (random)
                             == 0))
                kept.erase (kept.begin ());
            }
        });
      }
    for (std::thread &thread : threads)
      thread.join ();
    for (keeper_t &keeper : keepers)
      {
        EXPECT_EQ (keeper.check_invariants (), "");
        const latestframe::keeper_stats stats = keeper.stats ();
        EXPECT_EQ (stats.received, static_cast<std::uint64_t> (frames));
        EXPECT_EQ (stats.in_flight_frames, 0u);
        std::printf ("a keeper: %llu budget drops of %d frames\n",
                     static_cast<unsigned long long> (
                         stats.dropped_for (drop_reason::budget).frames),
                     frames);
        keeper.drain ();
      }
    EXPECT_EQ (keepers[0].stats ().budget_used, 0u)
        << "every frame went, and with it its bytes";
  }
  EXPECT_FALSE (over_cap.load ());
  EXPECT_EQ (lifetimes::alive_count (), 0);
  EXPECT_EQ (lifetimes::destroyed_twice (), 0);
}

} // namespace
