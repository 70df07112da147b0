/* latestframe — publishes messages to an MQTT broker without ever waiting
 * for it: a libmosquitto client behind a bounded backlog.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/message_backlog.h"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct mosquitto;
struct ssl_ctx_st;
struct x509_store_ctx_st;

namespace latestframe
{
namespace mqtt
{

/* What happened to the publisher's connection, as told to
 * publisher_options::on_connection. */
enum class connection_event
{
  /* The broker accepted the connection (the first one, or again). */
  connected,
  /* The connection the broker had accepted is gone. Once per loss. */
  lost,
  /* An attempt to connect failed before any connection, or after the
   * last `connected` without a `lost` (the broker is not there, or
   * refused us). Once per episode without a connection, however many
   * attempts fail; the attempts after a `lost` are part of its episode. */
  unreachable,
};

struct publisher_options
{
  std::string host = "127.0.0.1";
  /* 1..65535, or 0 for MQTT's default: 1883, or 8883 with tls.enabled
   * (see effective_port()). */
  int port = 0;
  /* The MQTT user name; "" = none (anonymous). */
  std::string username;
  /* The MQTT password; "" = none (needs a user name). Never logged, never
   * in last_error, in a reason or in an exception. */
  std::string password;
  /* TLS to the broker. */
  struct tls_settings
  {
    bool enabled = false;
    /* PEM file of the CAs to trust; "" = the system's trust store. */
    std::string ca_file;
    /* The client certificate and its private key (PEM): both or neither. */
    std::string cert_file, key_file;
    /* true: do not verify the broker's certificate nor its host name
     * (encryption without authentication: for tests only). */
    bool insecure = false;
    /* "" = libmosquitto's default (TLS 1.2 or later); "tlsv1.2" or
     * "tlsv1.3" for that version at least. */
    std::string version;
  };
  /* Ignored unless tls.enabled; its files given without it are refused
   * (check_options), so that a TLS setup never falls back to plain TCP. */
  tls_settings tls;
  /* A topic that says whether this publisher is there: "" = none. With
   * one, the broker holds "offline" there (retained, QoS 1) as the last
   * will; after every connection the publisher first publishes a retained
   * "online" (ahead of the backlog), and on destruction a retained
   * "offline". */
  std::string availability_topic;
  /* The MQTT client id; empty = libmosquitto makes up a random one. Two
   * clients with the same id take the broker from each other. */
  std::string client_id;
  /* 0, 1 or 2. */
  int qos = 1;
  /* Messages held while they cannot be handed to libmosquitto (the broker
   * is away, or max_in_flight are unacknowledged): at least 1. When full,
   * the oldest is dropped and counted. */
  std::size_t backlog_capacity = 1000;
  /* Messages handed to libmosquitto and not yet acknowledged by the broker
   * (QoS 1/2) or written to the socket (QoS 0): 1..65535. Bounds, with the
   * backlog, the memory held while the broker is away. */
  std::size_t max_in_flight = 20;
  /* Seconds between keepalive pings; 5..65535 (libmosquitto's range, 0
   * excepted: without keepalive a dead broker is never noticed). */
  int keepalive_s = 60;
  /* Reconnection: the first retry after `reconnect_delay_min_s`, then
   * libmosquitto's exponential backoff (min * (n+1)^2) up to
   * `reconnect_delay_max_s`. 1 <= min <= max. */
  unsigned reconnect_delay_min_s = 1;
  unsigned reconnect_delay_max_s = 10;
  /* Told of each connection_event with a reason (empty when there is
   * none). Called on the publisher's network thread, or on the
   * constructing thread
   * for an `unreachable` found at once, never with the publisher's lock
   * held: it may read stats(), and must not destroy the publisher. */
  std::function<void (connection_event, const std::string &reason)>
      on_connection;
};

/* The publisher's figures, read together under its lock. At that moment:
 *   accepted == published + dropped_backlog + lost + backlog_level
 *               + in_flight */
struct publisher_stats
{
  bool connected = false;
  /* Connections the broker accepted, and losses of them. */
  std::uint64_t connects = 0;
  std::uint64_t disconnects = 0;
  /* Messages publish() took. */
  std::uint64_t accepted = 0;
  /* Acknowledged by the broker (QoS 1/2) or written to the socket
   * (QoS 0). */
  std::uint64_t published = 0;
  /* The oldest messages dropped from a full backlog. */
  std::uint64_t dropped_backlog = 0;
  /* Handed to libmosquitto and never published: QoS 0 messages not yet
   * written when the connection went, or messages libmosquitto refused. */
  std::uint64_t lost = 0;
  /* dropped_backlog, by the source given to publish() (sources that never
   * lost one are absent). */
  std::map<std::string, std::uint64_t> dropped_by_source;
  /* Messages publish() refused (an invalid topic, a payload too large):
   * not in `accepted`. */
  std::uint64_t rejected = 0;
  std::size_t backlog_level = 0;
  std::size_t peak_backlog_level = 0;
  std::size_t in_flight = 0;
  /* Why the last connection attempt or connection failed; empty if none
   * did. Worded for a user: "Connection refused", the broker refusing the
   * user name or password, "TLS: the broker's certificate is not trusted:
   * ...", "TLS: host name mismatch: ...", "TLS: the broker requires a
   * client certificate ...". Never holds the password. */
  std::string last_error;
};

/* One MQTT client (libmosquitto, MQTT 3.1.1, clean session; optionally
 * with a user name and password, TLS and an availability topic) that never
 * makes its caller wait for the network. publish() puts the message in a
 * message_backlog; messages move from there to libmosquitto only while
 * connected and while fewer than max_in_flight are unacknowledged (the
 * acknowledgements come to on_publish). So while the broker is away,
 * memory is bounded by backlog + in flight, and the oldest messages drop,
 * counted. The publisher's network thread runs libmosquitto's loop,
 * reconnects with backoff after every failure (TLS ones included), and
 * libmosquitto resends the messages in flight after a reconnection (so a
 * QoS 1 message may arrive twice).
 *
 * Threads: any thread may call publish(), flush() and stats(); the
 * callbacks run on the publisher's network thread. Lock order: the
 * publisher's mutex, then the backlog's or failure_lock_, then
 * libmosquitto's. */
class mqtt_publisher
{
public:
  /* Why `options` cannot be used, or an empty string when they can. */
  static std::string check_options (const publisher_options &options);

  /* Whether `topic` is one a message may be published to: not empty, valid
   * UTF-8, no wildcards (+ #), at most 65535 bytes. */
  static bool valid_topic (const std::string &topic);

  /* The TCP port `options` connect to: their port, or for 0 the default
   * (1883, or 8883 with TLS). */
  static int effective_port (const publisher_options &options);

  /* Starts the client and its first connection attempt; never waits for
   * the broker. Throws std::invalid_argument with check_options()'s reason
   * for bad options, std::runtime_error when libmosquitto cannot start a
   * client. Any thread. */
  explicit mqtt_publisher (publisher_options options);

  /* Disconnects and stops the network thread. With an availability
   * topic and a connection, first publishes the retained "offline" and
   * waits up to about 2 s for the broker to acknowledge it. Messages still
   * in the backlog or in flight are abandoned: flush() first to send
   * them. Does not wait for an absent broker. Not from an on_connection
   * handler. */
  ~mqtt_publisher ();

  mqtt_publisher (const mqtt_publisher &) = delete;
  mqtt_publisher &operator= (const mqtt_publisher &) = delete;

  /* Any thread; never blocks on the network. Queues `payload` for `topic`
   * and hands what it can to libmosquitto. `source` (the camera) and `kind`
   * choose what a full backlog gives up (see message_backlog). Returns
   * false, counting it `rejected`, for an invalid topic (see valid_topic())
   * or a payload over MQTT's limit (268435455 bytes); the message is then
   * not accepted. */
  bool publish (std::shared_ptr<const std::string> topic, std::string payload,
                std::string source = {},
                message_kind kind = message_kind::detection);

  /* Any thread; may block up to `timeout`. Waits until the backlog and the
   * messages in flight are empty (all published, lost or dropped), or the
   * timeout passes. Returns whether they emptied. */
  bool wait_flushed_for (std::chrono::milliseconds timeout);

  /* Any thread. The figures, consistent with each other. */
  publisher_stats stats () const;

  /* Any thread. As given at construction. */
  const publisher_options &options () const { return options_; }

private:
  static void on_connect (struct mosquitto *client, void *self, int rc);
  static void on_disconnect (struct mosquitto *client, void *self, int rc);
  static void on_publish (struct mosquitto *client, void *self, int mid);
  static void on_log (struct mosquitto *client, void *self, int level,
                      const char *line);
  static int verify_and_record (struct x509_store_ctx_st *store, void *self);

  /* Sets up TLS on client_ (options_.tls.enabled). Throws
   * std::runtime_error. */
  void configure_tls ();
  /* The network thread: libmosquitto's loop, and reconnecting with
   * backoff after every failure. `attempting`: a connection attempt is
   * under way. */
  void run_network (bool attempting);
  /* Network thread, between loops: why a TLS handshake under way cannot
   * go on (its TCP connection is gone), or "". */
  std::string handshake_failure ();
  /* Not under mutex_. A connection attempt or the connection failed, with
   * `fallback` as libmosquitto's reason: records the worded reason and
   * tells it, once per episode. */
  void fail_attempt (const std::string &fallback);
  /* Under mutex_. The connection is gone: counts it, and the QoS 0
   * messages it took with it. Returns true (tell `lost`). */
  bool lose_connection_locked ();
  /* Why the attempt that just failed failed, in words: what TLS or the
   * broker said during it, else `fallback`; forgets it. Under mutex_. */
  std::string take_failure_locked (const std::string &fallback);
  /* With mutex_ held: moves messages from the backlog to libmosquitto while
   * connected and below max_in_flight. */
  void pump_locked ();
  void tell (connection_event event, const std::string &reason);

  struct client_deleter
  {
    void operator() (struct mosquitto *client) const;
  };
  struct tls_context_deleter
  {
    void operator() (struct ssl_ctx_st *context) const;
  };

  const publisher_options options_;
  message_backlog backlog_;
  /* Ours, with a verification that records why it failed; libmosquitto
   * holds a reference of its own. Destroyed after client_. */
  std::unique_ptr<struct ssl_ctx_st, tls_context_deleter> tls_context_;
  std::unique_ptr<struct mosquitto, client_deleter> client_;

  /* What the current connection attempt learnt of its failure, on
   * network thread (or the constructing one); under failure_lock_,
   * which is taken alone or after mutex_. */
  std::mutex failure_lock_;
  /* X509_verify_cert's error when the broker's certificate failed
   * verification in this attempt; 0 (X509_V_OK) when it did not. */
  long verify_error_ = 0;
  bool verify_failed_ = false;
  /* libmosquitto's last error line (OpenSSL's, or its host name check). */
  std::string log_error_;
  /* The broker's CONNACK refusal, worded. */
  std::string refusal_;

  mutable std::mutex mutex_;
  /* Signalled when a message leaves the backlog or flight. */
  std::condition_variable drained_;
  /* Under mutex_. */
  bool connected_ = false;
  bool stopping_ = false;
  /* Set when stopping_ is: wakes the network thread from its backoff. */
  std::condition_variable stopping_changed_;
  /* Runs libmosquitto's loop and the reconnections (run_network). */
  std::thread network_;
  bool unreachable_told_ = false;
  /* Reconnection attempts since the last connection: the backoff. */
  unsigned retries_ = 0;
  /* on_disconnect told the failure the network thread is about to learn
   * of (fail_attempt then says nothing). */
  bool failure_told_ = false;
  /* The message ids in flight, indexed by mid (libmosquitto's are 16-bit):
   * an acknowledgement counts once, never for a message not ours. */
  std::vector<bool> in_flight_mids_;
  std::size_t in_flight_ = 0;
  std::uint64_t connects_ = 0;
  std::uint64_t disconnects_ = 0;
  std::uint64_t published_ = 0;
  std::uint64_t lost_ = 0;
  std::uint64_t rejected_ = 0;
  std::string last_error_;
  /* The availability message ("online" or "offline") libmosquitto holds
   * unacknowledged, by mid; 0 when none. It counts against max_in_flight
   * but in none of the figures (it is not a message publish() took). */
  int availability_mid_ = 0;
  /* Set by the destructor once "offline" is under way: no more messages
   * go from the backlog. */
  bool going_offline_ = false;
};

} // namespace mqtt
} // namespace latestframe
