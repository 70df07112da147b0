/* Unit tests of latestframe/nal_units.h: which H.264 and H.265 access
 * units a decoder skipping all but key frames still decodes. */
#include "latestframe/nal_units.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace
{

using latestframe::is_random_access_unit;
using latestframe::nal_framing;
using latestframe::video_codec;

using bytes = std::vector<std::uint8_t>;

/* One NAL unit: its header byte(s) and a few bytes of body. */
bytes
h264_nal (unsigned type)
{
  return { static_cast<std::uint8_t> (0x60 | type), 0x88, 0x84, 0x21 };
}

bytes
h265_nal (unsigned type)
{
  return { static_cast<std::uint8_t> (type << 1), 0x01, 0xaf, 0x12 };
}

/* Annex B, each unit after a four-byte start code but the first, after a
 * three-byte one (both occur). */
bytes
annex_b (std::initializer_list<bytes> units)
{
  bytes out;
  bool first = true;
  for (const bytes &unit : units)
    {
      if (!first)
        out.push_back (0);
      out.insert (out.end (), { 0, 0, 1 });
      out.insert (out.end (), unit.begin (), unit.end ());
      first = false;
    }
  return out;
}

bytes
length_prefixed (std::initializer_list<bytes> units, unsigned length_size)
{
  bytes out;
  for (const bytes &unit : units)
    {
      for (unsigned i = length_size; i-- > 0;)
        out.push_back (static_cast<std::uint8_t> (unit.size () >> (8 * i)));
      out.insert (out.end (), unit.begin (), unit.end ());
    }
  return out;
}

bool
random_access (video_codec codec, nal_framing framing, const bytes &unit)
{
  return is_random_access_unit (codec, framing, unit.data (), unit.size ());
}

constexpr nal_framing byte_stream{};
constexpr nal_framing avc4{ true, 4 };

} // namespace

// The first slice decides: IDR after a delimiter, parameter sets and an SEI
// is one; a non-IDR I slice is not.
TEST (NalUnits, H264IdrIsARandomAccessUnitAndOtherSlicesAreNot)
{
  EXPECT_TRUE (random_access (
      video_codec::h264, byte_stream,
      annex_b ({ h264_nal (9), h264_nal (7), h264_nal (8), h264_nal (6),
                 h264_nal (5), h264_nal (5) })));
  EXPECT_FALSE (random_access (
      video_codec::h264, byte_stream,
      annex_b ({ h264_nal (7), h264_nal (8), h264_nal (6), h264_nal (1) })));
  EXPECT_FALSE (random_access (video_codec::h264, byte_stream,
                               annex_b ({ h264_nal (1), h264_nal (5) })))
      << "the first slice decides";
  EXPECT_TRUE (random_access (
      video_codec::h264, avc4,
      length_prefixed ({ h264_nal (6), h264_nal (5) }, 4)));
  EXPECT_TRUE (random_access (
      video_codec::h264, nal_framing{ true, 2 },
      length_prefixed ({ h264_nal (7), h264_nal (5) }, 2)));
  EXPECT_FALSE (random_access (video_codec::h264, avc4,
                               length_prefixed ({ h264_nal (1) }, 4)));
}

// An H.264 unit with a recovery point SEI before its first slice is one
// (libavcodec decodes it with skip_frame=nokey): after other messages too,
// and when one of those has an emulation prevention byte, which message
// sizes do not count.
TEST (NalUnits, H264RecoveryPointSeiMakesARandomAccessUnit)
{
  const bytes recovery_point{ 0x06, 0x06, 0x01, 0x84, 0x80 };
  EXPECT_TRUE (random_access (
      video_codec::h264, byte_stream,
      annex_b ({ h264_nal (7), h264_nal (8), recovery_point, h264_nal (1) })));
  EXPECT_TRUE (random_access (
      video_codec::h264, avc4,
      length_prefixed ({ recovery_point, h264_nal (1) }, 4)));
  /* User data (type 5) of 3 bytes, 00 00 01 escaped as 00 00 03 01. */
  const bytes after_user_data{ 0x06, 0x05, 0x03, 0x00, 0x00, 0x03, 0x01,
                               0x06, 0x01, 0x84, 0x80 };
  EXPECT_TRUE (random_access (video_codec::h264, avc4,
                              length_prefixed ({ after_user_data,
                                                 h264_nal (1) },
                                               4)));
  const bytes user_data_only{ 0x06, 0x05, 0x02, 0x11, 0x22, 0x80 };
  EXPECT_FALSE (random_access (
      video_codec::h264, byte_stream,
      annex_b ({ user_data_only, h264_nal (1) })));
  const bytes cut_short{ 0x06, 0x05, 0x40, 0x11 };
  EXPECT_FALSE (random_access (video_codec::h264, avc4,
                               length_prefixed ({ cut_short, h264_nal (1) },
                                                4)));
}

// The start of a unit is enough: a slice whose length runs past the data
// read (the element reads a key unit's first 8 KiB) is still told.
TEST (NalUnits, TheStartOfAUnitIsEnough)
{
  bytes idr = h264_nal (5);
  idr.resize (100, 0x5a);
  bytes start = length_prefixed ({ h264_nal (7), idr }, 4);
  start.resize (start.size () - 60);
  EXPECT_TRUE (random_access (video_codec::h264, avc4, start));
  start = annex_b ({ h264_nal (7), idr });
  start.resize (start.size () - 60);
  EXPECT_TRUE (random_access (video_codec::h264, byte_stream, start));
}

// H.265: IRAP pictures (IDR, CRA, BLA: types 16 to 23) are; trailing and
// leading pictures are not.
TEST (NalUnits, H265IrapIsARandomAccessUnitAndOtherSlicesAreNot)
{
  for (unsigned irap : { 16u, 19u, 20u, 21u })
    EXPECT_TRUE (random_access (
        video_codec::h265, byte_stream,
        annex_b ({ h265_nal (35), h265_nal (32), h265_nal (33), h265_nal (34),
                   h265_nal (irap) })))
        << irap;
  for (unsigned other : { 0u, 1u, 8u, 9u })
    EXPECT_FALSE (random_access (video_codec::h265, byte_stream,
                                 annex_b ({ h265_nal (32), h265_nal (other) })))
        << other;
  EXPECT_TRUE (random_access (
      video_codec::h265, avc4,
      length_prefixed ({ h265_nal (39), h265_nal (19) }, 4)));
}

// What cannot be followed to a slice is not one: nothing, no start code,
// parameter sets alone, a length past the end, a length size not 1, 2 or 4.
TEST (NalUnits, WhatCannotBeReadIsNotARandomAccessUnit)
{
  EXPECT_FALSE (is_random_access_unit (video_codec::h264, byte_stream,
                                       nullptr, 0));
  EXPECT_FALSE (random_access (video_codec::h264, byte_stream, bytes{}));
  EXPECT_FALSE (
      random_access (video_codec::h264, byte_stream, bytes{ 0x65, 0x88 }));
  EXPECT_FALSE (random_access (video_codec::h264, byte_stream,
                               annex_b ({ h264_nal (7), h264_nal (8) })));
  EXPECT_FALSE (random_access (video_codec::h264, byte_stream,
                               bytes{ 0, 0, 1 }));
  bytes cut = length_prefixed ({ h264_nal (7), h264_nal (5) }, 4);
  cut[3] = 200;
  EXPECT_FALSE (random_access (video_codec::h264, avc4, cut))
      << "a unit before the slice that runs past the end";
  EXPECT_FALSE (random_access (
      video_codec::h264, nal_framing{ true, 3 },
      length_prefixed ({ h264_nal (5) }, 3)));
  EXPECT_FALSE (random_access (video_codec::h264, avc4,
                               length_prefixed ({ bytes{} }, 4)));
}

// The length size comes from avcC's byte 4 and hvcC's byte 21 (two low
// bits + 1); codec data too short to say gives 4.
TEST (NalUnits, LengthSizeComesFromTheCodecData)
{
  bytes avcc{ 1, 0x64, 0, 0x1f, 0xfc | 1, 0xe1 };
  EXPECT_EQ (nal_length_size (video_codec::h264, avcc.data (), avcc.size ()),
             2);
  avcc[4] = 0xff;
  EXPECT_EQ (nal_length_size (video_codec::h264, avcc.data (), avcc.size ()),
             4);
  bytes hvcc (23, 0);
  hvcc[21] = 0xfc;
  EXPECT_EQ (nal_length_size (video_codec::h265, hvcc.data (), hvcc.size ()),
             1);
  EXPECT_EQ (nal_length_size (video_codec::h264, avcc.data (), 4), 4);
  EXPECT_EQ (nal_length_size (video_codec::h265, hvcc.data (), 21), 4);
  EXPECT_EQ (nal_length_size (video_codec::h264, nullptr, 0), 4);
}
