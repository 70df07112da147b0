/* latestframe-service — many cameras in one process, under one memory
 * budget, their detections and health to an MQTT broker, their figures on
 * HTTP /metrics; several processes split one camera list by rendezvous
 * hashing.
 *
 *   latestframe-service --config cameras.yaml [--shard I --shards N]
 *
 * SIGHUP re-reads the file (added cameras start, removed ones stop, changed
 * ones restart, the others keep running); SIGTERM and SIGINT stop every
 * pipeline, send what the MQTT connection still holds (within its drain
 * timeout) and exit 0.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "camera_fleet.h"
#include "health.h"
#include "metrics_server.h"
#include "snapshots.h"

#include "latestframe/rendezvous.h"
#include "latestframe/service_config.h"

#include <glib-unix.h>
#include <gst/gst.h>

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace
{

namespace svc = latestframe::service;

GST_DEBUG_CATEGORY_STATIC (service_debug);
#define GST_CAT_DEFAULT service_debug

/* The process-wide MQTT connection the cameras' mqttpublish elements share
 * (mqttpublish connection=...), which the service holds open and sends its
 * health through. */
constexpr const char *connection_name = "latestframe-service";

using steady = std::chrono::steady_clock;

struct service
{
  std::string config_path;
  svc::shard_identity shard;
  std::string publisher;
  svc::service_config config;
  std::unique_ptr<svc::camera_fleet> fleet;
  /* An mqttpublish element outside any pipeline: it keeps the connection
   * while pipelines come and go, publishes the health records (its
   * `publish` action) and tells the connection's figures. */
  GstElement *mqtt = nullptr;
  std::unique_ptr<svc::metrics_server> metrics;
  /* The cameras' latest.jpg, answered on the HTTP server's threads. */
  std::shared_ptr<svc::camera_snapshots> snapshots
      = std::make_shared<svc::camera_snapshots> ();
  GMainLoop *loop = nullptr;
  steady::time_point started = steady::now ();
  steady::time_point last_health;
  std::uint64_t reloads = 0;
  std::uint64_t reload_failures = 0;
  /* When the figures /metrics and /api/cameras serve were last made (none
   * since the cameras last changed: unset). */
  std::optional<steady::time_point> figures_made;
  /* The camera instances already reported as unable to run. */
  std::set<std::uint64_t> reported_instances;
  bool stopping = false;
  int exit_status = 0;
  /* What the log last said of the MQTT connection: said again only when
   * it changes, not every tick of an outage. */
  bool said_connected = false;
  std::string said_mqtt_error;
};

/* What main() sets up around the loop, each torn down once, in reverse
 * order, however main() returns: the loop, the signal handlers, the MQTT
 * connection. */
class main_loop_owner
{
public:
  explicit main_loop_owner (GMainLoop *&loop) : loop_ (loop)
  {
    loop_ = g_main_loop_new (nullptr, FALSE);
  }
  ~main_loop_owner ()
  {
    g_main_loop_unref (loop_);
    loop_ = nullptr;
  }
  main_loop_owner (const main_loop_owner &) = delete;
  main_loop_owner &operator= (const main_loop_owner &) = delete;

private:
  GMainLoop *&loop_;
};

class unix_signal_watch
{
public:
  unix_signal_watch (int signum, GSourceFunc handler, gpointer data)
      : id_ (g_unix_signal_add (signum, handler, data))
  {
  }
  ~unix_signal_watch () { g_source_remove (id_); }
  unix_signal_watch (const unix_signal_watch &) = delete;
  unix_signal_watch &operator= (const unix_signal_watch &) = delete;

private:
  guint id_;
};

/* The connection's last user: going down, it sends what it holds, within
 * its drain timeout. */
class connection_owner
{
public:
  explicit connection_owner (GstElement *&mqtt) : mqtt_ (mqtt) {}
  ~connection_owner ()
  {
    if (!mqtt_)
      return;
    gst_element_set_state (mqtt_, GST_STATE_NULL);
    gst_object_unref (mqtt_);
    mqtt_ = nullptr;
  }
  connection_owner (const connection_owner &) = delete;
  connection_owner &operator= (const connection_owner &) = delete;

private:
  GstElement *&mqtt_;
};

void
say (const std::string &line)
{
  std::fprintf (stderr, "latestframe-service: %s\n", line.c_str ());
  std::fflush (stderr);
}

std::string
joined (const std::vector<std::string> &ids)
{
  std::string out;
  for (const std::string &id : ids)
    out += (out.empty () ? "" : " ") + id;
  return out.empty () ? "-" : out;
}

std::vector<std::string>
ids_of (const std::vector<svc::camera_config> &cameras)
{
  std::vector<std::string> ids;
  for (const svc::camera_config &camera : cameras)
    ids.push_back (camera.id);
  return ids;
}

std::string
shard_name (const svc::shard_identity &shard)
{
  return std::to_string (shard.index) + "/" + std::to_string (shard.count);
}

/* A count of mqttpublish's stats, whichever width it has (guint or
 * guint64); 0 when missing. */
std::uint64_t
count_of (const GstStructure *stats, const char *field)
{
  guint64 wide = 0;
  if (gst_structure_get_uint64 (stats, field, &wide))
    return wide;
  guint narrow = 0;
  if (gst_structure_get_uint (stats, field, &narrow))
    return narrow;
  return 0;
}

/* mqttpublish's `dropped-by-camera`: a structure with a count per camera
 * id. */
std::map<std::string, std::uint64_t>
dropped_by_camera (const GstStructure *stats)
{
  std::map<std::string, std::uint64_t> counts;
  const GstStructure *by_camera = nullptr;
  if (!gst_structure_get (stats, "dropped-by-camera", GST_TYPE_STRUCTURE,
                          &by_camera, NULL))
    return counts;
  /* gst_structure_get() copies a structure: freed here. */
  GstStructure *owned = const_cast<GstStructure *> (by_camera);
  const int fields = gst_structure_n_fields (owned);
  for (int i = 0; i < fields; i++)
    {
      const char *camera = gst_structure_nth_field_name (owned, i);
      counts[camera] = count_of (owned, camera);
    }
  gst_structure_free (owned);
  return counts;
}

/* The MQTT connection's figures, from mqttpublish's stats. */
void
read_mqtt_figures (const service &self, svc::process_figures &figures)
{
  GstStructure *stats = nullptr;
  g_object_get (self.mqtt, "stats", &stats, NULL);
  if (stats)
    {
      gboolean connected = FALSE;
      gst_structure_get_boolean (stats, "connected", &connected);
      figures.mqtt_connected = connected;
      figures.mqtt_published = count_of (stats, "published");
      figures.mqtt_dropped = count_of (stats, "dropped");
      figures.mqtt_backlog = count_of (stats, "backlog-level");
      figures.mqtt_connects = count_of (stats, "connects");
      figures.mqtt_disconnects = count_of (stats, "disconnects");
      if (const char *why = gst_structure_get_string (stats, "last-error"))
        figures.mqtt_last_error = why;
      figures.mqtt_dropped_by_camera = dropped_by_camera (stats);
      gst_structure_free (stats);
    }
}

svc::process_figures
process_figures_of (service &self, const std::vector<svc::camera_view> &cameras)
{
  svc::process_figures figures;
  figures.publisher = self.publisher;
  figures.shard = self.shard;
  figures.uptime_s
      = std::chrono::duration<double> (steady::now () - self.started).count ();
  svc::read_process_usage (figures);
  figures.budget_bytes = self.config.memory_budget_bytes;
  /* The budget is one for all cameras: any camera connected reads it. */
  for (const svc::camera_view &camera : cameras)
    figures.budget_used_bytes
        = std::max (figures.budget_used_bytes, camera.stats.memory_budget_used);
  read_mqtt_figures (self, figures);
  figures.snapshot_encodes_by_camera = self.snapshots->encodes ();
  figures.reloads = self.reloads;
  figures.reload_failures = self.reload_failures;
  return figures;
}

/* A camera's health record: a record of that camera's, which its
 * detections never push out of the backlog. */
void
publish_record (service &self, const std::string &camera,
                const std::string &topic, const std::string &payload)
{
  gboolean accepted = FALSE;
  g_signal_emit_by_name (self.mqtt, "publish-record", camera.c_str (),
                         topic.c_str (), payload.c_str (), &accepted);
  if (!accepted)
    GST_WARNING ("the MQTT connection refused a message for %s",
                 topic.c_str ());
}

/* Names, once, each camera whose pipeline cannot be built (an analyses
 * fragment naming an element that does not exist): its capture gave up,
 * closed, and says why. The others run on. */
void
report_cameras_that_cannot_run (service &self)
{
  for (const svc::closed_camera &camera : self.fleet->closed_cameras ())
    if (self.reported_instances.insert (camera.instance).second)
      say (self.config_path + ":" + std::to_string (camera.config.line)
           + ": cameras: " + camera.config.id
           + ": cannot run: " + camera.reason);
}

/* Says in the log when the broker connection comes up, and each new
 * reason it fails for (a wrong password, an untrusted certificate): the
 * publisher retries with backoff meanwhile, and the process runs on. */
void
report_connection (service &self, const svc::process_figures &process)
{
  const svc::broker_config &broker = self.config.broker;
  const std::string where
      = "MQTT " + broker.host + ":" + std::to_string (broker.port);
  if (process.mqtt_connected && !self.said_connected)
    say (where + ": connected");
  else if (!process.mqtt_connected && !process.mqtt_last_error.empty ()
           && (self.said_connected
               || process.mqtt_last_error != self.said_mqtt_error))
    say (where + ": not connected: " + process.mqtt_last_error
         + " (retrying)");
  self.said_connected = process.mqtt_connected;
  if (!process.mqtt_connected)
    self.said_mqtt_error = process.mqtt_last_error;
}

/* The figures GET /metrics and GET /api/cameras serve, made when one of
 * them is asked for (metrics_server::refresh_before_answering), at most
 * once a second: each camera's figures cost the main loop a walk of its
 * pipeline, which at one camera was most of the service's own CPU when it
 * was done every second whether or not anyone read them. */
void
refresh_figures (service &self)
{
  constexpr auto fresh_for = std::chrono::seconds (1);
  const steady::time_point now = steady::now ();
  if (!self.fleet || !self.metrics
      || (self.figures_made && now - *self.figures_made < fresh_for))
    return;
  try
    {
      const std::vector<svc::camera_view> cameras = self.fleet->cameras ();
      const svc::process_figures process = process_figures_of (self, cameras);
      self.metrics->update (svc::metrics_exposition (cameras, process));
      self.metrics->update_cameras (svc::cameras_json (cameras, process));
      self.figures_made = now;
    }
  catch (const std::exception &problem)
    {
      say (std::string ("metrics skipped this time: ") + problem.what ());
    }
}

/* Every second: which cameras cannot run and how the broker connection
 * goes, in the log; every health interval: each camera's health record on
 * MQTT. */
void
tick (service &self)
{
  report_cameras_that_cannot_run (self);
  const auto interval = self.config.health_interval;
  const steady::time_point now = steady::now ();
  const bool health_due
      = interval.count () > 0 && now - self.last_health >= interval;
  /* The cameras' figures only when their health records are due; the
   * connection's either way, read once. */
  std::vector<svc::camera_view> cameras;
  svc::process_figures process;
  if (health_due)
    {
      cameras = self.fleet->cameras ();
      process = process_figures_of (self, cameras);
    }
  else
    read_mqtt_figures (self, process);
  report_connection (self, process);
  if (health_due)
    {
      self.last_health = now;
      const std::int64_t unix_ns = g_get_real_time () * 1000;
      for (const svc::camera_view &camera : cameras)
        publish_record (self, camera.config.id,
                        self.config.broker.topic_prefix + "/"
                            + camera.config.id + "/health",
                        svc::health_json (camera, process, unix_ns));
    }
}

gboolean
on_tick (gpointer data)
{
  service &self = *static_cast<service *> (data);
  /* One camera's odd figures must not end the process for all of them. */
  try
    {
      tick (self);
    }
  catch (const std::exception &problem)
    {
      say (std::string ("health and metrics skipped this time: ")
           + problem.what ());
    }
  return G_SOURCE_CONTINUE;
}

void
announce (const service &self, const svc::reload_plan &plan)
{
  say ("shard " + shard_name (self.shard) + ": started " + joined (plan.start)
       + "; stopped " + joined (plan.stop) + "; restarted "
       + joined (plan.restart) + "; kept " + joined (plan.keep));
}

/* Makes `wanted` the cameras that run, says what changed, and serves
 * their latest.jpg; the next request for the figures reads them anew. */
void
apply_cameras (service &self, const std::vector<svc::camera_config> &wanted)
{
  announce (self, self.fleet->apply (wanted));
  self.snapshots->update (self.fleet->captures ());
  self.figures_made.reset ();
}

gboolean
on_reload (gpointer data)
{
  service &self = *static_cast<service *> (data);
  if (self.stopping || !self.fleet)
    return G_SOURCE_CONTINUE;
  svc::service_config next;
  try
    {
      next = svc::load_service_config (self.config_path);
    }
  catch (const svc::config_error &error)
    {
      self.reload_failures++;
      say (std::string (error.what ())
           + " (reload refused: the cameras keep running as they were)");
      return G_SOURCE_CONTINUE;
    }
  /* What only a restart of the process changes. */
  const svc::broker_config &was = self.config.broker, &is = next.broker;
  if (!is.same_connection_as (was)
      || next.metrics.address != self.config.metrics.address
      || next.metrics.port != self.config.metrics.port
      || next.memory_budget_bytes != self.config.memory_budget_bytes)
    say ("broker, metrics and memory-budget change only when the service "
         "restarts: kept as they were; the cameras and health interval are "
         "reloaded");
  next.broker = self.config.broker;
  next.metrics = self.config.metrics;
  next.memory_budget_bytes = self.config.memory_budget_bytes;
  self.config = next;
  self.reloads++;
  apply_cameras (self,
                 svc::cameras_of_shard (self.config.cameras, self.shard.index,
                                        self.shard.count));
  return G_SOURCE_CONTINUE;
}

/* SIGTERM, SIGINT: the first stops; later ones (and SIGHUP meanwhile) are
 * ignored rather than killing the process mid-drain. */
gboolean
on_stop (gpointer data)
{
  service &self = *static_cast<service *> (data);
  if (!self.stopping)
    {
      self.stopping = true;
      say ("stopping");
      if (self.loop)
        g_main_loop_quit (self.loop);
    }
  return G_SOURCE_CONTINUE;
}

std::optional<std::string>
env (const char *name)
{
  const char *value = std::getenv (name);
  if (!value || !*value)
    return std::nullopt;
  return std::string (value);
}

std::string
host_name ()
{
  char name[256] = {};
  if (gethostname (name, sizeof name - 1) != 0)
    return "localhost";
  return name;
}

/* Whether the user set this malloc setting: by its environment variable
 * or its GLIBC_TUNABLES name. */
bool
malloc_setting_given (const char *variable, const char *tunable)
{
  const char *tunables = std::getenv ("GLIBC_TUNABLES");
  return std::getenv (variable)
         || (tunables && std::strstr (tunables, tunable));
}

/* glibc's malloc, set for many pipelines that each decode a frame now and
 * then (issue 27's runs); each setting the user gave is left to glibc.
 * Called before any thread exists.
 *   - Arenas: glibc hands threads arenas of their own (up to 8 per core),
 *     and each arena keeps the memory of the frames freed into it for
 *     later allocations from that arena rather than giving it back. With 8
 *     threads per camera that is free memory held in many places; two
 *     arenas measured 6 to 20 MiB less at 8 cameras and no more CPU.
 *   - Frames from the arenas, and free memory kept up to 16 MiB: a
 *     camera's decoder frees its frame after each key unit (lazypool.h)
 *     for the next camera's to use. By default glibc gives the top of an
 *     arena back to the system as soon as 2 frames' worth is free there,
 *     and the next frame then faults its pages in again: at one camera
 *     with snapshot-frame: on-request that cost about 1.5 % of a core
 *     more, gone with these two settings (benchmarks 7.3). Setting either
 *     ends glibc's own raising of the mmap threshold after a large free,
 *     so it is set to glibc's largest, 32 MiB: frames up to that size
 *     (4K I420 is 12 MiB) come from the arenas, not from a mapping made
 *     and unmapped each time. */
void
tune_malloc ()
{
  if (!malloc_setting_given ("MALLOC_ARENA_MAX", "glibc.malloc.arena_max"))
    mallopt (M_ARENA_MAX, 2);
  if (!malloc_setting_given ("MALLOC_MMAP_THRESHOLD_",
                             "glibc.malloc.mmap_threshold"))
    mallopt (M_MMAP_THRESHOLD, 32 << 20);
  if (!malloc_setting_given ("MALLOC_TRIM_THRESHOLD_",
                             "glibc.malloc.trim_threshold"))
    mallopt (M_TRIM_THRESHOLD, 16 << 20);
}

} // namespace

int
main (int argc, char **argv)
{
  tune_malloc ();
  /* The cameras' RTSP over TCP read a socket buffer at a time, not three
   * recv() per packet (capture.h); before any connection is made. */
  latestframe::read_tcp_ahead ();
  gchar *config_path = nullptr, *shard_flag = nullptr, *shards_flag = nullptr,
        *publisher = nullptr;
  gint metrics_port = -1;
  gboolean check = FALSE;
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
      "The cameras and settings (YAML; see cameras.example.yaml)", "FILE" },
    { "shard", 0, 0, G_OPTION_ARG_STRING, &shard_flag,
      "This process's shard index, 0..N-1 (default: LATESTFRAME_SHARD, or the "
      "ordinal ending the host name, as a StatefulSet names its pods, or 0)",
      "I" },
    { "shards", 0, 0, G_OPTION_ARG_STRING, &shards_flag,
      "How many processes share the camera list (default: LATESTFRAME_SHARDS, "
      "or 1)",
      "N" },
    { "publisher", 0, 0, G_OPTION_ARG_STRING, &publisher,
      "Who this process is in its messages (default: HOST:PID/I-of-N)",
      "NAME" },
    { "metrics-port", 0, 0, G_OPTION_ARG_INT, &metrics_port,
      "Serve /metrics on this port instead of the file's (0 = none)", "PORT" },
    { "check", 0, 0, G_OPTION_ARG_NONE, &check,
      "Check the file, print the cameras this shard takes, and exit", nullptr },
    {},
  };
  GOptionContext *context = g_option_context_new (
      "- run many cameras' analyses, publishing to MQTT");
  g_option_context_add_main_entries (context, entries, nullptr);
  g_option_context_add_group (context, gst_init_get_option_group ());
  GError *error = nullptr;
  const gboolean parsed
      = g_option_context_parse (context, &argc, &argv, &error);
  g_option_context_free (context);
  auto free_flags = [&] {
    g_free (config_path);
    g_free (shard_flag);
    g_free (shards_flag);
    g_free (publisher);
  };
  if (!parsed || !config_path)
    {
      say (error ? error->message : "--config FILE is required");
      g_clear_error (&error);
      free_flags ();
      return 2;
    }

  service self;
  self.config_path = config_path;
  try
    {
      svc::shard_sources sources;
      if (shard_flag)
        sources.flag_shard = shard_flag;
      if (shards_flag)
        sources.flag_shards = shards_flag;
      sources.env_shard = env ("LATESTFRAME_SHARD");
      sources.env_shards = env ("LATESTFRAME_SHARDS");
      sources.hostname = env ("HOSTNAME");
      if (!sources.hostname)
        sources.hostname = host_name ();
      self.shard = svc::parse_shard (sources);
      self.config = svc::load_service_config (self.config_path);
    }
  catch (const std::exception &problem)
    {
      say (problem.what ());
      free_flags ();
      return 2;
    }
  if (metrics_port > 65535)
    {
      say ("--metrics-port " + std::to_string (metrics_port)
           + ": must be between 0 and 65535");
      return 2;
    }
  if (metrics_port >= 0)
    self.config.metrics.port = static_cast<std::uint16_t> (metrics_port);
  self.publisher = publisher ? publisher
                             : host_name () + ":" + std::to_string (getpid ())
                                   + "/" + std::to_string (self.shard.index)
                                   + "-of-" + std::to_string (self.shard.count);
  free_flags ();
  const std::vector<svc::camera_config> mine = svc::cameras_of_shard (
      self.config.cameras, self.shard.index, self.shard.count);
  if (check)
    {
      std::printf ("%s: %zu cameras; shard %s takes %zu: %s\n",
                   self.config_path.c_str (), self.config.cameras.size (),
                   shard_name (self.shard).c_str (), mine.size (),
                   joined (ids_of (mine)).c_str ());
      return 0;
    }

  GST_DEBUG_CATEGORY_INIT (service_debug, "latestframe-service", 0,
                           "latestframe-service");
  /* From here to the exit: a SIGHUP (systemctl reload) while starting, or
   * a second SIGTERM while draining, must not kill the process. A SIGTERM
   * before the loop runs stops it as soon as it would start. */
  /* The loop and what runs around it; they go down at the block's end,
   * the MQTT connection draining last (connection_owner). */
  {
    const main_loop_owner loop (self.loop);
    const unix_signal_watch hangup (SIGHUP, on_reload, &self);
    const unix_signal_watch terminate (SIGTERM, on_stop, &self);
    const unix_signal_watch interrupt (SIGINT, on_stop, &self);
    const connection_owner connection (self.mqtt);
    self.mqtt = gst_element_factory_make ("mqttpublish", "service-connection");
    if (!self.mqtt)
      {
        say ("no element mqttpublish: install latestframe's plugins "
             "(./pipelines/demo.sh installs them) or set GST_PLUGIN_PATH");
        return 1;
      }
    gst_object_ref_sink (self.mqtt);
    /* Its drain at the end: the connection's last user sends what the
     * backlog holds, this long at most. */
    g_object_set (self.mqtt, "drain-timeout", 5000u, NULL);
    const svc::broker_config &broker = self.config.broker;
    /* Unique across the processes of a deployment, whose pods may all be
     * pid 1: a broker drops a client when another connects with its id. */
    const std::string client_id
        = !broker.client_id.empty ()
              ? broker.client_id
              : "latestframe-service-" + host_name () + "-"
                    + std::to_string (self.shard.index) + "-of-"
                    + std::to_string (self.shard.count) + "-"
                    + std::to_string (getpid ());
    /* Retained online/offline, the last will among them: a subscriber
     * tells a dead process from a quiet one (schema/README.md). */
    const std::string availability_topic
        = broker.topic_prefix + "/available/" + self.publisher;
    g_object_set (
        self.mqtt, "connection", connection_name, "host", broker.host.c_str (),
        "port", static_cast<guint> (broker.port), "qos",
        static_cast<guint> (broker.qos), "backlog",
        static_cast<guint> (std::max<std::uint32_t> (broker.backlog, 1)),
        "publisher", self.publisher.c_str (), "camera", "service", "client-id",
        client_id.c_str (), "keepalive",
        static_cast<guint> (broker.keepalive.count ()), "availability-topic",
        availability_topic.c_str (), NULL);
    if (!broker.username.empty ())
      g_object_set (self.mqtt, "username", broker.username.c_str (), NULL);
    if (!broker.password.empty ())
      g_object_set (self.mqtt, "password", broker.password.c_str (), NULL);
    if (broker.tls.enabled)
      g_object_set (self.mqtt, "tls", TRUE, "tls-ca-file",
                    broker.tls.ca_file.c_str (), "tls-cert-file",
                    broker.tls.cert_file.c_str (), "tls-key-file",
                    broker.tls.key_file.c_str (), "tls-insecure",
                    broker.tls.insecure ? TRUE : FALSE, "tls-version",
                    broker.tls.version.c_str (), NULL);
    /* Started (PAUSED) outside any pipeline: it connects, and takes the
     * publish action. */
    if (gst_element_set_state (self.mqtt, GST_STATE_PAUSED)
        == GST_STATE_CHANGE_FAILURE)
      {
        say ("cannot start the MQTT connection to " + broker.host + ":"
             + std::to_string (broker.port));
        return 1;
      }
    if (self.config.metrics.port > 0)
      {
        try
          {
            self.metrics = std::make_unique<svc::metrics_server> (
                self.config.metrics.address, self.config.metrics.port);
            self.metrics->serve_snapshots (
                [snapshots = self.snapshots] (const std::string &id,
                                              const std::string &query) {
                  return snapshots->answer (id, query);
                });
            self.metrics->refresh_before_answering (
                [&self] { refresh_figures (self); });
          }
        catch (const std::exception &problem)
          {
            say (problem.what ());
            return 1;
          }
      }
    say ("shard " + shard_name (self.shard) + " of " + self.config_path + " ("
         + std::to_string (self.config.cameras.size ()) + " cameras) as "
         + self.publisher + "; MQTT " + broker.host + ":"
         + std::to_string (broker.port) + (broker.tls.enabled ? " (TLS)" : "")
         + (self.metrics
                ? "; metrics on http://" + self.config.metrics.address + ":"
                      + std::to_string (self.metrics->port ()) + "/metrics"
                : ""));

    svc::fleet_settings settings;
    settings.broker = broker;
    settings.connection = connection_name;
    settings.publisher = self.publisher;
    settings.memory_budget_bytes = self.config.memory_budget_bytes;
    self.fleet = std::make_unique<svc::camera_fleet> (settings);
    apply_cameras (self, mine);

    self.last_health = steady::now () - self.config.health_interval;
    /* Each second, or each health interval when shorter. */
    const guint tick_ms = static_cast<guint> (
        self.config.health_interval.count () > 0 ? std::min<std::int64_t> (
            1000, self.config.health_interval.count ())
                                                 : 1000);
    const guint tick = g_timeout_add (tick_ms, on_tick, &self);
    on_tick (&self);
    if (!self.stopping)
      g_main_loop_run (self.loop);

    g_source_remove (tick);
    self.fleet->stop_all ();
    self.snapshots->update ({});
    self.metrics.reset ();
  }
  say ("stopped");
  return self.exit_status;
}
