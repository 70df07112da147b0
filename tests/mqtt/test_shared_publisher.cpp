/* Publishers shared by name within a process (src/mqtt/shared_publisher):
 * one per name while anyone holds it, refused for another broker, told to
 * every listener until it stops listening, even from within a listener.
 * No broker is needed: an unreachable one is the event heard. */
#include "latestframe/shared_publisher.h"

#include "test_broker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

namespace
{

using namespace latestframe::mqtt;
using namespace std::chrono_literals;
using latestframe_test::test_broker;

publisher_options
nowhere (int port)
{
  publisher_options options;
  options.port = port;
  options.reconnect_delay_min_s = 1;
  options.reconnect_delay_max_s = 1;
  return options;
}

void
ignore (connection_event, const std::string &)
{
}

/* Counts events; waits for one. */
struct heard_events
{
  std::mutex lock;
  std::condition_variable changed;
  int unreachable = 0;

  shared_publisher::listener listener ()
  {
    return [this] (connection_event event, const std::string &) {
      std::lock_guard<std::mutex> guard (lock);
      if (event == connection_event::unreachable)
        unreachable++;
      changed.notify_all ();
    };
  }
  bool wait_unreachable ()
  {
    std::unique_lock<std::mutex> guard (lock);
    return changed.wait_for (guard, 30s, [this] { return unreachable > 0; });
  }
};

// Two parties naming one connection get the same publisher; the first to
// hold it alone is its sole holder again once the other lets go.
TEST (SharedPublisher_Registry, OneNameOnePublisher)
{
  const int port = test_broker::free_port ();
  std::uint64_t first_token = 0, second_token = 0;
  auto first = acquire_publisher ("shared-a", nowhere (port), ignore, first_token);
  EXPECT_TRUE (is_sole_holder (first));
  auto second = acquire_publisher ("shared-a", nowhere (port), ignore, second_token);
  EXPECT_EQ (first.get (), second.get ());
  EXPECT_NE (first_token, second_token);
  EXPECT_FALSE (is_sole_holder (first));
  second->stop_listening (second_token);
  second.reset ();
  EXPECT_TRUE (is_sole_holder (first));
}

// A name taken by one broker is refused for another, saying where it goes;
// once nobody holds it, it is made afresh for any broker.
TEST (SharedPublisher_Registry, ANameGoesToOneBroker)
{
  const int port = test_broker::free_port ();
  std::uint64_t token = 0;
  auto held = acquire_publisher ("shared-b", nowhere (port), ignore, token);
  try
    {
      std::uint64_t other = 0;
      acquire_publisher ("shared-b", nowhere (port + 1), ignore, other);
      FAIL () << "a second broker under one name was accepted";
    }
  catch (const std::invalid_argument &refused)
    {
      EXPECT_NE (std::string (refused.what ()).find ("already goes to"),
                 std::string::npos)
          << refused.what ();
    }
  held.reset ();
  auto fresh = acquire_publisher ("shared-b", nowhere (port + 1), ignore, token);
  EXPECT_EQ (fresh->publisher ().options ().port, port + 1);
}

// Ports are compared after the default is applied: port 0 and 1883 are
// one broker without TLS; with TLS, port 0 is 8883, not 1883. The first
// party's credentials stand.
TEST (SharedPublisher_Registry, DefaultPortsCompareAsApplied)
{
  std::uint64_t token = 0, other = 0;
  publisher_options first = nowhere (0);
  first.username = "first";
  auto held = acquire_publisher ("shared-d", first, ignore, token);
  publisher_options second = nowhere (1883);
  second.username = "second";
  auto same = acquire_publisher ("shared-d", second, ignore, other);
  EXPECT_EQ (same.get (), held.get ());
  EXPECT_EQ (same->publisher ().options ().username, "first");
  publisher_options tls = nowhere (0);
  tls.tls.enabled = true;
  EXPECT_THROW (acquire_publisher ("shared-d", tls, ignore, other),
                std::invalid_argument);
}

// Without a name, each party has its own.
TEST (SharedPublisher_Registry, NoNameIsOwn)
{
  const int port = test_broker::free_port ();
  std::uint64_t token = 0;
  auto one = acquire_publisher ("", nowhere (port), ignore, token);
  auto other = acquire_publisher ("", nowhere (port), ignore, token);
  EXPECT_NE (one.get (), other.get ());
  EXPECT_TRUE (is_sole_holder (one));
}

// The first listener hears the broker it cannot reach; one that stopped
// listening hears nothing more.
TEST (SharedPublisher_Listeners, HearUntilTheyStop)
{
  heard_events first, stopped;
  std::uint64_t first_token = 0;
  auto held = acquire_publisher ("", nowhere (test_broker::free_port ()),
                                 first.listener (), first_token);
  const std::uint64_t stopped_token = held->listen (stopped.listener ());
  held->stop_listening (stopped_token);
  ASSERT_TRUE (first.wait_unreachable ());
  held.reset ();
  EXPECT_EQ (stopped.unreachable, 0);
}

// A listener may stop listening from within its own call (a bus handler
// stopping the element that posted): no deadlock, and it is not called
// again. The broker comes up after it listens: the connection is told on
// libmosquitto's thread, and the broker's end later is not.
TEST (SharedPublisher_Listeners, StopFromWithinAListener)
{
  if (!test_broker::available ())
    GTEST_SKIP () << "no mosquitto at " << test_broker::program ();
  test_broker broker;
  std::uint64_t first_token = 0;
  heard_events first;
  auto held = acquire_publisher ("", nowhere (broker.port ()),
                                 first.listener (), first_token);
  ASSERT_TRUE (first.wait_unreachable ());

  std::mutex lock;
  std::condition_variable changed;
  std::atomic<std::uint64_t> token{ 0 };
  int calls = 0;
  shared_publisher *publisher = held.get ();
  token = held->listen ([&] (connection_event, const std::string &) {
    while (token.load () == 0)
      std::this_thread::yield ();
    publisher->stop_listening (token.load ());
    std::lock_guard<std::mutex> guard (lock);
    calls++;
    changed.notify_all ();
  });
  broker.start ();
  {
    std::unique_lock<std::mutex> guard (lock);
    ASSERT_TRUE (changed.wait_for (guard, 60s, [&] { return calls > 0; }));
  }
  ASSERT_TRUE (held->publisher ().stats ().connected
               || held->publisher ().stats ().connects > 0);
  broker.stop ();
  /* The loss is told to the first listener only. */
  const auto until = std::chrono::steady_clock::now () + 30s;
  while (held->publisher ().stats ().disconnects == 0
         && std::chrono::steady_clock::now () < until)
    std::this_thread::sleep_for (10ms);
  held->stop_listening (first_token);
  held.reset ();
  std::lock_guard<std::mutex> guard (lock);
  EXPECT_EQ (calls, 1);
}

} // namespace
