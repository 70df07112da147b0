/* Micro-benchmarks of the core (Google Benchmark): what admitting and
 * handing over a frame costs in latestframe::frame_keeper itself, with no
 * pipeline, no second thread and no contention (a frame is always there,
 * so hand_over never waits); and the heap allocations
 * per frame, counted by replacing the global operator new (the keeper's
 * only allocator) for this program.
 *
 *   ./bench_core [--benchmark_filter=...] [--benchmark_min_time=0.2]
 */
#include "latestframe/frame_keeper.h"

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

namespace
{

std::atomic<std::uint64_t> allocations{ 0 };

/* A payload as the element's: a pointer it owns, nothing to free here. */
struct payload
{
  void *object = nullptr;
};

using keeper_t = latestframe::frame_keeper<payload>;

/* Runs `cycle` in the timed loop and reports its allocations per cycle
 * (after one warm-up cycle, outside the count). */
template <typename Cycle>
void
measure (benchmark::State &state, Cycle cycle)
{
  cycle ();
  const std::uint64_t before = allocations.load ();
  for (auto _ : state)
    cycle ();
  state.counters["allocs_per_frame"] = benchmark::Counter (
      static_cast<double> (allocations.load () - before)
      / static_cast<double> (state.iterations ()));
}

// In order: one frame admitted, then handed over (a consumer keeping up).
void
BM_AdmitThenHandOver (benchmark::State &state)
{
  keeper_t keeper;
  latestframe::frame_desc frame{ 1382400, 0 };
  measure (state, [&] {
    keeper.admit_frame (payload{}, frame);
    benchmark::DoNotOptimize (keeper.hand_over (keeper_t::delivery::in_order));
    frame.time_ns += 33333333;
  });
}
BENCHMARK (BM_AdmitThenHandOver);

// The leaky steady state: two frames arrive per frame handed over, the
// older one is dropped (overflow).
void
BM_DropOldestSteadyState (benchmark::State &state)
{
  keeper_t keeper;
  latestframe::frame_desc frame{ 1382400, 0 };
  measure (state, [&] {
    keeper.admit_frame (payload{}, frame);
    keeper.admit_frame (payload{}, frame);
    benchmark::DoNotOptimize (keeper.hand_over (keeper_t::delivery::in_order));
  });
}
BENCHMARK (BM_DropOldestSteadyState);

// As the first, with a memory budget reserved and released per frame.
void
BM_AdmitThenHandOverWithBudget (benchmark::State &state)
{
  keeper_t keeper;
  keeper.set_budget (std::string ("bench-core"), 1u << 30);
  latestframe::frame_desc frame{ 1382400, 0 };
  measure (state, [&] {
    keeper.admit_frame (payload{}, frame);
    benchmark::DoNotOptimize (keeper.hand_over (keeper_t::delivery::in_order));
  });
}
BENCHMARK (BM_AdmitThenHandOverWithBudget);

// On request: four frames held, the newest handed over, three superseded.
void
BM_NewestOnRequest (benchmark::State &state)
{
  keeper_t keeper;
  keeper.set_limits ({ 4, 0, 0 });
  latestframe::frame_desc frame{ 1382400, 0 };
  measure (state, [&] {
    for (int i = 0; i < 4; i++)
      keeper.admit_frame (payload{}, frame);
    benchmark::DoNotOptimize (keeper.hand_over (keeper_t::delivery::newest));
  });
}
BENCHMARK (BM_NewestOnRequest);

// With max-age on and a reading of the running clock: the age gate.
void
BM_AdmitThenHandOverWithMaxAge (benchmark::State &state)
{
  keeper_t keeper;
  keeper.set_max_age (50000000);
  latestframe::frame_desc frame{ 1382400, 0, 1000000 };
  const std::int64_t now = 2000000;
  measure (state, [&] {
    keeper.admit_frame (payload{}, frame);
    benchmark::DoNotOptimize (keeper.hand_over (keeper_t::delivery::in_order, std::nullopt, now));
  });
}
BENCHMARK (BM_AdmitThenHandOverWithMaxAge);

} // namespace

/* Every operator new of this program counts (the C++ library and the keeper
 * allocate through it). The replacements allocate with malloc and free with
 * free, which GCC cannot see pairs up once they are inlined. */
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void *
operator new (std::size_t size)
{
  allocations.fetch_add (1, std::memory_order_relaxed);
  if (void *memory = std::malloc (size ? size : 1))
    return memory;
  throw std::bad_alloc ();
}

void
operator delete (void *memory) noexcept
{
  std::free (memory);
}

void
operator delete (void *memory, std::size_t) noexcept
{
  std::free (memory);
}

BENCHMARK_MAIN ();
