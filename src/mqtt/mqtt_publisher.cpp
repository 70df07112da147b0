/* latestframe — an MQTT publisher that never waits for the broker.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/mqtt_publisher.h"

#include <mosquitto.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <utility>

namespace latestframe
{
namespace mqtt
{

namespace
{
/* MQTT's largest payload (its remaining length is 4 bytes of 7 bits). */
constexpr std::size_t max_payload_bytes = 268435455;
/* libmosquitto's message ids are 16-bit, never 0. */
constexpr std::size_t mid_count = 65536;

/* libmosquitto's library state, set up once per process and kept to the
 * end: clients live in plugins that are never unloaded. */
void
init_library_once ()
{
  static std::once_flag once;
  static int result = MOSQ_ERR_SUCCESS;
  std::call_once (once, [] { result = mosquitto_lib_init (); });
  if (result != MOSQ_ERR_SUCCESS)
    throw std::runtime_error (std::string ("libmosquitto failed to start: ")
                              + mosquitto_strerror (result));
}

/* Why a libmosquitto call failed, in words. MOSQ_ERR_ERRNO means errno
 * says it: read right after the call, on its thread. */
std::string
describe (int rc)
{
  if (rc == MOSQ_ERR_ERRNO)
    return std::strerror (errno);
  return mosquitto_strerror (rc);
}
} // namespace

void
mqtt_publisher::client_deleter::operator() (struct mosquitto *client) const
{
  mosquitto_destroy (client);
}

std::string
mqtt_publisher::check_options (const publisher_options &options)
{
  if (options.host.empty ())
    return "no broker host given (the host is empty)";
  if (options.port < 1 || options.port > 65535)
    return "the broker port " + std::to_string (options.port)
           + " is not a TCP port (1..65535)";
  if (options.qos < 0 || options.qos > 2)
    return "QoS " + std::to_string (options.qos) + " is not 0, 1 or 2";
  if (options.backlog_capacity < 1)
    return "the backlog must hold at least one message";
  if (options.max_in_flight < 1 || options.max_in_flight > 65535)
    return "max in flight " + std::to_string (options.max_in_flight)
           + " is not within 1..65535";
  if (options.keepalive_s < 5 || options.keepalive_s > 65535)
    return "keepalive " + std::to_string (options.keepalive_s)
           + " s is not within 5..65535 s";
  if (options.reconnect_delay_min_s < 1
      || options.reconnect_delay_max_s < options.reconnect_delay_min_s)
    return "reconnect delays must be 1 <= min <= max (got min "
           + std::to_string (options.reconnect_delay_min_s) + " s, max "
           + std::to_string (options.reconnect_delay_max_s) + " s)";
  if (options.client_id.size () > 65535
      || mosquitto_validate_utf8 (options.client_id.data (),
                                  static_cast<int> (options.client_id.size ()))
             != MOSQ_ERR_SUCCESS)
    return "the client id is not valid UTF-8 of at most 65535 bytes";
  return {};
}

bool
mqtt_publisher::valid_topic (const std::string &topic)
{
  if (topic.empty () || topic.size () > 65535)
    return false;
  if (mosquitto_validate_utf8 (topic.data (), static_cast<int> (topic.size ()))
      != MOSQ_ERR_SUCCESS)
    return false;
  return mosquitto_pub_topic_check2 (topic.data (), topic.size ())
         == MOSQ_ERR_SUCCESS;
}

mqtt_publisher::mqtt_publisher (publisher_options options)
    : options_ (std::move (options)),
      backlog_ (options_.backlog_capacity == 0 ? 1 : options_.backlog_capacity)
{
  const std::string bad = check_options (options_);
  if (!bad.empty ())
    throw std::invalid_argument (bad);
  init_library_once ();
  in_flight_mids_.assign (mid_count, false);

  client_.reset (mosquitto_new (
      options_.client_id.empty () ? nullptr : options_.client_id.c_str (), true,
      this));
  if (!client_)
    throw std::runtime_error (std::string ("could not create an MQTT client: ")
                              + std::strerror (errno));
  mosquitto_int_option (client_.get (), MOSQ_OPT_PROTOCOL_VERSION,
                        MQTT_PROTOCOL_V311);
  /* libmosquitto's own limit agrees with ours: it never queues a message
   * of ours behind its quota, so in flight means on the wire. */
  mosquitto_int_option (client_.get (), MOSQ_OPT_SEND_MAXIMUM,
                        static_cast<int> (options_.max_in_flight));
  mosquitto_reconnect_delay_set (client_.get (), options_.reconnect_delay_min_s,
                                 options_.reconnect_delay_max_s, true);
  mosquitto_connect_callback_set (client_.get (), on_connect);
  mosquitto_disconnect_callback_set (client_.get (), on_disconnect);
  mosquitto_publish_callback_set (client_.get (), on_publish);

  /* Before the loop thread starts, which would otherwise race it for the
   * client: a failure here still leaves host and port set, and the loop
   * thread retries them with backoff. */
  const int connect_rc
      = mosquitto_connect_async (client_.get (), options_.host.c_str (),
                                 options_.port, options_.keepalive_s);
  const std::string connect_error = describe (connect_rc);

  const int loop_rc = mosquitto_loop_start (client_.get ());
  if (loop_rc != MOSQ_ERR_SUCCESS)
    throw std::runtime_error ("could not start the MQTT client's thread: "
                              + describe (loop_rc));

  if (connect_rc != MOSQ_ERR_SUCCESS)
    {
      /* libmosquitto 2.0.11: when the first attempt fails at once (a
       * broker not up yet on this host refuses the connection), its
       * thread never tries again; one attempt started after the thread
       * runs puts it back in its own reconnect-with-backoff cycle. So try
       * until an attempt is under way, every reconnect_delay_min_s. */
      first_connection_ = std::thread ([this] {
        std::unique_lock<std::mutex> lock (mutex_);
        while (!stopping_)
          {
            if (stopping_changed_.wait_for (
                    lock, std::chrono::seconds (options_.reconnect_delay_min_s),
                    [this] { return stopping_; }))
              return;
            lock.unlock ();
            const int rc = mosquitto_reconnect_async (client_.get ());
            lock.lock ();
            if (rc == MOSQ_ERR_SUCCESS)
              return;
          }
      });
      bool tell_now = false;
      {
        std::lock_guard<std::mutex> lock (mutex_);
        last_error_ = connect_error;
        if (!connected_ && !unreachable_told_)
          tell_now = unreachable_told_ = true;
      }
      if (tell_now)
        tell (connection_event::unreachable, connect_error);
    }
}

mqtt_publisher::~mqtt_publisher ()
{
  {
    std::lock_guard<std::mutex> lock (mutex_);
    stopping_ = true;
  }
  drained_.notify_all ();
  stopping_changed_.notify_all ();
  if (first_connection_.joinable ())
    first_connection_.join ();
  mosquitto_disconnect (client_.get ());

  /* libmosquitto's thread ends when it sees the client disconnected. A
   * reconnection under way when mosquitto_disconnect() ran sets the state
   * back (connected, or connect pending when it fails at once), and the
   * thread would retry forever: the callbacks disconnect again when they
   * run (on_connect, on_disconnect), and this helper repeats the request
   * for failures that call no callback. The thread sees it after its
   * current backoff sleep, at most reconnect_delay_max_s. */
  std::mutex joined_mutex;
  std::condition_variable joined_changed;
  bool joined = false;
  std::thread repeat_disconnect ([&] {
    std::unique_lock<std::mutex> lock (joined_mutex);
    while (!joined_changed.wait_for (lock, std::chrono::milliseconds (100),
                                     [&] { return joined; }))
      mosquitto_disconnect (client_.get ());
  });
  mosquitto_loop_stop (client_.get (), false);
  {
    std::lock_guard<std::mutex> lock (joined_mutex);
    joined = true;
  }
  joined_changed.notify_all ();
  repeat_disconnect.join ();
  client_.reset ();
}

bool
mqtt_publisher::publish (std::shared_ptr<const std::string> topic,
                         std::string payload)
{
  if (!topic || !valid_topic (*topic) || payload.size () > max_payload_bytes)
    {
      std::lock_guard<std::mutex> lock (mutex_);
      rejected_++;
      return false;
    }
  backlog_.push (outgoing_message{ std::move (topic), std::move (payload) });
  std::lock_guard<std::mutex> lock (mutex_);
  pump_locked ();
  return true;
}

void
mqtt_publisher::pump_locked ()
{
  if (!connected_ || stopping_)
    return;
  bool no_connection = false;
  while (!no_connection && in_flight_ < options_.max_in_flight)
    {
      const bool took = backlog_.send_oldest (
          [&] (const outgoing_message &message) {
            int mid = 0;
            const int rc = mosquitto_publish (
                client_.get (), &mid, message.topic->c_str (),
                static_cast<int> (message.payload.size ()),
                message.payload.data (), options_.qos, false);
            /* QoS 1/2: libmosquitto queued the message before it found no
             * socket, and sends it after the reconnection. */
            const bool queued = rc == MOSQ_ERR_SUCCESS
                                || (options_.qos > 0 && rc == MOSQ_ERR_NO_CONN);
            if (rc == MOSQ_ERR_NO_CONN)
              no_connection = true;
            if (queued)
              {
                const std::size_t index = static_cast<std::size_t> (mid);
                if (index < mid_count && !in_flight_mids_[index])
                  {
                    in_flight_mids_[index] = true;
                    in_flight_++;
                  }
                return true;
              }
            if (rc == MOSQ_ERR_NO_CONN)
              return false; /* QoS 0: it waits in the backlog */
            /* Refused for good (out of memory, a packet over the broker's
             * limit): taken, so that it does not block the ones behind. */
            lost_++;
            last_error_ = "a message could not be published: " + describe (rc);
            return true;
          });
      if (!took)
        break;
    }
  drained_.notify_all ();
}

void
mqtt_publisher::tell (connection_event event, const std::string &reason)
{
  if (options_.on_connection)
    options_.on_connection (event, reason);
}

void
mqtt_publisher::on_connect (struct mosquitto *client, void *data, int rc)
{
  auto *self = static_cast<mqtt_publisher *> (data);
  bool stopping;
  bool tell_connected = false;
  bool tell_unreachable = false;
  std::string reason;
  {
    std::lock_guard<std::mutex> lock (self->mutex_);
    stopping = self->stopping_;
    if (!stopping && rc == 0)
      {
        self->connected_ = true;
        self->connects_++;
        self->unreachable_told_ = false;
        tell_connected = true;
        self->pump_locked ();
      }
    else if (!stopping)
      {
        reason = self->last_error_ = mosquitto_connack_string (rc);
        if (!self->connected_ && !self->unreachable_told_)
          tell_unreachable = self->unreachable_told_ = true;
      }
  }
  if (stopping)
    mosquitto_disconnect (client); /* see the destructor */
  else if (tell_connected)
    self->tell (connection_event::connected, {});
  else if (tell_unreachable)
    self->tell (connection_event::unreachable, reason);
}

void
mqtt_publisher::on_disconnect (struct mosquitto *client, void *data, int rc)
{
  auto *self = static_cast<mqtt_publisher *> (data);
  const std::string reason = rc == 0 ? "disconnected" : describe (rc);
  bool stopping;
  bool tell_lost = false;
  bool tell_unreachable = false;
  {
    std::lock_guard<std::mutex> lock (self->mutex_);
    stopping = self->stopping_;
    if (!stopping && self->connected_)
      {
        self->connected_ = false;
        self->disconnects_++;
        self->last_error_ = reason;
        tell_lost = true;
        /* This outage is told: failed attempts to reconnect are part of
         * it, not a new one. */
        self->unreachable_told_ = true;
        /* QoS 0 messages not yet written are gone with the connection
         * (libmosquitto drops its packet queue on reconnecting); QoS 1/2
         * ones stay in flight and are sent again. */
        if (self->options_.qos == 0 && self->in_flight_ > 0)
          {
            self->lost_ += self->in_flight_;
            self->in_flight_ = 0;
            self->in_flight_mids_.assign (mid_count, false);
            self->drained_.notify_all ();
          }
      }
    else if (!stopping)
      {
        self->last_error_ = reason;
        if (!self->unreachable_told_)
          tell_unreachable = self->unreachable_told_ = true;
      }
  }
  if (stopping)
    mosquitto_disconnect (client); /* see the destructor */
  else if (tell_lost)
    self->tell (connection_event::lost, reason);
  else if (tell_unreachable)
    self->tell (connection_event::unreachable, reason);
}

void
mqtt_publisher::on_publish (struct mosquitto *client, void *data, int mid)
{
  (void)client;
  auto *self = static_cast<mqtt_publisher *> (data);
  std::lock_guard<std::mutex> lock (self->mutex_);
  const std::size_t index = static_cast<std::size_t> (mid);
  if (index >= mid_count || !self->in_flight_mids_[index])
    return;
  self->in_flight_mids_[index] = false;
  self->in_flight_--;
  self->published_++;
  self->pump_locked ();
  self->drained_.notify_all ();
}

bool
mqtt_publisher::wait_flushed_for (std::chrono::milliseconds timeout)
{
  std::unique_lock<std::mutex> lock (mutex_);
  return drained_.wait_for (lock, timeout, [this] {
    return in_flight_ == 0 && backlog_.level_approx () == 0;
  });
}

publisher_stats
mqtt_publisher::stats () const
{
  std::lock_guard<std::mutex> lock (mutex_);
  const backlog_counts backlog = backlog_.counts ();
  publisher_stats stats;
  stats.connected = connected_;
  stats.connects = connects_;
  stats.disconnects = disconnects_;
  stats.accepted = backlog.accepted;
  stats.published = published_;
  stats.dropped_backlog = backlog.dropped;
  stats.lost = lost_;
  stats.rejected = rejected_;
  stats.backlog_level = backlog.level;
  stats.peak_backlog_level = backlog.peak_level;
  stats.in_flight = in_flight_;
  stats.last_error = last_error_;
  return stats;
}

} // namespace mqtt
} // namespace latestframe
