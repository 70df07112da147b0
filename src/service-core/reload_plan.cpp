/* latestframe-service — what a reload changes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/reload_plan.h"

#include <map>
#include <stdexcept>

namespace latestframe::service
{

namespace
{

std::map<std::string, const camera_config *>
by_id (const std::vector<camera_config> &cameras, const char *which)
{
  std::map<std::string, const camera_config *> found;
  for (const camera_config &camera : cameras)
    if (!found.emplace (camera.id, &camera).second)
      throw std::invalid_argument (std::string ("plan_reload: camera id \"")
                                   + camera.id + "\" twice in the " + which
                                   + " cameras");
  return found;
}

} // namespace

reload_plan
plan_reload (const std::vector<camera_config> &running,
             const std::vector<camera_config> &wanted)
{
  const auto running_by_id = by_id (running, "running");
  const auto wanted_by_id = by_id (wanted, "wanted");
  reload_plan plan;
  for (const camera_config &camera : wanted)
    {
      const auto now = running_by_id.find (camera.id);
      if (now == running_by_id.end ())
        plan.start.push_back (camera.id);
      else if (now->second->same_pipeline_as (camera))
        plan.keep.push_back (camera.id);
      else
        plan.restart.push_back (camera.id);
    }
  for (const camera_config &camera : running)
    if (wanted_by_id.count (camera.id) == 0)
      plan.stop.push_back (camera.id);
  return plan;
}

} // namespace latestframe::service
