/* latestframe — what a keeper counts: drops by reason, ages, bytes in flight.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/accounting.h"

#include <algorithm>
#include <vector>

namespace latestframe
{

age_summary
age_window::summary () const
{
  age_summary summary;
  if (count_ == 0)
    return summary;
  std::vector<std::uint64_t> sorted (ages_.begin (), ages_.begin () + count_);
  std::sort (sorted.begin (), sorted.end ());
  /* Nearest rank: the smallest age that at least p% of samples reach. */
  auto rank = [&] (std::size_t percent) {
    std::size_t index = (percent * count_ + 99) / 100;
    return sorted[std::max<std::size_t> (index, 1) - 1];
  };
  summary.p50_ns = rank (50);
  summary.p95_ns = rank (95);
  summary.max_ns = sorted.back ();
  summary.samples = static_cast<std::uint32_t> (count_);
  return summary;
}

} // namespace latestframe
