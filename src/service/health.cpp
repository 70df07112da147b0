/* latestframe-service — each camera's health, as an MQTT message and as
 * Prometheus metrics.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "health.h"

#include "latestframe/prometheus.h"
#include "latestframe/uri_credentials.h"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

namespace latestframe::service
{

namespace
{

using json = nlohmann::json;

double
ms (std::uint64_t ns)
{
  return static_cast<double> (ns) / 1e6;
}

/* The figures the health record and the metrics both list item by item,
 * from one place each, so that the two cannot drift apart. */
struct named_count
{
  const char *name;
  std::uint64_t count;
};

/* latestframe's drops by reason (drop_reasons.h): together they are
 * `dropped`. */
std::array<named_count, drop_reason_count>
dropped_by_reason (const capture_stats &stats)
{
  std::array<named_count, drop_reason_count> counts;
  for (std::size_t i = 0; i < drop_reason_count; i++)
    counts[i]
        = { drop_reasons[i].name, stats.dropped_for (drop_reasons[i].reason) };
  return counts;
}

/* The age quantiles of recent frames, ns: the record's key and the
 * metric's quantile label. */
struct age_quantile
{
  const char *key;
  const char *quantile;
  std::uint64_t ns;
};

std::array<age_quantile, 3>
age_quantiles (const capture_stats &stats)
{
  return { { { "p50", "0.5", stats.age_p50_ns },
             { "p95", "0.95", stats.age_p95_ns },
             { "max", "1", stats.age_max_ns } } };
}

} // namespace

void
read_process_usage (process_figures &figures)
{
  const long page = sysconf (_SC_PAGESIZE);
  std::ifstream statm ("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (statm >> size >> resident)
    figures.rss_bytes = resident * static_cast<std::uint64_t> (page);
  /* utime and stime, fields 14 and 15 of /proc/self/stat, after the
   * command in parentheses (which may hold spaces). */
  std::ifstream stat ("/proc/self/stat");
  std::string line;
  std::getline (stat, line);
  const std::size_t end_of_command = line.rfind (')');
  if (end_of_command == std::string::npos)
    return;
  std::istringstream fields (line.substr (end_of_command + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  /* State is field 3; utime is 14. */
  for (int number = 3; number <= 15 && fields >> field; number++)
    {
      if (number == 14)
        utime = std::stoull (field);
      else if (number == 15)
        stime = std::stoull (field);
    }
  figures.cpu_s = static_cast<double> (utime + stime)
                  / static_cast<double> (sysconf (_SC_CLK_TCK));
}

std::string
rfc3339_utc (std::int64_t unix_ns)
{
  const std::time_t seconds = static_cast<std::time_t> (unix_ns / 1000000000);
  const int millis = static_cast<int> ((unix_ns / 1000000) % 1000);
  std::tm utc{};
  gmtime_r (&seconds, &utc);
  char text[96];
  std::snprintf (text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                 utc.tm_min, utc.tm_sec, millis);
  return text;
}

namespace
{

/* What health_json and cameras_json both write, written once. */
json
dropped_by_reason_json (const capture_stats &stats)
{
  json by_reason = json::object ();
  for (const named_count &reason : dropped_by_reason (stats))
    by_reason[reason.name] = reason.count;
  return by_reason;
}

json
video_json (const capture_stats &stats)
{
  return { { "width", stats.width },
           { "height", stats.height },
           { "fps", stats.fps } };
}

/* A camera's count in a map by camera id, which leaves out cameras
 * without any. */
std::uint64_t
count_for (const std::map<std::string, std::uint64_t> &counts,
           const std::string &camera)
{
  const auto found = counts.find (camera);
  return found == counts.end () ? 0 : found->second;
}

/* A reason, or null when there is none. */
json
text_or_null (const std::string &text)
{
  return text.empty () ? json (nullptr) : json (text);
}

} // namespace

std::string
health_json (const camera_view &camera, const process_figures &process,
             std::int64_t now_unix_ns)
{
  const capture_stats &stats = camera.stats;
  json message;
  message["schema"] = "latestframe/health/1";
  message["camera"] = camera.config.id;
  message["publisher"] = process.publisher;
  message["shard"]
      = { { "index", process.shard.index }, { "count", process.shard.count } };
  message["time"] = rfc3339_utc (now_unix_ns);
  message["instance"] = camera.instance;
  message["uptime_s"] = std::chrono::duration<double> (
                            std::chrono::steady_clock::now () - camera.started)
                            .count ();
  message["state"] = to_string (stats.state);
  message["reconnects"] = stats.reconnects;
  message["stalls"] = stats.stalls;
  message["last_error"] = text_or_null (stats.last_error);
  message["frames"] = {
    { "received", stats.received },
    { "analysed", stats.pushed },
    { "dropped", stats.dropped },
    { "dropped_by_reason", dropped_by_reason_json (stats) },
    { "held", stats.held_frames },        { "not_decoded", stats.not_decoded },
    { "decode_only", stats.decode_only },
  };
  json ages = json::object ();
  for (const age_quantile &age : age_quantiles (stats))
    ages[age.key] = ms (age.ns);
  message["age_ms"] = ages;
  message["age_ms"]["from_capture_time"]
      = stats.capture_time_frames > 0 && !stats.capture_clock_fallback;
  message["bytes"] = { { "held", stats.held_bytes },
                       { "in_flight", stats.in_flight_bytes },
                       { "peak", stats.peak_bytes } };
  message["mqtt"] = { { "dropped", count_for (process.mqtt_dropped_by_camera,
                                              camera.config.id) } };
  message["video"] = video_json (stats);
  message["process"] = {
    { "budget_bytes", process.budget_bytes },
    { "budget_used_bytes", process.budget_used_bytes },
    { "rss_bytes", process.rss_bytes },
    { "mqtt",
      { { "connected", process.mqtt_connected },
        { "published", process.mqtt_published },
        { "dropped", process.mqtt_dropped },
        { "backlog", process.mqtt_backlog },
        { "last_error", text_or_null (process.mqtt_last_error) } } },
  };
  /* GStreamer's error texts (a server's reason phrase among them) may hold
   * bytes that are not UTF-8: replaced, never thrown. */
  return message.dump (-1, ' ', false, json::error_handler_t::replace);
}

std::string
cameras_json (const std::vector<camera_view> &cameras,
              const process_figures &process)
{
  json listed = json::array ();
  for (const camera_view &camera : cameras)
    {
      const capture_stats &stats = camera.stats;
      listed.push_back ({
          { "id", camera.config.id },
          /* The configuration's URI may hold a password. */
          { "uri", redacted_uri (camera.config.uri) },
          { "state", to_string (stats.state) },
          { "video", video_json (stats) },
          { "frames",
            { { "received", stats.received },
              { "analysed", stats.pushed },
              { "dropped", stats.dropped },
              { "dropped_by_reason", dropped_by_reason_json (stats) } } },
          { "age_ms",
            { { "p50", ms (stats.age_p50_ns) },
              { "p95", ms (stats.age_p95_ns) } } },
          { "bytes",
            { { "held", stats.held_bytes },
              { "in_flight", stats.in_flight_bytes } } },
          { "max_age_ms", camera.config.max_age.count () },
          { "reconnects", stats.reconnects },
          { "stalls", stats.stalls },
          { "last_error", text_or_null (stats.last_error) },
          { "snapshot_encodes",
            count_for (process.snapshot_encodes_by_camera, camera.config.id) },
      });
    }
  const json document
      = { { "schema", "latestframe/cameras/1" }, { "cameras", listed } };
  /* Error texts may hold bytes that are not UTF-8, as in health_json. */
  return document.dump (-1, ' ', false, json::error_handler_t::replace);
}

std::string
metrics_exposition (const std::vector<camera_view> &cameras,
                    const process_figures &process)
{
  metrics_text text;
  auto per_camera = [&] (const char *name, const char *help, metric_type type,
                         auto value_of) {
    text.family (name, help, type);
    for (const camera_view &camera : cameras)
      text.sample ({ { "camera", camera.config.id } }, value_of (camera));
  };
  per_camera ("latestframe_camera_up",
              "1 while the camera streams (a frame of its current connection "
              "arrived), else 0",
              metric_type::gauge, [] (const camera_view &c) {
                return c.stats.state == capture_state::streaming ? 1 : 0;
              });
  text.family ("latestframe_camera_state",
               "The camera's state: 1 for the one it is in",
               metric_type::gauge);
  for (const camera_view &camera : cameras)
    for (capture_state state :
         { capture_state::closed, capture_state::connecting,
           capture_state::streaming, capture_state::reconnecting,
           capture_state::ended })
      text.sample (
          { { "camera", camera.config.id }, { "state", to_string (state) } },
          camera.stats.state == state ? 1 : 0);
  per_camera ("latestframe_camera_reconnects_total",
              "Pipelines built again after the first", metric_type::counter,
              [] (const camera_view &c) { return c.stats.reconnects; });
  per_camera ("latestframe_camera_stalls_total",
              "Connections the stall watchdog gave up on", metric_type::counter,
              [] (const camera_view &c) { return c.stats.stalls; });
  per_camera ("latestframe_frames_received_total",
              "Frames that reached latestframe", metric_type::counter,
              [] (const camera_view &c) { return c.stats.received; });
  per_camera ("latestframe_frames_analysed_total",
              "Frames latestframe handed to the analyses", metric_type::counter,
              [] (const camera_view &c) { return c.stats.pushed; });
  text.family ("latestframe_frames_dropped_total",
               "Frames latestframe dropped, by reason", metric_type::counter);
  for (const camera_view &camera : cameras)
    {
      for (const named_count &reason : dropped_by_reason (camera.stats))
        text.sample (
            { { "camera", camera.config.id }, { "reason", reason.name } },
            reason.count);
    }
  per_camera ("latestframe_frames_held", "Frames latestframe holds now",
              metric_type::gauge,
              [] (const camera_view &c) { return c.stats.held_frames; });
  per_camera ("latestframe_frames_not_decoded_total",
              "Encoded frames dropped before the decoder (not needed)",
              metric_type::counter,
              [] (const camera_view &c) { return c.stats.not_decoded; });
  per_camera ("latestframe_capture_time_frames_total",
              "Frames whose age ran from the camera's capture time (its "
              "RTCP sender reports)",
              metric_type::counter,
              [] (const camera_view &c) { return c.stats.capture_time_frames; });
  per_camera ("latestframe_capture_time_unused_total",
              "Frames whose capture time was not used: more than 100 ms "
              "ahead of or 3 s behind this host's clock, or while the "
              "camera's clock was out of step",
              metric_type::counter,
              [] (const camera_view &c) { return c.stats.capture_time_unused; });
  per_camera ("latestframe_capture_clock_out_of_step",
              "1 while the camera's clock is out of step with this host's "
              "(its capture times are not used until they stay within the "
              "limits for 2 s), else 0",
              metric_type::gauge, [] (const camera_view &c) {
                return c.stats.capture_clock_fallback ? 1 : 0;
              });
  text.family ("latestframe_frame_age_seconds",
               "Age of recent frames when handed to the analyses, from their "
               "capture time when the camera tells it",
               metric_type::gauge);
  for (const camera_view &camera : cameras)
    {
      for (const age_quantile &age : age_quantiles (camera.stats))
        text.sample (
            { { "camera", camera.config.id }, { "quantile", age.quantile } },
            static_cast<double> (age.ns) / 1e9);
    }
  per_camera ("latestframe_held_bytes", "Bytes of the frames latestframe holds",
              metric_type::gauge,
              [] (const camera_view &c) { return c.stats.held_bytes; });
  per_camera ("latestframe_in_flight_bytes",
              "Bytes of frames handed over and still alive downstream",
              metric_type::gauge,
              [] (const camera_view &c) { return c.stats.in_flight_bytes; });
  per_camera ("latestframe_camera_mqtt_dropped_total",
              "The camera's messages dropped from the full MQTT backlog while "
              "the broker was away (the backlog is shared fairly: a camera "
              "that publishes more loses its own oldest first)",
              metric_type::counter, [&] (const camera_view &c) {
                return count_for (process.mqtt_dropped_by_camera, c.config.id);
              });
  per_camera ("latestframe_camera_snapshot_encodes_total",
              "JPEGs encoded for GET /cameras/<id>/latest.jpg: only on "
              "request, and once per frame and options however many ask",
              metric_type::counter, [&] (const camera_view &c) {
                return count_for (process.snapshot_encodes_by_camera,
                                  c.config.id);
              });
  per_camera ("latestframe_camera_instance",
              "Which start of the camera in this process (a reload's restart "
              "is a new one)",
              metric_type::gauge,
              [] (const camera_view &c) { return c.instance; });

  const metric_labels none;
  text.family ("latestframe_memory_budget_bytes",
               "The memory budget all cameras share (0 = no cap)",
               metric_type::gauge);
  text.sample (none, process.budget_bytes);
  text.family ("latestframe_memory_budget_used_bytes",
               "Bytes all cameras hold and have in flight now",
               metric_type::gauge);
  text.sample (none, process.budget_used_bytes);
  text.family ("latestframe_process_resident_memory_bytes",
               "The process's resident set size", metric_type::gauge);
  text.sample (none, process.rss_bytes);
  text.family ("latestframe_process_cpu_seconds_total",
               "CPU time the process used, user and system",
               metric_type::counter);
  text.sample (none, process.cpu_s);
  text.family ("latestframe_shard", "This process's shard: index of count",
               metric_type::gauge);
  text.sample ({ { "index", std::to_string (process.shard.index) },
                 { "count", std::to_string (process.shard.count) } },
               1);
  text.family ("latestframe_cameras", "Cameras this process runs",
               metric_type::gauge);
  text.sample (none, cameras.size ());
  text.family ("latestframe_mqtt_connected",
               "1 while the MQTT broker is connected", metric_type::gauge);
  text.sample (none, process.mqtt_connected);
  text.family ("latestframe_mqtt_last_error_info",
               "Why the last connection to the broker failed (a refused "
               "password, an untrusted certificate, a refused connection); "
               "reason is empty when none did",
               metric_type::gauge);
  text.sample ({ { "reason", process.mqtt_last_error } }, 1);
  text.family ("latestframe_mqtt_published_total",
               "Messages the broker acknowledged", metric_type::counter);
  text.sample (none, process.mqtt_published);
  text.family ("latestframe_mqtt_dropped_total",
               "Messages dropped, the oldest first, from a full backlog while "
               "the broker was away",
               metric_type::counter);
  text.sample (none, process.mqtt_dropped);
  text.family ("latestframe_mqtt_backlog_messages",
               "Messages waiting for the broker", metric_type::gauge);
  text.sample (none, process.mqtt_backlog);
  text.family ("latestframe_mqtt_connects_total",
               "Connections the broker accepted", metric_type::counter);
  text.sample (none, process.mqtt_connects);
  text.family ("latestframe_mqtt_disconnects_total",
               "Connections to the broker lost", metric_type::counter);
  text.sample (none, process.mqtt_disconnects);
  text.family ("latestframe_reloads_total",
               "Configuration reloads (SIGHUP), by outcome",
               metric_type::counter);
  text.sample ({ { "outcome", "applied" } }, process.reloads);
  text.sample ({ { "outcome", "refused" } }, process.reload_failures);
  return text.take ();
}

} // namespace latestframe::service
