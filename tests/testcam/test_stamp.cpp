/* Unit tests of the frame stamp codec. */
#include "latestframe/stamp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

using namespace latestframe;

// A stamp written into a plane reads back as the same value.
TEST (Stamp, RoundTrips)
{
  for (int width : { 128, 320, 640, 1280 })
    {
      const int height = width * 9 / 16;
      const int stride = width + 32;
      std::vector<std::uint8_t> plane (stride * height, 100);
      const std::uint64_t values[]
          = { 0, 1, 0x0123456789abcdefull, ~0ull, stamp::monotonic_now_ns () };
      for (std::uint64_t value : values)
        {
          ASSERT_TRUE (
              stamp::write (plane.data (), stride, width, height, value))
              << width;
          EXPECT_EQ (stamp::read (plane.data (), stride, width, height), value);
        }
    }
}

// Noise up to a third of the black-white swing does not change the value.
TEST (Stamp, SurvivesNoise)
{
  const int width = 640, height = 360;
  std::vector<std::uint8_t> plane (width * height, 128);
  ASSERT_TRUE (stamp::write (plane.data (), width, width, height, 42424242));
  std::mt19937 random (7);
  std::uniform_int_distribution<int> noise (-70, 70);
  for (auto &pixel : plane)
    pixel = static_cast<std::uint8_t> (
        std::clamp (pixel + noise (random), 0, 255));
  EXPECT_EQ (stamp::read (plane.data (), width, width, height), 42424242u);
}

// A frame without a stamp, or with a damaged one, reads as nothing.
TEST (Stamp, RejectsUnstampedAndDamaged)
{
  const int width = 640, height = 360;
  std::vector<std::uint8_t> plane (width * height, 128);
  EXPECT_FALSE (stamp::read (plane.data (), width, width, height).has_value ());
  ASSERT_TRUE (stamp::write (plane.data (), width, width, height, 99));
  for (int y = 40; y < 56; y++) /* flip one block of the value */
    for (int x = 80; x < 96; x++)
      plane[y * width + x] = 255 - plane[y * width + x];
  EXPECT_FALSE (stamp::read (plane.data (), width, width, height).has_value ());
  EXPECT_FALSE (stamp::write (plane.data (), width, 100, 30, 1)) << "too small";
}
