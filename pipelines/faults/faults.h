/* The faults of latestframe-faults (pipelines/faults.sh): each runs one
 * fault against one pipeline shape and returns its row of the matrix. */
#pragma once

#include "fault_row.h"

#include <cstdint>
#include <string>
#include <vector>

namespace latestframe::faults
{

struct fault_settings
{
  /* The figures (--full), or a short smoke setting (the suite). */
  bool full = false;
  /* The random faults' seed (--seed N); 0: each fault's own. */
  std::uint32_t seed = 0;
};

using fault_function = fault_row (*) (const fault_settings &,
                                      const std::string &shape);

struct fault
{
  const char *name;
  /* The shapes it runs against, e.g. "launch", "capture". */
  std::vector<std::string> shapes;
  fault_function run;
  const char *summary;
};

/* camera_faults.cpp: a live RTSP camera that restarts, stalls, changes
 * resolution, corrupts or loses packets. */
std::vector<fault> camera_faults ();
/* element_faults.cpp: state changes and flushes under load, properties set
 * while playing, bad input to each element. */
std::vector<fault> element_faults ();

} // namespace latestframe::faults
