/* latestframe — one frame's detections as a JSON message, written straight
 * into a reused string: no document tree per frame.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/detection_message.h"

#include <charconv>
#include <cmath>
#include <ctime>
#include <limits>

namespace latestframe
{
namespace mqtt
{

namespace
{

constexpr std::string_view replacement_character = "\xEF\xBF\xBD";

bool
is_continuation (unsigned char byte)
{
  return (byte & 0xC0) == 0x80;
}

/* The length of the valid UTF-8 sequence (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF) starting at text[at] with a byte
 * >= 0x80, or 0 when it is not one. */
std::size_t
utf8_sequence_length (std::string_view text, std::size_t at)
{
  const auto byte = [&] (std::size_t i) {
    return static_cast<unsigned char> (text[at + i]);
  };
  const std::size_t left = text.size () - at;
  const unsigned char first = byte (0);
  if (first >= 0xC2 && first <= 0xDF)
    return left >= 2 && is_continuation (byte (1)) ? 2 : 0;
  if (first >= 0xE0 && first <= 0xEF)
    {
      if (left < 3 || !is_continuation (byte (1))
          || !is_continuation (byte (2)))
        return 0;
      if (first == 0xE0 && byte (1) < 0xA0)
        return 0; /* overlong */
      if (first == 0xED && byte (1) > 0x9F)
        return 0; /* a surrogate */
      return 3;
    }
  if (first >= 0xF0 && first <= 0xF4)
    {
      if (left < 4 || !is_continuation (byte (1)) || !is_continuation (byte (2))
          || !is_continuation (byte (3)))
        return 0;
      if (first == 0xF0 && byte (1) < 0x90)
        return 0; /* overlong */
      if (first == 0xF4 && byte (1) > 0x8F)
        return 0; /* above U+10FFFF */
      return 4;
    }
  return 0;
}

template <typename Integer>
void
append_integer (std::string &out, Integer value)
{
  char digits[24];
  const std::to_chars_result end
      = std::to_chars (digits, digits + sizeof digits, value);
  out.append (digits, end.ptr);
}

/* The shortest text that reads back as `value`, or null when JSON has no
 * number for it. */
void
append_number (std::string &out, double value)
{
  if (!std::isfinite (value))
    {
      out += "null";
      return;
    }
  char digits[32];
  const std::to_chars_result end
      = std::to_chars (digits, digits + sizeof digits, value);
  out.append (digits, end.ptr);
}

void
append_fixed3 (std::string &out, double value)
{
  if (!std::isfinite (value))
    {
      out += "null";
      return;
    }
  char digits[48];
  const std::to_chars_result end = std::to_chars (
      digits, digits + sizeof digits, value, std::chars_format::fixed, 3);
  if (end.ec != std::errc ())
    {
      append_number (out, value);
      return;
    }
  out.append (digits, end.ptr);
}

void
append_two_digits (std::string &out, int value)
{
  out.push_back (static_cast<char> ('0' + value / 10 % 10));
  out.push_back (static_cast<char> ('0' + value % 10));
}

/* "key": */
void
append_key (std::string &out, std::string_view key)
{
  out.push_back ('"');
  out.append (key);
  out += "\":";
}

void
append_optional_integer (std::string &out,
                         const std::optional<std::uint64_t> &value)
{
  if (value)
    append_integer (out, *value);
  else
    out += "null";
}

} // namespace

void
append_json_string (std::string &out, std::string_view text)
{
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back ('"');
  std::size_t at = 0;
  while (at < text.size ())
    {
      const auto byte = static_cast<unsigned char> (text[at]);
      if (byte >= 0x80)
        {
          const std::size_t length = utf8_sequence_length (text, at);
          if (length == 0)
            {
              out.append (replacement_character);
              at++;
            }
          else
            {
              out.append (text.substr (at, length));
              at += length;
            }
          continue;
        }
      switch (byte)
        {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (byte < 0x20)
            {
              out += "\\u00";
              out.push_back (hex[byte >> 4]);
              out.push_back (hex[byte & 0xF]);
            }
          else
            out.push_back (static_cast<char> (byte));
          break;
        }
      at++;
    }
  out.push_back ('"');
}

void
append_rfc3339_ms (std::string &out, std::int64_t unix_ns)
{
  constexpr std::int64_t ns_per_ms = 1000000;
  constexpr std::int64_t ms_per_s = 1000;
  /* Floor division: a time before 1970 still names the millisecond that
   * contains it. */
  std::int64_t ms = unix_ns / ns_per_ms;
  if (unix_ns % ns_per_ms < 0)
    ms--;
  std::int64_t seconds = ms / ms_per_s;
  std::int64_t millis = ms % ms_per_s;
  if (millis < 0)
    {
      millis += ms_per_s;
      seconds--;
    }
  const std::time_t when = static_cast<std::time_t> (seconds);
  std::tm utc{};
  gmtime_r (&when, &utc);
  append_integer (out, utc.tm_year + 1900);
  out.push_back ('-');
  append_two_digits (out, utc.tm_mon + 1);
  out.push_back ('-');
  append_two_digits (out, utc.tm_mday);
  out.push_back ('T');
  append_two_digits (out, utc.tm_hour);
  out.push_back (':');
  append_two_digits (out, utc.tm_min);
  out.push_back (':');
  append_two_digits (out, utc.tm_sec);
  out.push_back ('.');
  out.push_back (static_cast<char> ('0' + millis / 100));
  append_two_digits (out, static_cast<int> (millis % 100));
  out.push_back ('Z');
}

void
write_detection_message (const frame_fields &frame, std::string &out)
{
  out.clear ();
  out += "{\"schema\":";
  append_json_string (out, detection_schema_id);
  out.push_back (',');
  append_key (out, "camera");
  append_json_string (out, frame.camera);
  out.push_back (',');
  append_key (out, "publisher");
  append_json_string (out, frame.publisher);
  out.push_back (',');
  append_key (out, "sequence");
  append_integer (out, frame.sequence);
  out.push_back (',');

  /* A capture time past 2262 does not fit the signed ns of the clock it is
   * compared with: then it is not a time this host can tell. */
  const bool has_capture
      = frame.capture_time_ns
        && *frame.capture_time_ns <= static_cast<std::uint64_t> (
               std::numeric_limits<std::int64_t>::max ());
  const std::int64_t capture_ns
      = has_capture ? static_cast<std::int64_t> (*frame.capture_time_ns) : 0;
  append_key (out, "capture_time_ns");
  if (has_capture)
    append_integer (out, capture_ns);
  else
    out += "null";
  out.push_back (',');
  append_key (out, "capture_time");
  if (has_capture)
    {
      out.push_back ('"');
      append_rfc3339_ms (out, capture_ns);
      out.push_back ('"');
    }
  else
    out += "null";
  out.push_back (',');
  append_key (out, "pts_ns");
  append_optional_integer (out, frame.pts_ns);
  out.push_back (',');
  append_key (out, "published_at");
  out.push_back ('"');
  append_rfc3339_ms (out, frame.published_at_ns);
  out.push_back ('"');
  out.push_back (',');
  append_key (out, "age_ms");
  if (has_capture)
    append_fixed3 (out, static_cast<double> (frame.published_at_ns - capture_ns)
                            / 1e6);
  else
    out += "null";
  out.push_back (',');
  append_key (out, "width");
  append_integer (out, frame.width);
  out.push_back (',');
  append_key (out, "height");
  append_integer (out, frame.height);
  out.push_back (',');
  append_key (out, "detections");
  out.push_back ('[');
  for (std::size_t i = 0; i < frame.detection_count; i++)
    {
      const detection_fields &found = frame.detections[i];
      if (i > 0)
        out.push_back (',');
      out.push_back ('{');
      append_key (out, "analysis");
      if (found.analysis)
        append_json_string (out, *found.analysis);
      else
        out += "null";
      out.push_back (',');
      append_key (out, "label");
      append_json_string (out, found.label);
      out.push_back (',');
      append_key (out, "confidence");
      if (found.confidence)
        append_number (out, *found.confidence);
      else
        out += "null";
      out.push_back (',');
      append_key (out, "x");
      append_integer (out, found.x);
      out.push_back (',');
      append_key (out, "y");
      append_integer (out, found.y);
      out.push_back (',');
      append_key (out, "width");
      append_integer (out, found.width);
      out.push_back (',');
      append_key (out, "height");
      append_integer (out, found.height);
      if (found.text)
        {
          out.push_back (',');
          append_key (out, "text");
          append_json_string (out, *found.text);
        }
      out.push_back ('}');
    }
  out += "]}";
}

} // namespace mqtt
} // namespace latestframe
