/* mqttpublish — each frame's detections as a JSON message to an MQTT broker.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/**
 * SECTION:element-mqttpublish
 * @title: mqttpublish
 *
 * Publishes one JSON message per frame to an MQTT broker: the frame's
 * sequence number, capture time and age, and its detections (each
 * #GstVideoRegionOfInterestMeta on it, as the cv analysis elements attach
 * them). Frames pass through untouched and undelayed: the message goes to
 * a bounded backlog and a client thread (libmosquitto's) sends it, so a slow
 * or absent broker never holds the stream up.
 *
 * ## Topics
 * One topic per element, #GstMqttPublish:topic, by default
 * `latestframe/{camera}/detections`, where `{camera}` is replaced by
 * #GstMqttPublish:camera (by default the element's name). Subscribe to
 * `latestframe/+/detections` for every camera. Messages are published with
 * #GstMqttPublish:qos (1 by default: each arrives at least once; after a
 * reconnection, a message may arrive twice, with the same `sequence`), not
 * retained.
 *
 * ## Messages
 * UTF-8 JSON described by `schema/detections.schema.json` (schema
 * `latestframe/detections/1`): `camera`, `publisher`, `sequence`,
 * `capture_time_ns` and `capture_time` (or null), `pts_ns`, `published_at`,
 * `age_ms`, `width`, `height` and `detections`, a list of {`analysis`,
 * `label`, `confidence`, `x`, `y`, `width`, `height`, `text` when there is
 * one}. `sequence` and the capture time come from the LatestFrameInfoMeta
 * that latestframe attaches (the sequence counts the frames latestframe
 * received, so gaps are the frames it dropped); without it, `sequence`
 * counts this element's frames and the capture time comes from a
 * `timestamp/x-unix` or `timestamp/x-ntp` reference timestamp meta.
 *
 * ## When the broker is away
 * The element goes on passing frames. It posts a warning once per outage
 * ("Lost the MQTT broker at host:port ..."), keeps the newest
 * #GstMqttPublish:backlog messages (older ones are dropped and counted in
 * #GstMqttPublish:dropped), reconnects by itself with backoff, and posts
 * an info message when the broker is back; the backlog then drains. Bad
 * settings (no host, a topic no message can be published to, a TLS client
 * certificate without its key, an unreadable CA file) fail the start with
 * an error. The warning says why the broker cannot be had, in words: the
 * connection refused, the user name or password refused, the broker's
 * certificate not trusted or for another host name, a client certificate
 * required.
 *
 * A full backlog drops fairly between the cameras sharing it: the oldest
 * message of the camera holding the most, and a health record
 * (#GstMqttPublish::publish-record) only when it holds nothing else. The
 * `stats` structure counts the drops by camera (`dropped-by-camera`).
 *
 * ## A production broker
 * #GstMqttPublish:username and #GstMqttPublish:password (write-only: never
 * read back nor logged); #GstMqttPublish:tls with #GstMqttPublish:tls-ca-file
 * (empty: the system's trust store), a client certificate
 * (#GstMqttPublish:tls-cert-file and #GstMqttPublish:tls-key-file), and
 * #GstMqttPublish:port 0 meaning 8883 with TLS, 1883 without. With
 * #GstMqttPublish:availability-topic, the broker holds a retained
 * "online" there while the element is connected, and "offline" once it
 * stopped or its process died (the last will).
 *
 * ## One connection for many cameras
 * Elements that name the same #GstMqttPublish:connection share one client:
 * one TCP connection to the broker and one backlog for all of them (made
 * with the settings of the first to start), whose figures each of them
 * reports. latestframe-service runs every camera's pipeline so, and sends
 * its health records through the same connection with the
 * #GstMqttPublish::publish action.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 videotestsrc is-live=true num-buffers=30 pattern=ball !
 * video/x-raw,width=320,height=240,framerate=10/1 ! latestframe !
 * videoconvert ! cvmotion ! mqttpublish camera=test port=1883 ! fakesink
 * ]| Motion regions of a test pattern to `latestframe/test/detections` on
 * the broker at 127.0.0.1:1883 (watch them with
 * `mosquitto_sub -t 'latestframe/+/detections' -v`). Without a broker it
 * runs all the same and warns once.
 * |[
 * gst-launch-1.0 rtspsrc location=rtsp://127.0.0.1:8554/cam
 * add-reference-timestamp-meta=true ! decodebin ! latestframe !
 * videoconvert ! cvfacedetect ! mqttpublish camera=door publish-empty=false
 * backlog=100 ! fakesink
 * ]| Faces seen by a camera, only the frames with one, with the age of
 * each frame from its capture time (RTCP sender reports).
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=320,height=240
 * ! latestframe ! videoconvert ! cvmotion ! mqttpublish camera=gate
 * host=broker.example.com tls=true tls-ca-file=/etc/latestframe/ca.pem
 * username=gate password="$(cat /run/secrets/mqtt-password)"
 * availability-topic=latestframe/gate/availability ! fakesink
 * ]| To a broker that requires TLS (port 8883) and a password, with a
 * retained online/offline status.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmqttpublish.h"

#include "element_helpers.h"
#include "frameinfometa.h"

#include "latestframe/detection_message.h"
#include "latestframe/mqtt_publisher.h"
#include "latestframe/shared_publisher.h"

#include <gst/video/video.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_STATIC (mqtt_publish_debug);
GST_DEBUG_CATEGORY_STATIC (mqtt_publish_dataflow);
#define GST_CAT_DEFAULT mqtt_publish_debug

namespace lfm = latestframe::mqtt;

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT 0
#define DEFAULT_TOPIC "latestframe/{camera}/detections"
#define DEFAULT_QOS 1
#define DEFAULT_BACKLOG 1000
#define DEFAULT_MAX_IN_FLIGHT 20
#define DEFAULT_KEEPALIVE 60
#define DEFAULT_RECONNECT_DELAY 1
#define DEFAULT_RECONNECT_DELAY_MAX 10
#define DEFAULT_PUBLISH_EMPTY TRUE
#define DEFAULT_DRAIN_TIMEOUT 2000
#define DEFAULT_CONNECTION ""
#define DEFAULT_TLS FALSE
#define DEFAULT_TLS_INSECURE FALSE

#define CAMERA_PLACEHOLDER "{camera}"

enum
{
  PROP_0,
  PROP_HOST,
  PROP_PORT,
  PROP_CAMERA,
  PROP_TOPIC,
  PROP_QOS,
  PROP_BACKLOG,
  PROP_MAX_IN_FLIGHT,
  PROP_KEEPALIVE,
  PROP_RECONNECT_DELAY,
  PROP_RECONNECT_DELAY_MAX,
  PROP_CLIENT_ID,
  PROP_PUBLISHER,
  PROP_PUBLISH_EMPTY,
  PROP_DRAIN_TIMEOUT,
  PROP_PUBLISHED,
  PROP_DROPPED,
  PROP_BACKLOG_LEVEL,
  PROP_CONNECTED,
  PROP_STATS,
  PROP_CONNECTION,
  PROP_USERNAME,
  PROP_PASSWORD,
  PROP_TLS,
  PROP_TLS_CA_FILE,
  PROP_TLS_CERT_FILE,
  PROP_TLS_KEY_FILE,
  PROP_TLS_INSECURE,
  PROP_TLS_VERSION,
  PROP_AVAILABILITY_TOPIC,
};

enum
{
  SIGNAL_PUBLISH,
  SIGNAL_PUBLISH_RECORD,
  LAST_SIGNAL,
};

static guint mqtt_publish_signals[LAST_SIGNAL];

namespace
{
using latestframe::glue::object_lock;

/* The settings, as the properties hold them. */
struct settings
{
  std::string host = DEFAULT_HOST;
  gint port = DEFAULT_PORT;
  std::string camera; /* empty: the element's name */
  std::string topic = DEFAULT_TOPIC;
  gint qos = DEFAULT_QOS;
  guint backlog = DEFAULT_BACKLOG;
  guint max_in_flight = DEFAULT_MAX_IN_FLIGHT;
  guint keepalive = DEFAULT_KEEPALIVE;
  guint reconnect_delay = DEFAULT_RECONNECT_DELAY;
  guint reconnect_delay_max = DEFAULT_RECONNECT_DELAY_MAX;
  std::string client_id; /* empty: derived from the camera and the pid */
  std::string publisher; /* set in init: <hostname>:<pid> */
  std::string connection; /* empty: the element's own */
  std::string username;
  std::string password; /* never read back, never logged */
  lfm::publisher_options::tls_settings tls;
  std::string availability_topic;
};

/* What one run (start to stop) publishes with, fixed at start. */
struct run
{
  std::string camera;
  std::string publisher;
  std::shared_ptr<const std::string> topic;
  std::string where; /* host:port, for messages */
  std::size_t backlog = 0;
};

std::string
replace_all (std::string text, const std::string &from, const std::string &to)
{
  for (std::size_t at = text.find (from); at != std::string::npos;
       at = text.find (from, at + to.size ()))
    text.replace (at, from.size (), to);
  return text;
}
} // namespace

struct _GstMqttPublishState
{
  /* Under the object lock. */
  settings configured;
  /* Read per frame; may change while PLAYING. */
  std::atomic<bool> publish_empty{ DEFAULT_PUBLISH_EMPTY };
  std::atomic<guint> drain_timeout_ms{ DEFAULT_DRAIN_TIMEOUT };

  /* Written by start/stop only, which never run with the streaming thread;
   * the streaming thread reads them without a lock. */
  run current;
  /* The publisher this element uses (shared with the elements naming the
   * same connection), and its token as a listener of it. */
  std::shared_ptr<lfm::shared_publisher> connection;
  std::uint64_t listening = 0;

  /* Readers of `connection` from other threads (properties, the publish
   * action) hold this while they use it; start/stop hold it while they
   * replace it. */
  std::mutex publisher_lock;
  /* The figures of the last run, for after stop (under publisher_lock). */
  lfm::publisher_stats last_stats;

  /* Streaming thread only. */
  gint width = 0;
  gint height = 0;
  guint64 frames = 0;
  std::vector<lfm::detection_fields> detections;
  std::size_t payload_hint = 512;

  /* The publisher's network thread: whether a warning was posted since the last
   * connection, so that the reconnection is announced. */
  std::atomic<bool> troubled{ false };
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-raw(ANY)"));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-raw(ANY)"));

#define gst_mqtt_publish_parent_class parent_class
G_DEFINE_TYPE (GstMqttPublish, gst_mqtt_publish, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (mqttpublish, "mqttpublish", GST_RANK_NONE,
                             GST_TYPE_MQTT_PUBLISH);

static void
gst_mqtt_publish_init (GstMqttPublish *self)
{
  self->state
      = new (g_malloc (sizeof (GstMqttPublishState))) GstMqttPublishState ();
  self->state->configured.publisher
      = std::string (g_get_host_name ()) + ":" + std::to_string (getpid ());
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
  /* Only reads the frame's metas: never asks for a writable buffer. */
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), TRUE);
}

static void
gst_mqtt_publish_finalize (GObject *object)
{
  GstMqttPublish *self = GST_MQTT_PUBLISH (object);
  self->state->~GstMqttPublishState ();
  g_free (self->state);
  self->state = NULL;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static std::string
string_of (const GValue *value)
{
  const gchar *text = g_value_get_string (value);
  return text ? text : "";
}

static void
gst_mqtt_publish_set_property (GObject *object, guint prop_id,
                               const GValue *value, GParamSpec *pspec)
{
  GstMqttPublish *self = GST_MQTT_PUBLISH (object);
  GstMqttPublishState *state = self->state;
  object_lock lock (self);
  settings &configured = state->configured;
  switch (prop_id)
    {
    case PROP_HOST:
      configured.host = string_of (value);
      break;
    case PROP_PORT:
      configured.port = g_value_get_int (value);
      break;
    case PROP_CAMERA:
      configured.camera = string_of (value);
      break;
    case PROP_TOPIC:
      configured.topic = string_of (value);
      break;
    case PROP_QOS:
      configured.qos = g_value_get_int (value);
      break;
    case PROP_BACKLOG:
      configured.backlog = g_value_get_uint (value);
      break;
    case PROP_MAX_IN_FLIGHT:
      configured.max_in_flight = g_value_get_uint (value);
      break;
    case PROP_KEEPALIVE:
      configured.keepalive = g_value_get_uint (value);
      break;
    case PROP_RECONNECT_DELAY:
      configured.reconnect_delay = g_value_get_uint (value);
      break;
    case PROP_RECONNECT_DELAY_MAX:
      configured.reconnect_delay_max = g_value_get_uint (value);
      break;
    case PROP_CLIENT_ID:
      configured.client_id = string_of (value);
      break;
    case PROP_CONNECTION:
      configured.connection = string_of (value);
      break;
    case PROP_PUBLISHER:
      configured.publisher = string_of (value);
      break;
    case PROP_USERNAME:
      configured.username = string_of (value);
      break;
    case PROP_PASSWORD:
      configured.password = string_of (value);
      break;
    case PROP_TLS:
      configured.tls.enabled = g_value_get_boolean (value);
      break;
    case PROP_TLS_CA_FILE:
      configured.tls.ca_file = string_of (value);
      break;
    case PROP_TLS_CERT_FILE:
      configured.tls.cert_file = string_of (value);
      break;
    case PROP_TLS_KEY_FILE:
      configured.tls.key_file = string_of (value);
      break;
    case PROP_TLS_INSECURE:
      configured.tls.insecure = g_value_get_boolean (value);
      break;
    case PROP_TLS_VERSION:
      configured.tls.version = string_of (value);
      break;
    case PROP_AVAILABILITY_TOPIC:
      configured.availability_topic = string_of (value);
      break;
    case PROP_PUBLISH_EMPTY:
      state->publish_empty = g_value_get_boolean (value);
      break;
    case PROP_DRAIN_TIMEOUT:
      state->drain_timeout_ms = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
}

/* The figures now (of the running publisher) or of the last run. */
static lfm::publisher_stats
current_stats (GstMqttPublish *self)
{
  GstMqttPublishState *state = self->state;
  std::lock_guard<std::mutex> lock (state->publisher_lock);
  return state->connection ? state->connection->publisher ().stats ()
                           : state->last_stats;
}

static GstStructure *
stats_structure (const lfm::publisher_stats &stats)
{
  /* Field names are camera ids, which need not be valid GstStructure
   * field names: set by id string, as gst_structure_set_value does. */
  GstStructure *by_camera = gst_structure_new_empty ("dropped-by-camera");
  for (const auto &[camera, dropped] : stats.dropped_by_source)
    {
      GValue count = G_VALUE_INIT;
      g_value_init (&count, G_TYPE_UINT64);
      g_value_set_uint64 (&count, dropped);
      gst_structure_take_value (by_camera, camera.c_str (), &count);
    }
  GstStructure *all = gst_structure_new (
      "mqttpublish-stats", "connected", G_TYPE_BOOLEAN,
      stats.connected ? TRUE : FALSE, "connects", G_TYPE_UINT64,
      static_cast<guint64> (stats.connects), "disconnects", G_TYPE_UINT64,
      static_cast<guint64> (stats.disconnects), "accepted", G_TYPE_UINT64,
      static_cast<guint64> (stats.accepted), "published", G_TYPE_UINT64,
      static_cast<guint64> (stats.published), "dropped", G_TYPE_UINT64,
      static_cast<guint64> (stats.dropped_backlog), "lost", G_TYPE_UINT64,
      static_cast<guint64> (stats.lost), "rejected", G_TYPE_UINT64,
      static_cast<guint64> (stats.rejected), "backlog-level", G_TYPE_UINT,
      static_cast<guint> (stats.backlog_level), "peak-backlog-level",
      G_TYPE_UINT, static_cast<guint> (stats.peak_backlog_level), "in-flight",
      G_TYPE_UINT, static_cast<guint> (stats.in_flight), "last-error",
      G_TYPE_STRING, stats.last_error.c_str (), NULL);
  gst_structure_set (all, "dropped-by-camera", GST_TYPE_STRUCTURE, by_camera,
                     NULL);
  gst_structure_free (by_camera);
  return all;
}

static void
gst_mqtt_publish_get_property (GObject *object, guint prop_id, GValue *value,
                               GParamSpec *pspec)
{
  GstMqttPublish *self = GST_MQTT_PUBLISH (object);
  GstMqttPublishState *state = self->state;
  switch (prop_id)
    {
    case PROP_PUBLISHED:
      g_value_set_uint64 (value, current_stats (self).published);
      return;
    case PROP_DROPPED:
      g_value_set_uint64 (value, current_stats (self).dropped_backlog);
      return;
    case PROP_BACKLOG_LEVEL:
      g_value_set_uint (
          value, static_cast<guint> (current_stats (self).backlog_level));
      return;
    case PROP_CONNECTED:
      g_value_set_boolean (value, current_stats (self).connected);
      return;
    case PROP_STATS:
      g_value_take_boxed (value, stats_structure (current_stats (self)));
      return;
    case PROP_PUBLISH_EMPTY:
      g_value_set_boolean (value, state->publish_empty);
      return;
    case PROP_DRAIN_TIMEOUT:
      g_value_set_uint (value, state->drain_timeout_ms);
      return;
    default:
      break;
    }

  object_lock lock (self);
  const settings &configured = state->configured;
  switch (prop_id)
    {
    case PROP_HOST:
      g_value_set_string (value, configured.host.c_str ());
      break;
    case PROP_PORT:
      g_value_set_int (value, configured.port);
      break;
    case PROP_CAMERA:
      g_value_set_string (value, configured.camera.empty ()
                                     ? GST_OBJECT_NAME (self)
                                     : configured.camera.c_str ());
      break;
    case PROP_TOPIC:
      g_value_set_string (value, configured.topic.c_str ());
      break;
    case PROP_QOS:
      g_value_set_int (value, configured.qos);
      break;
    case PROP_BACKLOG:
      g_value_set_uint (value, configured.backlog);
      break;
    case PROP_MAX_IN_FLIGHT:
      g_value_set_uint (value, configured.max_in_flight);
      break;
    case PROP_KEEPALIVE:
      g_value_set_uint (value, configured.keepalive);
      break;
    case PROP_RECONNECT_DELAY:
      g_value_set_uint (value, configured.reconnect_delay);
      break;
    case PROP_RECONNECT_DELAY_MAX:
      g_value_set_uint (value, configured.reconnect_delay_max);
      break;
    case PROP_CLIENT_ID:
      g_value_set_string (value, configured.client_id.c_str ());
      break;
    case PROP_PUBLISHER:
      g_value_set_string (value, configured.publisher.c_str ());
      break;
    case PROP_CONNECTION:
      g_value_set_string (value, configured.connection.c_str ());
      break;
    case PROP_USERNAME:
      g_value_set_string (value, configured.username.c_str ());
      break;
    case PROP_TLS:
      g_value_set_boolean (value, configured.tls.enabled);
      break;
    case PROP_TLS_CA_FILE:
      g_value_set_string (value, configured.tls.ca_file.c_str ());
      break;
    case PROP_TLS_CERT_FILE:
      g_value_set_string (value, configured.tls.cert_file.c_str ());
      break;
    case PROP_TLS_KEY_FILE:
      g_value_set_string (value, configured.tls.key_file.c_str ());
      break;
    case PROP_TLS_INSECURE:
      g_value_set_boolean (value, configured.tls.insecure);
      break;
    case PROP_TLS_VERSION:
      g_value_set_string (value, configured.tls.version.c_str ());
      break;
    case PROP_AVAILABILITY_TOPIC:
      g_value_set_string (value, configured.availability_topic.c_str ());
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
}

/* ---- the connection, on the publisher's network thread -------------- */

static void
on_connection (GstMqttPublish *self, const run &current,
               lfm::connection_event event, const std::string &reason)
{
  GstMqttPublishState *state = self->state;
  switch (event)
    {
    case lfm::connection_event::connected:
      if (state->troubled.exchange (false))
        GST_ELEMENT_INFO (
            self, RESOURCE, OPEN_WRITE,
            ("Reconnected to the MQTT broker at %s", current.where.c_str ()),
            (NULL));
      else
        GST_INFO_OBJECT (self, "connected to the MQTT broker at %s",
                         current.where.c_str ());
      break;
    case lfm::connection_event::lost:
      state->troubled = true;
      GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
                           ("Lost the MQTT broker at %s: %s; keeping the "
                            "newest %zu messages",
                            current.where.c_str (), reason.c_str (),
                            current.backlog),
                           ("reconnecting with backoff"));
      break;
    case lfm::connection_event::unreachable:
      state->troubled = true;
      GST_ELEMENT_WARNING (self, RESOURCE, OPEN_WRITE,
                           ("Could not reach the MQTT broker at %s: %s; "
                            "keeping the newest %zu messages",
                            current.where.c_str (), reason.c_str (),
                            current.backlog),
                           ("retrying with backoff"));
      break;
    }
}

/* An application's own message through the element's connection, for
 * both actions. */
static gboolean
publish_own (GstMqttPublish *self, const gchar *camera, const gchar *topic,
             const gchar *payload, lfm::message_kind kind)
{
  GstMqttPublishState *state = self->state;
  if (!topic || !payload)
    return FALSE;
  std::lock_guard<std::mutex> lock (state->publisher_lock);
  if (!state->connection)
    {
      GST_DEBUG_OBJECT (self, "not started: no message to %s", topic);
      return FALSE;
    }
  /* No camera given: this element's, fixed by the start that made the
   * connection (both under publisher_lock). */
  return state->connection->publisher ().publish (
      std::make_shared<const std::string> (topic), payload,
      camera ? camera : state->current.camera, kind);
}

/* The publish action: an application's own message, counted as one of
 * this element's camera's detections when the backlog must drop. */
static gboolean
gst_mqtt_publish_publish (GstMqttPublish *self, const gchar *topic,
                          const gchar *payload)
{
  return publish_own (self, NULL, topic, payload,
                      lfm::message_kind::detection);
}

/* The publish-record action: a health record or status of `camera`, which
 * a full backlog gives up only when it holds nothing but records
 * (latestframe-service's health records). */
static gboolean
gst_mqtt_publish_publish_record (GstMqttPublish *self, const gchar *camera,
                                 const gchar *topic, const gchar *payload)
{
  return publish_own (self, camera ? camera : "", topic, payload,
                      lfm::message_kind::record);
}

/* ---- start / stop ---------------------------------------------------- */

static gboolean
gst_mqtt_publish_start (GstBaseTransform *trans)
{
  GstMqttPublish *self = GST_MQTT_PUBLISH (trans);
  GstMqttPublishState *state = self->state;
  lfm::publisher_options options;
  run current;
  std::string topic_setting;
  std::string connection_name;
  static std::atomic<unsigned> clients{ 0 };

  {
    object_lock lock (self);
    const settings &configured = state->configured;
    current.camera = configured.camera.empty () ? GST_OBJECT_NAME (self)
                                                : configured.camera;
    current.publisher = configured.publisher;
    topic_setting = configured.topic;
    options.host = configured.host;
    options.port = configured.port;
    options.qos = configured.qos;
    options.backlog_capacity = configured.backlog;
    options.max_in_flight = configured.max_in_flight;
    options.keepalive_s = static_cast<int> (configured.keepalive);
    options.reconnect_delay_min_s = configured.reconnect_delay;
    options.reconnect_delay_max_s = configured.reconnect_delay_max;
    options.client_id = configured.client_id;
    options.username = configured.username;
    options.password = configured.password;
    options.tls = configured.tls;
    options.availability_topic = configured.availability_topic;
    connection_name = configured.connection;
  }
  if (options.client_id.empty ())
    /* The host too: containers of one deployment may all be pid 1, and
     * a broker drops a client when another connects with its id. */
    options.client_id = "latestframe-"
                        + (connection_name.empty () ? current.camera
                                                    : connection_name)
                        + "-" + g_get_host_name () + "-"
                        + std::to_string (getpid ()) + "-"
                        + std::to_string (clients++);
  current.where
      = options.host + ":"
        + std::to_string (lfm::mqtt_publisher::effective_port (options))
        + (options.tls.enabled ? " (TLS)" : "");
  current.backlog = options.backlog_capacity;

  const std::string topic
      = replace_all (topic_setting, CAMERA_PLACEHOLDER, current.camera);
  if (!lfm::mqtt_publisher::valid_topic (topic))
    {
      GST_ELEMENT_ERROR (
          self, RESOURCE, SETTINGS,
          ("Cannot publish to the MQTT topic \"%s\" (topic=\"%s\""
           ", camera=\"%s\"): a topic must be non-empty UTF-8 "
           "without the wildcards + and #",
           topic.c_str (), topic_setting.c_str (), current.camera.c_str ()),
          (NULL));
      return FALSE;
    }
  current.topic = std::make_shared<const std::string> (topic);

  /* The run the listener reads is the one this start fixes; it lives in
   * the state until the next start, after this element stopped listening. */
  state->current = current;
  state->troubled = false;
  const run *fixed = &state->current;

  std::shared_ptr<lfm::shared_publisher> connection;
  try
    {
      /* Told on the network thread, until stop() stops listening. */
      connection = lfm::acquire_publisher (
          connection_name, std::move (options),
          [self, fixed] (lfm::connection_event event, const std::string &why) {
            on_connection (self, *fixed, event, why);
          },
          state->listening);
    }
  catch (const std::invalid_argument &bad)
    {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
                         ("Bad MQTT settings for the broker at %s: %s",
                          current.where.c_str (), bad.what ()),
                         (NULL));
      return FALSE;
    }
  catch (const std::exception &failure)
    {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
                         ("Could not start the MQTT client for %s: %s",
                          current.where.c_str (), failure.what ()),
                         (NULL));
      return FALSE;
    }

  state->frames = 0;
  {
    std::lock_guard<std::mutex> lock (state->publisher_lock);
    state->connection = std::move (connection);
  }
  GST_DEBUG_OBJECT (self, "publishing to %s, topic %s", fixed->where.c_str (),
                    fixed->topic->c_str ());
  return TRUE;
}

static gboolean
gst_mqtt_publish_stop (GstBaseTransform *trans)
{
  GstMqttPublish *self = GST_MQTT_PUBLISH (trans);
  GstMqttPublishState *state = self->state;
  if (!state->connection)
    return TRUE;
  state->connection->stop_listening (state->listening);
  lfm::mqtt_publisher &publisher = state->connection->publisher ();

  /* The last element using the connection sends what it still holds, if
   * the broker is there (an absent one is not waited for); while others
   * use it, it goes on sending. Drains without the lock: readers of the
   * figures go on meanwhile. */
  const guint drain_ms = state->drain_timeout_ms;
  if (drain_ms > 0 && publisher.stats ().connected
      && lfm::is_sole_holder (state->connection)
      && !publisher.wait_flushed_for (std::chrono::milliseconds (drain_ms)))
    {
      const lfm::publisher_stats left = publisher.stats ();
      GST_WARNING_OBJECT (self,
                          "%zu messages in the backlog and %zu in flight were "
                          "not sent within %u ms",
                          left.backlog_level, left.in_flight, drain_ms);
    }

  std::shared_ptr<lfm::shared_publisher> finished;
  {
    std::lock_guard<std::mutex> lock (state->publisher_lock);
    state->last_stats = publisher.stats ();
    finished = std::move (state->connection);
  }
  /* The last user's reset disconnects. */
  finished.reset ();
  GST_DEBUG_OBJECT (
      self, "published %" G_GUINT64_FORMAT ", dropped %" G_GUINT64_FORMAT,
      static_cast<guint64> (state->last_stats.published),
      static_cast<guint64> (state->last_stats.dropped_backlog));
  return TRUE;
}

static gboolean
gst_mqtt_publish_set_caps (GstBaseTransform *trans, GstCaps *incaps,
                           GstCaps *outcaps)
{
  GstMqttPublish *self = GST_MQTT_PUBLISH (trans);
  (void)outcaps;
  /* Any format and memory: only the size is read. */
  const GstStructure *video = gst_caps_get_structure (incaps, 0);
  gint width = 0, height = 0;
  gst_structure_get_int (video, "width", &width);
  gst_structure_get_int (video, "height", &height);
  self->state->width = width;
  self->state->height = height;
  GST_DEBUG_OBJECT (self, "frames of %dx%d", width, height);
  return TRUE;
}

/* ---- per frame ------------------------------------------------------- */

/* Fills the state's list with the frame's regions of interest; the views
 * point into the metas, valid while the buffer is ours. */
static void
collect_detections (GstMqttPublishState *state, GstBuffer *buffer)
{
  state->detections.clear ();
  gpointer iterator = NULL;
  while (GstMeta *meta = gst_buffer_iterate_meta_filtered (
             buffer, &iterator, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))
    {
      auto *region = reinterpret_cast<GstVideoRegionOfInterestMeta *> (meta);
      lfm::detection_fields found;
      const gchar *roi_type = g_quark_to_string (region->roi_type);
      found.label = roi_type ? roi_type : "unknown";
      found.x = region->x;
      found.y = region->y;
      found.width = region->w;
      found.height = region->h;
      /* Our analyses describe each region in a `detection` param; a region
       * from elsewhere has only its type: no analysis, no confidence. */
      GstStructure *detection
          = gst_video_region_of_interest_meta_get_param (region, "detection");
      if (detection)
        {
          if (const gchar *label
              = gst_structure_get_string (detection, "label"))
            found.label = label;
          if (const gchar *analysis
              = gst_structure_get_string (detection, "analysis"))
            found.analysis = analysis;
          gdouble confidence;
          if (gst_structure_get_double (detection, "confidence", &confidence))
            found.confidence = confidence;
          if (const gchar *text = gst_structure_get_string (detection, "text"))
            found.text = text;
        }
      state->detections.push_back (found);
    }
}

static GstFlowReturn
gst_mqtt_publish_transform_ip (GstBaseTransform *trans, GstBuffer *buffer)
{
  GstMqttPublish *self = GST_MQTT_PUBLISH (trans);
  GstMqttPublishState *state = self->state;
  lfm::mqtt_publisher *publisher
      = state->connection ? &state->connection->publisher () : NULL;
  state->frames++;
  if (!publisher)
    return GST_FLOW_OK;

  lfm::frame_fields frame;
  frame.camera = state->current.camera;
  frame.publisher = state->current.publisher;
  frame.sequence = state->frames;
  frame.width = state->width;
  frame.height = state->height;
  if (GST_BUFFER_PTS_IS_VALID (buffer))
    frame.pts_ns = GST_BUFFER_PTS (buffer);

  /* latestframe's own numbering and capture time come first: its sequence
   * shows the frames it dropped. */
  if (const LatestFrameInfoMeta *info = latest_frame_info_meta_get (buffer))
    {
      /* latestframe already judged the capture time: none means it was not
       * given one, or one too far from this host's clock to use. */
      frame.sequence = info->sequence;
      if (GST_CLOCK_TIME_IS_VALID (info->capture_time))
        frame.capture_time_ns = info->capture_time;
    }
  else
    frame.capture_time_ns = latestframe::glue::reference_capture_time (buffer);

  collect_detections (state, buffer);
  if (state->detections.empty () && !state->publish_empty)
    return GST_FLOW_OK;
  frame.detections = state->detections.data ();
  frame.detection_count = state->detections.size ();
  frame.published_at_ns
      = std::chrono::duration_cast<std::chrono::nanoseconds> (
            std::chrono::system_clock::now ().time_since_epoch ())
            .count ();

  try
    {
      std::string payload;
      payload.reserve (state->payload_hint);
      lfm::write_detection_message (frame, payload);
      /* The last message's size, not the largest ever: one frame with
       * many regions must not make every message held in the backlog
       * that large. */
      state->payload_hint = payload.size ();
      GST_CAT_LOG_OBJECT (mqtt_publish_dataflow, self,
                          "sequence %" G_GUINT64_FORMAT ", %zu detections, "
                          "%zu bytes",
                          static_cast<guint64> (frame.sequence),
                          frame.detection_count, payload.size ());
      if (!publisher->publish (state->current.topic, std::move (payload),
                               state->current.camera,
                               lfm::message_kind::detection))
        GST_CAT_WARNING_OBJECT (mqtt_publish_dataflow, self,
                                "message of sequence %" G_GUINT64_FORMAT
                                " refused",
                                static_cast<guint64> (frame.sequence));
    }
  catch (const std::bad_alloc &)
    {
      /* Out of memory for one message: the frame still goes on; the
       * message is missing, which `sequence` shows. */
      GST_CAT_WARNING_OBJECT (
          mqtt_publish_dataflow, self,
          "no memory for the message of sequence %" G_GUINT64_FORMAT,
          static_cast<guint64> (frame.sequence));
    }
  return GST_FLOW_OK;
}

/* ---- class ----------------------------------------------------------- */

static void
gst_mqtt_publish_class_init (GstMqttPublishClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  const GParamFlags until_ready = static_cast<GParamFlags> (
      G_PARAM_READWRITE | GST_PARAM_MUTABLE_READY | G_PARAM_STATIC_STRINGS);
  const GParamFlags while_playing = static_cast<GParamFlags> (
      G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING | G_PARAM_STATIC_STRINGS);
  const GParamFlags read_only
      = static_cast<GParamFlags> (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  GST_DEBUG_CATEGORY_INIT (mqtt_publish_debug, "mqttpublish", 0,
                           "MQTT publisher of detections");
  GST_DEBUG_CATEGORY_INIT (mqtt_publish_dataflow, "mqttpublish_dataflow", 0,
                           "MQTT publisher of detections, per frame");

  gobject_class->finalize = gst_mqtt_publish_finalize;
  gobject_class->set_property = gst_mqtt_publish_set_property;
  gobject_class->get_property = gst_mqtt_publish_get_property;

  g_object_class_install_property (
      gobject_class, PROP_HOST,
      g_param_spec_string ("host", "Broker host",
                           "Host name or address of the MQTT broker (empty "
                           "is an error at start); used from the next start",
                           DEFAULT_HOST, until_ready));
  g_object_class_install_property (
      gobject_class, PROP_PORT,
      g_param_spec_int ("port", "Broker port",
                        "TCP port of the MQTT broker (0 = MQTT's default: "
                        "1883, or 8883 with tls); used from the next start",
                        0, 65535, DEFAULT_PORT, until_ready));
  g_object_class_install_property (
      gobject_class, PROP_CAMERA,
      g_param_spec_string ("camera", "Camera",
                           "Camera name put in each message and in place of "
                           "{camera} in the topic (unset or empty = the "
                           "element's name); used from the next start",
                           NULL, until_ready));
  g_object_class_install_property (
      gobject_class, PROP_TOPIC,
      g_param_spec_string ("topic", "Topic",
                           "MQTT topic of the messages; {camera} is replaced "
                           "by the camera name. Must not be empty nor hold "
                           "the wildcards + and # (an error at start); used "
                           "from the next start",
                           DEFAULT_TOPIC, until_ready));
  g_object_class_install_property (
      gobject_class, PROP_QOS,
      g_param_spec_int ("qos", "QoS",
                        "MQTT quality of service: 0 = at most once (no "
                        "acknowledgement), 1 = at least once, 2 = exactly "
                        "once; used from the next start",
                        0, 2, DEFAULT_QOS, until_ready));
  g_object_class_install_property (
      gobject_class, PROP_BACKLOG,
      g_param_spec_uint ("backlog", "Backlog (messages)",
                         "Messages kept while they cannot be sent (broker "
                         "away or max-in-flight reached); when full, the "
                         "oldest is dropped and counted in 'dropped' (at "
                         "least 1); used from the next start",
                         1, G_MAXINT, DEFAULT_BACKLOG, until_ready));
  g_object_class_install_property (
      gobject_class, PROP_MAX_IN_FLIGHT,
      g_param_spec_uint ("max-in-flight", "Max in flight (messages)",
                         "Messages sent and not yet acknowledged by the "
                         "broker (QoS 1/2) or written (QoS 0) at once, "
                         "1..65535; used from the next start",
                         1, 65535, DEFAULT_MAX_IN_FLIGHT, until_ready));
  g_object_class_install_property (
      gobject_class, PROP_KEEPALIVE,
      g_param_spec_uint ("keepalive", "Keepalive (s)",
                         "Seconds between MQTT keepalive pings, after which a "
                         "silent broker is known gone, 5..65535; used from "
                         "the next start",
                         5, 65535, DEFAULT_KEEPALIVE, until_ready));
  g_object_class_install_property (
      gobject_class, PROP_RECONNECT_DELAY,
      g_param_spec_uint ("reconnect-delay", "Reconnect delay (s)",
                         "Seconds before the first reconnection attempt; "
                         "later ones back off exponentially up to "
                         "reconnect-delay-max (at least 1); used from the "
                         "next start",
                         1, 3600, DEFAULT_RECONNECT_DELAY, until_ready));
  g_object_class_install_property (
      gobject_class, PROP_RECONNECT_DELAY_MAX,
      g_param_spec_uint ("reconnect-delay-max", "Max reconnect delay (s)",
                         "Longest wait between reconnection attempts, in "
                         "seconds (below reconnect-delay is an error at "
                         "start); used from the next start",
                         1, 3600, DEFAULT_RECONNECT_DELAY_MAX, until_ready));
  g_object_class_install_property (
      gobject_class, PROP_CLIENT_ID,
      g_param_spec_string ("client-id", "Client id",
                           "MQTT client id (empty = latestframe-<camera>-"
                           "<host>-<pid>-<n>, unique across hosts); two clients "
                           "with one id take the broker from each other; "
                           "used from the next start",
                           "", until_ready));
  g_object_class_install_property (
      gobject_class, PROP_PUBLISHER,
      g_param_spec_string ("publisher", "Publisher",
                           "Free text put in every message as \"publisher\", "
                           "so that a subscriber can tell which process sent "
                           "it (default <hostname>:<pid>); used from the "
                           "next start",
                           NULL, until_ready));
  g_object_class_install_property (
      gobject_class, PROP_PUBLISH_EMPTY,
      g_param_spec_boolean ("publish-empty", "Publish empty",
                            "Publish frames without detections too, with an "
                            "empty list, so that consumers see the sequence "
                            "advance (false = only frames with detections)",
                            DEFAULT_PUBLISH_EMPTY, while_playing));
  g_object_class_install_property (
      gobject_class, PROP_DRAIN_TIMEOUT,
      g_param_spec_uint ("drain-timeout", "Drain timeout (ms)",
                         "On stopping (PAUSED to READY), wait at most this "
                         "many milliseconds for the backlog and the messages "
                         "in flight to be sent, if the broker is connected "
                         "and no other element shares the connection (0 = "
                         "do not wait: they are abandoned)",
                         0, G_MAXINT, DEFAULT_DRAIN_TIMEOUT, while_playing));
  g_object_class_install_property (
      gobject_class, PROP_PUBLISHED,
      g_param_spec_uint64 ("published", "Published (messages)",
                           "Messages acknowledged by the broker (QoS 1/2) or "
                           "written to it (QoS 0) in this run (or the last)",
                           0, G_MAXUINT64, 0, read_only));
  g_object_class_install_property (
      gobject_class, PROP_DROPPED,
      g_param_spec_uint64 ("dropped", "Dropped (messages)",
                           "Oldest messages dropped from a full backlog in "
                           "this run (or the last)",
                           0, G_MAXUINT64, 0, read_only));
  g_object_class_install_property (
      gobject_class, PROP_BACKLOG_LEVEL,
      g_param_spec_uint ("backlog-level", "Backlog level (messages)",
                         "Messages waiting in the backlog now", 0, G_MAXUINT, 0,
                         read_only));
  g_object_class_install_property (
      gobject_class, PROP_CONNECTED,
      g_param_spec_boolean ("connected", "Connected",
                            "Whether the broker has accepted the connection "
                            "and it is up now",
                            FALSE, read_only));
  g_object_class_install_property (
      gobject_class, PROP_STATS,
      g_param_spec_boxed (
          "stats", "Statistics",
          "mqttpublish-stats: connected, connects, disconnects, accepted, "
          "published, dropped, lost (QoS 0 unwritten at a disconnection), "
          "rejected, backlog-level, peak-backlog-level, in-flight, "
          "last-error, dropped-by-camera (a structure: one guint64 field "
          "per camera that lost messages); accepted = published + dropped "
          "+ lost + backlog-level + in-flight",
          GST_TYPE_STRUCTURE, read_only));

  const GParamFlags write_only = static_cast<GParamFlags> (
      G_PARAM_WRITABLE | GST_PARAM_MUTABLE_READY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property (
      gobject_class, PROP_USERNAME,
      g_param_spec_string ("username", "User name",
                           "MQTT user name (empty = none: anonymous). On a "
                           "shared connection, the first element to start "
                           "sets it; used from the next start",
                           "", until_ready));
  g_object_class_install_property (
      gobject_class, PROP_PASSWORD,
      g_param_spec_string ("password", "Password",
                           "MQTT password (empty = none; needs a user name). "
                           "Write-only: never read back, logged or posted. "
                           "On a shared connection, the first element to "
                           "start sets it; used from the next start",
                           "", write_only));
  g_object_class_install_property (
      gobject_class, PROP_TLS,
      g_param_spec_boolean ("tls", "TLS",
                            "Connect with TLS, verifying the broker's "
                            "certificate and host name (with port 0: port "
                            "8883). On a shared connection, the first "
                            "element to start sets it; used from the next "
                            "start",
                            DEFAULT_TLS, until_ready));
  g_object_class_install_property (
      gobject_class, PROP_TLS_CA_FILE,
      g_param_spec_string ("tls-ca-file", "TLS CA file",
                           "PEM file of the CAs that may sign the broker's "
                           "certificate (empty = the system's trust store); "
                           "an unreadable file is an error at start; needs "
                           "tls=true; used from the next start",
                           "", until_ready));
  g_object_class_install_property (
      gobject_class, PROP_TLS_CERT_FILE,
      g_param_spec_string ("tls-cert-file", "TLS client certificate",
                           "PEM client certificate for brokers that require "
                           "one (empty = none; give tls-key-file with it); "
                           "needs tls=true; used from the next start",
                           "", until_ready));
  g_object_class_install_property (
      gobject_class, PROP_TLS_KEY_FILE,
      g_param_spec_string ("tls-key-file", "TLS client key",
                           "PEM private key of tls-cert-file, unencrypted "
                           "(empty = none); needs tls=true; used from the "
                           "next start",
                           "", until_ready));
  g_object_class_install_property (
      gobject_class, PROP_TLS_INSECURE,
      g_param_spec_boolean ("tls-insecure", "TLS insecure",
                            "Do not verify the broker's certificate nor its "
                            "host name: encrypted but not authenticated, for "
                            "tests only; needs tls=true; used from the next "
                            "start",
                            DEFAULT_TLS_INSECURE, until_ready));
  g_object_class_install_property (
      gobject_class, PROP_TLS_VERSION,
      g_param_spec_string ("tls-version", "TLS version",
                           "Lowest TLS version: \"tlsv1.2\" or \"tlsv1.3\" "
                           "(empty = libmosquitto's default, TLS 1.2 or "
                           "later; another value is an error at start); "
                           "needs tls=true; used from the next start",
                           "", until_ready));
  g_object_class_install_property (
      gobject_class, PROP_AVAILABILITY_TOPIC,
      g_param_spec_string ("availability-topic", "Availability topic",
                           "Topic where the broker holds \"online\" while "
                           "the connection is up and \"offline\" after it "
                           "(retained, QoS 1: published on every connection "
                           "and on stopping, and the last will if the "
                           "process dies); empty = none. On a shared "
                           "connection, the first element to start sets it; "
                           "used from the next start",
                           "", until_ready));

  g_object_class_install_property (
      gobject_class, PROP_CONNECTION,
      g_param_spec_string (
          "connection", "Connection",
          "Name of a connection the mqttpublish elements of this process "
          "naming it share: one client, one backlog, made with the settings "
          "of the first to start, credentials, TLS and availability-topic "
          "included (the others must name the same host and port); its "
          "figures are the connection's. Empty = this element's own "
          "connection; used from the next start",
          DEFAULT_CONNECTION, until_ready));

  /**
   * GstMqttPublish::publish:
   * @self: the element
   * @topic: an MQTT topic (no wildcards)
   * @payload: the message, UTF-8 text
   *
   * Publishes an application's own message through the element's
   * connection, with its QoS and backlog, without waiting for the broker.
   * latestframe-service sends each camera's health record so.
   *
   * Returns: whether the message was taken (FALSE before the element
   * started, i.e. below PAUSED, or for a topic no message can go to).
   */
  mqtt_publish_signals[SIGNAL_PUBLISH] = g_signal_new (
      "publish", G_TYPE_FROM_CLASS (klass),
      static_cast<GSignalFlags> (G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
      G_STRUCT_OFFSET (GstMqttPublishClass, publish), NULL, NULL, NULL,
      G_TYPE_BOOLEAN, 2, G_TYPE_STRING, G_TYPE_STRING);
  klass->publish = gst_mqtt_publish_publish;

  /**
   * GstMqttPublish::publish-record:
   * @self: the element
   * @camera: the camera the record is about (may be empty)
   * @topic: an MQTT topic (no wildcards)
   * @payload: the message, UTF-8 text
   *
   * Like #GstMqttPublish::publish, for a health record or status of
   * @camera: when the backlog is full, a record is dropped only when it
   * holds nothing but records, and then the oldest.
   *
   * Returns: whether the message was taken (FALSE before the element
   * started, or for a topic no message can go to).
   */
  mqtt_publish_signals[SIGNAL_PUBLISH_RECORD] = g_signal_new (
      "publish-record", G_TYPE_FROM_CLASS (klass),
      static_cast<GSignalFlags> (G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
      G_STRUCT_OFFSET (GstMqttPublishClass, publish_record), NULL, NULL, NULL,
      G_TYPE_BOOLEAN, 3, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  klass->publish_record = gst_mqtt_publish_publish_record;

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (
      element_class, "MQTT detections publisher", "Filter/Network/Video",
      "Publishes each frame's detections (region-of-interest metas) as a "
      "JSON message to an MQTT broker; frames pass through untouched",
      "latestframe developers");
#ifdef LATESTFRAME_DOC_URI
  gst_element_class_add_static_metadata (element_class,
                                         GST_ELEMENT_METADATA_DOC_URI,
                                         LATESTFRAME_DOC_URI "#mqttpublish");
#endif

  trans_class->start = GST_DEBUG_FUNCPTR (gst_mqtt_publish_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_mqtt_publish_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_mqtt_publish_set_caps);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_mqtt_publish_transform_ip);
  trans_class->passthrough_on_same_caps = TRUE;
  trans_class->transform_ip_on_passthrough = TRUE;
}
