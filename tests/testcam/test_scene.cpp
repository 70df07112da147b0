/* Unit tests of the test camera's scene and of the comparison of a frame
 * with it. */
#include "latestframe/scene.h"
#include "latestframe/stamp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

namespace scene = latestframe::scene;
namespace stamp = latestframe::stamp;

namespace
{

constexpr std::uint64_t ns_per_second = 1000000000u;
constexpr double infinity = std::numeric_limits<double>::infinity ();

/* A luma plane with a stride wider than the picture, as decoders give. */
struct plane
{
  plane (int width, int height)
      : width (width), height (height), stride (width + 32),
        pixels (static_cast<size_t> (stride) * height, 0)
  {
  }
  std::uint8_t &at (int x, int y) { return pixels[y * stride + x]; }
  std::optional<double> psnr () const
  {
    return scene::psnr_against_scene (pixels.data (), stride, width, height);
  }
  std::optional<double> worst_block_psnr () const
  {
    return scene::worst_block_psnr_against_scene (pixels.data (), stride, width,
                                                  height);
  }

  int width, height, stride;
  std::vector<std::uint8_t> pixels;
};

plane
rendered (int width, int height, std::uint64_t capture_time_ns)
{
  plane rendering (width, height);
  scene::render_luma (rendering.pixels.data (), rendering.stride, width, height,
                      capture_time_ns);
  return rendering;
}

/* The box is the brightest thing in the scene: the centre and the corner
 * of the pixels at that shade. */
struct box_bounds
{
  int left, top;
  double cx, cy;
};

box_bounds
find_box (plane &picture)
{
  const std::uint8_t brightest
      = *std::max_element (picture.pixels.begin (), picture.pixels.end ());
  int left = picture.width, top = picture.height, right = -1, bottom = -1;
  for (int y = 0; y < picture.height; y++)
    for (int x = 0; x < picture.width; x++)
      if (picture.at (x, y) == brightest)
        {
          left = std::min (left, x);
          right = std::max (right, x);
          top = std::min (top, y);
          bottom = std::max (bottom, y);
        }
  return { left, top, (left + right + 1) / 2.0, (top + bottom + 1) / 2.0 };
}

/* Where the box is on its ellipse round the middle, in radians. */
double
box_angle (plane &picture)
{
  const box_bounds box = find_box (picture);
  return std::atan2 ((box.cy - picture.height / 2.0) / (picture.height / 4.0),
                     (box.cx - picture.width / 2.0) / (picture.width / 4.0));
}

/* The difference of two angles, in (-pi, pi]. */
double
angle_between (double from, double to)
{
  double difference = std::remainder (to - from, 2 * M_PI);
  return difference <= -M_PI ? difference + 2 * M_PI : difference;
}

/* A smear: a square block of the picture copied over another place. */
void
copy_block (plane &picture, int from_x, int from_y, int to_x, int to_y,
            int size)
{
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++)
      picture.at (to_x + x, to_y + y) = picture.at (from_x + x, from_y + y);
}

} // namespace

// The scene rendered for the time a plane's stamp carries is that plane,
// pixel for pixel: whatever the size, stride or time.
TEST (Scene, RendersTheSameForTheSameTime)
{
  const std::uint64_t times[] = { 0,
                                  1,
                                  123456789,
                                  stamp::monotonic_now_ns (),
                                  std::uint64_t (1) << 62,
                                  ~std::uint64_t (0) };
  for (int width : { 320, 642, 1280 })
    for (std::uint64_t time : times)
      {
        const int height = width * 9 / 16;
        plane picture = rendered (width, height, time);
        EXPECT_EQ (
            stamp::read (picture.pixels.data (), picture.stride, width, height),
            time);
        EXPECT_EQ (picture.psnr (), infinity) << width << " " << time;
        EXPECT_EQ (picture.worst_block_psnr (), infinity)
            << width << " " << time;
      }
}

// A plane without a readable stamp has no figure: there is no scene to
// compare it with.
TEST (Scene, UnstampedPlaneHasNoFigure)
{
  plane grey (640, 360);
  std::fill (grey.pixels.begin (), grey.pixels.end (), 128);
  EXPECT_FALSE (grey.psnr ().has_value ());
  EXPECT_FALSE (grey.worst_block_psnr ().has_value ());
  /* Too small for a stamp: the scene alone. */
  plane tiny = rendered (100, 30, 42);
  EXPECT_FALSE (tiny.psnr ().has_value ());
}

// The scene moves as the camera's always did at 30 fps, now per second of
// capture time: the gradient 60 pixels, the box 1.5 rad (motion detectors
// on the camera depend on it).
TEST (Scene, MovesAtTheCameraSpeed)
{
  const int width = 1280, height = 720;
  const std::uint64_t start = 5 * ns_per_second;
  plane before = rendered (width, height, start);
  plane second_later = rendered (width, height, start + ns_per_second);
  plane frame_later = rendered (width, height, start + ns_per_second / 30);

  /* The bottom row, below the box's path and the stamp: the gradient
   * shows there what it showed 60 pixels further right a second earlier. */
  const int row = height - 1;
  for (int x = 0; x + 60 < width; x++)
    ASSERT_EQ (second_later.at (x, row), before.at (x + 60, row)) << x;

  EXPECT_NEAR (angle_between (box_angle (before), box_angle (second_later)),
               1.5, 0.02);
  EXPECT_NEAR (angle_between (box_angle (before), box_angle (frame_later)),
               0.05, 0.01);
}

// A smeared 64x64 block (a block copied from elsewhere, as a decoder
// predicting from a wrong reference leaves one) takes the worst block well
// below its floor; the whole plane of a 1280x720 frame hardly notices.
TEST (Scene, SmearedBlockFallsBelowTheFloor)
{
  const int width = 1280, height = 720, size = 64;
  /* Macroblock-aligned, in the bottom-right corner: away from the stamp
   * and from the box's path. */
  const int to_x = 1200, to_y = 640;
  plane box_smeared = rendered (width, height, 5 * ns_per_second);
  const box_bounds box = find_box (box_smeared);
  ASSERT_LT (box.left + size, to_x);
  copy_block (box_smeared, box.left, box.top, to_x, to_y, size);
  /* 80 pixels along the gradient: the shade off by half its range. */
  plane gradient_smeared = rendered (width, height, 5 * ns_per_second);
  copy_block (gradient_smeared, to_x - 80, to_y, to_x, to_y, size);

  for (plane *smeared : { &box_smeared, &gradient_smeared })
    {
      const std::optional<double> whole = smeared->psnr ();
      const std::optional<double> worst_block = smeared->worst_block_psnr ();
      ASSERT_TRUE (whole && worst_block);
      std::printf ("smeared %s: PSNR %.2f dB, worst block %.2f dB\n",
                   smeared == &box_smeared ? "box" : "gradient", *whole,
                   *worst_block);
      EXPECT_LT (*whole, infinity);
      EXPECT_LT (*worst_block, scene::decoded_worst_block_psnr_floor_db - 4);
    }
}
