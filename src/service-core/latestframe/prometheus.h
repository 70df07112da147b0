/* latestframe-service — Prometheus' text exposition format.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Writes the text format, version 0.0.4, that GET /metrics answers with:
 *
 *   # HELP latestframe_frames_dropped_total Frames dropped, by reason.
 *   # TYPE latestframe_frames_dropped_total counter
 *   latestframe_frames_dropped_total{camera="door",reason="age"} 12
 *
 * Only what the service needs: gauges and counters, no timestamps (the
 * scrape's time is the right one for live figures). */
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace latestframe::service
{

enum class metric_type
{
  gauge,
  counter,
};

/* A sample's labels, written in this order. Names follow
 * [a-zA-Z_][a-zA-Z0-9_]* and do not start with "__" (reserved); values are
 * any UTF-8 text. */
using metric_labels = std::vector<std::pair<std::string, std::string>>;

/* A value as the format writes it: a whole number below 2^63 in magnitude
 * as an integer ("42", "-3"), any other finite number in the shortest form
 * that reads back to the same double ("0.1", "1.5e+300"), and "NaN",
 * "+Inf", "-Inf". */
std::string prometheus_value (double value);

/* The body of one scrape, built family by family: family() writes a
 * metric's HELP and TYPE lines, then sample() writes its samples. Not
 * thread-safe; build one per scrape. */
class metrics_text
{
public:
  /* The Content-Type the HTTP answer carries. */
  static constexpr const char *content_type
      = "text/plain; version=0.0.4; charset=utf-8";

  /* Starts the family `name` (the samples that follow are named so). `help`
   * is escaped (backslash, newline). Throws std::invalid_argument when the
   * name does not follow [a-zA-Z_:][a-zA-Z0-9_:]*, or when this text
   * already has a family of that name (each family's HELP and TYPE come
   * once, with all of its samples after them). */
  void family (std::string_view name, std::string_view help, metric_type type);

  /* Writes one sample of the current family: `name{labels} value`, label
   * values escaped (backslash, double quote, newline). Integers are written
   * exactly, whatever their size; floating values by prometheus_value().
   * Throws std::invalid_argument for a bad or repeated label name, and
   * std::logic_error before the first family(). */
  template <typename number,
            std::enable_if_t<std::is_arithmetic_v<number>, int> = 0>
  void sample (const metric_labels &labels, number value)
  {
    if constexpr (std::is_same_v<number, bool>)
      write_sample (labels, value ? "1" : "0");
    else if constexpr (std::is_integral_v<number> && std::is_signed_v<number>)
      write_sample (labels, std::to_string (static_cast<long long> (value)));
    else if constexpr (std::is_integral_v<number>)
      write_sample (labels,
                    std::to_string (static_cast<unsigned long long> (value)));
    else
      write_sample (labels, prometheus_value (static_cast<double> (value)));
  }

  /* The text so far; every line ends with a newline. */
  const std::string &str () const { return text_; }

  /* Hands the text over and starts afresh. */
  std::string take ();

private:
  void write_sample (const metric_labels &labels, const std::string &value);

  std::string text_;
  std::string current_family_;
  std::set<std::string, std::less<>> families_;
};

} // namespace latestframe::service
