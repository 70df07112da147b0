/* latestframe::mqtt::write_detection_message: the JSON the element publishes,
 * read back with nlohmann-json (the reference parser): every field of the
 * schema, nulls where a value is unknown, strings escaped and made valid
 * UTF-8 whatever bytes they held, numbers independent of the locale. */
#include "latestframe/detection_message.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <clocale>
#include <random>
#include <string>
#include <vector>

namespace
{

using latestframe::mqtt::append_json_string;
using latestframe::mqtt::append_rfc3339_ms;
using latestframe::mqtt::detection_fields;
using latestframe::mqtt::frame_fields;
using latestframe::mqtt::write_detection_message;
using json = nlohmann::json;

json
parse (const frame_fields &frame)
{
  std::string out;
  write_detection_message (frame, out);
  return json::parse (out);
}

std::string
rfc3339 (std::int64_t unix_ns)
{
  std::string out;
  append_rfc3339_ms (out, unix_ns);
  return out;
}

} // namespace

// Every field of a frame with detections, in the schema's names and types.
TEST (DetectionMessage, AllFields)
{
  detection_fields motion;
  motion.analysis = "cvmotion";
  motion.label = "motion";
  motion.confidence = 0.93;
  motion.x = 10;
  motion.y = 20;
  motion.width = 30;
  motion.height = 40;
  detection_fields code;
  code.analysis = "cvqrdecode";
  code.label = "qrcode";
  code.confidence = 1.0;
  code.text = "https://example.com/?a=\"b\"";
  const detection_fields found[] = { motion, code };

  frame_fields frame;
  frame.camera = "door";
  frame.publisher = "host:42";
  frame.sequence = 7;
  frame.capture_time_ns = 1700000000123456789ull;
  frame.pts_ns = 5000000000ull;
  frame.published_at_ns = 1700000000223456789ll;
  frame.width = 320;
  frame.height = 240;
  frame.detections = found;
  frame.detection_count = 2;

  const json message = parse (frame);
  EXPECT_EQ (message["schema"], "latestframe/detections/1");
  EXPECT_EQ (message["camera"], "door");
  EXPECT_EQ (message["publisher"], "host:42");
  EXPECT_EQ (message["sequence"], 7);
  EXPECT_EQ (message["capture_time_ns"], 1700000000123456789ull);
  EXPECT_EQ (message["capture_time"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ (message["pts_ns"], 5000000000ull);
  EXPECT_EQ (message["published_at"], "2023-11-14T22:13:20.223Z");
  EXPECT_DOUBLE_EQ (message["age_ms"].get<double> (), 100.0);
  EXPECT_EQ (message["width"], 320);
  EXPECT_EQ (message["height"], 240);
  ASSERT_EQ (message["detections"].size (), 2u);
  const json &first = message["detections"][0];
  EXPECT_EQ (first["analysis"], "cvmotion");
  EXPECT_EQ (first["label"], "motion");
  EXPECT_DOUBLE_EQ (first["confidence"].get<double> (), 0.93);
  EXPECT_EQ (first["x"], 10);
  EXPECT_EQ (first["y"], 20);
  EXPECT_EQ (first["width"], 30);
  EXPECT_EQ (first["height"], 40);
  EXPECT_FALSE (first.contains ("text"));
  EXPECT_EQ (message["detections"][1]["text"], "https://example.com/?a=\"b\"");
  EXPECT_EQ (message.size (), 12u);
}

// Unknown times are null, a region no analysis described has null analysis
// and confidence, and a frame without detections has an empty list.
TEST (DetectionMessage, NullsWhereUnknown)
{
  frame_fields frame;
  frame.camera = "c";
  frame.publisher = "p";
  frame.sequence = 1;
  frame.published_at_ns = 0;
  json message = parse (frame);
  EXPECT_TRUE (message["capture_time_ns"].is_null ());
  EXPECT_TRUE (message["capture_time"].is_null ());
  EXPECT_TRUE (message["pts_ns"].is_null ());
  EXPECT_TRUE (message["age_ms"].is_null ());
  EXPECT_EQ (message["published_at"], "1970-01-01T00:00:00.000Z");
  EXPECT_TRUE (message["detections"].is_array ());
  EXPECT_TRUE (message["detections"].empty ());

  detection_fields region;
  region.label = "face";
  region.confidence = std::numeric_limits<double>::quiet_NaN ();
  frame.detections = &region;
  frame.detection_count = 1;
  message = parse (frame);
  EXPECT_TRUE (message["detections"][0]["analysis"].is_null ());
  EXPECT_TRUE (message["detections"][0]["confidence"].is_null ());
  EXPECT_EQ (message["detections"][0]["label"], "face");
}

// Times are RFC 3339 UTC, rounded down to the millisecond, before 1970 too.
TEST (DetectionMessage, Rfc3339Milliseconds)
{
  EXPECT_EQ (rfc3339 (0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ (rfc3339 (999999), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ (rfc3339 (1000000), "1970-01-01T00:00:00.001Z");
  EXPECT_EQ (rfc3339 (-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ (rfc3339 (951782400000000000ll), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ (rfc3339 (4102444799999000000ll), "2099-12-31T23:59:59.999Z");
}

// Any bytes in a string give valid JSON: valid UTF-8 (with quotes,
// backslashes, control characters, multi-byte characters) reads back
// exactly; an invalid byte reads back as U+FFFD.
TEST (DetectionMessage, StringsRoundTrip)
{
  const auto round_trip = [] (const std::string &text) {
    std::string out;
    append_json_string (out, text);
    return json::parse (out).get<std::string> ();
  };
  EXPECT_EQ (round_trip ("plain"), "plain");
  EXPECT_EQ (round_trip ("\"\\/\b\f\n\r\t\x01\x1f\x7f"),
             "\"\\/\b\f\n\r\t\x01\x1f\x7f");
  EXPECT_EQ (round_trip ("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
             "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ (round_trip ("a\xff"
                         "b"),
             "a\xef\xbf\xbd"
             "b");
  EXPECT_EQ (round_trip ("\xc0\xaf"),
             "\xef\xbf\xbd\xef\xbf\xbd"); /* overlong */
  EXPECT_EQ (round_trip ("\xed\xa0\x80"),
             "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* a surrogate */
  EXPECT_EQ (round_trip ("\xe2\x82"), "\xef\xbf\xbd\xef\xbf\xbd"); /* cut */

  /* Random bytes: always parses; valid input comes back unchanged. */
  std::mt19937 random (1);
  for (int i = 0; i < 2000; i++)
    {
      std::string text (std::uniform_int_distribution<int> (0, 12) (random),
                        '\0');
      for (char &c : text)
        c = static_cast<char> (
            std::uniform_int_distribution<int> (0, 255) (random));
      std::string out;
      append_json_string (out, text);
      json parsed;
      ASSERT_NO_THROW (parsed = json::parse (out)) << out;
      bool valid = true;
      try
        {
          (void)json (text).dump ();
        }
      catch (const json::type_error &)
        {
          valid = false;
        }
      if (valid)
        {
          EXPECT_EQ (parsed.get<std::string> (), text);
        }
    }
}

// Numbers do not follow the locale (a decimal comma would break the JSON).
TEST (DetectionMessage, NumbersIgnoreTheLocale)
{
  const char *before = std::setlocale (LC_NUMERIC, nullptr);
  const std::string saved = before ? before : "C";
  if (!std::setlocale (LC_NUMERIC, "de_DE.UTF-8"))
    std::setlocale (LC_NUMERIC, "fr_FR.UTF-8");
  detection_fields region;
  region.label = "x";
  region.confidence = 0.5;
  frame_fields frame;
  frame.capture_time_ns = 1500000;
  frame.published_at_ns = 3000000;
  frame.detections = &region;
  frame.detection_count = 1;
  std::string out;
  write_detection_message (frame, out);
  std::setlocale (LC_NUMERIC, saved.c_str ());
  const json message = json::parse (out);
  EXPECT_DOUBLE_EQ (message["detections"][0]["confidence"].get<double> (), 0.5);
  EXPECT_DOUBLE_EQ (message["age_ms"].get<double> (), 1.5);
}

// A reused string needs no new memory once it has held a message as long.
TEST (DetectionMessage, ReusedStringKeepsItsCapacity)
{
  frame_fields frame;
  frame.camera = "camera";
  std::string out;
  write_detection_message (frame, out);
  const std::size_t capacity = out.capacity ();
  const char *data = out.data ();
  write_detection_message (frame, out);
  EXPECT_EQ (out.capacity (), capacity);
  EXPECT_EQ (out.data (), data);
}
