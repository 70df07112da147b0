/* latestframe-service — each camera's health, as an MQTT message and as
 * Prometheus metrics: the same figures, from one snapshot.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "camera_fleet.h"
#include "latestframe/rendezvous.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace latestframe::service
{

/* The process's own figures, beside its cameras'. */
struct process_figures
{
  std::string publisher;
  shard_identity shard;
  double uptime_s = 0;
  std::uint64_t rss_bytes = 0;
  /* CPU time the process used (user + system), s. */
  double cpu_s = 0;
  /* The memory budget all cameras share: its cap (0 = none) and what all
   * of them hold and have in flight now. */
  std::uint64_t budget_bytes = 0;
  std::uint64_t budget_used_bytes = 0;
  /* The MQTT connection (mqttpublish's stats). */
  bool mqtt_connected = false;
  std::uint64_t mqtt_published = 0;
  std::uint64_t mqtt_dropped = 0;
  std::uint64_t mqtt_backlog = 0;
  std::uint64_t mqtt_connects = 0;
  std::uint64_t mqtt_disconnects = 0;
  /* Why the last connection attempt or connection failed, in the words of
   * the publisher (a refused password, an untrusted certificate); empty
   * when none did. Never holds a secret: the publisher's reasons name no
   * password. */
  std::string mqtt_last_error;
  /* The messages each camera lost from the full backlog: the backlog is
   * shared fairly, so a chatty camera loses its own. Cameras with none
   * may be missing. */
  std::map<std::string, std::uint64_t> mqtt_dropped_by_camera;
  /* JPEGs the HTTP server encoded for GET /cameras/<id>/latest.jpg, by
   * camera (camera_snapshots::encodes); cameras never asked for may be
   * missing. */
  std::map<std::string, std::uint64_t> snapshot_encodes_by_camera;
  /* Reloads (SIGHUP) applied, and those refused for a bad file. */
  std::uint64_t reloads = 0;
  std::uint64_t reload_failures = 0;
};

/* What the process reads about itself: RSS and CPU time from /proc. */
void read_process_usage (process_figures &figures);

/* One camera's health message (schema/health.schema.json), `now_unix_ns`
 * being when it was taken. */
std::string health_json (const camera_view &camera,
                         const process_figures &process,
                         std::int64_t now_unix_ns);

/* Every camera's figures and the process's, in Prometheus' text format. */
std::string metrics_exposition (const std::vector<camera_view> &cameras,
                                const process_figures &process);

/* Every camera's figures as GET /api/cameras serves them
 * (schema/cameras.schema.json): the same snapshot as metrics_exposition,
 * each camera's URI with its user info as "***". */
std::string cameras_json (const std::vector<camera_view> &cameras,
                          const process_figures &process);

/* RFC 3339, UTC, milliseconds: 2026-11-30T10:50:00.123Z. */
std::string rfc3339_utc (std::int64_t unix_ns);

} // namespace latestframe::service
