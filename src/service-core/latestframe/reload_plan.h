/* latestframe-service — what a reload changes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/service_config.h"

#include <string>
#include <vector>

namespace latestframe::service
{

/* The cameras a reload acts on, by id; every id of `running` and `wanted`
 * is in exactly one of the four lists. */
struct reload_plan
{
  /* Wanted, not running: build and start, in `wanted`'s order. */
  std::vector<std::string> start;
  /* Running, no longer wanted: stop, in `running`'s order. */
  std::vector<std::string> stop;
  /* In both with settings that differ (camera_config::same_pipeline_as):
   * stop, then start with the wanted settings; in `wanted`'s order. */
  std::vector<std::string> restart;
  /* In both, the same pipeline: leave running untouched, even when the
   * camera moved to another line of the file; in `wanted`'s order. */
  std::vector<std::string> keep;
};

/* What to do to go from the cameras `running` to the cameras `wanted`
 * (this shard's share of the re-read file), matching cameras by id. Ids
 * must be unique within each list, as parse_service_config and
 * cameras_of_shard give them; a repeated id throws std::invalid_argument.
 * Pure: process-wide settings (broker, budget) are the caller's to
 * compare. */
reload_plan plan_reload (const std::vector<camera_config> &running,
                         const std::vector<camera_config> &wanted);

} // namespace latestframe::service
