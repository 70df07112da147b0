/* latestframe-service — the cameras one process runs, each a capture that
 * analyses in its own pipeline.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/capture.h"
#include "latestframe/reload_plan.h"
#include "latestframe/service_config.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace latestframe::service
{

/* What every camera's pipeline shares in this process. */
struct fleet_settings
{
  broker_config broker;
  /* mqttpublish's process-wide connection the cameras publish through. */
  std::string connection;
  /* Put in every message: which process sent it. */
  std::string publisher;
  /* latestframe's memory budget all cameras share, and its cap. */
  std::string memory_budget = "latestframe-service";
  std::uint64_t memory_budget_bytes = 0;
};

/* One camera as the fleet runs it. */
struct camera_view
{
  camera_config config;
  capture_stats stats;
  /* Which start of this camera in the process (1, 2, ...: a restart by a
   * reload is a new pipeline, reconnections are not): a subscriber sees
   * from it which pipelines a reload touched. */
  std::uint64_t instance = 0;
  std::chrono::steady_clock::time_point started;
};

/* A camera whose capture gave up and closed, and why. */
struct closed_camera
{
  camera_config config;
  std::uint64_t instance = 0;
  std::string reason;
};

/* The cameras of one process: a capture per camera (its own pipeline,
 * reconnecting with backoff and jitter on its own thread), started in the
 * background so that a camera that is down at start does not hold up the
 * others.
 *
 *   rtspsrc ! decodebin ! latestframe max-age=... ! videoconvert
 *     ! <analyses> ! mqttpublish camera=<id> connection=... ! fakesink
 *
 * Not thread-safe: one thread (the service's main loop) calls everything. */
class camera_fleet
{
public:
  explicit camera_fleet (fleet_settings settings);
  ~camera_fleet ();
  camera_fleet (const camera_fleet &) = delete;
  camera_fleet &operator= (const camera_fleet &) = delete;

  /* Makes `wanted` the cameras that run: starts the new ones, stops the
   * ones no longer wanted, restarts the changed ones, and leaves the others
   * running untouched. Returns what it did. A camera whose pipeline cannot
   * be built (an analyses fragment that does not parse) stays listed,
   * closed, with its reason in last_error. */
  reload_plan apply (const std::vector<camera_config> &wanted);

  /* Every camera with its figures now, in the order of `wanted`. */
  std::vector<camera_view> cameras () const;

  /* The cameras whose capture is closed with a reason (a pipeline that
   * cannot be built), from each capture's state and last error alone:
   * cheaper than cameras(), which reads every camera's figures. */
  std::vector<closed_camera> closed_cameras () const;

  /* Every camera's capture by id, shared: for the snapshots answered on
   * other threads (capture::last_analysed is thread-safe). A capture
   * stopped by apply() or stop_all() is released, and lives on only until
   * its last holder lets go. */
  std::map<std::string, std::shared_ptr<capture>> captures () const;

  /* Stops every camera (each pipeline goes to NULL; mqttpublish sends what
   * it still holds, within its drain timeout). */
  void stop_all ();

  /* The analysis fragment a camera's pipeline runs after videoconvert. */
  std::string analysis_of (const camera_config &camera) const;

private:
  struct running_camera
  {
    camera_config config;
    std::shared_ptr<capture> source;
    std::uint64_t instance = 0;
    std::chrono::steady_clock::time_point started;
  };

  void start (const camera_config &camera);
  capture_options options_of (const camera_config &camera) const;

  const fleet_settings settings_;
  std::vector<std::string> order_;
  std::map<std::string, running_camera> running_;
  std::uint64_t starts_ = 0;
};

} // namespace latestframe::service
