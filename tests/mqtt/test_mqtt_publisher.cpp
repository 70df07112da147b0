/* latestframe::mqtt::mqtt_publisher against a real mosquitto broker started
 * by the test (test_broker.h), with a second libmosquitto client as the
 * subscriber.
 *
 * Waits are on events (a callback, a count reaching a value) bounded by
 * generous deadlines that only fail a test when the event never comes; no
 * test asserts how long anything took. */
#include "latestframe/mqtt_publisher.h"

#include "test_broker.h"

#include <gtest/gtest.h>
#include <mosquitto.h>

#include <condition_variable>
#include <functional>
#include <iostream>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace
{

using latestframe::mqtt::connection_event;
using latestframe::mqtt::mqtt_publisher;
using latestframe::mqtt::publisher_options;
using latestframe::mqtt::publisher_stats;
using latestframe_test::broker_settings;
using latestframe_test::test_broker;
using latestframe_test::test_pki;

constexpr auto deadline = std::chrono::seconds (30);

void
expect_invariant (const publisher_stats &stats)
{
  EXPECT_EQ (stats.accepted, stats.published + stats.dropped_backlog
                                 + stats.lost + stats.backlog_level
                                 + stats.in_flight);
}

/* Collects the connection events a publisher tells, for waiting on. */
class event_log
{
public:
  void record (connection_event event, const std::string &reason)
  {
    {
      std::lock_guard<std::mutex> lock (mutex_);
      events_.push_back (event);
      reasons_.push_back (reason);
    }
    changed_.notify_all ();
  }

  /* Waits until `event` was told `times` times in all. */
  bool wait_for (connection_event event, int times = 1)
  {
    std::unique_lock<std::mutex> lock (mutex_);
    return changed_.wait_for (lock, deadline, [&] {
      return std::count (events_.begin (), events_.end (), event) >= times;
    });
  }

  int count (connection_event event)
  {
    std::lock_guard<std::mutex> lock (mutex_);
    return static_cast<int> (
        std::count (events_.begin (), events_.end (), event));
  }

  std::string last_reason ()
  {
    std::lock_guard<std::mutex> lock (mutex_);
    return reasons_.empty () ? std::string () : reasons_.back ();
  }

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<connection_event> events_;
  std::vector<std::string> reasons_;
};

/* A libmosquitto subscriber to one topic that (re)subscribes on every
 * connection and keeps what arrives. */
class subscriber
{
public:
  /* `configure` sets credentials or TLS up before connecting. */
  subscriber (int port, std::string topic,
              std::function<void (mosquitto *)> configure = {})
      : topic_ (std::move (topic))
  {
    mosquitto_lib_init ();
    client_ = mosquitto_new (nullptr, true, this);
    if (configure)
      configure (client_);
    mosquitto_reconnect_delay_set (client_, 1, 1, false);
    mosquitto_connect_callback_set (client_, [] (mosquitto *client, void *self,
                                                 int rc) {
      if (rc == 0)
        mosquitto_subscribe (client, nullptr,
                             static_cast<subscriber *> (self)->topic_.c_str (),
                             1);
    });
    mosquitto_subscribe_callback_set (
        client_, [] (mosquitto *, void *self, int, int, const int *) {
          auto *me = static_cast<subscriber *> (self);
          {
            std::lock_guard<std::mutex> lock (me->mutex_);
            me->subscriptions_++;
          }
          me->changed_.notify_all ();
        });
    mosquitto_message_callback_set (client_, [] (mosquitto *, void *self,
                                                 const mosquitto_message *m) {
      auto *me = static_cast<subscriber *> (self);
      {
        std::lock_guard<std::mutex> lock (me->mutex_);
        me->payloads_.emplace_back (static_cast<const char *> (m->payload),
                                    static_cast<std::size_t> (m->payloadlen));
        me->qos_.push_back (m->qos);
      }
      me->changed_.notify_all ();
    });
    mosquitto_connect_async (client_, "127.0.0.1", port, 60);
    mosquitto_loop_start (client_);
  }

  ~subscriber ()
  {
    mosquitto_disconnect (client_);
    mosquitto_loop_stop (client_, false);
    mosquitto_destroy (client_);
  }

  /* Waits until the broker confirmed `times` subscriptions in all (one per
   * connection). */
  bool wait_subscribed (int times = 1)
  {
    std::unique_lock<std::mutex> lock (mutex_);
    return changed_.wait_for (lock, deadline,
                              [&] { return subscriptions_ >= times; });
  }

  bool wait_until (std::function<bool (const std::vector<std::string> &)> done)
  {
    std::unique_lock<std::mutex> lock (mutex_);
    return changed_.wait_for (lock, deadline, [&] { return done (payloads_); });
  }

  std::vector<std::string> payloads ()
  {
    std::lock_guard<std::mutex> lock (mutex_);
    return payloads_;
  }

  std::vector<int> qos ()
  {
    std::lock_guard<std::mutex> lock (mutex_);
    return qos_;
  }

private:
  std::string topic_;
  mosquitto *client_ = nullptr;
  std::mutex mutex_;
  std::condition_variable changed_;
  int subscriptions_ = 0;
  std::vector<std::string> payloads_;
  std::vector<int> qos_;
};

publisher_options
options_for (int port, event_log &events)
{
  publisher_options options;
  options.port = port;
  options.backlog_capacity = 10;
  options.max_in_flight = 4;
  options.reconnect_delay_min_s = 1;
  options.reconnect_delay_max_s = 1;
  options.on_connection
      = [&events] (connection_event event, const std::string &reason) {
          events.record (event, reason);
        };
  return options;
}

const auto topic = std::make_shared<const std::string> ("latestframe/test/t");

class MqttPublisher : public ::testing::Test
{
protected:
  void SetUp () override
  {
    if (!test_broker::available ())
      GTEST_SKIP () << "no mosquitto at " << test_broker::program ();
  }
};

} // namespace

// Bad options are refused with a reason naming what is wrong, before any
// network: check_options() says why, the constructor throws it.
TEST (MqttPublisherOptions, BadOptionsAreRefused)
{
  const auto bad = [] (std::function<void (publisher_options &)> change,
                       const std::string &says) {
    publisher_options options;
    change (options);
    const std::string why = mqtt_publisher::check_options (options);
    EXPECT_NE (why.find (says), std::string::npos) << why;
    EXPECT_THROW (mqtt_publisher{ options }, std::invalid_argument) << says;
  };
  EXPECT_EQ (mqtt_publisher::check_options (publisher_options ()), "");
  bad ([] (publisher_options &o) { o.host.clear (); }, "host");
  bad ([] (publisher_options &o) { o.port = -1; }, "port");
  bad ([] (publisher_options &o) { o.port = 70000; }, "port");
  bad ([] (publisher_options &o) { o.password = "x"; }, "without a user name");
  bad ([] (publisher_options &o) { o.availability_topic = "a/#"; },
       "availability topic");
  bad ([] (publisher_options &o) { o.tls.ca_file = "/etc/hostname"; },
       "TLS is not enabled");
  bad (
      [] (publisher_options &o) {
        o.tls.enabled = true;
        o.tls.cert_file = "/etc/hostname";
      },
      "without its key");
  bad (
      [] (publisher_options &o) {
        o.tls.enabled = true;
        o.tls.key_file = "/etc/hostname";
      },
      "without its certificate");
  bad (
      [] (publisher_options &o) {
        o.tls.enabled = true;
        o.tls.version = "tlsv1.1";
      },
      "unknown TLS version \"tlsv1.1\"");
  bad (
      [] (publisher_options &o) {
        o.tls.enabled = true;
        o.tls.ca_file = "/nonexistent/ca.pem";
      },
      "\"/nonexistent/ca.pem\" cannot be read");
  bad (
      [] (publisher_options &o) {
        o.tls.enabled = true;
        o.tls.ca_file = "/etc";
      },
      "\"/etc\" cannot be read: not a regular file");
  bad ([] (publisher_options &o) { o.qos = 3; }, "QoS");
  bad ([] (publisher_options &o) { o.backlog_capacity = 0; }, "backlog");
  bad ([] (publisher_options &o) { o.max_in_flight = 0; }, "in flight");
  bad ([] (publisher_options &o) { o.keepalive_s = 2; }, "keepalive");
  bad ([] (publisher_options &o) { o.reconnect_delay_max_s = 0; }, "reconnect");
}

// Port 0 means MQTT's default: 1883, or 8883 with TLS.
TEST (MqttPublisherOptions, PortZeroIsTheDefault)
{
  publisher_options options;
  EXPECT_EQ (mqtt_publisher::check_options (options), "");
  EXPECT_EQ (mqtt_publisher::effective_port (options), 1883);
  options.tls.enabled = true;
  EXPECT_EQ (mqtt_publisher::effective_port (options), 8883);
  options.port = 1234;
  EXPECT_EQ (mqtt_publisher::effective_port (options), 1234);
}

// Topics a message can be published to: no wildcards, not empty, UTF-8.
TEST (MqttPublisherOptions, ValidTopics)
{
  EXPECT_TRUE (mqtt_publisher::valid_topic ("latestframe/cam/detections"));
  EXPECT_TRUE (mqtt_publisher::valid_topic ("/"));
  EXPECT_FALSE (mqtt_publisher::valid_topic (""));
  EXPECT_FALSE (mqtt_publisher::valid_topic ("latestframe/+/detections"));
  EXPECT_FALSE (mqtt_publisher::valid_topic ("latestframe/#"));
  EXPECT_FALSE (mqtt_publisher::valid_topic ("bad\xff"));
}

// With no broker ever: construction and publish return at once, the
// backlog keeps the newest `capacity` messages and counts the others
// dropped, `unreachable` is told once, and destruction does not hang.
TEST (MqttPublisherNoBroker, KeepsTheNewestAndDoesNotHang)
{
  event_log events;
  publisher_options options = options_for (test_broker::free_port (), events);
  options.backlog_capacity = 5;
  {
    mqtt_publisher publisher (options);
    for (int i = 0; i < 20; i++)
      {
        EXPECT_TRUE (publisher.publish (topic, std::to_string (i)));
        EXPECT_LE (publisher.stats ().backlog_level, 5u);
      }
    ASSERT_TRUE (events.wait_for (connection_event::unreachable));
    EXPECT_FALSE (events.last_reason ().empty ());
    const publisher_stats stats = publisher.stats ();
    EXPECT_FALSE (stats.connected);
    EXPECT_EQ (stats.accepted, 20u);
    EXPECT_EQ (stats.dropped_backlog, 15u);
    EXPECT_EQ (stats.backlog_level, 5u);
    EXPECT_EQ (stats.in_flight, 0u);
    EXPECT_FALSE (stats.last_error.empty ());
    expect_invariant (stats);
    /* Nothing can drain: the wait ends by its timeout. */
    EXPECT_FALSE (publisher.wait_flushed_for (std::chrono::milliseconds (50)));
  }
  EXPECT_EQ (events.count (connection_event::unreachable), 1);
  EXPECT_EQ (events.count (connection_event::connected), 0);
}

// An invalid topic is refused and counted, not accepted.
TEST_F (MqttPublisher, InvalidTopicIsRejected)
{
  event_log events;
  mqtt_publisher publisher (options_for (test_broker::free_port (), events));
  EXPECT_FALSE (
      publisher.publish (std::make_shared<const std::string> ("a/+/b"), "x"));
  EXPECT_FALSE (publisher.publish (nullptr, "x"));
  const publisher_stats stats = publisher.stats ();
  EXPECT_EQ (stats.rejected, 2u);
  EXPECT_EQ (stats.accepted, 0u);
}

// Messages arrive at a subscriber in order, with QoS 1, each acknowledged
// once (published == accepted), with never more than max_in_flight
// unacknowledged and the backlog within its capacity.
TEST_F (MqttPublisher, DeliversInOrderWithQos1)
{
  test_broker broker;
  broker.start ();
  subscriber reader (broker.port (), *topic);
  ASSERT_TRUE (reader.wait_subscribed ());
  event_log events;
  publisher_options options = options_for (broker.port (), events);
  options.backlog_capacity = 200;
  mqtt_publisher publisher (options);
  ASSERT_TRUE (events.wait_for (connection_event::connected));

  for (int i = 0; i < 100; i++)
    {
      ASSERT_TRUE (publisher.publish (topic, std::to_string (i)));
      const publisher_stats stats = publisher.stats ();
      EXPECT_LE (stats.in_flight, 4u);
      expect_invariant (stats);
    }
  ASSERT_TRUE (publisher.wait_flushed_for (deadline));
  ASSERT_TRUE (reader.wait_until (
      [] (const std::vector<std::string> &got) { return got.size () >= 100; }));
  const std::vector<std::string> got = reader.payloads ();
  ASSERT_EQ (got.size (), 100u);
  for (int i = 0; i < 100; i++)
    EXPECT_EQ (got[i], std::to_string (i));
  for (int qos : reader.qos ())
    EXPECT_EQ (qos, 1);
  const publisher_stats stats = publisher.stats ();
  EXPECT_TRUE (stats.connected);
  EXPECT_EQ (stats.connects, 1u);
  EXPECT_EQ (stats.published, 100u);
  EXPECT_EQ (stats.dropped_backlog, 0u);
  EXPECT_EQ (stats.in_flight, 0u);
  expect_invariant (stats);
}

// The broker is killed: `lost` is told once, publish keeps returning, the
// backlog stays within its capacity and counts the drops. The broker comes
// back on the same port: the publisher reconnects by itself, the backlog
// and the messages in flight drain, and new messages arrive.
TEST_F (MqttPublisher, SurvivesTheBrokerGoingAndComingBack)
{
  test_broker broker;
  broker.start ();
  subscriber reader (broker.port (), *topic);
  ASSERT_TRUE (reader.wait_subscribed ());
  event_log events;
  mqtt_publisher publisher (options_for (broker.port (), events));
  ASSERT_TRUE (events.wait_for (connection_event::connected));
  ASSERT_TRUE (publisher.publish (topic, "before"));
  ASSERT_TRUE (reader.wait_until ([] (const std::vector<std::string> &got) {
    return std::find (got.begin (), got.end (), "before") != got.end ();
  }));

  broker.stop ();
  ASSERT_TRUE (events.wait_for (connection_event::lost));
  for (int i = 0; i < 50; i++)
    {
      ASSERT_TRUE (publisher.publish (topic, "away " + std::to_string (i)));
      const publisher_stats stats = publisher.stats ();
      EXPECT_LE (stats.backlog_level, 10u);
      expect_invariant (stats);
    }
  publisher_stats away = publisher.stats ();
  EXPECT_FALSE (away.connected);
  EXPECT_EQ (away.disconnects, 1u);
  EXPECT_EQ (away.backlog_level, 10u);
  EXPECT_EQ (away.dropped_backlog, 40u);
  EXPECT_EQ (events.count (connection_event::lost), 1);

  broker.start ();
  ASSERT_TRUE (events.wait_for (connection_event::connected, 2));
  ASSERT_TRUE (publisher.wait_flushed_for (deadline));
  const publisher_stats back = publisher.stats ();
  EXPECT_TRUE (back.connected);
  EXPECT_EQ (back.connects, 2u);
  EXPECT_EQ (back.backlog_level, 0u);
  EXPECT_EQ (back.in_flight, 0u);
  EXPECT_EQ (back.published, back.accepted - back.dropped_backlog);
  expect_invariant (back);

  /* The subscriber reconnects on its own schedule: once it has, a new
   * message reaches it. */
  ASSERT_TRUE (reader.wait_subscribed (2));
  ASSERT_TRUE (publisher.publish (topic, "after"));
  ASSERT_TRUE (reader.wait_until ([] (const std::vector<std::string> &got) {
    return std::find (got.begin (), got.end (), "after") != got.end ();
  }));
}

// A broker that comes up after the publisher started (a service started
// before its broker) is connected to, and what waited in the backlog is
// delivered: libmosquitto 2.0.11 alone never retries a first attempt that
// failed at once.
TEST_F (MqttPublisher, ConnectsToABrokerThatComesUpLater)
{
  test_broker broker;
  event_log events;
  mqtt_publisher publisher (options_for (broker.port (), events));
  ASSERT_TRUE (events.wait_for (connection_event::unreachable));
  ASSERT_TRUE (publisher.publish (topic, "waited"));
  broker.start ();
  ASSERT_TRUE (events.wait_for (connection_event::connected));
  EXPECT_TRUE (publisher.wait_flushed_for (std::chrono::seconds (30)));
  const publisher_stats stats = publisher.stats ();
  EXPECT_EQ (stats.published, 1u);
  expect_invariant (stats);
}

// QoS 0: messages are counted published when written; the broker receives
// them in order.
TEST_F (MqttPublisher, DeliversWithQos0)
{
  test_broker broker;
  broker.start ();
  subscriber reader (broker.port (), *topic);
  ASSERT_TRUE (reader.wait_subscribed ());
  event_log events;
  publisher_options options = options_for (broker.port (), events);
  options.qos = 0;
  options.backlog_capacity = 100;
  mqtt_publisher publisher (options);
  ASSERT_TRUE (events.wait_for (connection_event::connected));
  for (int i = 0; i < 30; i++)
    ASSERT_TRUE (publisher.publish (topic, std::to_string (i)));
  ASSERT_TRUE (publisher.wait_flushed_for (deadline));
  ASSERT_TRUE (reader.wait_until (
      [] (const std::vector<std::string> &got) { return got.size () >= 30; }));
  const std::vector<std::string> got = reader.payloads ();
  for (int i = 0; i < 30; i++)
    EXPECT_EQ (got[i], std::to_string (i));
  EXPECT_EQ (publisher.stats ().published, 30u);
  expect_invariant (publisher.stats ());
}

namespace
{

constexpr char user[] = "camera-host";
constexpr char password[] = "Pa55-w0rd-n0t-4-log";

/* A broker set up as a production one: TLS with the test CA's server
 * certificate `server` (or the client certificate required), users only. */
broker_settings
production (const test_pki &pki, const std::string &server = "server",
            bool require_certificate = false)
{
  broker_settings settings;
  settings.pki = &pki;
  settings.server_certificate = server;
  settings.require_certificate = require_certificate;
  settings.users = { { user, password } };
  return settings;
}

/* Options with the right user, password and CA for `broker`. */
publisher_options
production_options (const test_pki &pki, int port, event_log &events)
{
  publisher_options options = options_for (port, events);
  options.username = user;
  options.password = password;
  options.tls.enabled = true;
  options.tls.ca_file = pki.file ("ca.pem");
  return options;
}

class MqttPublisherProduction : public MqttPublisher
{
protected:
  void SetUp () override
  {
    MqttPublisher::SetUp ();
    if (IsSkipped ())
      return;
    if (!test_pki::available ())
      GTEST_SKIP () << "no openssl to make test certificates";
    pki_ = std::make_unique<test_pki> ();
  }

  /* Starts a publisher with `options`, waits until it is told it cannot
   * connect, and returns its last_error (also checking that the reason
   * told is the same, and that neither holds the password). */
  static std::string failure_of (const publisher_options &options,
                                 event_log &events)
  {
    mqtt_publisher publisher (options);
    EXPECT_TRUE (events.wait_for (connection_event::unreachable));
    const publisher_stats stats = publisher.stats ();
    EXPECT_FALSE (stats.connected);
    EXPECT_EQ (stats.connects, 0u);
    EXPECT_EQ (events.last_reason (), stats.last_error);
    EXPECT_EQ (stats.last_error.find (password), std::string::npos);
    std::cerr << "told: " << stats.last_error << "\n";
    return stats.last_error;
  }

  std::unique_ptr<test_pki> pki_;
};

/* The subscriber's side of a production broker. */
std::function<void (mosquitto *)>
production_client (const test_pki &pki)
{
  return [&pki] (mosquitto *client) {
    mosquitto_username_pw_set (client, user, password);
    mosquitto_tls_set (client, pki.file ("ca.pem").c_str (), nullptr,
                       pki.file ("client.pem").c_str (),
                       pki.file ("client.key").c_str (), nullptr);
  };
}

} // namespace

// TLS with the broker's CA, a user name and password: the publisher
// connects, and its messages reach a subscriber, acknowledged.
TEST_F (MqttPublisherProduction, PublishesOverTlsWithAPassword)
{
  test_broker broker (production (*pki_));
  broker.start ();
  subscriber reader (broker.port (), *topic, production_client (*pki_));
  ASSERT_TRUE (reader.wait_subscribed ());
  event_log events;
  mqtt_publisher publisher (
      production_options (*pki_, broker.port (), events));
  ASSERT_TRUE (events.wait_for (connection_event::connected));
  ASSERT_TRUE (publisher.publish (topic, "over tls"));
  ASSERT_TRUE (publisher.wait_flushed_for (deadline));
  ASSERT_TRUE (reader.wait_until ([] (const std::vector<std::string> &got) {
    return std::find (got.begin (), got.end (), "over tls") != got.end ();
  }));
  const publisher_stats stats = publisher.stats ();
  EXPECT_EQ (stats.published, 1u);
  EXPECT_EQ (stats.last_error, "");
}

// A wrong password is told as the broker refusing the user name or
// password, and nothing says the password.
TEST_F (MqttPublisherProduction, WrongPasswordIsNamed)
{
  test_broker broker (production (*pki_));
  broker.start ();
  event_log events;
  publisher_options options
      = production_options (*pki_, broker.port (), events);
  options.password = "not-the-password";
  const std::string why = failure_of (options, events);
  EXPECT_NE (why.find ("refused the user name or password"),
             std::string::npos)
      << why;
  EXPECT_EQ (why.find ("not-the-password"), std::string::npos) << why;
}

// A broker whose certificate a CA we do not trust signed: named as not
// trusted, with OpenSSL's reason.
TEST_F (MqttPublisherProduction, UntrustedCertificateIsNamed)
{
  test_broker broker (production (*pki_));
  broker.start ();
  event_log events;
  publisher_options options
      = production_options (*pki_, broker.port (), events);
  options.tls.ca_file = pki_->file ("other-ca.pem");
  const std::string why = failure_of (options, events);
  /* OpenSSL's words: the broker sends its CA along, so the chain ends in
   * a self-signed certificate we do not trust. */
  EXPECT_TRUE (
      why.find ("TLS: the broker's certificate is not trusted: "
                "self-signed certificate in certificate chain")
          != std::string::npos
      || why.find ("TLS: the broker's certificate is not trusted: "
                   "unable to get local issuer certificate")
             != std::string::npos)
      << why;
}

// A certificate of our CA, but for another host name: named a host name
// mismatch (not "not trusted").
TEST_F (MqttPublisherProduction, HostNameMismatchIsNamed)
{
  test_broker broker (production (*pki_, "elsewhere"));
  broker.start ();
  event_log events;
  const std::string why = failure_of (
      production_options (*pki_, broker.port (), events), events);
  EXPECT_NE (why.find ("TLS: host name mismatch"), std::string::npos) << why;
  EXPECT_NE (why.find ("127.0.0.1"), std::string::npos) << why;
}

// tls.insecure connects to that broker all the same (no verification).
TEST_F (MqttPublisherProduction, InsecureSkipsVerification)
{
  test_broker broker (production (*pki_, "elsewhere"));
  broker.start ();
  event_log events;
  publisher_options options
      = production_options (*pki_, broker.port (), events);
  options.tls.ca_file = pki_->file ("other-ca.pem");
  options.tls.insecure = true;
  mqtt_publisher publisher (options);
  ASSERT_TRUE (events.wait_for (connection_event::connected));
}

// Nothing listening: "Connection refused", with or without TLS.
TEST_F (MqttPublisherProduction, RefusedConnectionIsNamed)
{
  {
    event_log events;
    const std::string why = failure_of (
        production_options (*pki_, test_broker::free_port (), events), events);
    EXPECT_NE (why.find ("Connection refused"), std::string::npos) << why;
  }
  event_log events;
  const std::string why
      = failure_of (options_for (test_broker::free_port (), events), events);
  EXPECT_EQ (why, "Connection refused");
}

// Failures are retried with backoff, TLS ones too: refused at first, then
// a broker with a certificate for another host (a failed handshake, after
// which libmosquitto's own thread would give up), then the right broker on
// the same port: the publisher connects, and unreachable was told once.
TEST_F (MqttPublisherProduction, RetriesAfterTlsFailures)
{
  broker_settings settings = production (*pki_, "elsewhere");
  settings.port = test_broker::free_port ();
  event_log events;
  mqtt_publisher publisher (
      production_options (*pki_, settings.port, events));
  ASSERT_TRUE (events.wait_for (connection_event::unreachable));
  {
    test_broker wrong (settings);
    wrong.start ();
    const auto mismatch = [&] {
      return publisher.stats ().last_error.find ("host name mismatch")
             != std::string::npos;
    };
    const auto give_up = std::chrono::steady_clock::now () + deadline;
    while (!mismatch () && std::chrono::steady_clock::now () < give_up)
      std::this_thread::sleep_for (std::chrono::milliseconds (50));
    ASSERT_TRUE (mismatch ()) << publisher.stats ().last_error;
  }
  settings.server_certificate = "server";
  test_broker right (settings);
  right.start ();
  ASSERT_TRUE (events.wait_for (connection_event::connected));
  EXPECT_EQ (events.count (connection_event::unreachable), 1);
  ASSERT_TRUE (publisher.publish (topic, "at last"));
  EXPECT_TRUE (publisher.wait_flushed_for (deadline));
  EXPECT_EQ (publisher.stats ().published, 1u);
}

// A broker that requires a client certificate: with ours it works;
// without, the failure says a client certificate is required.
TEST_F (MqttPublisherProduction, ClientCertificateRequired)
{
  test_broker broker (production (*pki_, "server", true));
  broker.start ();
  {
    event_log events;
    publisher_options options
        = production_options (*pki_, broker.port (), events);
    options.tls.cert_file = pki_->file ("client.pem");
    options.tls.key_file = pki_->file ("client.key");
    mqtt_publisher publisher (options);
    ASSERT_TRUE (events.wait_for (connection_event::connected));
    ASSERT_TRUE (publisher.publish (topic, "with a certificate"));
    EXPECT_TRUE (publisher.wait_flushed_for (deadline));
    EXPECT_EQ (publisher.stats ().published, 1u);
  }
  event_log events;
  const std::string why = failure_of (
      production_options (*pki_, broker.port (), events), events);
  /* The alert's own words, or, when the client sent its CONNECT before
   * it read the alert (TLS 1.3; a slow machine, TSan), the hint. */
  EXPECT_TRUE (
      why.find ("TLS: the broker requires a client certificate")
          != std::string::npos
      || why.find ("it may require a client certificate, and none was given")
             != std::string::npos)
      << why;
}

// The availability topic: a subscriber that comes after the connection
// finds a retained "online"; once the publisher is destroyed, a retained
// "offline", also for one that subscribes afterwards.
TEST_F (MqttPublisher, AvailabilityOnlineThenOffline)
{
  const std::string availability = "latestframe/test/availability";
  test_broker broker;
  broker.start ();
  event_log events;
  publisher_options options = options_for (broker.port (), events);
  options.availability_topic = availability;
  auto publisher = std::make_unique<mqtt_publisher> (options);
  ASSERT_TRUE (events.wait_for (connection_event::connected));
  {
    subscriber late (broker.port (), availability);
    ASSERT_TRUE (late.wait_until ([] (const std::vector<std::string> &got) {
      return !got.empty ();
    }));
    EXPECT_EQ (late.payloads ().front (), "online");
  }
  subscriber reader (broker.port (), availability);
  ASSERT_TRUE (reader.wait_until (
      [] (const std::vector<std::string> &got) { return !got.empty (); }));
  /* The availability message is none of the publisher's figures. */
  const publisher_stats stats = publisher->stats ();
  EXPECT_EQ (stats.accepted, 0u);
  EXPECT_EQ (stats.published, 0u);
  publisher.reset ();
  ASSERT_TRUE (reader.wait_until ([] (const std::vector<std::string> &got) {
    return got.back () == "offline";
  }));
  subscriber after (broker.port (), availability);
  ASSERT_TRUE (after.wait_until (
      [] (const std::vector<std::string> &got) { return !got.empty (); }));
  EXPECT_EQ (after.payloads (), std::vector<std::string> ({ "offline" }));
}

// "online" goes ahead of what the backlog held before the connection.
TEST_F (MqttPublisher, AvailabilityAheadOfTheBacklog)
{
  const std::string availability = "latestframe/test/availability";
  test_broker broker;
  broker.start ();
  subscriber reader (broker.port (), "latestframe/test/#");
  ASSERT_TRUE (reader.wait_subscribed ());
  event_log events;
  publisher_options options = options_for (broker.port (), events);
  options.availability_topic = availability;
  /* A frozen broker accepts the TCP connection but sends no CONNACK:
   * the messages wait in the backlog until it wakes. */
  broker.pause ();
  mqtt_publisher publisher (options);
  for (int i = 0; i < 3; i++)
    ASSERT_TRUE (publisher.publish (topic, "held " + std::to_string (i)));
  EXPECT_EQ (publisher.stats ().backlog_level, 3u);
  broker.resume ();
  ASSERT_TRUE (events.wait_for (connection_event::connected));
  ASSERT_TRUE (publisher.wait_flushed_for (deadline));
  ASSERT_TRUE (reader.wait_until (
      [] (const std::vector<std::string> &got) { return got.size () >= 4; }));
  EXPECT_EQ (reader.payloads (),
             std::vector<std::string> ({ "online", "held 0", "held 1",
                                         "held 2" }));
}

// The last will: a process that dies with its publisher connected (no
// clean stop) leaves "offline" on the availability topic, published by
// the broker.
TEST_F (MqttPublisher, AvailabilityLastWillWhenTheProcessDies)
{
  const std::string availability = "latestframe/test/will";
  test_broker broker;
  broker.start ();
  int ready[2];
  ASSERT_EQ (pipe (ready), 0);
  const pid_t child = fork ();
  ASSERT_GE (child, 0);
  if (child == 0)
    {
      /* The child: connect, say so, and wait to be killed. */
      close (ready[0]);
      event_log events;
      publisher_options options = options_for (broker.port (), events);
      options.availability_topic = availability;
      mqtt_publisher publisher (options);
      const char byte = events.wait_for (connection_event::connected) ? 1 : 0;
      if (write (ready[1], &byte, 1) != 1)
        _exit (1);
      for (;;)
        pause ();
    }
  close (ready[1]);
  char byte = 0;
  const bool connected = read (ready[0], &byte, 1) == 1 && byte == 1;
  close (ready[0]);
  if (connected)
    {
      subscriber reader (broker.port (), availability);
      EXPECT_TRUE (reader.wait_until (
          [] (const std::vector<std::string> &got) { return !got.empty (); }));
      kill (child, SIGKILL);
      int status;
      waitpid (child, &status, 0);
      EXPECT_TRUE (reader.wait_until ([] (const std::vector<std::string> &got) {
        return !got.empty () && got.back () == "offline";
      }));
      EXPECT_EQ (reader.payloads ().front (), "online");
    }
  else
    {
      kill (child, SIGKILL);
      int status;
      waitpid (child, &status, 0);
      FAIL () << "the child never connected";
    }
}
