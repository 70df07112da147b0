/* Unit tests of the keeper core's parts, each against the contract at the
 * top of its header: the stream state's transitions (stream_state.h), the
 * query tickets (query_tickets.h), the ledger (frame_ledger.h), the pace
 * (pace.h). */
#include "core/tracked.h"
#include "latestframe/frame_ledger.h"
#include "latestframe/pace.h"
#include "latestframe/query_tickets.h"
#include "latestframe/stream_state.h"

#include <gtest/gtest.h>

#include <chrono>

namespace
{

using latestframe::drop_reason;
using latestframe::frame_desc;
using latestframe::marker_kind;
using latestframe::stream_lifecycle;
using latestframe::stream_state;
using latestframe::unit_kind;
using latestframe_test::lifetimes;
using latestframe_test::tracked;

constexpr std::uint64_t ms = 1000000;

// Each row of the table: what enters a state, what it admits, what leaves
// it.
TEST (StreamState, EveryTransitionOfTheTable)
{
  stream_lifecycle stream;
  EXPECT_EQ (stream.state (), stream_state::running);
  EXPECT_FALSE (stream.refuses_frames ());

  stream.marker_admitted (marker_kind::end_of_stream);
  EXPECT_EQ (stream.state (), stream_state::ended);
  EXPECT_TRUE (stream.refuses_frames ());
  EXPECT_TRUE (stream.admits_marker (marker_kind::query));
  EXPECT_FALSE (stream.admits_marker (marker_kind::plain));
  EXPECT_FALSE (stream.halted ()) << "ended still delivers what is held";
  stream.marker_admitted (marker_kind::new_stream);
  EXPECT_EQ (stream.state (), stream_state::running);

  stream.downstream_ended (/* something deliverable left */ true);
  EXPECT_EQ (stream.state (), stream_state::running);
  stream.downstream_ended (false);
  EXPECT_EQ (stream.state (), stream_state::ended_downstream);
  EXPECT_TRUE (stream.admits_marker (marker_kind::plain));
  stream.marker_admitted (marker_kind::end_of_stream);
  EXPECT_EQ (stream.state (), stream_state::ended);

  EXPECT_TRUE (stream.downstream_unlinked ()) << "the producer had ended";
  EXPECT_EQ (stream.state (), stream_state::unlinked);
  EXPECT_TRUE (stream.halted ());
  EXPECT_TRUE (stream.admits_marker (marker_kind::sticky));
  EXPECT_FALSE (stream.admits_marker (marker_kind::query));
  EXPECT_TRUE (stream.relink (/* an end of stream held */ true));
  EXPECT_EQ (stream.state (), stream_state::ended);
  EXPECT_FALSE (stream.relink (false)) << "not unlinked";

  EXPECT_TRUE (stream.downstream_failed (-4));
  EXPECT_EQ (stream.state (), stream_state::failed);
  EXPECT_EQ (stream.failure_code (), -4);
  stream.marker_admitted (marker_kind::new_stream);
  EXPECT_EQ (stream.state (), stream_state::failed)
      << "a new stream is only held while halted";

  stream.flush_start ();
  EXPECT_EQ (stream.state (), stream_state::flushing);
  EXPECT_FALSE (stream.downstream_failed (-5)) << "flushing stays flushing";
  EXPECT_EQ (stream.state (), stream_state::flushing);
  stream.resume ();
  EXPECT_EQ (stream.state (), stream_state::running);
  EXPECT_EQ (stream.failure_code (), 0);
}

// A ticket's life: queued, in process, answered (or abandoned), collected
// once; an unknown ticket reads as abandoned; in process is never abandoned
// by a withdrawal (the keeper withdraws only queued ones).
TEST (QueryTickets, AnswersReachTheirProducerOnce)
{
  latestframe::query_tickets tickets;
  const std::uint64_t first = tickets.issue ();
  const std::uint64_t second = tickets.issue ();
  EXPECT_NE (first, second);
  EXPECT_EQ (tickets.queued_count (), 2u);
  EXPECT_FALSE (tickets.collect (first).has_value ()) << "still queued";
  tickets.start (first);
  EXPECT_FALSE (tickets.queued (first));
  EXPECT_FALSE (tickets.collect (first).has_value ()) << "in process";
  tickets.answer (first, true);
  EXPECT_EQ (tickets.collect (first), latestframe::ack_result::accepted);
  EXPECT_EQ (tickets.collect (first), latestframe::ack_result::abandoned)
      << "collected once";
  tickets.abandon (second);
  EXPECT_EQ (tickets.collect (second), latestframe::ack_result::abandoned);
  EXPECT_EQ (tickets.queued_count (), 0u);
}

class Ledger : public ::testing::Test
{
protected:
  void SetUp () override { lifetimes::reset (); }
  void TearDown () override
  {
    released.clear ();
    ledger.reset ();
    EXPECT_EQ (lifetimes::alive_count (), 0);
    EXPECT_EQ (lifetimes::destroyed_twice (), 0);
  }

  latestframe::frame_ledger<tracked> &l () { return *ledger; }

  void receive (std::uint64_t id, unit_kind unit)
  {
    frame_desc desc{ 10 };
    l ().receive (tracked (id), desc, unit);
  }

  void expect_balanced () { EXPECT_EQ (l ().check_invariants (), ""); }

  std::unique_ptr<latestframe::frame_ledger<tracked>> ledger
      = std::make_unique<latestframe::frame_ledger<tracked>> ();
  latestframe::frame_ledger<tracked>::released_list released;
};

// A frame dropped that the held delta units need takes them with it
// (broken chain), up to the next key unit; each counted once by reason and
// given back; the next frame kept follows a gap.
TEST_F (Ledger, DroppingAFrameTakesTheRestOfItsChain)
{
  receive (1, unit_kind::key);
  receive (2, unit_kind::delta);
  receive (3, unit_kind::non_reference);
  receive (4, unit_kind::key);
  EXPECT_EQ (l ().discard_chain_at (0, drop_reason::overflow, released), 3u);
  EXPECT_EQ (released.size (), 3u);
  const latestframe::keeper_counts &counts = l ().counts ();
  EXPECT_EQ (counts.drops[static_cast<int> (drop_reason::overflow)].frames, 1u);
  EXPECT_EQ (counts.drops[static_cast<int> (drop_reason::broken_chain)].frames,
             2u);
  EXPECT_TRUE (l ().held ().front ().discont);
  EXPECT_FALSE (l ().chain_broken ()) << "a key unit is held after";
  expect_balanced ();
}

// With no key unit held after it, the chain stays broken for the delta
// units still to come; a non-reference unit breaks nothing.
TEST_F (Ledger, ABrokenChainWaitsForTheNextKeyUnit)
{
  receive (1, unit_kind::key);
  receive (2, unit_kind::non_reference);
  l ().discard_chain_at (1, drop_reason::age, released);
  EXPECT_FALSE (l ().chain_broken ())
      << "nothing needed the non-reference unit";
  l ().discard_chain_at (0, drop_reason::age, released);
  EXPECT_TRUE (l ().chain_broken ());
  l ().chain_starts ();
  EXPECT_FALSE (l ().chain_broken ());
  expect_balanced ();
}

// An arriving frame dropped is received and counted; a refused one is not
// received, but the chain after it is broken all the same.
TEST_F (Ledger, ArrivalsDroppedAreReceivedAndCounted)
{
  EXPECT_EQ (l ().drop_arriving (tracked (1), 10, unit_kind::key,
                                 drop_reason::budget, released),
             1u);
  receive (2, unit_kind::key);
  EXPECT_TRUE (l ().held ().front ().discont) << "after the dropped one";
  EXPECT_EQ (l ().counts ().received, 2u);
  l ().frame_lost (unit_kind::delta);
  EXPECT_TRUE (l ().chain_broken ());
  expect_balanced ();
}

// A drain gives back frames as flushed, queries to the abandon callback,
// markers as they are; the invariants hold after it.
TEST_F (Ledger, DrainEmptiesEverything)
{
  receive (1, unit_kind::key);
  l ().held ().add_marker (tracked (2), marker_kind::query, 7);
  l ().held ().add_marker (tracked (3), marker_kind::sticky, 0);
  std::uint64_t abandoned = 0;
  l ().drain (released,
              [&abandoned] (auto &&query) { abandoned = query.ticket; });
  EXPECT_EQ (abandoned, 7u);
  EXPECT_EQ (released.size (), 2u);
  EXPECT_TRUE (l ().held ().empty ());
  EXPECT_EQ (l ().counts ().drops[static_cast<int> (drop_reason::flush)].frames,
             1u);
  expect_balanced ();
}

// The pace: one frame shown per interval; a decode-only run goes at once,
// its end waits as one frame; a flush ends a run.
TEST (FramePace, OneFrameShownPerInterval)
{
  latestframe::frame_pace pace;
  const latestframe::steady_time start{ std::chrono::seconds (1) };
  const std::uint64_t interval = 100 * ms;
  EXPECT_FALSE (pace.due (interval, start)) << "nothing shown yet";
  pace.handed_over (false, true, start);
  EXPECT_EQ (pace.due (interval, start + std::chrono::milliseconds (30)),
             start + std::chrono::milliseconds (100));
  EXPECT_FALSE (pace.due (interval, start + std::chrono::milliseconds (100)));
  pace.handed_over (true, true, start + std::chrono::milliseconds (100));
  EXPECT_FALSE (pace.due (interval, start + std::chrono::milliseconds (101)))
      << "a decode-only run is not held back";
  pace.restart ();
  EXPECT_FALSE (pace.due (0, start)) << "no interval, no pace";
}

} // namespace
