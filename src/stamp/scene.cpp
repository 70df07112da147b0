/* latestframe — the test camera's synthetic scene, and how far a decoded
 * frame is from it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/scene.h"

#include "latestframe/stamp.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace latestframe
{
namespace scene
{

namespace
{

constexpr std::uint64_t ns_per_second = 1000000000u;

/* The gradient's shades run over (x + y), from 40 for 160 levels: the box
 * (250) and the stamp's white (235) stand out of it. */
constexpr int gradient_darkest = 40;
constexpr int gradient_levels = 160;
constexpr std::uint64_t gradient_pixels_per_second = 60;
/* The drift repeats every 8 s (480 pixels, three times the gradient's
 * period): reducing the time to that first keeps the product below in 64
 * bits for any clock value, and the shift stays exact. */
constexpr std::uint64_t gradient_cycle_ns = 8 * ns_per_second;
static_assert (gradient_cycle_ns / ns_per_second * gradient_pixels_per_second
                       % gradient_levels
                   == 0,
               "the reduction must not jump the gradient");

constexpr double box_radians_per_second = 1.5;
constexpr std::uint8_t box_shade = 250;

/* Macroblock size: damage from coding or a lost reference comes in these. */
constexpr int block = 16;

constexpr double peak = 255.0;

/* The gradient's drift at `capture_time_ns`, in whole pixels. */
int
gradient_shift (std::uint64_t capture_time_ns)
{
  return static_cast<int> ((capture_time_ns % gradient_cycle_ns)
                           * gradient_pixels_per_second / ns_per_second);
}

/* The scene a stamped plane should show: rendered for the time its stamp
 * carries, in a plane of its size with stride == width. */
std::optional<std::vector<std::uint8_t>>
expected_scene (const std::uint8_t *luma, int stride, int width, int height)
{
  const std::optional<std::uint64_t> captured
      = stamp::read (luma, stride, width, height);
  if (!captured)
    return std::nullopt;
  std::vector<std::uint8_t> expected (static_cast<size_t> (width) * height);
  render_luma (expected.data (), width, width, height, *captured);
  return expected;
}

/* Sum of squared differences over the rectangle [x0, x1) x [y0, y1). */
std::uint64_t
squared_error (const std::uint8_t *luma, int stride,
               const std::vector<std::uint8_t> &expected, int width, int x0,
               int y0, int x1, int y1)
{
  std::uint64_t sum = 0;
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++)
      {
        const int difference
            = int (luma[y * stride + x]) - int (expected[y * width + x]);
        sum += static_cast<std::uint64_t> (difference * difference);
      }
  return sum;
}

double
psnr (std::uint64_t squared_error, std::uint64_t pixels)
{
  if (squared_error == 0)
    return std::numeric_limits<double>::infinity ();
  const double mean = static_cast<double> (squared_error) / pixels;
  return 10.0 * std::log10 (peak * peak / mean);
}

} // namespace

void
render_luma (std::uint8_t *luma, int stride, int width, int height,
             std::uint64_t capture_time_ns)
{
  if (width <= 0 || height <= 0)
    return;
  const int shift = gradient_shift (capture_time_ns);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      luma[y * stride + x] = static_cast<std::uint8_t> (
          gradient_darkest + (x + y + shift) % gradient_levels);

  /* Whoever checks a frame runs this same computation on the same time,
   * so the box lands on the same pixels. */
  const double angle
      = box_radians_per_second
        * (static_cast<double> (capture_time_ns) / ns_per_second);
  const int side = std::max (8, height / 6);
  const int cx = static_cast<int> (width / 2 + std::cos (angle) * width / 4);
  const int cy = static_cast<int> (height / 2 + std::sin (angle) * height / 4);
  for (int y = std::max (0, cy - side / 2);
       y < std::min (height, cy + side / 2); y++)
    for (int x = std::max (0, cx - side / 2);
         x < std::min (width, cx + side / 2); x++)
      luma[y * stride + x] = box_shade;

  stamp::write (luma, stride, width, height, capture_time_ns);
}

std::optional<double>
psnr_against_scene (const std::uint8_t *luma, int stride, int width, int height)
{
  const std::optional<std::vector<std::uint8_t>> expected
      = expected_scene (luma, stride, width, height);
  if (!expected)
    return std::nullopt;
  return psnr (
      squared_error (luma, stride, *expected, width, 0, 0, width, height),
      static_cast<std::uint64_t> (width) * height);
}

std::optional<double>
worst_block_psnr_against_scene (const std::uint8_t *luma, int stride, int width,
                                int height)
{
  const std::optional<std::vector<std::uint8_t>> expected
      = expected_scene (luma, stride, width, height);
  if (!expected)
    return std::nullopt;
  double worst = std::numeric_limits<double>::infinity ();
  for (int y0 = 0; y0 < height; y0 += block)
    for (int x0 = 0; x0 < width; x0 += block)
      {
        const int x1 = std::min (width, x0 + block);
        const int y1 = std::min (height, y0 + block);
        worst = std::min (
            worst, psnr (squared_error (luma, stride, *expected, width, x0, y0,
                                        x1, y1),
                         static_cast<std::uint64_t> (x1 - x0) * (y1 - y0)));
      }
  return worst;
}

} // namespace scene
} // namespace latestframe
