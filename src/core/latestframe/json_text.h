/* JSON string literals, for the small programs that print the code's own
 * lists as JSON (src/core/tools, src/service-core/tools).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace latestframe
{

/* `text` as a JSON string literal: quotes, backslashes and control
 * characters escaped; other bytes (UTF-8) as they are. */
inline std::string
json_quoted (std::string_view text)
{
  std::string quoted = "\"";
  for (const char c : text)
    {
      if (c == '"' || c == '\\')
        (quoted += '\\') += c;
      else if (static_cast<unsigned char> (c) < 0x20)
        {
          char escape[8];
          std::snprintf (escape, sizeof escape, "\\u%04x", c);
          quoted += escape;
        }
      else
        quoted += c;
    }
  return quoted + "\"";
}

} // namespace latestframe
