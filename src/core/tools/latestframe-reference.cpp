/* latestframe-reference: prints the core's lists as JSON, for the parts of
 * the docs and schemas made from them (tests/docs/reference.py renders and
 * checks them). Today: the drop reasons (drop_reasons.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/drop_reasons.h"
#include "latestframe/json_text.h"

#include <cstdio>

int
main ()
{
  std::printf ("{\"drop_reasons\": [");
  const char *separator = "";
  for (const latestframe::drop_reason_info &reason : latestframe::drop_reasons)
    {
      std::printf ("%s{\"name\": %s, \"meaning\": %s}", separator,
                   latestframe::json_quoted (reason.name).c_str (),
                   latestframe::json_quoted (reason.meaning).c_str ());
      separator = ", ";
    }
  std::printf ("]}\n");
  return 0;
}
