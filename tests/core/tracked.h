/* A payload that proves a container neither leaks nor destroys anything
 * twice: every payload made with an id is recorded alive, and its
 * destruction is recorded once; moved-from and default payloads own
 * nothing. Thread-safe. */
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

namespace latestframe_test
{

class lifetimes
{
public:
  /* Forgets everything: call between tests, with no payload alive. */
  static void reset ()
  {
    std::lock_guard<std::mutex> lock (mutex ());
    states ().clear ();
    alive () = 0;
    twice () = 0;
  }
  static int alive_count () { return alive ().load (); }
  /* Payloads destroyed a second time (must stay 0). */
  static int destroyed_twice () { return twice ().load (); }
  /* Ids born and never destroyed. */
  static std::vector<std::uint64_t> leaked ()
  {
    std::lock_guard<std::mutex> lock (mutex ());
    std::vector<std::uint64_t> ids;
    for (std::size_t id = 1; id < states ().size (); id++)
      if (states ()[id] == born)
        ids.push_back (id);
    return ids;
  }

  /* Whether the payload of `id` was made and not destroyed yet. */
  static bool is_alive (std::uint64_t id)
  {
    std::lock_guard<std::mutex> lock (mutex ());
    return id < states ().size () && states ()[id] == born;
  }

  static void born_now (std::uint64_t id)
  {
    std::lock_guard<std::mutex> lock (mutex ());
    if (states ().size () <= id)
      states ().resize (id + 1, unborn);
    states ()[id] = born;
    alive ()++;
  }
  static void died_now (std::uint64_t id)
  {
    std::lock_guard<std::mutex> lock (mutex ());
    if (id >= states ().size () || states ()[id] != born)
      {
        twice ()++;
        return;
      }
    states ()[id] = dead;
    alive ()--;
  }

private:
  enum state : std::uint8_t
  {
    unborn,
    born,
    dead,
  };
  static std::mutex &mutex ()
  {
    static std::mutex m;
    return m;
  }
  static std::vector<std::uint8_t> &states ()
  {
    static std::vector<std::uint8_t> s;
    return s;
  }
  static std::atomic<int> &alive ()
  {
    static std::atomic<int> a{ 0 };
    return a;
  }
  static std::atomic<int> &twice ()
  {
    static std::atomic<int> t{ 0 };
    return t;
  }
};

struct tracked
{
  std::uint64_t id = 0; /* 0: owns nothing */

  tracked () = default;
  explicit tracked (std::uint64_t value) : id (value)
  {
    lifetimes::born_now (id);
  }
  tracked (tracked &&other) noexcept : id (std::exchange (other.id, 0)) {}
  tracked &operator= (tracked &&other) noexcept
  {
    if (this != &other)
      {
        end ();
        id = std::exchange (other.id, 0);
      }
    return *this;
  }
  tracked (const tracked &) = delete;
  tracked &operator= (const tracked &) = delete;
  ~tracked () { end (); }

private:
  void end ()
  {
    if (id != 0)
      lifetimes::died_now (std::exchange (id, 0));
  }
};

} // namespace latestframe_test
