/* latestframe::mqtt::message_backlog: the bounded FIFO of outgoing messages,
 * with unit tests, a randomized model test against a tiny reference model
 * (a std::deque and four counters), and producers against a sender.
 *
 * Invariant checked throughout: accepted == sent + dropped + level, and
 * level <= capacity. Seeds are printed on failure:
 * LATESTFRAME_MODEL_SEED=N re-runs one. */
#include "latestframe/message_backlog.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace
{

using latestframe::mqtt::backlog_counts;
using latestframe::mqtt::message_backlog;
using latestframe::mqtt::message_kind;
using latestframe::mqtt::outgoing_message;

const auto topic = std::make_shared<const std::string> ("test/topic");

outgoing_message
message (const std::string &payload, const std::string &source = {},
         message_kind kind = message_kind::detection)
{
  return outgoing_message{ topic, payload, source, kind };
}

outgoing_message
record (const std::string &payload, const std::string &source = {})
{
  return message (payload, source, message_kind::record);
}

/* Takes everything, oldest first. */
std::vector<std::string>
take_all (message_backlog &backlog)
{
  std::vector<std::string> taken;
  while (backlog.send_oldest ([&] (const outgoing_message &oldest) {
    taken.push_back (oldest.payload);
    return true;
  }))
    {
    }
  return taken;
}

void
expect_invariant (const message_backlog &backlog)
{
  const backlog_counts counts = backlog.counts ();
  EXPECT_EQ (counts.accepted, counts.sent + counts.dropped + counts.level);
  EXPECT_LE (counts.level, backlog.capacity ());
  EXPECT_LE (counts.level, counts.peak_level);
}

/* Takes the oldest message, as a sender that succeeds would. */
std::optional<std::string>
take (message_backlog &backlog)
{
  std::optional<std::string> taken;
  backlog.send_oldest ([&] (const outgoing_message &oldest) {
    taken = oldest.payload;
    return true;
  });
  return taken;
}

} // namespace

// A backlog that keeps nothing is not one: capacity 0 is refused.
TEST (MessageBacklog, RefusesCapacityZero)
{
  EXPECT_THROW (message_backlog (0), std::invalid_argument);
  EXPECT_NO_THROW (message_backlog (1));
}

// Messages come out oldest first, each counted sent once.
TEST (MessageBacklog, FirstInFirstOut)
{
  message_backlog backlog (10);
  for (int i = 0; i < 5; i++)
    EXPECT_FALSE (backlog.push (message (std::to_string (i))));
  for (int i = 0; i < 5; i++)
    EXPECT_EQ (take (backlog), std::to_string (i));
  EXPECT_EQ (take (backlog), std::nullopt);
  const backlog_counts counts = backlog.counts ();
  EXPECT_EQ (counts.accepted, 5u);
  EXPECT_EQ (counts.sent, 5u);
  EXPECT_EQ (counts.dropped, 0u);
  EXPECT_EQ (counts.level, 0u);
  EXPECT_EQ (counts.peak_level, 5u);
  expect_invariant (backlog);
}

// Pushing into a full backlog drops the OLDEST, counted: the newest stay.
TEST (MessageBacklog, FullDropsOldest)
{
  message_backlog backlog (3);
  for (int i = 0; i < 3; i++)
    EXPECT_FALSE (backlog.push (message (std::to_string (i))));
  EXPECT_TRUE (backlog.push (message ("3")));
  EXPECT_TRUE (backlog.push (message ("4")));
  EXPECT_EQ (backlog.level_approx (), 3u);
  EXPECT_EQ (backlog.counts ().dropped, 2u);
  expect_invariant (backlog);
  EXPECT_EQ (take (backlog), "2");
  EXPECT_EQ (take (backlog), "3");
  EXPECT_EQ (take (backlog), "4");
  expect_invariant (backlog);
}

// A sender that refuses (no connection) leaves the message where it was,
// uncounted; an empty backlog never calls the sender.
TEST (MessageBacklog, RefusedSendKeepsTheMessage)
{
  message_backlog backlog (2);
  bool called = false;
  EXPECT_FALSE (backlog.send_oldest ([&] (const outgoing_message &) {
    called = true;
    return true;
  }));
  EXPECT_FALSE (called);
  backlog.push (message ("a"));
  EXPECT_FALSE (backlog.send_oldest ([] (const outgoing_message &oldest) {
    EXPECT_EQ (oldest.payload, "a");
    EXPECT_EQ (*oldest.topic, "test/topic");
    return false;
  }));
  EXPECT_EQ (backlog.counts ().sent, 0u);
  EXPECT_EQ (take (backlog), "a");
  expect_invariant (backlog);
}

// Random pushes and sends (some refused) against a reference model: the
// same messages come out in the same order, the same ones are dropped, the
// counters agree, and the invariant holds after every step.
TEST (MessageBacklog, RandomizedModel)
{
  const char *fixed = std::getenv ("LATESTFRAME_MODEL_SEED");
  const unsigned first = fixed ? std::strtoul (fixed, nullptr, 10) : 1;
  const unsigned seeds = fixed ? 1 : 200;
  for (unsigned seed = first; seed < first + seeds; seed++)
    {
      SCOPED_TRACE ("LATESTFRAME_MODEL_SEED=" + std::to_string (seed));
      std::mt19937 random (seed);
      const std::size_t capacity
          = std::uniform_int_distribution<std::size_t> (1, 12) (random);
      message_backlog backlog (capacity);
      std::deque<std::string> model;
      std::uint64_t accepted = 0, sent = 0, dropped = 0;
      std::size_t peak = 0;
      /* Phases with more pushes (a broker away) and more sends. */
      int push_percent = 50;
      for (int step = 0; step < 400; step++)
        {
          if (step % 50 == 0)
            push_percent = std::uniform_int_distribution<int> (10, 95) (random);
          const int dice = std::uniform_int_distribution<int> (0, 99) (random);
          if (dice < push_percent)
            {
              const std::string payload = std::to_string (accepted);
              const bool expect_drop = model.size () == capacity;
              if (expect_drop)
                {
                  model.pop_front ();
                  dropped++;
                }
              model.push_back (payload);
              accepted++;
              peak = std::max (peak, model.size ());
              ASSERT_EQ (backlog.push (message (payload)), expect_drop);
            }
          else
            {
              const bool accept = dice % 4 != 0; /* a quarter refused */
              std::optional<std::string> offered;
              const bool took
                  = backlog.send_oldest ([&] (const outgoing_message &oldest) {
                      offered = oldest.payload;
                      return accept;
                    });
              if (model.empty ())
                {
                  ASSERT_FALSE (took);
                  ASSERT_FALSE (offered);
                }
              else
                {
                  ASSERT_EQ (offered, model.front ());
                  ASSERT_EQ (took, accept);
                  if (accept)
                    {
                      model.pop_front ();
                      sent++;
                    }
                }
            }
          const backlog_counts counts = backlog.counts ();
          ASSERT_EQ (counts.accepted, accepted);
          ASSERT_EQ (counts.sent, sent);
          ASSERT_EQ (counts.dropped, dropped);
          ASSERT_EQ (counts.level, model.size ());
          ASSERT_EQ (counts.peak_level, peak);
          ASSERT_EQ (counts.accepted,
                     counts.sent + counts.dropped + counts.level);
          ASSERT_LE (counts.level, capacity);
        }
    }
}

// A chatty camera loses its own oldest detections; a quiet camera sharing
// the backlog keeps its own, and sending stays FIFO over both.
TEST (MessageBacklog, ChattyCameraLosesItsOwnOldest)
{
  message_backlog backlog (4);
  backlog.push (message ("quiet-0", "quiet"));
  backlog.push (message ("chatty-0", "chatty"));
  backlog.push (message ("chatty-1", "chatty"));
  backlog.push (message ("chatty-2", "chatty"));
  /* Full: chatty holds 3, quiet 1; chatty's oldest goes, though quiet-0 is
   * the oldest of all. */
  EXPECT_TRUE (backlog.push (message ("chatty-3", "chatty")));
  EXPECT_TRUE (backlog.push (message ("chatty-4", "chatty")));
  const backlog_counts counts = backlog.counts ();
  EXPECT_EQ (counts.dropped, 2u);
  EXPECT_EQ (counts.dropped_by_source,
             (std::map<std::string, std::uint64_t>{ { "chatty", 2 } }));
  expect_invariant (backlog);
  EXPECT_EQ (take_all (backlog),
             (std::vector<std::string>{ "quiet-0", "chatty-2", "chatty-3",
                                        "chatty-4" }));
}

// Between sources holding as many detections, the one whose oldest is
// oldest loses it: with equal shares, the backlog ages evenly.
TEST (MessageBacklog, EqualSharesLoseTheOldestFirst)
{
  message_backlog backlog (4);
  backlog.push (message ("b-0", "b"));
  backlog.push (message ("a-0", "a"));
  backlog.push (message ("a-1", "a"));
  backlog.push (message ("b-1", "b"));
  EXPECT_TRUE (backlog.push (message ("a-2", "a"))); /* b-0 goes */
  /* a holds 3, b 1: a's oldest goes. */
  EXPECT_TRUE (backlog.push (message ("b-2", "b")));
  EXPECT_EQ (backlog.counts ().dropped_by_source,
             (std::map<std::string, std::uint64_t>{ { "a", 1 }, { "b", 1 } }));
  EXPECT_EQ (take_all (backlog),
             (std::vector<std::string>{ "a-1", "b-1", "a-2", "b-2" }));
  expect_invariant (backlog);
}

// A record is never pushed out while a detection is held, even an old
// record by a newer detection; once only records are held, the oldest
// record goes.
TEST (MessageBacklog, RecordsOutliveDetections)
{
  message_backlog backlog (3);
  backlog.push (record ("health-0", "a"));
  backlog.push (message ("a-0", "a"));
  backlog.push (record ("health-1", "b"));
  EXPECT_TRUE (backlog.push (message ("a-1", "a"))); /* a-0 goes */
  EXPECT_TRUE (backlog.push (message ("b-0", "b"))); /* a-1 goes */
  /* A record into a backlog of records and one detection: the detection. */
  EXPECT_TRUE (backlog.push (record ("health-2", "c"))); /* b-0 goes */
  EXPECT_TRUE (backlog.push (record ("health-3", "c"))); /* health-0 */
  /* Only records held: a new detection pushes out the oldest record. */
  EXPECT_TRUE (backlog.push (message ("c-0", "c"))); /* health-1 */
  EXPECT_EQ (backlog.counts ().dropped_by_source,
             (std::map<std::string, std::uint64_t>{
                 { "a", 3 }, { "b", 2 } }));
  EXPECT_EQ (take_all (backlog),
             (std::vector<std::string>{ "health-2", "health-3", "c-0" }));
  expect_invariant (backlog);
}

// "" is a source like any other, counted under "".
TEST (MessageBacklog, UnnamedSourceIsCounted)
{
  message_backlog backlog (1);
  backlog.push (message ("0"));
  EXPECT_TRUE (backlog.push (message ("1")));
  EXPECT_EQ (backlog.counts ().dropped_by_source,
             (std::map<std::string, std::uint64_t>{ { "", 1 } }));
}

// Random pushes from several sources, of both kinds, and sends (some
// refused) against a reference model that scans for its victim the slow,
// obvious way: the same messages come out in the same order, the same
// ones are dropped and counted by source, after every step.
TEST (MessageBacklog, RandomizedFairModel)
{
  struct held
  {
    std::string payload, source;
    bool is_record;
  };
  const char *fixed = std::getenv ("LATESTFRAME_MODEL_SEED");
  const unsigned first = fixed ? std::strtoul (fixed, nullptr, 10) : 1;
  const unsigned seeds = fixed ? 1 : 200;
  for (unsigned seed = first; seed < first + seeds; seed++)
    {
      SCOPED_TRACE ("LATESTFRAME_MODEL_SEED=" + std::to_string (seed));
      std::mt19937 random (seed);
      const std::size_t capacity
          = std::uniform_int_distribution<std::size_t> (1, 12) (random);
      const int sources = std::uniform_int_distribution<int> (1, 4) (random);
      message_backlog backlog (capacity);
      std::deque<held> model;
      std::map<std::string, std::uint64_t> dropped_by_source;
      std::uint64_t accepted = 0, sent = 0, dropped = 0;
      int push_percent = 50;
      for (int step = 0; step < 400; step++)
        {
          if (step % 50 == 0)
            push_percent = std::uniform_int_distribution<int> (10, 95) (random);
          const int dice = std::uniform_int_distribution<int> (0, 99) (random);
          if (dice < push_percent)
            {
              /* Source 0 is the chatty one: half of all messages. */
              const int pick
                  = std::uniform_int_distribution<int> (0, 2 * sources - 1) (
                      random);
              held next{ std::to_string (accepted),
                         "cam" + std::to_string (pick < sources ? 0 : pick - sources),
                         std::uniform_int_distribution<int> (0, 9) (random)
                             == 0 };
              const bool expect_drop = model.size () == capacity;
              if (expect_drop)
                {
                  std::map<std::string, std::size_t> held_detections;
                  for (const held &one : model)
                    if (!one.is_record)
                      held_detections[one.source]++;
                  auto victim = model.end ();
                  std::size_t most = 0;
                  for (auto it = model.begin (); it != model.end (); ++it)
                    if (!it->is_record && held_detections[it->source] > most)
                      {
                        most = held_detections[it->source];
                        victim = it;
                      }
                  if (victim == model.end ())
                    victim = model.begin (); /* records only */
                  dropped_by_source[victim->source]++;
                  model.erase (victim);
                  dropped++;
                }
              accepted++;
              model.push_back (next);
              ASSERT_EQ (backlog.push (message (
                             next.payload, next.source,
                             next.is_record ? message_kind::record
                                            : message_kind::detection)),
                         expect_drop);
            }
          else
            {
              const bool accept = dice % 4 != 0;
              std::optional<std::string> offered;
              const bool took
                  = backlog.send_oldest ([&] (const outgoing_message &oldest) {
                      offered = oldest.payload;
                      return accept;
                    });
              if (model.empty ())
                ASSERT_FALSE (offered);
              else
                {
                  ASSERT_EQ (offered, model.front ().payload);
                  ASSERT_EQ (took, accept);
                  if (accept)
                    {
                      model.pop_front ();
                      sent++;
                    }
                }
            }
          const backlog_counts counts = backlog.counts ();
          ASSERT_EQ (counts.accepted, accepted);
          ASSERT_EQ (counts.sent, sent);
          ASSERT_EQ (counts.dropped, dropped);
          ASSERT_EQ (counts.dropped_by_source, dropped_by_source);
          ASSERT_EQ (counts.level, model.size ());
          ASSERT_EQ (counts.accepted,
                     counts.sent + counts.dropped + counts.level);
        }
    }
}

// Several producers push while one thread sends: nothing is lost or
// counted twice (accepted == sent + dropped + level at the end, and every
// payload is either sent or dropped exactly once), and each producer's
// messages are sent in the order it pushed them.
TEST (MessageBacklog, ProducersAndSender)
{
  constexpr int producers = 4;
  constexpr int per_producer = 5000;
  message_backlog backlog (16);
  std::atomic<int> running{ producers };
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; p++)
    threads.emplace_back ([&, p] {
      for (int i = 0; i < per_producer; i++)
        backlog.push (message (std::to_string (p) + ":" + std::to_string (i)));
      running--;
    });
  std::map<int, int> last_sent;
  std::uint64_t sent = 0;
  bool ordered = true;
  const auto send_one = [&] {
    return backlog.send_oldest ([&] (const outgoing_message &oldest) {
      const std::size_t colon = oldest.payload.find (':');
      const int producer = std::stoi (oldest.payload.substr (0, colon));
      const int index = std::stoi (oldest.payload.substr (colon + 1));
      auto found = last_sent.find (producer);
      if (found != last_sent.end () && found->second >= index)
        ordered = false;
      last_sent[producer] = index;
      sent++;
      return true;
    });
  };
  while (running > 0)
    send_one ();
  for (std::thread &thread : threads)
    thread.join ();
  while (send_one ())
    {
    }
  EXPECT_TRUE (ordered);
  const backlog_counts counts = backlog.counts ();
  EXPECT_EQ (counts.accepted, std::uint64_t{ producers * per_producer });
  EXPECT_EQ (counts.sent, sent);
  EXPECT_EQ (counts.level, 0u);
  EXPECT_EQ (counts.accepted, counts.sent + counts.dropped);
  EXPECT_LE (counts.peak_level, 16u);
}
