/* latestframe-config-reference: prints the keys of latestframe-service's
 * configuration file as JSON, from the reader's own tables, for the parts
 * of the docs and schemas made from them (tests/docs/reference.py renders
 * and checks docs/service.md's table and schema/service-config.schema.json).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/service_config.h"

#include <cstdio>
#include <string>

namespace
{

std::string
json_string (const std::string &text)
{
  std::string quoted = "\"";
  for (const char c : text)
    {
      if (c == '"' || c == '\\')
        quoted += '\\';
      quoted += c;
    }
  return quoted + "\"";
}

} // namespace

int
main ()
{
  std::printf ("{\"config_keys\": [");
  const char *separator = "";
  for (const latestframe::service::config_key_reference &key :
       latestframe::service::config_key_references ())
    {
      /* The schema is JSON already; a section has none (null). */
      std::printf ("%s\n{\"section\": %s, \"name\": %s, \"value\": %s, "
                   "\"schema\": %s, \"meaning\": %s}",
                   separator, json_string (key.section).c_str (),
                   json_string (key.name).c_str (),
                   json_string (key.value).c_str (),
                   key.schema.empty () ? "null" : key.schema.c_str (),
                   json_string (key.meaning).c_str ());
      separator = ",";
    }
  std::printf ("]}\n");
  return 0;
}
