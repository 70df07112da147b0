/* Unit tests of latestframe::frame_queue, the policy behind the element. */
#include "latestframe/frame_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace
{

/* A payload that counts how many of it are alive, to prove that the queue
 * neither leaks nor destroys anything twice. */
struct tracked
{
  static std::atomic<int> alive;
  static std::atomic<int> destroyed;
  int id = -1;
  bool moved_from = false;

  explicit tracked (int value) : id (value) { alive++; }
  tracked (tracked &&other) noexcept : id (other.id)
  {
    other.moved_from = true;
    alive++;
  }
  tracked &operator= (tracked &&other) noexcept
  {
    id = other.id;
    other.moved_from = true;
    return *this;
  }
  tracked (const tracked &) = delete;
  tracked &operator= (const tracked &) = delete;
  ~tracked ()
  {
    alive--;
    if (!moved_from)
      destroyed++;
  }
};
std::atomic<int> tracked::alive{ 0 };
std::atomic<int> tracked::destroyed{ 0 };

using queue_t = latestframe::frame_queue<tracked>;
using latestframe::leak_policy;

class FrameQueue : public ::testing::Test
{
protected:
  void SetUp () override
  {
    tracked::alive = 0;
    tracked::destroyed = 0;
  }
  void TearDown () override
  {
    EXPECT_EQ (tracked::alive.load (), 0) << "a payload leaked";
  }
};

constexpr std::int64_t ms = 1000000;

int
pop_id (queue_t &queue, bool *discont = nullptr)
{
  auto outcome = queue.try_pop ();
  if (outcome.status != queue_t::pop_status::popped)
    return -1;
  if (discont)
    *discont = outcome.popped->discont;
  return outcome.popped->item.id;
}

} // namespace

// The default queue keeps exactly the newest frame and marks it discont.
TEST_F (FrameQueue, DropOldestKeepsNewestFrame)
{
  queue_t queue;
  for (int i = 0; i < 5; i++)
    {
      auto outcome = queue.push_frame (tracked (i), 100, i * ms);
      EXPECT_EQ (outcome.status, queue_t::push_status::queued);
      EXPECT_EQ (outcome.released.size (), i == 0 ? 0u : 1u);
    }
  EXPECT_EQ (queue.level_approx ().frames, 1u);
  EXPECT_EQ (queue.level_approx ().bytes, 100u);
  bool discont = false;
  EXPECT_EQ (pop_id (queue, &discont), 4);
  EXPECT_TRUE (discont);
  EXPECT_EQ (tracked::destroyed.load (), 5);
}

// With drop_arriving, held frames stay and the next accepted frame is discont.
TEST_F (FrameQueue, DropArrivingKeepsHeldFramesAndMarksNextOne)
{
  queue_t queue;
  queue.set_policy (leak_policy::drop_arriving);
  queue.set_limits ({ 2, 0, 0 });
  EXPECT_EQ (queue.push_frame (tracked (0), 1, 0).status,
             queue_t::push_status::queued);
  EXPECT_EQ (queue.push_frame (tracked (1), 1, 0).status,
             queue_t::push_status::queued);
  auto dropped = queue.push_frame (tracked (2), 1, 0);
  EXPECT_EQ (dropped.status, queue_t::push_status::dropped);
  ASSERT_EQ (dropped.released.size (), 1u);
  EXPECT_EQ (dropped.released[0].item.id, 2);
  bool discont = true;
  EXPECT_EQ (pop_id (queue, &discont), 0);
  EXPECT_FALSE (discont);
  EXPECT_EQ (queue.push_frame (tracked (3), 1, 0).status,
             queue_t::push_status::queued);
  EXPECT_EQ (pop_id (queue, &discont), 1);
  EXPECT_FALSE (discont);
  EXPECT_EQ (pop_id (queue, &discont), 3);
  EXPECT_TRUE (discont);
}

// The frame right after a dropped one carries discont, even inside the queue.
TEST_F (FrameQueue, DiscontMarksTheFrameAfterTheGap)
{
  queue_t queue;
  queue.set_limits ({ 2, 0, 0 });
  queue.push_frame (tracked (0), 1, 0);
  queue.push_frame (tracked (1), 1, 0);
  queue.push_frame (tracked (2), 1, 0); /* drops 0: 1 follows the gap */
  bool discont = false;
  EXPECT_EQ (pop_id (queue, &discont), 1);
  EXPECT_TRUE (discont);
  EXPECT_EQ (pop_id (queue, &discont), 2);
  EXPECT_FALSE (discont);
}

// Markers are never dropped and keep their place among surviving frames.
TEST_F (FrameQueue, MarkersSurviveDropsInOrder)
{
  queue_t queue;
  queue.push_marker (tracked (100));
  queue.push_frame (tracked (0), 1, 0);
  queue.push_marker (tracked (101));
  queue.push_frame (tracked (1), 1, 0);
  queue.push_marker (tracked (102));
  queue.push_frame (tracked (2), 1, 0);
  std::vector<int> order;
  for (int id; (id = pop_id (queue)) != -1;)
    order.push_back (id);
  EXPECT_EQ (order, (std::vector<int>{ 100, 101, 102, 2 }));
}

// The byte limit is a strict bound, but a lone frame is always accepted.
TEST_F (FrameQueue, ByteLimitIsStrictAndLoneFrameFits)
{
  queue_t queue;
  queue.set_limits ({ 0, 1000, 0 });
  queue.push_frame (tracked (0), 600, 0);
  queue.push_frame (tracked (1), 600, 0);
  EXPECT_EQ (queue.level_approx ().frames, 1u);
  EXPECT_EQ (queue.level_approx ().bytes, 600u);
  queue.push_frame (tracked (2), 5000, 0);
  EXPECT_EQ (queue.level_approx ().bytes, 5000u);
  EXPECT_EQ (pop_id (queue), 2);
}

// The time limit bounds the span between the oldest and newest held frames.
TEST_F (FrameQueue, SpanLimitBoundsOldestToNewest)
{
  queue_t queue;
  queue.set_limits ({ 0, 0, 100 * ms });
  for (int i = 0; i < 10; i++)
    queue.push_frame (tracked (i), 1, i * 40 * ms);
  /* 200, 240, 280, 320, 360 would span 160 ms: only 280..360 fit. */
  EXPECT_EQ (queue.level_approx ().frames, 3u);
  EXPECT_EQ (queue.level_approx ().span_ns,
             static_cast<std::uint64_t> (80 * ms));
  EXPECT_EQ (pop_id (queue), 7);
}

// Frames without a time never count against the time limit.
TEST_F (FrameQueue, UntimedFramesIgnoreSpanLimit)
{
  queue_t queue;
  queue.set_limits ({ 0, 0, 1 });
  for (int i = 0; i < 4; i++)
    queue.push_frame (tracked (i), 1, latestframe::no_time);
  EXPECT_EQ (queue.level_approx ().frames, 4u);
  EXPECT_EQ (queue.level_approx ().span_ns, 0u);
}

// Shrinking the limits with drop_oldest drops at once, keeping the newest.
TEST_F (FrameQueue, ShrinkingLimitsDropsOldestAtOnce)
{
  queue_t queue;
  queue.set_limits ({ 5, 0, 0 });
  for (int i = 0; i < 5; i++)
    queue.push_frame (tracked (i), 1, 0);
  auto dropped = queue.set_limits ({ 2, 0, 0 });
  EXPECT_EQ (dropped.size (), 3u);
  EXPECT_EQ (queue.level_approx ().frames, 2u);
  bool discont = false;
  EXPECT_EQ (pop_id (queue, &discont), 3);
  EXPECT_TRUE (discont);
  dropped = queue.set_limits ({ 0, 0, 0 });
  EXPECT_TRUE (dropped.empty ());
}

// wait_pop honours its deadline when nothing comes.
TEST_F (FrameQueue, WaitPopTimesOut)
{
  queue_t queue;
  auto outcome = queue.wait_pop (std::chrono::steady_clock::now ()
                                 + std::chrono::milliseconds (20));
  EXPECT_EQ (outcome.status, queue_t::pop_status::timed_out);
}

// A halt wakes a consumer waiting forever, and refuses pushes.
TEST_F (FrameQueue, HaltWakesConsumerAndRefusesPushes)
{
  queue_t queue;
  std::atomic<int> result{ -1 };
  std::thread consumer (
      [&] { result = static_cast<int> (queue.wait_pop ().status); });
  queue.halt (7);
  consumer.join ();
  EXPECT_EQ (result.load (), static_cast<int> (queue_t::pop_status::halted));
  EXPECT_EQ (queue.halt_reason (), 7);
  auto refused = queue.push_frame (tracked (0), 1, 0);
  EXPECT_EQ (refused.status, queue_t::push_status::halted);
  EXPECT_EQ (refused.released.size (), 1u);
  EXPECT_EQ (queue.halt_if_running (3), 7);
  queue.resume ();
  EXPECT_EQ (queue.push_frame (tracked (1), 1, 0).status,
             queue_t::push_status::queued);
}

// A blocking queue never drops: every frame arrives, in order, bounded.
TEST_F (FrameQueue, BlockingPolicyDeliversEverythingBounded)
{
  queue_t queue;
  queue.set_policy (leak_policy::none);
  queue.set_limits ({ 2, 0, 0 });
  constexpr int count = 2000;
  std::atomic<std::uint32_t> max_seen{ 0 };
  std::thread producer ([&] {
    for (int i = 0; i < count; i++)
      {
        auto outcome = queue.push_frame (tracked (i), 1, 0);
        EXPECT_EQ (outcome.status, queue_t::push_status::queued);
        std::uint32_t level = queue.level_approx ().frames;
        if (level > max_seen)
          max_seen = level;
      }
  });
  for (int expected = 0; expected < count; expected++)
    {
      auto outcome = queue.wait_pop ();
      ASSERT_EQ (outcome.status, queue_t::pop_status::popped);
      EXPECT_EQ (outcome.popped->item.id, expected);
      EXPECT_FALSE (outcome.popped->discont);
    }
  producer.join ();
  EXPECT_LE (max_seen.load (), 2u);
}

// A producer blocked on a full queue is released by a halt.
TEST_F (FrameQueue, HaltReleasesBlockedProducer)
{
  queue_t queue;
  queue.set_policy (leak_policy::none);
  queue.push_frame (tracked (0), 1, 0);
  std::atomic<int> status{ -1 };
  std::thread producer ([&] {
    status = static_cast<int> (queue.push_frame (tracked (1), 1, 0).status);
  });
  queue.halt (1);
  producer.join ();
  EXPECT_EQ (status.load (), static_cast<int> (queue_t::push_status::halted));
  EXPECT_EQ (queue.drain ().size (), 1u);
}

// A blocked producer is released when the policy turns leaky.
TEST_F (FrameQueue, TurningLeakyReleasesBlockedProducer)
{
  queue_t queue;
  queue.set_policy (leak_policy::none);
  queue.push_frame (tracked (0), 1, 0);
  std::thread producer ([&] { queue.push_frame (tracked (1), 1, 0); });
  auto dropped = queue.set_policy (leak_policy::drop_oldest);
  producer.join ();
  EXPECT_EQ (queue.level_approx ().frames, 1u);
  EXPECT_EQ (pop_id (queue), 1);
}

// Leaky producer and slow consumer: order kept, popped + dropped = pushed.
TEST_F (FrameQueue, ProducerConsumerKeepsOrderAndAccountsEveryFrame)
{
  queue_t queue;
  queue.set_limits ({ 3, 0, 0 });
  constexpr int count = 20000;
  std::atomic<int> dropped{ 0 };
  std::thread producer ([&] {
    for (int i = 0; i < count; i++)
      dropped += static_cast<int> (
          queue.push_frame (tracked (i), 1, i).released.size ());
    queue.push_marker (tracked (-2));
  });
  int popped = 0;
  int last = -1;
  for (;;)
    {
      auto outcome = queue.wait_pop ();
      ASSERT_EQ (outcome.status, queue_t::pop_status::popped);
      int id = outcome.popped->item.id;
      if (id == -2)
        break;
      EXPECT_GT (id, last);
      if (id != last + 1)
        {
          EXPECT_TRUE (outcome.popped->discont);
        }
      last = id;
      popped++;
    }
  producer.join ();
  EXPECT_EQ (last, count - 1);
  EXPECT_EQ (popped + dropped.load (), count);
  EXPECT_EQ (tracked::destroyed.load (), count + 1);
}

// An acknowledged marker returns the consumer's answer to its producer.
TEST_F (FrameQueue, AckReturnsConsumerAnswer)
{
  queue_t queue;
  std::atomic<int> answer{ -1 };
  auto pushed = queue.push_marker (tracked (9), true);
  ASSERT_NE (pushed.ticket, 0u);
  std::thread producer (
      [&] { answer = static_cast<int> (queue.wait_ack (pushed.ticket)); });
  auto popped = queue.wait_pop ();
  ASSERT_EQ (popped.status, queue_t::pop_status::popped);
  /* Halting now must not release the producer: the marker is in use. */
  queue.halt (1);
  queue.acknowledge (popped.popped->ticket, true);
  producer.join ();
  EXPECT_EQ (answer.load (),
             static_cast<int> (latestframe::ack_result::accepted));
}

// A marker still waiting in line is withdrawn when the queue halts.
TEST_F (FrameQueue, HaltWithdrawsQueuedAckMarker)
{
  queue_t queue;
  queue.push_frame (tracked (0), 1, 0);
  auto pushed = queue.push_marker (tracked (9), true);
  std::atomic<int> answer{ -1 };
  std::thread producer (
      [&] { answer = static_cast<int> (queue.wait_ack (pushed.ticket)); });
  queue.halt (1);
  producer.join ();
  EXPECT_EQ (answer.load (),
             static_cast<int> (latestframe::ack_result::abandoned));
  EXPECT_EQ (queue.size_approx (), 1u) << "the marker must leave the queue";
}

// Draining answers waited-on markers as abandoned.
TEST_F (FrameQueue, DrainAbandonsAckMarkers)
{
  queue_t queue;
  auto pushed = queue.push_marker (tracked (9), true);
  auto drained = queue.drain ();
  EXPECT_TRUE (drained.empty ()) << "a waited-on item stays its producer's";
  EXPECT_EQ (queue.wait_ack (pushed.ticket),
             latestframe::ack_result::abandoned);
}

// Pushing a marker to a halted queue gives it back with no ticket.
TEST_F (FrameQueue, HaltedQueueRefusesMarkers)
{
  queue_t queue;
  queue.halt (2);
  auto pushed = queue.push_marker (tracked (9), true);
  EXPECT_EQ (pushed.status, queue_t::push_status::halted);
  EXPECT_EQ (pushed.ticket, 0u);
  EXPECT_EQ (pushed.released.size (), 1u);
}
