/* Where the tests and benchmarks find OpenCV's sample data (Debian's
 * opencv-doc; the build's `sample-data` option, through
 * LATESTFRAME_SAMPLE_DATA). */
#pragma once

#include <cstdlib>
#include <string>

namespace latestframe
{

/* The path of sample file `name` (vtest.avi, messi5.jpg, ...). */
inline std::string
sample (const std::string &name)
{
  const char *dir = std::getenv ("LATESTFRAME_SAMPLE_DATA");
  return std::string (dir ? dir : "/usr/share/doc/opencv-doc/examples/data")
         + "/" + name;
}

} // namespace latestframe
