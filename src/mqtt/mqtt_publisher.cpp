/* latestframe — an MQTT publisher that never waits for the broker.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/mqtt_publisher.h"

#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* The availability messages, and how long a clean stop waits for the
 * broker to acknowledge "offline". */
constexpr char online_payload[] = "online";
constexpr char offline_payload[] = "offline";
constexpr auto offline_wait = std::chrono::seconds (2);

/* Why the file at `path` (named `what`) cannot be read, or "" when it
 * can: names the path, never anything from inside it. */
std::string
unreadable_file (const std::string &what, const std::string &path)
{
  const int fd = ::open (path.c_str (), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return what + " \"" + path + "\" cannot be read: " + std::strerror (errno);
  struct stat status;
  const bool regular = fstat (fd, &status) == 0 && S_ISREG (status.st_mode);
  ::close (fd);
  if (!regular)
    return what + " \"" + path + "\" cannot be read: not a regular file";
  return {};
}

/* A CONNACK refusal in words a user acts on. */
std::string
describe_refusal (int rc)
{
  switch (rc)
    {
    case 4: /* bad user name or password */
    case 5: /* not authorised */
      return std::string ("the broker refused the user name or password (")
             + mosquitto_connack_string (rc) + ")";
    default:
      return std::string ("the broker refused the connection (")
             + mosquitto_connack_string (rc) + ")";
    }
}

/* OpenSSL's reason out of libmosquitto's line "OpenSSL Error[0]:
 * error:0A000086:SSL routines::certificate verify failed": the words after
 * the last "::" or ":". */
std::string
openssl_reason (const std::string &line)
{
  const std::size_t at = line.rfind (':');
  std::string reason = at == std::string::npos ? line : line.substr (at + 1);
  while (!reason.empty () && (reason.back () == '.' || reason.back () == ' '))
    reason.pop_back ();
  return reason;
}

/* Whether `reason` is how a TLS connection the broker closed reads: OpenSSL
 * hands libmosquitto EPROTO (or the socket ECONNRESET), or libmosquitto
 * its own words. */
bool
closed_during_handshake (const std::string &reason)
{
  return reason == std::strerror (EPROTO) || reason == std::strerror (ECONNRESET)
         || reason == mosquitto_strerror (MOSQ_ERR_PROTOCOL)
         || reason == mosquitto_strerror (MOSQ_ERR_CONN_LOST);
}

} // namespace

void
mqtt_publisher::tls_context_deleter::operator() (SSL_CTX *context) const
{
  SSL_CTX_free (context);
}

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
  if (options.port < 0 || options.port > 65535)
    return "the broker port " + std::to_string (options.port)
           + " is not a TCP port (1..65535, or 0 for the default)";
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
  if (options.username.size () > 65535
      || mosquitto_validate_utf8 (options.username.data (),
                                  static_cast<int> (options.username.size ()))
             != MOSQ_ERR_SUCCESS)
    return "the user name is not valid UTF-8 of at most 65535 bytes";
  if (!options.password.empty () && options.username.empty ())
    return "a password is given without a user name (MQTT 3.1.1 sends a "
           "password only with a user name)";
  if (options.password.size () > 65535)
    return "the password is longer than 65535 bytes";
  if (!options.availability_topic.empty ()
      && !valid_topic (options.availability_topic))
    return "the availability topic \"" + options.availability_topic
           + "\" is not one a message can be published to (empty, "
             "wildcards + or #, or not UTF-8)";

  const publisher_options::tls_settings &tls = options.tls;
  if (!tls.enabled)
    {
      if (!tls.ca_file.empty () || !tls.cert_file.empty ()
          || !tls.key_file.empty () || tls.insecure || !tls.version.empty ())
        return "TLS settings are given but TLS is not enabled (the "
               "connection would not be encrypted)";
      return {};
    }
  if (!tls.cert_file.empty () && tls.key_file.empty ())
    return "a TLS client certificate is given without its key file";
  if (tls.cert_file.empty () && !tls.key_file.empty ())
    return "a TLS client key file is given without its certificate";
  if (!tls.version.empty () && tls.version != "tlsv1.2"
      && tls.version != "tlsv1.3")
    return "unknown TLS version \"" + tls.version
           + "\" (use \"tlsv1.2\", \"tlsv1.3\" or empty for the default)";
  for (const auto &[what, path] :
       { std::pair<const char *, const std::string &>{ "the TLS CA file",
                                                      tls.ca_file },
         { "the TLS client certificate", tls.cert_file },
         { "the TLS client key file", tls.key_file } })
    if (!path.empty ())
      {
        std::string bad = unreadable_file (what, path);
        if (!bad.empty ())
          return bad;
      }
  return {};
}

int
mqtt_publisher::effective_port (const publisher_options &options)
{
  if (options.port != 0)
    return options.port;
  return options.tls.enabled ? 8883 : 1883;
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
  mosquitto_connect_callback_set (client_.get (), on_connect);
  mosquitto_disconnect_callback_set (client_.get (), on_disconnect);
  mosquitto_publish_callback_set (client_.get (), on_publish);
  /* Why the broker ended a TLS handshake (its alert, as OpenSSL words it)
   * reaches us only as a log line (see take_failure_locked()). */
  mosquitto_log_callback_set (client_.get (), on_log);

  if (!options_.username.empty ())
    {
      const int rc = mosquitto_username_pw_set (
          client_.get (), options_.username.c_str (),
          options_.password.empty () ? nullptr : options_.password.c_str ());
      if (rc != MOSQ_ERR_SUCCESS)
        throw std::runtime_error ("could not set the MQTT user name: "
                                  + describe (rc));
    }
  if (!options_.availability_topic.empty ())
    {
      const int rc = mosquitto_will_set (
          client_.get (), options_.availability_topic.c_str (),
          static_cast<int> (sizeof offline_payload - 1), offline_payload, 1,
          true);
      if (rc != MOSQ_ERR_SUCCESS)
        throw std::runtime_error ("could not set the MQTT last will: "
                                  + describe (rc));
    }
  if (options_.tls.enabled)
    configure_tls ();

  /* Other threads publish while ours runs mosquitto_loop(): libmosquitto
   * wakes that thread for them instead of writing on theirs. */
  mosquitto_threaded_set (client_.get (), true);

  /* Before the network thread starts, which would otherwise race it for
   * the client: a failure here still leaves host and port set, and the
   * thread retries them with backoff. */
  const int connect_rc
      = mosquitto_connect_async (client_.get (), options_.host.c_str (),
                                 effective_port (options_),
                                 options_.keepalive_s);
  const std::string connect_error = describe (connect_rc);
  if (connect_rc != MOSQ_ERR_SUCCESS)
    fail_attempt (connect_error);
  network_ = std::thread (
      [this, connect_rc] { run_network (connect_rc == MOSQ_ERR_SUCCESS); });
}

void
mqtt_publisher::run_network (bool attempting)
{
  /* Our own loop rather than mosquitto_loop_start(): libmosquitto 2.0.11's
   * thread gives up for good after a failed TLS handshake (an untrusted
   * certificate, a host name mismatch), never retries a first attempt
   * that failed at once, and spins when a TLS connection is refused or
   * closed during the handshake. Here every failure is told and retried
   * with libmosquitto's backoff (min * (n+1)^2, up to max). */
  int rounds_after_stop = 0;
  for (;;)
    {
      if (!attempting)
        {
          std::unique_lock<std::mutex> lock (mutex_);
          const unsigned min = options_.reconnect_delay_min_s;
          const unsigned max = options_.reconnect_delay_max_s;
          unsigned long delay
              = static_cast<unsigned long> (min) * (retries_ + 1)
                * (retries_ + 1);
          if (delay >= max)
            delay = max;
          else
            retries_++;
          if (stopping_changed_.wait_for (lock, std::chrono::seconds (delay),
                                          [this] { return stopping_; }))
            return;
          failure_told_ = false;
          lock.unlock ();
          const int rc = mosquitto_reconnect_async (client_.get ());
          if (rc != MOSQ_ERR_SUCCESS)
            {
              fail_attempt (describe (rc));
              continue;
            }
          attempting = true;
        }

      /* Shorter rounds once stopping: the last ones are bounded. */
      const int rc = mosquitto_loop (client_.get (),
                                     rounds_after_stop > 0 ? 100 : 500, 1);
      const std::string reason = rc == MOSQ_ERR_SUCCESS ? "" : describe (rc);
      bool stopping;
      {
        std::lock_guard<std::mutex> lock (mutex_);
        stopping = stopping_;
      }
      if (stopping)
        {
          /* The destructor asked libmosquitto to disconnect: a few rounds
           * (about 1 s at most) let it write the DISCONNECT. */
          if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket (client_.get ()) < 0
              || ++rounds_after_stop > 10)
            return;
          continue;
        }
      if (rc != MOSQ_ERR_SUCCESS)
        {
          fail_attempt (reason);
          attempting = false;
          continue;
        }
      const std::string stalled = handshake_failure ();
      if (!stalled.empty ())
        {
          fail_attempt (stalled);
          attempting = false;
        }
    }
}

std::string
mqtt_publisher::handshake_failure ()
{
  /* libmosquitto treats every SSL_ERROR_SYSCALL of SSL_connect as "still
   * connecting": a refused or closed TCP connection under a TLS handshake
   * would be waited for forever. */
  SSL *tls = static_cast<SSL *> (mosquitto_ssl_get (client_.get ()));
  const int fd = mosquitto_socket (client_.get ());
  if (!tls || fd < 0 || SSL_is_init_finished (tls))
    return {};
  struct tcp_info info
  {
  };
  socklen_t size = sizeof info;
  if (getsockopt (fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0)
    return {};
  int pending = 0;
  socklen_t pending_size = sizeof pending;
  getsockopt (fd, SOL_SOCKET, SO_ERROR, &pending, &pending_size);
  if (info.tcpi_state == TCP_CLOSE)
    return pending != 0
               ? std::string (std::strerror (pending))
               : std::string (std::strerror (ECONNREFUSED))
                     + " (before the TLS handshake)";
  if (info.tcpi_state == TCP_CLOSE_WAIT)
    return "TLS: the broker closed the connection during the handshake";
  return {};
}

void
mqtt_publisher::fail_attempt (const std::string &fallback)
{
  bool tell_unreachable = false;
  bool tell_lost = false;
  std::string reason;
  {
    std::lock_guard<std::mutex> lock (mutex_);
    if (stopping_)
      return;
    /* on_disconnect told this one already, with its own reason. */
    if (failure_told_)
      {
        failure_told_ = false;
        return;
      }
    reason = last_error_ = take_failure_locked (fallback);
    if (connected_)
      tell_lost = lose_connection_locked ();
    else if (!unreachable_told_)
      tell_unreachable = unreachable_told_ = true;
  }
  if (tell_lost)
    tell (connection_event::lost, reason);
  else if (tell_unreachable)
    tell (connection_event::unreachable, reason);
}

bool
mqtt_publisher::lose_connection_locked ()
{
  connected_ = false;
  disconnects_++;
  /* This outage is told: failed attempts to reconnect are part of it,
   * not a new one. */
  unreachable_told_ = true;
  /* QoS 0 messages not yet written are gone with the connection
   * (libmosquitto drops its packet queue on reconnecting); QoS 1/2 ones
   * stay in flight and are sent again. */
  if (options_.qos == 0 && in_flight_ > 0)
    {
      lost_ += in_flight_;
      in_flight_ = 0;
      in_flight_mids_.assign (mid_count, false);
    }
  drained_.notify_all ();
  return true;
}

void
mqtt_publisher::configure_tls ()
{
  const publisher_options::tls_settings &tls = options_.tls;
  /* Our own context, so that a failed verification says why (libmosquitto
   * reports only MOSQ_ERR_TLS); libmosquitto applies its defaults to it
   * (trust store, verification with its host name check, client
   * certificate, version). */
  tls_context_.reset (SSL_CTX_new (TLS_client_method ()));
  if (!tls_context_)
    throw std::runtime_error ("could not create a TLS context");
  SSL_CTX_set_cert_verify_callback (tls_context_.get (), verify_and_record,
                                    this);
  int rc = mosquitto_void_option (client_.get (), MOSQ_OPT_SSL_CTX,
                                  tls_context_.get ());
  if (rc == MOSQ_ERR_SUCCESS)
    rc = mosquitto_int_option (client_.get (), MOSQ_OPT_SSL_CTX_WITH_DEFAULTS,
                               1);
  /* libmosquitto applies its defaults only with a CA file or folder: the
   * system's trust store is OpenSSL's default folder. */
  const char *ca_file = tls.ca_file.empty () ? nullptr : tls.ca_file.c_str ();
  const char *ca_folder = ca_file ? nullptr : X509_get_default_cert_dir ();
  if (rc == MOSQ_ERR_SUCCESS)
    rc = mosquitto_tls_set (
        client_.get (), ca_file, ca_folder,
        tls.cert_file.empty () ? nullptr : tls.cert_file.c_str (),
        tls.key_file.empty () ? nullptr : tls.key_file.c_str (), nullptr);
  if (rc == MOSQ_ERR_SUCCESS)
    rc = mosquitto_tls_opts_set (
        client_.get (), tls.insecure ? 0 : 1,
        tls.version.empty () ? nullptr : tls.version.c_str (), nullptr);
  if (rc == MOSQ_ERR_SUCCESS)
    rc = mosquitto_tls_insecure_set (client_.get (), tls.insecure);
  if (rc != MOSQ_ERR_SUCCESS)
    throw std::runtime_error ("could not set up TLS: " + describe (rc));
}

int
mqtt_publisher::verify_and_record (X509_STORE_CTX *store, void *data)
{
  auto *self = static_cast<mqtt_publisher *> (data);
  /* OpenSSL's own checks, not libmosquitto's verify callback: that one
   * needs state libmosquitto sets up only for a context of its own (else
   * it fails every certificate), and its host name check is a partial
   * one. With tls.insecure, libmosquitto asked OpenSSL to ignore the
   * result. */
  X509_STORE_CTX_set_verify_cb (
      store, [] (int ok, X509_STORE_CTX *) -> int { return ok; });
  if (!self->options_.tls.insecure)
    {
      X509_VERIFY_PARAM *checks = X509_STORE_CTX_get0_param (store);
      const std::string &host = self->options_.host;
      /* An address is checked against the certificate's IP entries, a
       * name against its DNS ones. */
      if (X509_VERIFY_PARAM_set1_ip_asc (checks, host.c_str ()) != 1)
        X509_VERIFY_PARAM_set1_host (checks, host.c_str (), host.size ());
    }
  const int verified = X509_verify_cert (store);
  std::lock_guard<std::mutex> lock (self->failure_lock_);
  self->verify_failed_ = verified <= 0;
  self->verify_error_ = verified <= 0 ? X509_STORE_CTX_get_error (store) : 0;
  return verified;
}

void
mqtt_publisher::on_log (struct mosquitto *client, void *data, int level,
                        const char *line)
{
  (void)client;
  if (level != MOSQ_LOG_ERR || !line)
    return;
  auto *self = static_cast<mqtt_publisher *> (data);
  std::lock_guard<std::mutex> lock (self->failure_lock_);
  /* The first OpenSSL error of a failure is its cause; what follows it
   * is consequence. */
  if (self->log_error_.empty ())
    self->log_error_ = line;
}

std::string
mqtt_publisher::take_failure_locked (const std::string &fallback)
{
  std::lock_guard<std::mutex> lock (failure_lock_);
  std::string reason;
  if (!refusal_.empty ())
    reason = refusal_;
  else if (verify_failed_
           && (verify_error_ == X509_V_ERR_HOSTNAME_MISMATCH
               || verify_error_ == X509_V_ERR_IP_ADDRESS_MISMATCH))
    reason = "TLS: host name mismatch: the broker's certificate is not for "
             "\""
             + options_.host + "\"";
  else if (verify_failed_)
    reason = std::string ("TLS: the broker's certificate is not trusted: ")
             + X509_verify_cert_error_string (verify_error_);
  else if (options_.tls.enabled && !log_error_.empty ())
    {
      const std::string why = openssl_reason (log_error_);
      if (options_.tls.cert_file.empty ()
          && (why.find ("certificate required") != std::string::npos
              || why.find ("handshake failure") != std::string::npos))
        reason = "TLS: the broker requires a client certificate and none "
                 "was given ("
                 + why + ")";
      else
        reason = "TLS: " + why;
    }
  else if (options_.tls.enabled && options_.tls.cert_file.empty ()
           && !connected_
           && closed_during_handshake (fallback))
    /* With TLS 1.3 the broker's "certificate required" alert comes after
     * the handshake looks done: a client that sends its CONNECT first
     * reads a closed connection, not the alert. Which one it sees is a
     * matter of timing (a slower client sees this). */
    reason = fallback
             + " (the broker closed the TLS connection before accepting it: "
               "it may require a client certificate, and none was given)";
  else
    reason = fallback;
  refusal_.clear ();
  log_error_.clear ();
  verify_failed_ = false;
  verify_error_ = 0;
  return reason;
}

mqtt_publisher::~mqtt_publisher ()
{
  {
    std::unique_lock<std::mutex> lock (mutex_);
    if (!options_.availability_topic.empty () && connected_)
      {
        /* Said by us, since a clean disconnection makes the broker
         * discard the will. Bounded: a broker that went silent is not
         * waited for longer. */
        going_offline_ = true;
        int mid = 0;
        if (mosquitto_publish (client_.get (), &mid,
                               options_.availability_topic.c_str (),
                               static_cast<int> (sizeof offline_payload - 1),
                               offline_payload, 1, true)
            == MOSQ_ERR_SUCCESS)
          {
            availability_mid_ = mid;
            drained_.wait_for (lock, offline_wait, [&] {
              return availability_mid_ != mid || !connected_;
            });
          }
      }
    /* Before the DISCONNECT: its on_disconnect is no loss to tell. */
    stopping_ = true;
  }
  /* The network thread writes it in its last rounds (a clean
   * disconnection: the broker discards the will). */
  mosquitto_disconnect (client_.get ());
  drained_.notify_all ();
  stopping_changed_.notify_all ();
  if (network_.joinable ())
    network_.join ();
  client_.reset ();
}

bool
mqtt_publisher::publish (std::shared_ptr<const std::string> topic,
                         std::string payload, std::string source,
                         message_kind kind)
{
  if (!topic || !valid_topic (*topic) || payload.size () > max_payload_bytes)
    {
      std::lock_guard<std::mutex> lock (mutex_);
      rejected_++;
      return false;
    }
  backlog_.push (outgoing_message{ std::move (topic), std::move (payload),
                                   std::move (source), kind });
  std::lock_guard<std::mutex> lock (mutex_);
  pump_locked ();
  return true;
}

void
mqtt_publisher::pump_locked ()
{
  if (!connected_ || stopping_ || going_offline_)
    return;
  bool no_connection = false;
  /* The availability message takes a place in flight too. */
  while (!no_connection
         && in_flight_ + (availability_mid_ != 0 ? 1 : 0)
                < options_.max_in_flight)
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
        self->retries_ = 0;
        self->unreachable_told_ = false;
        tell_connected = true;
        self->take_failure_locked ({});
        /* First, ahead of the backlog: subscribers learn we are back
         * before they get what was held. QoS 1, so that a lost
         * connection resends it. */
        if (!self->options_.availability_topic.empty ())
          {
            int mid = 0;
            if (mosquitto_publish (
                    client, &mid, self->options_.availability_topic.c_str (),
                    static_cast<int> (sizeof online_payload - 1),
                    online_payload, 1, true)
                == MOSQ_ERR_SUCCESS)
              self->availability_mid_ = mid;
          }
        self->pump_locked ();
      }
    else if (!stopping)
      {
        /* libmosquitto disconnects next (on_disconnect): this is the
         * reason it will give. */
        reason = self->last_error_ = describe_refusal (rc);
        {
          std::lock_guard<std::mutex> failure (self->failure_lock_);
          self->refusal_ = reason;
        }
        if (!self->connected_ && !self->unreachable_told_)
          tell_unreachable = self->unreachable_told_ = true;
      }
  }
  if (stopping)
    mosquitto_disconnect (client); /* the destructor's request stands */
  else if (tell_connected)
    self->tell (connection_event::connected, {});
  else if (tell_unreachable)
    self->tell (connection_event::unreachable, reason);
}

void
mqtt_publisher::on_disconnect (struct mosquitto *client, void *data, int rc)
{
  (void)client;
  auto *self = static_cast<mqtt_publisher *> (data);
  /* Read before anything else can change errno. */
  const std::string plain_reason = rc == 0 ? "disconnected" : describe (rc);
  std::string reason;
  bool tell_lost = false;
  bool tell_unreachable = false;
  {
    std::lock_guard<std::mutex> lock (self->mutex_);
    /* Whatever availability message was in flight is resent, or not, with
     * the next connection's own. */
    self->availability_mid_ = 0;
    self->drained_.notify_all ();
    if (self->stopping_)
      return;
    reason = self->last_error_ = self->take_failure_locked (plain_reason);
    /* The network thread learns of the same failure next: told here. */
    self->failure_told_ = true;
    if (self->connected_)
      tell_lost = self->lose_connection_locked ();
    else if (!self->unreachable_told_)
      tell_unreachable = self->unreachable_told_ = true;
  }
  if (tell_lost)
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
  if (mid != 0 && mid == self->availability_mid_)
    {
      self->availability_mid_ = 0;
      self->pump_locked ();
      self->drained_.notify_all ();
      return;
    }
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
  stats.dropped_by_source = backlog.dropped_by_source;
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
