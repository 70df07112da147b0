/* latestframe — one frame's detections as a JSON message
 * (schema/detections.schema.json, "latestframe/detections/1").
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace latestframe
{
namespace mqtt
{

/* The value of the messages' "schema" field. */
inline constexpr std::string_view detection_schema_id
    = "latestframe/detections/1";

/* One detection. The strings are views: they must outlive the call to
 * write_detection_message() only. */
struct detection_fields
{
  /* The analysis that found it ("cvmotion"); absent = null (a region of
   * interest no analysis of ours described). */
  std::optional<std::string_view> analysis;
  std::string_view label;
  /* 0..1; absent (or not finite) = null. */
  std::optional<double> confidence;
  std::int64_t x = 0;
  std::int64_t y = 0;
  std::int64_t width = 0;
  std::int64_t height = 0;
  /* Decoded text (a QR code's); absent = no "text" field. */
  std::optional<std::string_view> text;
};

/* One frame's message. */
struct frame_fields
{
  std::string_view camera;
  std::string_view publisher;
  std::uint64_t sequence = 0;
  /* Unix time of capture, ns; absent = null. */
  std::optional<std::uint64_t> capture_time_ns;
  /* The frame's presentation timestamp, ns; absent = null. */
  std::optional<std::uint64_t> pts_ns;
  /* Unix time when the message was made, ns. */
  std::int64_t published_at_ns = 0;
  std::int64_t width = 0;
  std::int64_t height = 0;
  const detection_fields *detections = nullptr;
  std::size_t detection_count = 0;
};

/* Replaces `out` with the JSON message of `frame` (one line, UTF-8): the
 * fields of the schema in its order. Strings that are not valid UTF-8 get
 * U+FFFD for each bad byte; numbers are written locale-independently;
 * times as RFC 3339 UTC with milliseconds ("2024-05-01T12:00:00.123Z").
 * Allocates nothing when `out` already has the capacity. Any thread. */
void write_detection_message (const frame_fields &frame, std::string &out);

/* Appends `text` to `out` as a JSON string (quoted, escaped, UTF-8 made
 * valid as above). */
void append_json_string (std::string &out, std::string_view text);

/* Appends the RFC 3339 UTC time of `unix_ns` with milliseconds, unquoted
 * (rounded down to the millisecond). */
void append_rfc3339_ms (std::string &out, std::int64_t unix_ns);

} // namespace mqtt
} // namespace latestframe
