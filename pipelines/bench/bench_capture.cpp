/* Benchmark reader (section 5 of pipelines/bench.sh): the C++ capture
 * library, latestframe::capture, reading a camera as BGR frames, with an
 * analysis stand-in of P ms on each frame it returns. The same figures as
 * the Python readers (bench_seed.py, bench_binding.py), in the same line:
 * frames processed, age at processing p50/p95/max (from latestframe-testcam's
 * pixel stamps, read when the step starts), frames processed out of order
 * (stamp earlier than the previous processed frame's).
 *
 * The processing window starts at the first frame and lasts S seconds; it is
 * marked by the lines "window start" and "window end" on stdout, at which
 * pipelines/bench/bench_tree.py, which runs the reader, reads the CPU time
 * of its processes. Memory and CPU are measured there, not here.
 *
 * Usage: bench_capture --uri URL [--step-ms P] [--seconds S]
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "common/percentile.h"
#include "latestframe/stamp.h"

#include <latestframe/capture.h>

#include <opencv2/core.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace stamp = latestframe::stamp;
using latestframe::percentile;

namespace
{

/* The stamp of a BGR frame, read from its first channel (the stamp's blocks
 * are black or white, so every channel carries them), or nothing. Copies
 * only the stamped corner. */
std::optional<std::uint64_t>
read_stamp (const cv::Mat &frame)
{
  const int block = stamp::block_size (frame.cols, frame.rows);
  if (block == 0 || frame.channels () != 3)
    return std::nullopt;
  cv::Mat corner;
  cv::extractChannel (frame (cv::Rect (0, 0, 16 * block, 5 * block)), corner,
                      0);
  return stamp::read (corner.data, static_cast<int> (corner.step[0]),
                      frame.cols, frame.rows);
}

int
usage (const char *program)
{
  std::fprintf (stderr, "usage: %s --uri URL [--step-ms P] [--seconds S]\n",
                program);
  return 2;
}

} // namespace

int
main (int argc, char **argv)
{
  std::string uri;
  int step_ms = 100;
  double seconds = 10;
  for (int i = 1; i < argc; i += 2)
    {
      if (i + 1 >= argc)
        return usage (argv[0]);
      if (!std::strcmp (argv[i], "--uri"))
        uri = argv[i + 1];
      else if (!std::strcmp (argv[i], "--step-ms"))
        step_ms = std::atoi (argv[i + 1]);
      else if (!std::strcmp (argv[i], "--seconds"))
        seconds = std::atof (argv[i + 1]);
      else
        return usage (argv[0]);
    }
  if (uri.empty ())
    return usage (argv[0]);

  latestframe::capture_options options;
  options.format = "BGR";
  latestframe::capture camera (uri, options);
  if (!camera.isOpened ())
    {
      std::fprintf (stderr, "error: cannot open %s: %s\n", uri.c_str (),
                    camera.last_error ().c_str ());
      return 1;
    }

  std::vector<double> ages_ms;
  std::uint64_t previous_stamp = 0;
  int frames = 0, out_of_order = 0;
  std::uint64_t skipped = 0;
  cv::Mat frame;
  latestframe::frame_info info;
  std::optional<std::chrono::steady_clock::time_point> started;
  while (!started
         || std::chrono::steady_clock::now () - *started
                < std::chrono::duration<double> (seconds))
    {
      if (!camera.read (frame, std::chrono::milliseconds (2000), &info))
        {
          if (camera.state () == latestframe::capture_state::ended)
            break;
          continue;
        }
      const std::uint64_t now = stamp::monotonic_now_ns ();
      if (!started)
        {
          started = std::chrono::steady_clock::now ();
          std::printf ("window start\n");
          std::fflush (stdout);
        }
      frames++;
      skipped += info.skipped;
      const std::optional<std::uint64_t> captured = read_stamp (frame);
      if (captured && *captured <= now)
        {
          ages_ms.push_back ((now - *captured) / 1e6);
          if (*captured < previous_stamp)
            out_of_order++;
          previous_stamp = *captured;
        }
      std::this_thread::sleep_for (std::chrono::milliseconds (step_ms));
    }
  std::printf ("window end\n");
  std::fflush (stdout);
  const latestframe::capture_stats stats = camera.stats ();
  camera.release ();
  std::printf ("reader=cpp-capture step_ms=%d frames=%d stamps=%zu "
               "age_p50=%.1f age_p95=%.1f age_max=%.1f out_of_order=%d "
               "skipped=%llu received=%llu\n",
               step_ms, frames, ages_ms.size (), percentile (ages_ms, 0.5),
               percentile (ages_ms, 0.95), percentile (ages_ms, 1.0),
               out_of_order, static_cast<unsigned long long> (skipped),
               static_cast<unsigned long long> (stats.received));
  return frames > 0 ? 0 : 1;
}
