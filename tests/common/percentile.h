/* Percentiles of measured values, for the tests and the benchmarks. */
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace latestframe
{

/* The value below which `fraction` of `values` lie (-1 when empty). */
inline double
percentile (std::vector<double> values, double fraction)
{
  if (values.empty ())
    return -1;
  std::sort (values.begin (), values.end ());
  return values[std::min (values.size () - 1, static_cast<std::size_t> (
                                                  values.size () * fraction))];
}

} // namespace latestframe
