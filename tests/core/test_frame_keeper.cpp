/* Unit tests of latestframe::frame_keeper, the newest-frame contract, without
 * a pipeline. */
#include "core/fake_clock.h"
#include "core/tracked.h"
#include "latestframe/frame_keeper.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <string>
#include <mutex>
#include <thread>
#include <limits>
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
using status = keeper_t::admit_status;
using handover_status = keeper_t::handover_status;

constexpr std::uint64_t ms = 1000000;

class FrameKeeper : public ::testing::Test
{
protected:
  void SetUp () override
  {
    lifetimes::reset ();
    /* Encoded caps decoded whole: the frames' units count (raw frames, all
     * key units, behave the same). */
    plan (true);
  }
  void TearDown () override
  {
    keeper.reset ();
    EXPECT_EQ (lifetimes::alive_count (), 0) << "a payload leaked";
    EXPECT_EQ (lifetimes::destroyed_twice (), 0);
  }

  keeper_t &k () { return *keeper; }

  keeper_t::admit_outcome
  frame (std::uint64_t id, std::uint64_t bytes = 10,
         std::int64_t time = latestframe::no_time,
         std::int64_t arrival_running = latestframe::no_time)
  {
    return k ().admit_frame (tracked (id),
                             frame_desc{ bytes, time, arrival_running });
  }

  keeper_t::admit_outcome marker (std::uint64_t id,
                                  marker_kind kind = marker_kind::sticky)
  {
    return k ().admit_marker (tracked (id), kind);
  }

  /* What the owner asks of the hand-over: the caps' encoding, the decode
   * mode, and a pace (as the rate of analysis it stands for). */
  void plan (bool encoded,
             latestframe::decode_mode decode = latestframe::decode_mode::all,
             std::uint64_t pace_ns = 0, bool on_request = false)
  {
    k ().update_request ([&] (latestframe::hand_over_request &request) {
      request.encoded = encoded;
      request.decode = decode;
      request.rate = pace_ns != 0 ? 1e9 / static_cast<double> (pace_ns) : 0;
      request.on_request = on_request;
    });
  }

  /* A frame of encoded video: a key, delta or non-reference unit. */
  keeper_t::admit_outcome unit (std::uint64_t id, latestframe::unit_kind kind,
                                std::int64_t time = latestframe::no_time)
  {
    frame_desc desc{ 10, time };
    desc.unit = kind;
    return k ().admit_frame (tracked (id), desc);
  }

  /* The next entry's id, or 0 if there is none right now. */
  std::uint64_t next_id (bool *discont = nullptr,
                         keeper_t::delivery mode = keeper_t::delivery::in_order)
  {
    keeper_t::handover next
        = k ().hand_over (mode, keeper_t::clock::now ());
    if (next.status != handover_status::handed_over)
      return 0;
    if (discont)
      *discont = next.discont;
    return next.item.id;
  }

  /* Everything held, taken on request now (fake clock): each entry's id
   * and whether it went decode-only; the notices, when asked for. */
  std::vector<std::pair<std::uint64_t, bool>>
  take_all_newest (std::vector<keeper_t::notice_kind> *notices = nullptr)
  {
    namespace fake = latestframe_test::fake_clock;
    std::vector<std::pair<std::uint64_t, bool>> handed;
    for (;;)
      {
        keeper_t::handover next
            = k ().hand_over (keeper_t::delivery::newest,
                              keeper_t::clock::now (), fake::running_now ());
        if (next.status != handover_status::handed_over)
          return handed;
        handed.emplace_back (next.item.id, next.decode_only);
        if (notices && next.note.kind != keeper_t::notice_kind::none)
          notices->push_back (next.note.kind);
      }
  }

  /* Until a producer is blocked for room (a condition, not a sleep). */
  void wait_until_blocked ()
  {
    while (k ().blocked_producers_approx () == 0)
      std::this_thread::yield ();
  }

  /* received == handed over + dropped + held. */
  void expect_balanced ()
  {
    latestframe::keeper_stats stats = k ().stats ();
    EXPECT_EQ (stats.received,
               stats.handed_over + stats.dropped () + stats.held_frames);
  }

  std::unique_ptr<keeper_t> keeper = std::make_unique<keeper_t> ();
};

// The default keeper holds exactly the newest frame; the next frame after
// the gap is marked discont; the dropped frames are given back.
TEST_F (FrameKeeper, DropOldestKeepsNewestFrame)
{
  EXPECT_EQ (frame (1).status, status::queued);
  keeper_t::admit_outcome second = frame (2);
  EXPECT_EQ (second.status, status::queued);
  EXPECT_EQ (second.held_dropped, 1u);
  ASSERT_EQ (second.released.size (), 1u);
  EXPECT_EQ (second.released[0].item.id, 1u);
  bool discont = false;
  EXPECT_EQ (next_id (&discont), 2u);
  EXPECT_TRUE (discont);
  EXPECT_EQ (k ().stats ().dropped_for (drop_reason::overflow).frames, 1u);
  expect_balanced ();
}

// drop_arriving keeps what is held, drops arrivals (counted), and marks the
// next accepted frame discont.
TEST_F (FrameKeeper, DropArrivingKeepsHeldFrames)
{
  k ().set_policy (leak_policy::drop_arriving);
  k ().set_limits ({ 2, 0, 0 });
  frame (1);
  frame (2);
  keeper_t::admit_outcome third = frame (3);
  EXPECT_EQ (third.status, status::dropped);
  EXPECT_EQ (third.reason, drop_reason::overflow);
  EXPECT_EQ (third.sequence, 3u) << "a dropped frame was received";
  bool discont = true;
  EXPECT_EQ (next_id (&discont), 1u);
  EXPECT_FALSE (discont);
  frame (4);
  EXPECT_EQ (next_id (), 2u);
  EXPECT_EQ (next_id (&discont), 4u);
  EXPECT_TRUE (discont);
  expect_balanced ();
}

// Markers are never dropped and keep their place among surviving frames.
TEST_F (FrameKeeper, MarkersSurviveDropsInOrder)
{
  frame (1);
  marker (100);
  frame (2);
  marker (101);
  frame (3);
  bool discont = false;
  EXPECT_EQ (next_id (), 100u);
  EXPECT_EQ (next_id (), 101u);
  EXPECT_EQ (next_id (&discont), 3u);
  EXPECT_TRUE (discont);
  EXPECT_EQ (next_id (), 0u);
}

// The byte limit is strict, and a lone frame larger than it is accepted.
TEST_F (FrameKeeper, ByteLimitIsStrictAndLoneFrameFits)
{
  k ().set_limits ({ 0, 100, 0 });
  EXPECT_EQ (frame (1, 500).status, status::queued);
  frame (2, 60);
  frame (3, 40);
  EXPECT_EQ (k ().level_approx ().bytes, 100u);
  frame (4, 1);
  EXPECT_LE (k ().level_approx ().bytes, 100u);
  EXPECT_EQ (next_id (), 3u);
}

// The span limit bounds newest minus oldest frame time; untimed frames
// ignore it.
TEST_F (FrameKeeper, SpanLimitBoundsOldestToNewest)
{
  k ().set_limits ({ 0, 0, 100 * ms });
  frame (1, 10, 0);
  frame (2, 10, 50 * ms);
  frame (3, 10, 100 * ms);
  EXPECT_EQ (k ().level_approx ().frames, 3u);
  frame (4, 10, 120 * ms);
  EXPECT_EQ (k ().level_approx ().span_ns, 70 * ms);
  EXPECT_EQ (next_id (), 2u);
  keeper_t other;
  other.set_limits ({ 0, 0, 1 });
  for (std::uint64_t id = 10; id < 15; id++)
    other.admit_frame (tracked (id), frame_desc{ 1, latestframe::no_time });
  EXPECT_EQ (other.level_approx ().frames, 5u);
  other.drain ();
}

// Tighter limits apply at once with drop_oldest, keeping the newest.
TEST_F (FrameKeeper, ShrinkingLimitsDropsOldestAtOnce)
{
  k ().set_limits ({ 5, 0, 0 });
  for (std::uint64_t id = 1; id <= 4; id++)
    frame (id);
  keeper_t::released_list dropped = k ().set_limits ({ 1, 0, 0 });
  EXPECT_EQ (dropped.size (), 3u);
  EXPECT_EQ (next_id (), 4u);
  expect_balanced ();
}

// hand_over returns timed_out at its deadline when nothing comes.
TEST_F (FrameKeeper, HandOverTimesOut)
{
  auto start = keeper_t::clock::now ();
  keeper_t::handover none = k ().hand_over (keeper_t::delivery::in_order,
                                            start + std::chrono::milliseconds (20));
  EXPECT_EQ (none.status, handover_status::timed_out);
  EXPECT_GE (keeper_t::clock::now () - start, std::chrono::milliseconds (20));
}

// flush_start wakes a waiting consumer at once, and refuses frames and
// plain markers (not counted) while sticky ones keep their place.
TEST_F (FrameKeeper, FlushWakesConsumerAndRefuses)
{
  auto consumer = std::async (std::launch::async, [&] {
    return k ().hand_over ().status;
  });
  k ().flush_start ();
  EXPECT_EQ (consumer.get (), handover_status::halted);
  keeper_t::admit_outcome refused = frame (1);
  EXPECT_EQ (refused.status, status::refused);
  EXPECT_EQ (refused.refused_in, stream_state::flushing);
  EXPECT_EQ (marker (2, marker_kind::plain).status, status::refused);
  EXPECT_EQ (marker (3, marker_kind::sticky).status, status::queued);
  EXPECT_EQ (k ().stats ().received, 0u) << "refused frames are not received";
  k ().resume ();
  EXPECT_EQ (next_id (), 3u);
}

// With leak_policy::none the producer blocks, nothing is dropped, every
// frame comes out in order, and no more than the limit is ever held.
TEST_F (FrameKeeper, BlockingPolicyDeliversEverythingBounded)
{
  k ().set_policy (leak_policy::none);
  k ().set_limits ({ 2, 0, 0 });
  std::atomic<std::uint32_t> most_held{ 0 };
  std::thread producer ([&] {
    for (std::uint64_t id = 1; id <= 200; id++)
      {
        frame (id);
        std::uint32_t held = k ().level_approx ().frames;
        std::uint32_t seen = most_held;
        while (held > seen && !most_held.compare_exchange_weak (seen, held))
          ;
      }
  });
  std::uint64_t expected = 1;
  while (expected <= 200)
    {
      keeper_t::handover next = k ().hand_over ();
      ASSERT_EQ (next.status, handover_status::handed_over);
      EXPECT_EQ (next.item.id, expected++);
      EXPECT_FALSE (next.discont);
    }
  producer.join ();
  EXPECT_LE (most_held.load (), 2u);
  EXPECT_EQ (k ().stats ().dropped (), 0u);
}

// A producer blocked for room is released by a flush (its frame, received,
// counts as flushed) and by a policy that starts dropping.
TEST_F (FrameKeeper, BlockedProducerIsReleased)
{
  k ().set_policy (leak_policy::none);
  frame (1);
  auto blocked = std::async (std::launch::async, [&] { return frame (2); });
  wait_until_blocked ();
  k ().flush_start ();
  keeper_t::admit_outcome out = blocked.get ();
  EXPECT_EQ (out.status, status::refused);
  EXPECT_EQ (out.sequence, 0u) << "refused while waiting: never received";
  EXPECT_EQ (k ().stats ().received, 1u);
  k ().drain ();
  k ().resume ();
  frame (3);
  auto second = std::async (std::launch::async, [&] { return frame (4); });
  k ().set_policy (leak_policy::drop_oldest);
  EXPECT_EQ (second.get ().status, status::queued);
  EXPECT_EQ (next_id (), 4u);
  expect_balanced ();
}

// A producer blocked for room and a producer waiting on a query's answer
// both return when downstream turns out unlinked: nobody would hand over.
TEST_F (FrameKeeper, UnlinkedReleasesBlockedProducerAndQueries)
{
  k ().set_policy (leak_policy::none);
  frame (1);
  keeper_t::admit_outcome query = marker (2, marker_kind::query);
  auto asker = std::async (std::launch::async,
                           [&] { return k ().wait_ack (query.ticket); });
  auto blocked = std::async (std::launch::async, [&] { return frame (3); });
  wait_until_blocked ();
  k ().downstream_unlinked ();
  EXPECT_EQ (blocked.get ().refused_in, stream_state::unlinked);
  EXPECT_EQ (asker.get (), latestframe::ack_result::abandoned);
  EXPECT_TRUE (k ().relink ());
  EXPECT_EQ (next_id (), 1u) << "the frame held stays";
}

// Downstream's end of stream to a frame releases a producer blocked for
// room: it is refused (EOS) rather than left waiting.
TEST_F (FrameKeeper, DownstreamEndReleasesBlockedProducer)
{
  k ().set_policy (leak_policy::none);
  frame (1);
  auto blocked = std::async (std::launch::async, [&] { return frame (2); });
  wait_until_blocked ();
  k ().downstream_ended ();
  EXPECT_EQ (blocked.get ().refused_in, stream_state::ended_downstream);
  expect_balanced ();
}

// A non-live upstream is paced: the leaky policy blocks instead of dropping
// and max-age drops nothing; leak_when_not_live drops again.
TEST_F (FrameKeeper, NonLiveUpstreamIsPacedNotDropped)
{
  k ().set_upstream_live (false);
  k ().set_max_age (1);
  frame (1);
  auto blocked = std::async (std::launch::async, [&] { return frame (2); });
  wait_until_blocked (); /* a file waits for the consumer */
  EXPECT_EQ (next_id (), 1u) << "max-age drops nothing when not live";
  EXPECT_EQ (blocked.get ().status, status::queued);
  EXPECT_EQ (next_id (), 2u);
  EXPECT_EQ (k ().stats ().dropped (), 0u);
  k ().set_leak_when_not_live (true);
  k ().set_max_age (0);
  frame (3);
  frame (4);
  EXPECT_EQ (next_id (), 4u);
  EXPECT_EQ (k ().stats ().dropped_for (drop_reason::overflow).frames, 1u);
}

// Many frames, a slow consumer: order kept, and every frame is either
// handed over or dropped, never lost.
TEST_F (FrameKeeper, ProducerConsumerKeepsOrderAndAccountsEveryFrame)
{
  k ().set_limits ({ 3, 0, 0 });
  std::thread producer ([&] {
    for (std::uint64_t id = 1; id <= 2000; id++)
      frame (id);
    marker (5000, marker_kind::end_of_stream);
  });
  std::uint64_t last = 0;
  for (;;)
    {
      keeper_t::handover next = k ().hand_over ();
      ASSERT_EQ (next.status, handover_status::handed_over);
      if (!next.is_frame)
        break;
      EXPECT_GT (next.item.id, last);
      last = next.item.id;
    }
  producer.join ();
  latestframe::keeper_stats stats = k ().stats ();
  EXPECT_EQ (stats.received, 2000u);
  EXPECT_EQ (stats.handed_over + stats.dropped (), 2000u);
  EXPECT_EQ (last, 2000u) << "the newest frame always gets out";
}

// A query is answered in order; its producer gets the consumer's answer.
TEST_F (FrameKeeper, QueryAnsweredInOrder)
{
  frame (1);
  keeper_t::admit_outcome query = marker (2, marker_kind::query);
  ASSERT_NE (query.ticket, 0u);
  auto producer = std::async (std::launch::async,
                              [&] { return k ().wait_ack (query.ticket); });
  EXPECT_EQ (next_id (), 1u);
  keeper_t::handover handed = k ().hand_over ();
  EXPECT_EQ (handed.marker, marker_kind::query);
  EXPECT_EQ (producer.wait_for (std::chrono::milliseconds (20)),
             std::future_status::timeout)
      << "no answer before the consumer acknowledges";
  k ().acknowledge (handed.ticket, true);
  EXPECT_EQ (producer.get (), latestframe::ack_result::accepted);
}

// A query still queued when a flush starts is abandoned at once; its
// payload is gone before its producer returns.
TEST_F (FrameKeeper, FlushAbandonsQueuedQuery)
{
  frame (1);
  keeper_t::admit_outcome query = marker (2, marker_kind::query);
  auto producer = std::async (std::launch::async,
                              [&] { return k ().wait_ack (query.ticket); });
  k ().flush_start ();
  EXPECT_EQ (producer.get (), latestframe::ack_result::abandoned);
  EXPECT_EQ (lifetimes::leaked ().size (), 1u) << "only frame 1 is left";
  k ().drain ();
}

// End of stream: frames are refused after it; what is held is delivered;
// a new stream brings frames back.
TEST_F (FrameKeeper, EndOfStreamThenNewStream)
{
  frame (1);
  marker (2, marker_kind::end_of_stream);
  EXPECT_EQ (frame (3).refused_in, stream_state::ended);
  EXPECT_EQ (marker (4, marker_kind::sticky).status, status::refused);
  EXPECT_EQ (next_id (), 1u);
  EXPECT_EQ (next_id (), 2u);
  EXPECT_EQ (marker (5, marker_kind::new_stream).status, status::queued);
  EXPECT_EQ (frame (6).status, status::queued);
  EXPECT_EQ (next_id (), 5u);
  EXPECT_EQ (next_id (), 6u);
}

// Downstream's end of stream to a frame: everything up to the next stream
// boundary goes (frames counted as flushed, queries refused); with none,
// frames are refused until a new stream.
TEST_F (FrameKeeper, DownstreamEndSkipsToBoundary)
{
  k ().set_limits ({ 5, 0, 0 });
  frame (1);
  marker (2, marker_kind::plain);
  frame (3);
  marker (4, marker_kind::new_stream);
  frame (5);
  keeper_t::released_list skipped = k ().downstream_ended ();
  EXPECT_EQ (skipped.size (), 3u);
  EXPECT_EQ (k ().stats ().dropped_for (drop_reason::flush).frames, 2u);
  EXPECT_EQ (next_id (), 4u);
  EXPECT_EQ (next_id (), 5u);
  k ().downstream_ended ();
  EXPECT_EQ (frame (6).refused_in, stream_state::ended_downstream);
  marker (7, marker_kind::new_stream);
  EXPECT_EQ (frame (8).status, status::queued);
  expect_balanced ();
  k ().drain ();
}

// Unlinked: frames refused, held entries kept, sticky markers admitted;
// relink delivers them.
TEST_F (FrameKeeper, UnlinkedKeepsWhatIsHeldUntilRelinked)
{
  frame (1);
  EXPECT_FALSE (k ().downstream_unlinked ().stream_had_ended);
  EXPECT_EQ (frame (2).refused_in, stream_state::unlinked);
  EXPECT_EQ (marker (3, marker_kind::sticky).status, status::queued);
  EXPECT_EQ (marker (4, marker_kind::plain).status, status::refused);
  EXPECT_EQ (next_id (), 0u) << "waits while unlinked";
  EXPECT_TRUE (k ().relink ());
  EXPECT_EQ (next_id (), 1u);
  EXPECT_EQ (next_id (), 3u);
}

// Failed downstream: everything held goes (counted), the failure code is
// given with every refusal, and the producer is told if it had ended.
TEST_F (FrameKeeper, FailedDownstreamReleasesAndRefuses)
{
  frame (1);
  marker (2, marker_kind::end_of_stream);
  keeper_t::failure_outcome failed = k ().downstream_failed (-4);
  EXPECT_TRUE (failed.stream_had_ended);
  EXPECT_EQ (failed.released.size (), 2u);
  keeper_t::admit_outcome refused = frame (3);
  EXPECT_EQ (refused.refused_in, stream_state::failed);
  EXPECT_EQ (refused.failure_code, -4);
  k ().flush_start ();
  k ().resume ();
  EXPECT_EQ (frame (4).status, status::queued);
  expect_balanced ();
}

// On request, the newest frame is handed over; the older ones are counted
// as superseded; markers before it come first.
TEST_F (FrameKeeper, NewestOnRequestSupersedesOlderFrames)
{
  k ().set_limits ({ 10, 0, 0 });
  frame (1);
  marker (2);
  frame (3);
  frame (4);
  frame (5);
  auto newest = keeper_t::delivery::newest;
  bool discont = false;
  EXPECT_EQ (next_id (nullptr, newest), 2u) << "frame 1 superseded, marker next";
  EXPECT_EQ (next_id (&discont, newest), 5u);
  EXPECT_TRUE (discont);
  latestframe::keeper_stats stats = k ().stats ();
  EXPECT_EQ (stats.dropped_for (drop_reason::superseded).frames, 3u);
  EXPECT_EQ (stats.handed_over, 1u);
  expect_balanced ();
}

// A consumer that takes only the newest frame: a held frame pushed out by
// a newer arrival is superseded, not an overflow; a frame the arrival
// itself cannot take the place of (leaky upstream) is still an overflow.
TEST_F (FrameKeeper, NewestOnlyCountsPushedOutFramesAsSuperseded)
{
  plan (false, latestframe::decode_mode::all, 0, /* on request */ true);
  frame (1);
  frame (2);
  frame (3);
  EXPECT_EQ (next_id (nullptr, keeper_t::delivery::newest), 3u);
  latestframe::keeper_stats stats = k ().stats ();
  EXPECT_EQ (stats.dropped_for (drop_reason::superseded).frames, 2u);
  EXPECT_EQ (stats.dropped_for (drop_reason::overflow).frames, 0u);
  k ().set_policy (leak_policy::drop_arriving);
  frame (4);
  frame (5);
  EXPECT_EQ (k ().stats ().dropped_for (drop_reason::overflow).frames, 1u);
  expect_balanced ();
}

// Each received frame gets the next sequence number, dropped ones too.
TEST_F (FrameKeeper, SequenceNumbersCountReceivedFrames)
{
  k ().set_limits ({ 10, 0, 0 });
  frame (1);
  frame (2);
  k ().flush_start ();
  frame (3); /* refused: no number */
  k ().drain ();
  k ().resume ();
  frame (4);
  keeper_t::handover next = k ().hand_over ();
  EXPECT_EQ (next.sequence, 3u);
}

namespace fake_clock = latestframe_test::fake_clock;

// A frame older than max-age when about to be handed over is dropped (age)
// and the next considered; its age runs from its running time by the
// owner's running clock.
TEST_F (FrameKeeper, MaxAgeDropsFramesThatGotOld)
{
  k ().set_clock (&fake_clock::steady_now);
  k ().set_limits ({ 3, 0, 0 });
  k ().set_max_age (50 * ms);
  frame (1, 10, fake_clock::ago (5 * ms), fake_clock::ago (0));
  fake_clock::advance (30 * ms);
  frame (2, 10, fake_clock::ago (5 * ms), fake_clock::ago (0));
  fake_clock::advance (30 * ms);
  keeper_t::handover next
      = k ().hand_over (keeper_t::delivery::in_order, keeper_t::clock::now (),
                        fake_clock::running_now ());
  EXPECT_EQ (next.item.id, 2u) << "frame 1 is 65 ms old";
  EXPECT_EQ (next.age_ns, 35 * ms);
  EXPECT_TRUE (next.discont);
  EXPECT_EQ (next.released.size (), 1u);
  EXPECT_EQ (k ().stats ().dropped_for (drop_reason::age).frames, 1u);
  EXPECT_EQ (k ().stats ().ages.max_ns, 35 * ms);
}

// A frame aged from its capture time keeps its age by its own timestamp
// beside: both are reported, each in its own window.
TEST_F (FrameKeeper, TimestampAgesKeptBesideCaptureAges)
{
  k ().set_limits ({ 3, 0, 0 });
  frame_desc captured{ 10, fake_clock::ago (40 * ms), fake_clock::ago (0) };
  captured.timestamp_running_ns = fake_clock::ago (5 * ms);
  k ().admit_frame (tracked (1), captured);
  frame (2, 10, fake_clock::ago (0));
  keeper_t::handover first
      = k ().hand_over (keeper_t::delivery::in_order, keeper_t::clock::now (),
                        fake_clock::running_now ());
  EXPECT_EQ (first.age_ns, 40 * ms);
  EXPECT_EQ (first.timestamp_age_ns, 5 * ms);
  keeper_t::handover second
      = k ().hand_over (keeper_t::delivery::in_order, keeper_t::clock::now (),
                        fake_clock::running_now ());
  EXPECT_FALSE (second.timestamp_age_ns) << "no capture time: no second age";
  const latestframe::keeper_stats stats = k ().stats ();
  EXPECT_EQ (stats.ages.max_ns, 40 * ms);
  EXPECT_EQ (stats.timestamp_ages.samples, 1u);
  EXPECT_EQ (stats.timestamp_ages.max_ns, 5 * ms);
}

// Arrivals already older than max-age: the owner is told once; the newest
// frame still goes out, older ones with a newer one behind are dropped.
TEST_F (FrameKeeper, ArrivalsOverMaxAgeNoticedOnceNewestStillGoes)
{
  k ().set_clock (&fake_clock::steady_now);
  k ().set_limits ({ 3, 0, 0 });
  k ().set_max_age (10 * ms);
  keeper_t::admit_outcome first
      = frame (1, 10, fake_clock::ago (30 * ms), fake_clock::ago (0));
  EXPECT_EQ (first.note.kind, keeper_t::notice_kind::arrivals_too_old);
  EXPECT_EQ (first.note.value, 30 * ms);
  EXPECT_EQ (frame (2, 10, fake_clock::ago (30 * ms), fake_clock::ago (0))
                 .note.kind,
             keeper_t::notice_kind::none);
  keeper_t::handover next
      = k ().hand_over (keeper_t::delivery::in_order, keeper_t::clock::now (),
                        fake_clock::running_now ());
  EXPECT_EQ (next.item.id, 2u) << "frame 1 had a newer one behind it";
  EXPECT_EQ (next.age_ns, 30 * ms) << "the newest goes out anyway";
}

// A frame without a running time is aged from its arrival when max-age is
// set, and has no age otherwise; a timed frame without a reading neither.
TEST_F (FrameKeeper, AgeOfUntimedFramesOnlyWithMaxAge)
{
  k ().set_clock (&fake_clock::steady_now);
  k ().set_limits ({ 3, 0, 0 });
  frame (1);
  fake_clock::advance (7 * ms);
  EXPECT_FALSE (k ().hand_over ().age_ns.has_value ());
  k ().set_max_age (1000 * ms);
  frame (2);
  fake_clock::advance (7 * ms);
  EXPECT_EQ (k ().hand_over ().age_ns, 7 * ms);
  frame (3, 10, fake_clock::ago (1 * ms));
  EXPECT_FALSE (k ().hand_over ().age_ns.has_value ());
  EXPECT_EQ (k ().stats ().ages.samples, 1u);
}

// A frame that arrives while hand_over() waits is aged by a fresh reading
// of the owner's running clock, not the one given before the wait.
TEST_F (FrameKeeper, ReadingRefreshedAfterAWait)
{
  k ().set_running_clock (&fake_clock::running_now, nullptr);
  const std::int64_t stale = fake_clock::running_now ();
  auto consumer = std::async (std::launch::async, [&] {
    return k ().hand_over (keeper_t::delivery::in_order, std::nullopt, stale);
  });
  while (!k ().consumer_waiting_approx ())
    std::this_thread::yield ();
  fake_clock::advance (20 * ms);
  frame (1, 10, fake_clock::ago (3 * ms));
  EXPECT_EQ (consumer.get ().age_ns, 3 * ms) << "not 20 ms more, as stale";
}

// A shared budget: an arrival that does not fit first drops this keeper's
// oldest frames, then itself; a frame larger than the cap is noticed once.
TEST_F (FrameKeeper, BudgetDropsOldestThenArrivalAndNotices)
{
  k ().set_limits ({ 10, 0, 0 });
  k ().set_budget (std::string ("keeper-budget"), 250);
  frame (1, 100);
  frame (2, 100);
  keeper_t::admit_outcome third = frame (3, 100);
  EXPECT_EQ (third.status, status::queued);
  EXPECT_EQ (third.held_dropped, 1u);
  latestframe::keeper_stats stats = k ().stats ();
  EXPECT_EQ (stats.dropped_for (drop_reason::budget).frames, 1u);
  EXPECT_EQ (stats.budget_used, 200u);
  keeper_t::admit_outcome huge = frame (4, 1000);
  EXPECT_EQ (huge.status, status::dropped);
  EXPECT_EQ (huge.reason, drop_reason::budget);
  EXPECT_EQ (huge.note.kind, keeper_t::notice_kind::frame_over_budget);
  EXPECT_EQ (huge.note.value, 1000u);
  EXPECT_EQ (huge.note.limit, 250u);
  EXPECT_EQ (frame (5, 1000).note.kind, keeper_t::notice_kind::none)
      << "once";
  expect_balanced ();
}

// A frame larger than this keeper's share of a shared budget can be held
// (beyond its share, as free room allows) but never handed over: dropped,
// reason budget, and said once.
TEST_F (FrameKeeper, FrameOverItsShareIsNoticedOnce)
{
  k ().set_limits ({ 10, 0, 0 });
  k ().set_budget (std::string ("share-budget"), 250);
  /* A second member: each has a share of 125 bytes. */
  latestframe::budget_membership other ("share-budget", 250);
  EXPECT_EQ (frame (1, 200).status, status::queued);
  keeper_t::handover taken
      = k ().push_next (keeper_t::clock::now (), latestframe::no_time);
  EXPECT_NE (taken.status, handover_status::handed_over);
  EXPECT_EQ (taken.note.kind, keeper_t::notice_kind::frame_over_budget);
  EXPECT_EQ (taken.note.value, 200u);
  EXPECT_EQ (taken.note.limit, 125u);
  EXPECT_EQ (k ().stats ().dropped_for (drop_reason::budget).frames, 1u);
  EXPECT_EQ (frame (2, 200).status, status::queued);
  EXPECT_EQ (k ().push_next (keeper_t::clock::now (), latestframe::no_time)
                 .note.kind,
             keeper_t::notice_kind::none)
      << "once";
  expect_balanced ();
}

// A handed-over frame stays in flight, and reserved in its budget, until
// its charge goes; the peak counts held plus in flight.
TEST_F (FrameKeeper, InFlightUntilChargeGoes)
{
  k ().set_budget (std::string ("keeper-flight"), 1000);
  frame (1, 300);
  keeper_t::handover first = k ().hand_over ();
  frame (2, 300);
  latestframe::keeper_stats stats = k ().stats ();
  EXPECT_EQ (stats.in_flight_frames, 1u);
  EXPECT_EQ (stats.in_flight_bytes, 300u);
  EXPECT_EQ (stats.held_bytes, 300u);
  EXPECT_EQ (stats.peak_bytes, 600u);
  EXPECT_EQ (stats.budget_used, 600u);
  first.charge = latestframe::in_flight_charge ();
  stats = k ().stats ();
  EXPECT_EQ (stats.in_flight_frames, 0u);
  EXPECT_EQ (stats.budget_used, 300u);
}

// No limit and no budget cap: the owner is told once that memory is not
// bounded; a cap or a limit set again re-arms it.
TEST_F (FrameKeeper, UnboundedIsNoticedOnce)
{
  k ().set_limits ({ 0, 0, 0 });
  EXPECT_EQ (frame (1).note.kind, keeper_t::notice_kind::unbounded);
  EXPECT_EQ (frame (2).note.kind, keeper_t::notice_kind::none);
  k ().set_budget (std::string ("keeper-unbounded"), 1 << 20);
  EXPECT_EQ (frame (3).note.kind, keeper_t::notice_kind::none)
      << "a budget cap bounds it";
  k ().drain ();
}

// Thresholds hold frames back until reached; a marker at the tail, a limit
// reached or an end of stream end the wait.
TEST_F (FrameKeeper, ThresholdsHoldBackUntilReached)
{
  k ().set_limits ({ 5, 0, 0 });
  k ().set_thresholds ({ 3, 0, 0 });
  frame (1);
  frame (2);
  EXPECT_EQ (next_id (), 0u);
  frame (3);
  EXPECT_EQ (next_id (), 1u);
  EXPECT_EQ (next_id (), 0u) << "two held, below three again";
  marker (10, marker_kind::query);
  EXPECT_EQ (next_id (), 2u) << "a query at the tail is never held back";
  EXPECT_EQ (next_id (), 3u);
  keeper_t::handover query = k ().hand_over ();
  k ().acknowledge (query.ticket, true);
  frame (4);
  marker (11, marker_kind::end_of_stream);
  EXPECT_EQ (next_id (), 4u);
  EXPECT_EQ (next_id (), 11u);
}

// flush_on_eos drops the held frames when the end of stream arrives.
TEST_F (FrameKeeper, FlushOnEosDropsHeldFrames)
{
  k ().set_limits ({ 5, 0, 0 });
  k ().set_flush_on_eos (true);
  frame (1);
  marker (2);
  frame (3);
  keeper_t::admit_outcome eos = marker (4, marker_kind::end_of_stream);
  EXPECT_EQ (eos.released.size (), 2u);
  EXPECT_EQ (next_id (), 2u);
  EXPECT_EQ (next_id (), 4u);
  EXPECT_EQ (k ().stats ().dropped_for (drop_reason::flush).frames, 2u);
}

/* Hooks that record what was called and the state the caller could see. */
struct recording_hooks
{
  std::vector<std::string> calls;
  std::function<void ()> on_full;
  bool active () const { return true; }
  void full ()
  {
    calls.push_back ("full");
    if (on_full)
      on_full ();
  }
  void room_after_wait () { calls.push_back ("room"); }
  void empty () { calls.push_back ("empty"); }
  void refilled () { calls.push_back ("refilled"); }
};

// full() comes before the policy applies, with the lock free, and what it
// changes is seen: raising the limit there keeps both frames.
TEST_F (FrameKeeper, FullHookRunsBeforeThePolicy)
{
  recording_hooks hooks;
  k ().admit_frame (tracked (1), frame_desc{ 10, latestframe::no_time },
                    hooks);
  EXPECT_TRUE (hooks.calls.empty ());
  hooks.on_full = [&] { k ().set_limits ({ 2, 0, 0 }); };
  keeper_t::admit_outcome second = k ().admit_frame (
      tracked (2), frame_desc{ 10, latestframe::no_time }, hooks);
  EXPECT_EQ (hooks.calls, std::vector<std::string>{ "full" });
  EXPECT_EQ (second.held_dropped, 0u);
  EXPECT_EQ (k ().level_approx ().frames, 2u);
}

// empty() once before waiting, refilled() once when an entry comes; a
// timed-out wait does not call empty() again.
TEST_F (FrameKeeper, EmptyAndRefilledOncePerTransition)
{
  recording_hooks hooks;
  auto soon = [] {
    return keeper_t::clock::now () + std::chrono::milliseconds (5);
  };
  k ().hand_over (keeper_t::delivery::in_order, soon (), {}, hooks);
  k ().hand_over (keeper_t::delivery::in_order, soon (), {}, hooks);
  EXPECT_EQ (hooks.calls, std::vector<std::string>{ "empty" });
  frame (1);
  keeper_t::handover next
      = k ().hand_over (keeper_t::delivery::in_order, soon (), {}, hooks);
  EXPECT_EQ (next.item.id, 1u);
  EXPECT_EQ (hooks.calls,
             (std::vector<std::string>{ "empty", "refilled" }));
}

// room_after_wait() after a blocked producer got room.
TEST_F (FrameKeeper, RoomAfterWaitWhenBlockedProducerGetsRoom)
{
  k ().set_policy (leak_policy::none);
  frame (1);
  recording_hooks hooks;
  auto producer = std::async (std::launch::async, [&] {
    return k ().admit_frame (tracked (2),
                             frame_desc{ 10, latestframe::no_time }, hooks);
  });
  wait_until_blocked ();
  EXPECT_EQ (next_id (), 1u);
  EXPECT_EQ (producer.get ().status, status::queued);
  EXPECT_EQ (hooks.calls, (std::vector<std::string>{ "full", "room" }));
}


/* ---- encoded video: dependency chains ---------------------------------- */

constexpr unit_kind key = unit_kind::key;
constexpr unit_kind delta = unit_kind::delta;
constexpr unit_kind non_reference = unit_kind::non_reference;

// One chain fits as one frame does: the delta units of the held chain join
// it; the next key unit pushes the whole older chain out, its key unit as
// an overflow, its delta units as a broken chain, and follows a gap.
TEST_F (FrameKeeper, LimitsCountChainsAndDropThemWhole)
{
  unit (1, key);
  unit (2, delta);
  unit (3, non_reference);
  unit (4, delta);
  latestframe::keeper_stats stats = k ().stats ();
  EXPECT_EQ (stats.held_frames, 4u);
  EXPECT_EQ (stats.held_chains, 1u);
  keeper_t::admit_outcome next_key = unit (5, key);
  EXPECT_EQ (next_key.status, status::queued);
  EXPECT_EQ (next_key.held_dropped, 4u);
  stats = k ().stats ();
  EXPECT_EQ (stats.dropped_for (drop_reason::overflow).frames, 1u);
  EXPECT_EQ (stats.dropped_for (drop_reason::broken_chain).frames, 3u);
  bool discont = false;
  EXPECT_EQ (next_id (&discont), 5u);
  EXPECT_TRUE (discont);
  expect_balanced ();
}

// flush_on_eos that drops only non-reference units breaks no chain: nothing
// depends on them, so a non-reference unit of the next stream is kept (it
// was dropped as broken-chain; found by fuzz_keeper).
TEST_F (FrameKeeper, FlushOnEosOfNonReferenceUnitsBreaksNoChain)
{
  k ().set_flush_on_eos (true);
  unit (1, non_reference);
  marker (2, marker_kind::end_of_stream);
  marker (3, marker_kind::new_stream);
  EXPECT_EQ (unit (4, non_reference).status, status::queued);
  latestframe::keeper_stats stats = k ().stats ();
  EXPECT_EQ (stats.dropped_for (drop_reason::flush).frames, 1u);
  EXPECT_EQ (stats.dropped_for (drop_reason::broken_chain).frames, 0u);
  expect_balanced ();
}

// The time a keeper holds spans any two running times: a frame stamped
// before the clock started (negative) and one near 2^63 ns do not
// overflow it (found by fuzzing; UndefinedBehaviorSanitizer, in the
// ASan/UBSan build, reports the signed overflow this used to be).
TEST_F (FrameKeeper, SpanFromBeforeTheClockToNear2To63DoesNotOverflow)
{
  k ().set_limits ({ 0, 0, 1 });
  const std::int64_t near_end = std::numeric_limits<std::int64_t>::max () - 1;
  k ().admit_frame (tracked (1), frame_desc{ 10, -1000000000 });
  k ().admit_frame (tracked (2), frame_desc{ 10, near_end });
  latestframe::keeper_stats stats = k ().stats ();
  EXPECT_EQ (stats.held_frames, 1u) << "the older frame is past 1 ns";
  EXPECT_EQ (stats.dropped_for (drop_reason::overflow).frames, 1u);
  expect_balanced ();
}

// A chain whose head was handed over already is a chain too: when a newer
// one must fit, the rest of it goes, never a part of it.
TEST_F (FrameKeeper, HandedOverHeadLeavesTheRestOfItsChainWhole)
{
  k ().set_limits ({ 2, 0, 0 });
  unit (1, key);
  unit (2, delta);
  unit (3, delta);
  EXPECT_EQ (next_id (), 1u);
  unit (4, key);
  EXPECT_EQ (k ().stats ().held_chains, 2u) << "2 and 3 are one chain";
  unit (5, key);
  latestframe::keeper_stats stats = k ().stats ();
  EXPECT_EQ (stats.dropped_for (drop_reason::overflow).frames, 1u);
  EXPECT_EQ (stats.dropped_for (drop_reason::broken_chain).frames, 1u);
  bool discont = false;
  EXPECT_EQ (next_id (&discont), 4u);
  EXPECT_TRUE (discont);
  EXPECT_EQ (next_id (), 5u);
  expect_balanced ();
}

// An arriving frame that is dropped breaks its chain: the delta units that
// follow are dropped as they come, until a key unit mends it.
TEST_F (FrameKeeper, ArrivalDroppedBreaksTheChainUntilTheNextKeyUnit)
{
  k ().set_policy (leak_policy::drop_arriving);
  unit (1, key);
  unit (2, delta);
  EXPECT_EQ (unit (3, key).reason, drop_reason::overflow)
      << "a second chain does not fit";
  keeper_t::admit_outcome orphan = unit (4, delta);
  EXPECT_EQ (orphan.status, status::dropped);
  EXPECT_EQ (orphan.reason, drop_reason::broken_chain);
  EXPECT_EQ (unit (5, non_reference).reason, drop_reason::broken_chain);
  EXPECT_EQ (next_id (), 1u);
  EXPECT_EQ (next_id (), 2u);
  bool discont = false;
  EXPECT_EQ (unit (6, key).status, status::queued);
  EXPECT_EQ (unit (7, delta).status, status::queued);
  EXPECT_EQ (next_id (&discont), 6u);
  EXPECT_TRUE (discont);
  EXPECT_EQ (k ().stats ().dropped_for (drop_reason::broken_chain).frames, 2u);
  expect_balanced ();
}

// Too old: the chain goes from that frame on (age, then broken chain).
TEST_F (FrameKeeper, MaxAgeDropsChainsWhole)
{
  namespace fake = latestframe_test::fake_clock;
  k ().set_limits ({ 5, 0, 0 });
  k ().set_max_age (50 * ms);
  unit (1, key, fake::ago (200 * ms));
  unit (2, delta, fake::ago (190 * ms));
  unit (3, key, fake::ago (40 * ms));
  unit (4, delta, fake::ago (30 * ms));
  keeper_t::handover next = k ().hand_over (
      keeper_t::delivery::in_order, keeper_t::clock::now (), fake::running_now ());
  ASSERT_EQ (next.status, handover_status::handed_over);
  EXPECT_EQ (next.item.id, 3u);
  EXPECT_TRUE (next.discont);
  latestframe::keeper_stats stats = k ().stats ();
  EXPECT_EQ (stats.dropped_for (drop_reason::age).frames, 1u);
  EXPECT_EQ (stats.dropped_for (drop_reason::broken_chain).frames, 1u);
  next = k ().hand_over (keeper_t::delivery::in_order, keeper_t::clock::now (),
                         fake::running_now ());
  EXPECT_EQ (next.item.id, 4u);
  expect_balanced ();
}

// Key units only: delta units are dropped as they come (skipped-delta),
// non-reference ones too; every key unit handed over follows a gap.
TEST_F (FrameKeeper, KeyUnitsModeSkipsDeltaUnits)
{
  plan (true, latestframe::decode_mode::key_units);
  unit (1, key);
  EXPECT_EQ (unit (2, delta).reason, drop_reason::skipped_delta);
  EXPECT_EQ (unit (3, non_reference).reason, drop_reason::skipped_delta);
  EXPECT_EQ (next_id (nullptr, keeper_t::delivery::newest), 1u);
  unit (4, key);
  bool discont = false;
  EXPECT_EQ (next_id (&discont, keeper_t::delivery::newest), 4u);
  EXPECT_TRUE (discont);
  latestframe::keeper_stats stats = k ().stats ();
  EXPECT_EQ (stats.dropped_for (drop_reason::skipped_delta).frames, 2u);
  EXPECT_EQ (stats.decoding, latestframe::decode_mode::key_units);
  expect_balanced ();
}

// Key units handed over while key units alone are decoded say so (the
// element marks its segment, and the decoder lets go of them); the delta
// units of such a key unit's chain are dropped even after the mode
// changes (skipped-delta), until the next key unit. Raw frames never say
// so.
TEST_F (FrameKeeper, KeyUnitsAloneSayItAndTheirChainsEndThere)
{
  plan (true, latestframe::decode_mode::key_units);
  unit (1, key);
  keeper_t::handover next = k ().hand_over (keeper_t::delivery::in_order,
                                            keeper_t::clock::now ());
  ASSERT_EQ (next.item.id, 1u);
  EXPECT_TRUE (next.key_unit_alone);
  plan (true, latestframe::decode_mode::all);
  EXPECT_EQ (unit (2, delta).reason, drop_reason::skipped_delta)
      << "its key unit went to the decoder alone";
  unit (3, key);
  unit (4, delta);
  next = k ().hand_over (keeper_t::delivery::in_order, keeper_t::clock::now ());
  ASSERT_EQ (next.item.id, 3u);
  EXPECT_FALSE (next.key_unit_alone);
  next = k ().hand_over (keeper_t::delivery::in_order, keeper_t::clock::now ());
  ASSERT_EQ (next.item.id, 4u);
  EXPECT_FALSE (next.key_unit_alone);
  plan (false, latestframe::decode_mode::key_units);
  unit (5, key);
  next = k ().hand_over (keeper_t::delivery::in_order, keeper_t::clock::now ());
  ASSERT_EQ (next.item.id, 5u);
  EXPECT_FALSE (next.key_unit_alone) << "raw video";
  expect_balanced ();
}

// On demand: the newest chain goes out from its start up to the newest
// frame; the frames before that one are decode-only and not aged; older
// chains and non-reference units with newer frames behind are superseded.
TEST_F (FrameKeeper, OnDemandHandsOverTheNewestChainDecodeOnly)
{
  namespace fake = latestframe_test::fake_clock;
  k ().set_limits ({ 3, 0, 0 });
  plan (true, latestframe::decode_mode::on_demand);
  unit (1, key, fake::ago (90 * ms));
  unit (2, delta, fake::ago (80 * ms));
  unit (3, key, fake::ago (70 * ms));
  unit (4, non_reference, fake::ago (60 * ms));
  unit (5, delta, fake::ago (50 * ms));
  unit (6, delta, fake::ago (40 * ms));
  const std::vector<std::pair<std::uint64_t, bool>> expected
      = { { 3, true }, { 5, true }, { 6, false } };
  EXPECT_EQ (take_all_newest (), expected);
  latestframe::keeper_stats stats = k ().stats ();
  EXPECT_EQ (stats.decode_only, 2u);
  EXPECT_EQ (stats.dropped_for (drop_reason::superseded).frames, 2u)
      << "key unit 1 and non-reference unit 4";
  EXPECT_EQ (stats.dropped_for (drop_reason::broken_chain).frames, 1u);
  EXPECT_EQ (stats.ages.samples, 1u) << "only the frame analysed is aged";
  expect_balanced ();
}

// A stream sent out of presentation order (a delta unit presented before
// the frame sent ahead of it): on demand, the frames of the chain before
// its newest cannot be made decode-only (a segment moved past one could cut
// off the frame to show), so each is shown: counted as handed over and not
// decode-only, aged, and the owner hears why, once.
TEST_F (FrameKeeper, ReorderedStreamShowsEveryFrameItHandsOver)
{
  namespace fake = latestframe_test::fake_clock;
  k ().set_limits ({ 3, 0, 0 });
  plan (true, latestframe::decode_mode::on_demand);
  auto presented = [this] (std::uint64_t id, latestframe::unit_kind kind,
                           std::int64_t presentation_ms) {
    frame_desc desc{ 10, fake::ago (10 * ms) };
    desc.unit = kind;
    desc.presentation_ns = presentation_ms * static_cast<std::int64_t> (ms);
    return k ().admit_frame (tracked (id), desc);
  };
  presented (1, key, 0);
  presented (2, delta, 66); /* P, sent ahead of the B presented before it */
  presented (3, delta, 33); /* B */
  std::vector<keeper_t::notice_kind> notices;
  const std::vector<std::pair<std::uint64_t, bool>> expected
      = { { 1, false }, { 2, false }, { 3, false } };
  EXPECT_EQ (take_all_newest (&notices), expected);
  ASSERT_EQ (notices.size (), 1u) << "said once";
  EXPECT_EQ (notices[0], keeper_t::notice_kind::shown_not_decode_only);
  latestframe::keeper_stats stats = k ().stats ();
  EXPECT_EQ (stats.handed_over, 3u);
  EXPECT_EQ (stats.decode_only, 0u);
  EXPECT_EQ (stats.ages.samples, 3u) << "every frame shown is aged";
  expect_balanced ();
}

// A frame the owner says cannot be made decode-only (no TIME segment) is
// shown, and paced like any other: the next frame waits for the pace.
TEST_F (FrameKeeper, FrameThatCannotBeHiddenIsShownAndPaced)
{
  namespace fake = latestframe_test::fake_clock;
  k ().set_clock (&fake::steady_now);
  k ().set_limits ({ 3, 0, 0 });
  plan (true, latestframe::decode_mode::on_demand, 1000 * ms);
  auto unhideable = [this] (std::uint64_t id, latestframe::unit_kind kind) {
    frame_desc desc{ 10 };
    desc.unit = kind;
    desc.decode_only_possible = false;
    return k ().admit_frame (tracked (id), desc);
  };
  unhideable (1, key);
  unhideable (2, delta);
  const auto newest = keeper_t::delivery::newest;
  keeper_t::handover first
      = k ().hand_over (newest, keeper_t::clock::now ());
  ASSERT_EQ (first.status, handover_status::handed_over);
  EXPECT_EQ (first.item.id, 1u);
  EXPECT_FALSE (first.decode_only);
  EXPECT_EQ (first.note.kind, keeper_t::notice_kind::shown_not_decode_only);
  EXPECT_EQ (first.note.value,
             static_cast<std::uint64_t> (
                 keeper_t::shown_because::cannot_be_hidden));
  EXPECT_EQ (next_id (nullptr, newest), 0u) << "shown: the pace holds the next";
  fake::advance (1000 * ms);
  EXPECT_EQ (next_id (nullptr, newest), 2u);
  expect_balanced ();
}

// Raw caps: every frame is a key unit whatever its flags say (a source may
// mark raw frames DELTA_UNIT): no chain, no broken-chain drop.
TEST_F (FrameKeeper, RawFramesAreKeyUnitsWhateverTheirFlags)
{
  plan (false);
  k ().set_limits ({ 1, 0, 0 });
  unit (1, delta);
  unit (2, delta);
  unit (3, non_reference);
  latestframe::keeper_stats stats = k ().stats ();
  EXPECT_EQ (stats.held_chains, 1u);
  EXPECT_EQ (stats.dropped_for (drop_reason::overflow).frames, 2u);
  EXPECT_EQ (stats.dropped_for (drop_reason::broken_chain).frames, 0u);
  EXPECT_EQ (next_id (), 3u);
  expect_balanced ();
}

// The frames before a held end of stream are not held back by the pace:
// an end of stream gets through at any analysis rate.
TEST_F (FrameKeeper, EndOfStreamLiftsThePace)
{
  namespace fake = latestframe_test::fake_clock;
  k ().set_clock (&fake::steady_now);
  k ().set_limits ({ 10, 0, 0 });
  plan (false, latestframe::decode_mode::all, 3600 * 1000 * ms);
  const auto newest = keeper_t::delivery::newest;
  frame (1);
  EXPECT_EQ (next_id (nullptr, newest), 1u);
  frame (2);
  EXPECT_EQ (next_id (nullptr, newest), 0u) << "paced: an hour to go";
  marker (3, marker_kind::end_of_stream);
  EXPECT_EQ (next_id (nullptr, newest), 2u);
  EXPECT_EQ (next_id (nullptr, newest), 3u);
  expect_balanced ();
}

// Who takes the frames: the pusher is served only while the plan has it
// push, the reader only while frames are taken on request; the start
// callback runs, under the lock, only when the pusher has work; the pusher
// pauses itself when idle.
TEST_F (FrameKeeper, TakersAreServedAsThePlanSays)
{
  frame (1);
  EXPECT_EQ (k ().pull_newest (keeper_t::clock::now (), latestframe::no_time)
                 .status,
             handover_status::halted)
      << "no reader while pushing";
  int starts = 0;
  k ().update_request ([] (latestframe::hand_over_request &r) {
    r.on_request = true;
  }, [&starts] { starts++; });
  EXPECT_EQ (starts, 0) << "on request: the pusher has nothing to do";
  EXPECT_EQ (k ().push_next (keeper_t::clock::now (), latestframe::no_time)
                 .status,
             handover_status::halted);
  bool paused = false;
  EXPECT_TRUE (k ().pause_pusher_if_idle ([&paused] { paused = true; }));
  EXPECT_TRUE (paused);
  keeper_t::handover taken
      = k ().pull_newest (keeper_t::clock::now (), latestframe::no_time);
  ASSERT_EQ (taken.status, handover_status::handed_over);
  EXPECT_EQ (taken.item.id, 1u);
  k ().update_request ([] (latestframe::hand_over_request &r) {
    r.on_request = false;
  }, [&starts] { starts++; });
  EXPECT_EQ (starts, 1) << "back to push: the pusher starts";
  EXPECT_FALSE (k ().pause_pusher_if_idle ([] {}));
  k ().flush_start ();
  k ().update_request ([] (latestframe::hand_over_request &) {},
                       [&starts] { starts++; });
  EXPECT_EQ (starts, 1) << "flushing: nothing to push until resumed";
  k ().resume ([&starts] { starts++; });
  EXPECT_EQ (starts, 2);
  expect_balanced ();
}

// A taker waiting when the plan stops naming it returns at once: the
// pusher when frames go on request, the reader when they go back to push.
TEST_F (FrameKeeper, WaitingTakerReturnsWhenThePlanStopsNamingIt)
{
  /* `take` waits on an empty keeper until delivery goes `on_request`. */
  auto returns_when = [this] (auto take, bool on_request) {
    std::future<keeper_t::handover> waiting
        = std::async (std::launch::async, take);
    while (!k ().consumer_waiting_approx ())
      std::this_thread::yield ();
    k ().update_request ([on_request] (latestframe::hand_over_request &r) {
      r.on_request = on_request;
    });
    return waiting.get ().status;
  };
  EXPECT_EQ (returns_when (
                 [this] {
                   return k ().push_next (std::nullopt, latestframe::no_time);
                 },
                 true),
             handover_status::halted);
  EXPECT_EQ (returns_when (
                 [this] {
                   return k ().pull_newest (std::nullopt, latestframe::no_time);
                 },
                 false),
             handover_status::halted);
}

// Automatic: key units alone when the consumer's pace and max-age both
// allow a key interval; else on demand; on demand until the interval is
// known.
TEST (DecodeMode, AutomaticPicksTheCheapestThatMeetsPaceAndAge)
{
  using latestframe::decode_mode;
  using latestframe::decode_mode_in_force;
  const std::uint64_t second = 1000 * ms;
  EXPECT_EQ (decode_mode_in_force (decode_mode::automatic, second, 0, second),
             decode_mode::key_units);
  EXPECT_EQ (decode_mode_in_force (decode_mode::automatic, second / 5, 0,
                                   second),
             decode_mode::on_demand)
      << "five analyses per second need more than one key unit per second";
  EXPECT_EQ (decode_mode_in_force (decode_mode::automatic, second,
                                   200 * ms, second),
             decode_mode::on_demand)
      << "a key unit can be a second old";
  EXPECT_EQ (decode_mode_in_force (decode_mode::automatic, 0, 0, second),
             decode_mode::on_demand)
      << "no pace: the consumer takes all it can";
  EXPECT_EQ (decode_mode_in_force (decode_mode::automatic, second, 0, 0),
             decode_mode::on_demand);
  EXPECT_EQ (decode_mode_in_force (decode_mode::all, second, 0, second),
             decode_mode::all);

  latestframe::key_interval_meter meter;
  meter.key_unit_at (0);
  EXPECT_EQ (meter.interval_ns (), 0u);
  meter.key_unit_at (second);
  meter.key_unit_at (second + 100 * ms); /* an early IDR */
  EXPECT_EQ (meter.interval_ns (), second) << "the largest recent interval";
  EXPECT_EQ (meter.shortest_interval_ns (), 100 * ms)
      << "the shortest recent interval";
}

// What the owner sets the keeper to: raw video ignores the decode mode but
// is paced by a rate; encoded video decoded whole cannot be paced (the rate
// is reported as ignored); any other mode, or a pace, takes the newest.
TEST (DecodeMode, HandOverPlanFollowsCapsModeAndRate)
{
  using latestframe::decode_mode;
  using latestframe::plan_hand_over;
  auto plan = [] (bool encoded, decode_mode decode, double rate) {
    latestframe::hand_over_request request;
    request.encoded = encoded;
    request.decode = decode;
    request.rate = rate;
    return plan_hand_over (request);
  };
  const auto raw_paced = plan (false, decode_mode::key_units, 2);
  EXPECT_EQ (raw_paced.mode, decode_mode::all);
  EXPECT_EQ (raw_paced.pace_ns, 500 * ms);
  EXPECT_TRUE (raw_paced.newest);
  EXPECT_FALSE (raw_paced.rate_ignored);
  const auto raw = plan (false, decode_mode::all, 0);
  EXPECT_FALSE (raw.newest);
  EXPECT_EQ (raw.pace_ns, 0u);
  const auto whole = plan (true, decode_mode::all, 1);
  EXPECT_EQ (whole.pace_ns, 0u);
  EXPECT_FALSE (whole.newest);
  EXPECT_TRUE (whole.rate_ignored);
  const auto on_demand = plan (true, decode_mode::on_demand, 0);
  EXPECT_EQ (on_demand.mode, decode_mode::on_demand);
  EXPECT_TRUE (on_demand.newest);
  EXPECT_EQ (on_demand.pace_ns, 0u);
}

// The keeper measures the key interval from the key units' times, and the
// automatic mode follows it.
TEST_F (FrameKeeper, AutomaticFollowsTheMeasuredKeyInterval)
{
  plan (true, latestframe::decode_mode::automatic, 1000 * ms);
  EXPECT_EQ (k ().stats ().decoding, latestframe::decode_mode::on_demand);
  unit (1, key, 0);
  unit (2, key, 500 * ms);
  latestframe::keeper_stats stats = k ().stats ();
  EXPECT_EQ (stats.key_interval_ns, 500 * ms);
  EXPECT_EQ (stats.decoding, latestframe::decode_mode::key_units);
  EXPECT_EQ (unit (3, delta, 530 * ms).reason, drop_reason::skipped_delta);
  k ().set_max_age (100 * ms);
  EXPECT_EQ (k ().stats ().decoding, latestframe::decode_mode::on_demand);
}

// A pace: after a frame, the next is not handed over before the interval
// (a deadline meanwhile times out with frames held); then the newest goes,
// the others superseded. Decode-only frames do not wait.
TEST_F (FrameKeeper, PaceHoldsTheNextFrameUntilItIsDue)
{
  namespace fake = latestframe_test::fake_clock;
  k ().set_clock (&fake::steady_now);
  k ().set_limits ({ 10, 0, 0 });
  plan (false, latestframe::decode_mode::all, 10000 * ms);
  const auto newest = keeper_t::delivery::newest;
  frame (1);
  EXPECT_EQ (next_id (nullptr, newest), 1u);
  frame (2);
  frame (3);
  EXPECT_EQ (next_id (nullptr, newest), 0u) << "not due: timed out";
  EXPECT_EQ (k ().stats ().held_frames, 2u);
  fake::advance (10000 * ms);
  EXPECT_EQ (next_id (nullptr, newest), 3u);
  EXPECT_EQ (k ().stats ().dropped_for (drop_reason::superseded).frames, 1u);

  plan (true, latestframe::decode_mode::on_demand, 10000 * ms);
  fake::advance (10000 * ms);
  unit (4, key);
  unit (5, delta);
  EXPECT_EQ (next_id (nullptr, newest), 4u) << "decode-only, due";
  EXPECT_EQ (next_id (nullptr, newest), 5u) << "the rest of the run does not wait";
  unit (6, delta);
  EXPECT_EQ (next_id (nullptr, newest), 0u) << "the next run waits";
  expect_balanced ();
}

// Key units only, coming about as often as the pace asks: each goes as it
// comes rather than waiting for its turn (which would age every one by the
// phase of the first); key units twice as frequent as the pace are paced.
TEST_F (FrameKeeper, KeyUnitsAtThePaceAreNotHeldBack)
{
  namespace fake = latestframe_test::fake_clock;
  k ().set_clock (&fake::steady_now);
  plan (true, latestframe::decode_mode::key_units, 1000 * ms);
  const auto newest = keeper_t::delivery::newest;
  unit (1, key, 0);
  EXPECT_EQ (next_id (nullptr, newest), 1u);
  unit (2, key, 990 * ms);
  EXPECT_EQ (next_id (nullptr, newest), 2u)
      << "990 ms after the last: not held back until 1000 ms";
  for (std::int64_t i = 1; i <= 4; i++)
    unit (2 + i, key, (990 + 500 * i) * ms);
  EXPECT_EQ (next_id (nullptr, newest), 0u)
      << "key units twice as often as the pace: paced";
  fake::advance (1000 * ms);
  EXPECT_EQ (next_id (nullptr, newest), 6u);
  /* One key unit late (a gap as long as the pace) among the fast ones:
   * still paced. */
  unit (7, key, 3990 * ms);
  unit (8, key, 4490 * ms);
  EXPECT_EQ (next_id (nullptr, newest), 0u)
      << "one interval at the pace among faster ones: still paced";
  expect_balanced ();
}

// Key units alone on demand (the plan takes the newest): each pushed out by
// a newer one is superseded, never a broken chain, and none is decode-only.
TEST_F (FrameKeeper, KeyUnitsAloneBehaveAsRawFrames)
{
  plan (true, latestframe::decode_mode::on_demand);
  unit (1, key);
  unit (2, key);
  unit (3, key);
  latestframe::keeper_stats stats = k ().stats ();
  EXPECT_EQ (stats.dropped_for (drop_reason::superseded).frames, 2u);
  EXPECT_EQ (stats.dropped_for (drop_reason::broken_chain).frames, 0u);
  keeper_t::handover next = k ().hand_over (keeper_t::delivery::newest,
                                            keeper_t::clock::now ());
  EXPECT_EQ (next.item.id, 3u);
  EXPECT_FALSE (next.decode_only);
  expect_balanced ();
}

} // namespace
