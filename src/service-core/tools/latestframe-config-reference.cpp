/* latestframe-config-reference: prints the keys of latestframe-service's
 * configuration file as JSON, from the reader's own tables, for the parts
 * of the docs and schemas made from them (tests/docs/reference.py renders
 * and checks docs/service.md's table and schema/service-config.schema.json).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/json_text.h"
#include "latestframe/service_config.h"

#include <cstdio>

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
                   separator, latestframe::json_quoted (key.section).c_str (),
                   latestframe::json_quoted (key.name).c_str (),
                   latestframe::json_quoted (key.value).c_str (),
                   key.schema.empty () ? "null" : key.schema.c_str (),
                   latestframe::json_quoted (key.meaning).c_str ());
      separator = ",";
    }
  std::printf ("]}\n");
  return 0;
}
