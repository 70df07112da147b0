/* latestframe-service — Prometheus' text exposition format.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/prometheus.h"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace latestframe::service
{

namespace
{

bool
is_letter_or_underscore (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool
is_digit (char c)
{
  return c >= '0' && c <= '9';
}

bool
is_metric_name (std::string_view name)
{
  if (name.empty () || !(is_letter_or_underscore (name[0]) || name[0] == ':'))
    return false;
  for (char c : name)
    if (!(is_letter_or_underscore (c) || is_digit (c) || c == ':'))
      return false;
  return true;
}

bool
is_label_name (std::string_view name)
{
  if (name.empty () || !is_letter_or_underscore (name[0])
      || name.substr (0, 2) == "__")
    return false;
  for (char c : name)
    if (!(is_letter_or_underscore (c) || is_digit (c)))
      return false;
  return true;
}

/* HELP text escapes backslash and newline; label values also the double
 * quote that ends them. */
void
append_escaped (std::string &out, std::string_view text, bool quote_too)
{
  for (char c : text)
    {
      if (c == '\\')
        out += "\\\\";
      else if (c == '\n')
        out += "\\n";
      else if (c == '"' && quote_too)
        out += "\\\"";
      else
        out += c;
    }
}

} // namespace

std::string
prometheus_value (double value)
{
  if (std::isnan (value))
    return "NaN";
  if (std::isinf (value))
    return value > 0 ? "+Inf" : "-Inf";
  // 2^63: every whole double below it in magnitude fits in a long long.
  constexpr double integer_limit = 9223372036854775808.0;
  if (std::trunc (value) == value && std::fabs (value) < integer_limit)
    return std::to_string (static_cast<long long> (value));
  char buffer[64];
  auto [end, error] = std::to_chars (buffer, buffer + sizeof buffer, value);
  (void)error; // Shortest form of a double always fits 64 characters.
  return std::string (buffer, end);
}

void
metrics_text::family (std::string_view name, std::string_view help,
                      metric_type type)
{
  if (!is_metric_name (name))
    throw std::invalid_argument ("metric name \"" + std::string (name)
                                 + "\" does not follow "
                                   "[a-zA-Z_:][a-zA-Z0-9_:]*");
  if (!families_.emplace (name).second)
    throw std::invalid_argument ("metric family \"" + std::string (name)
                                 + "\" written twice: its HELP, TYPE and "
                                   "samples go together, once");
  current_family_ = std::string (name);
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  append_escaped (text_, help, false);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += type == metric_type::counter ? " counter\n" : " gauge\n";
}

void
metrics_text::write_sample (const metric_labels &labels,
                            const std::string &value)
{
  if (current_family_.empty ())
    throw std::logic_error ("metrics_text: a sample before any family");
  for (std::size_t i = 0; i < labels.size (); i++)
    {
      const std::string &name = labels[i].first;
      if (!is_label_name (name))
        throw std::invalid_argument ("label name \"" + name
                                     + "\" does not follow "
                                       "[a-zA-Z_][a-zA-Z0-9_]* or starts "
                                       "with __");
      for (std::size_t j = 0; j < i; j++)
        if (labels[j].first == name)
          throw std::invalid_argument ("label \"" + name + "\" given twice");
    }
  text_ += current_family_;
  if (!labels.empty ())
    {
      text_ += '{';
      for (std::size_t i = 0; i < labels.size (); i++)
        {
          if (i > 0)
            text_ += ',';
          text_ += labels[i].first;
          text_ += "=\"";
          append_escaped (text_, labels[i].second, true);
          text_ += '"';
        }
      text_ += '}';
    }
  text_ += ' ';
  text_ += value;
  text_ += '\n';
}

std::string
metrics_text::take ()
{
  std::string text = std::move (text_);
  text_.clear ();
  current_family_.clear ();
  families_.clear ();
  return text;
}

} // namespace latestframe::service
