/* latestframe — how much of encoded video reaches the decoder: the one list
 * of the decode modes.
 *
 * The element's `decode` property (its enum's nicks), the capture's
 * `decoding` option (an alias of decode_mode) and the Python keyword, and
 * the service's `decode` key all read and name the modes from the table
 * below; chains.h says what each does.
 *
 * Installed with the capture's header: C++17 only, no GLib.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace latestframe
{

enum class decode_mode : std::uint8_t
{
  all,
  on_demand,
  key_units,
  automatic,
};

struct decode_mode_info
{
  decode_mode mode;
  const char
      *name; /* as the element's property, the service and Python spell it */
  const char *meaning;
};

/* In the enum's order. */
inline constexpr std::array<decode_mode_info, 4> decode_modes{ {
    { decode_mode::all, "all", "every frame kept is decoded" },
    { decode_mode::on_demand, "on-demand",
      "at each analysis, the newest chain up to the newest frame (the "
      "frames before it decoded but not shown)" },
    { decode_mode::key_units, "key-units",
      "key units only: one decode per key interval at most" },
    { decode_mode::automatic, "auto",
      "key-units when the analysis rate and max-age allow one key "
      "interval, else on-demand" },
} };

constexpr const char *
decode_mode_name (decode_mode mode)
{
  return decode_modes[static_cast<std::size_t> (mode)].name;
}

/* The mode named `name`, if any. */
constexpr std::optional<decode_mode>
decode_mode_named (std::string_view name)
{
  for (const decode_mode_info &info : decode_modes)
    if (name == info.name)
      return info.mode;
  return std::nullopt;
}

constexpr bool
decode_modes_in_order ()
{
  for (std::size_t i = 0; i < decode_modes.size (); i++)
    if (static_cast<std::size_t> (decode_modes[i].mode) != i)
      return false;
  return static_cast<std::size_t> (decode_mode::automatic) + 1
         == decode_modes.size ();
}
static_assert (decode_modes_in_order (), "decode_modes: one row per mode, in "
                                         "the enum's order");

} // namespace latestframe
