/* One made-up time line for the core's tests: the steady clock a keeper
 * stamps arrivals with (frame_keeper::set_clock) and the owner's running
 * clock (set_running_clock, or the reading given to hand_over) both read
 * it, and only the test moves it. */
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace latestframe_test::fake_clock
{

inline std::atomic<std::int64_t> now_ns{ 1000000000 };

inline std::chrono::steady_clock::time_point
steady_now ()
{
  return std::chrono::steady_clock::time_point (
      std::chrono::nanoseconds (now_ns.load ()));
}

inline std::int64_t
running_now (void * = nullptr)
{
  return now_ns.load ();
}

inline void
advance (std::uint64_t ns)
{
  now_ns += static_cast<std::int64_t> (ns);
}

/* A running time `ns` before now. */
inline std::int64_t
ago (std::uint64_t ns)
{
  return now_ns.load () - static_cast<std::int64_t> (ns);
}

} // namespace latestframe_test::fake_clock
