/* Unit and model tests of the service's GStreamer-free core: the
 * configuration file (with the corpus under tests/service/configs: every
 * bad file's first line is "# error: " and the exact message it must give),
 * rendezvous sharding, shard identity, reload plans and the Prometheus text
 * format. Randomized tests print their seed on failure;
 * LATESTFRAME_MODEL_SEED=N re-runs one. */
#include "latestframe/prometheus.h"
#include "latestframe/reload_plan.h"
#include "latestframe/rendezvous.h"
#include "latestframe/service_config.h"
#include "latestframe/uri_credentials.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>

namespace
{

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using latestframe::service::camera_config;
using latestframe::service::config_error;
using latestframe::service::metric_type;
using latestframe::service::metrics_text;
using latestframe::service::reload_plan;
using latestframe::service::service_config;
using latestframe::service::shard_error;
using latestframe::service::shard_identity;
using latestframe::service::shard_sources;
namespace service = latestframe::service;

const fs::path configs_dir = SERVICE_CONFIGS_DIR;

/* The variables the example and the good corpus name (set before any test
 * runs); LATESTFRAME_TEST_NEVER_SET is left unset for the bad corpus. */
const bool secrets_set = [] {
  ::setenv ("MQTT_PASSWORD", "example-mqtt-secret", 1);
  ::setenv ("YARD_CAMERA_PASSWORD", "example camera secret", 1);
  ::setenv ("LATESTFRAME_TEST_BROKER_HOST", "broker.test", 1);
  ::setenv ("LATESTFRAME_TEST_USER", "op", 1);
  ::setenv ("LATESTFRAME_TEST_SECRET", "s3cr3t: @/#% x", 1);
  ::unsetenv ("LATESTFRAME_TEST_NEVER_SET");
  return true;
}();

std::string
read_text (const fs::path &path)
{
  std::ifstream in (path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf ();
  return text.str ();
}

std::vector<fs::path>
yaml_files_in (const fs::path &dir)
{
  std::vector<fs::path> files;
  for (const auto &entry : fs::directory_iterator (dir))
    if (entry.path ().extension () == ".yaml")
      files.push_back (entry.path ());
  std::sort (files.begin (), files.end ());
  return files;
}

/* The message load_service_config(path) threw, or "" when it did not. */
std::string
load_error (const std::string &path)
{
  try
    {
      service::load_service_config (path);
    }
  catch (const config_error &error)
    {
      return error.what ();
    }
  return "";
}

/* Seeds for the randomized tests: a fixed list, or the one asked for. */
std::vector<std::uint32_t>
model_seeds (std::uint32_t count)
{
  if (const char *seed = std::getenv ("LATESTFRAME_MODEL_SEED"))
    return { static_cast<std::uint32_t> (std::strtoul (seed, nullptr, 10)) };
  std::vector<std::uint32_t> seeds;
  for (std::uint32_t i = 1; i <= count; i++)
    seeds.push_back (i);
  return seeds;
}

camera_config
camera (const std::string &id, const std::string &uri = "rtsp://h/s")
{
  camera_config config;
  config.id = id;
  config.uri = uri;
  return config;
}

} // namespace

/* --------------------------------------------------------------------- */
/* The configuration file                                                */

// Every bad file of the corpus fails with exactly the message its first line
// names: file, line, key path and problem.
TEST (ServiceConfig_Corpus, EveryBadFileGivesItsExactError)
{
  const std::vector<fs::path> files = yaml_files_in (configs_dir / "bad");
  ASSERT_GE (files.size (), 30u);
  const std::string marker = "# error: ";
  for (const fs::path &file : files)
    {
      SCOPED_TRACE (file.filename ().string ());
      const std::string text = read_text (file);
      ASSERT_EQ (text.compare (0, marker.size (), marker), 0)
          << "a bad file starts with its expected error";
      const std::string expected
          = (configs_dir / "bad").string () + "/"
            + text.substr (marker.size (), text.find ('\n') - marker.size ());
      EXPECT_EQ (load_error (file.string ()), expected);
    }
}

// Every good file of the corpus, and the example in pipelines/, loads.
TEST (ServiceConfig_Corpus, EveryGoodFileLoads)
{
  std::vector<fs::path> files = yaml_files_in (configs_dir / "good");
  ASSERT_GE (files.size (), 4u);
  files.push_back (SERVICE_EXAMPLE_CONFIG);
  for (const fs::path &file : files)
    {
      SCOPED_TRACE (file.string ());
      EXPECT_EQ (load_error (file.string ()), "");
    }
}

// The example file documents the format with the values it says it has.
TEST (ServiceConfig_Values, ExampleSaysWhatItMeans)
{
  const service_config config
      = service::load_service_config (SERVICE_EXAMPLE_CONFIG);
  ASSERT_TRUE (secrets_set);
  EXPECT_EQ (config.broker.host, "127.0.0.1");
  EXPECT_EQ (config.broker.port, 8883);
  EXPECT_EQ (config.broker.username, "latestframe");
  EXPECT_EQ (config.broker.password, "example-mqtt-secret");
  EXPECT_EQ (config.broker.client_id, "");
  EXPECT_EQ (config.broker.keepalive, 60s);
  EXPECT_TRUE (config.broker.tls.enabled);
  EXPECT_EQ (config.broker.tls.ca_file, "");
  EXPECT_FALSE (config.broker.tls.insecure);
  EXPECT_EQ (config.memory_budget_bytes, 256u << 20);
  ASSERT_EQ (config.cameras.size (), 3u);
  EXPECT_EQ (config.cameras[0].id, "door");
  EXPECT_EQ (config.cameras[0].analyses,
             "cvmotion min-area=0.01 ! cvfacedetect");
  EXPECT_EQ (config.cameras[0].max_age, 300ms);
  EXPECT_EQ (config.cameras[0].decode, latestframe::decode_mode::key_units);
  EXPECT_EQ (config.cameras[1].id, "yard");
  EXPECT_EQ (config.cameras[2].protocols, "udp+tcp");
  EXPECT_EQ (config.cameras[2].stall_timeout, 10s);
  // Its defaults section repeats the built-in values, as it says.
  camera_config yard = camera ("yard", "rtsp://10.0.0.6:8554/stream");
  yard.username = "viewer";
  yard.password = "example camera secret";
  EXPECT_TRUE (config.cameras[1].same_pipeline_as (yard));
}

// Keys left out take the built-in values the header documents.
TEST (ServiceConfig_Values, BuiltInDefaults)
{
  const service_config config = service::load_service_config (
      (configs_dir / "good" / "minimal.yaml").string ());
  EXPECT_EQ (config.broker.host, "127.0.0.1");
  EXPECT_EQ (config.broker.port, 1883);
  EXPECT_EQ (config.broker.topic_prefix, "latestframe");
  EXPECT_EQ (config.broker.qos, 1);
  EXPECT_EQ (config.broker.backlog, 1000u);
  EXPECT_EQ (config.broker.username, "");
  EXPECT_EQ (config.broker.password, "");
  EXPECT_EQ (config.broker.client_id, "");
  EXPECT_EQ (config.broker.keepalive, 60s);
  EXPECT_FALSE (config.broker.tls.enabled);
  EXPECT_EQ (config.health_interval, 5s);
  EXPECT_EQ (config.metrics.address, "127.0.0.1");
  EXPECT_EQ (config.metrics.port, 9464);
  EXPECT_EQ (config.memory_budget_bytes, 0u);
  EXPECT_TRUE (config.cameras.empty ());
  const camera_config built_in;
  EXPECT_EQ (built_in.max_age, 500ms);
  EXPECT_EQ (built_in.analyses, "cvmotion");
  EXPECT_EQ (built_in.decode, latestframe::decode_mode::all);
  EXPECT_EQ (built_in.analysis_rate, 0);
  EXPECT_EQ (built_in.protocols, "tcp");
  EXPECT_EQ (built_in.stall_timeout, 5s);
}

// Every key is read into its field, in flow and block styles, aliases too.
TEST (ServiceConfig_Values, EveryKeyIsRead)
{
  const service_config config = service::load_service_config (
      (configs_dir / "good" / "full.yaml").string ());
  EXPECT_EQ (config.broker.host, "mqtt.example.org");
  EXPECT_EQ (config.broker.port, 8883);
  EXPECT_EQ (config.broker.topic_prefix, "site/a");
  EXPECT_EQ (config.broker.qos, 2);
  EXPECT_EQ (config.broker.backlog, 5u);
  EXPECT_EQ (config.health_interval, 0ms);
  EXPECT_EQ (config.metrics.address, "0.0.0.0");
  EXPECT_EQ (config.metrics.port, 0);
  EXPECT_EQ (config.memory_budget_bytes, 1u << 30);
  ASSERT_EQ (config.cameras.size (), 3u);
  const camera_config &door = config.cameras[0];
  EXPECT_EQ (door.id, "door");
  EXPECT_EQ (door.uri, "rtsp://10.0.0.5/stream");
  EXPECT_EQ (door.analyses, "cvmotion min-area=500 ! cvfacedetect");
  EXPECT_EQ (door.max_age, 300ms);
  EXPECT_EQ (door.decode, latestframe::decode_mode::key_units);
  EXPECT_EQ (door.analysis_rate, 1.0);
  EXPECT_EQ (door.protocols, "tcp");
  EXPECT_EQ (door.stall_timeout, 5s);
  EXPECT_EQ (door.snapshot_frame, camera_config::frame_keeping::on_request);
  EXPECT_EQ (door.line, 12);
  EXPECT_EQ (config.cameras[1].id, "42") << "a number is a fine id";
  EXPECT_EQ (config.cameras[1].uri, "rtspt://10.0.0.7/s");
  EXPECT_EQ (config.cameras[1].max_age, 250ms) << "from defaults";
  EXPECT_EQ (config.cameras[1].snapshot_frame,
             camera_config::frame_keeping::always)
      << "the built-in default";
  EXPECT_EQ (config.cameras[1].line, 21);
  EXPECT_EQ (config.cameras[2].id, "gate-B");
  EXPECT_EQ (config.cameras[2].stall_timeout, 250ms) << "an alias";
}

// The file's defaults fill what a camera leaves out, even when written
// after the cameras; a camera's own value, "" and 0 included, wins.
TEST (ServiceConfig_Values, DefaultsFillWhatCamerasLeaveOut)
{
  const service_config config = service::load_service_config (
      (configs_dir / "good" / "defaults.yaml").string ());
  ASSERT_EQ (config.cameras.size (), 2u);
  const camera_config &door = config.cameras[0];
  EXPECT_EQ (door.max_age, 1s);
  EXPECT_EQ (door.analyses, "cvmotion ! cvqrdecode");
  EXPECT_EQ (door.decode, latestframe::decode_mode::on_demand);
  EXPECT_EQ (door.analysis_rate, 2.0);
  EXPECT_EQ (door.protocols, "");
  EXPECT_EQ (door.stall_timeout, 10s);
  const camera_config &yard = config.cameras[1];
  EXPECT_EQ (yard.uri, "RTSPS://user:secret@10.0.0.6:8554/stream?channel=2");
  EXPECT_EQ (yard.max_age, 0ms);
  EXPECT_EQ (yard.analyses, "");
  EXPECT_EQ (yard.decode, latestframe::decode_mode::automatic);
  EXPECT_EQ (yard.analysis_rate, 0.5);
  EXPECT_EQ (yard.protocols, "udp+tcp");
  EXPECT_EQ (yard.stall_timeout, 2min);
}

// Sections and the camera list with everything commented out are empty.
TEST (ServiceConfig_Values, CommentedOutSectionsAreEmpty)
{
  const service_config config = service::load_service_config (
      (configs_dir / "good" / "commented-out.yaml").string ());
  EXPECT_TRUE (config.cameras.empty ());
  EXPECT_EQ (config.broker.host, "127.0.0.1");
}

// A file that cannot be read says so with the system's reason.
TEST (ServiceConfig_Read, UnreadableFileSaysWhy)
{
  const std::string missing = (configs_dir / "no-such-file.yaml").string ();
  EXPECT_EQ (load_error (missing),
             missing + ": cannot read: No such file or directory");
  const std::string directory = configs_dir.string ();
  EXPECT_EQ (load_error (directory),
             directory + ": cannot read: Is a directory");
  try
    {
      service::load_service_config (missing);
      FAIL () << "no error";
    }
  catch (const config_error &error)
    {
      EXPECT_EQ (error.file (), missing);
      EXPECT_EQ (error.line (), 0);
      EXPECT_EQ (error.key (), "");
    }
}

// The parts of an error are kept apart as well as joined in what().
TEST (ServiceConfig_Read, ErrorPartsMatchTheMessage)
{
  try
    {
      service::parse_service_config (
          "cameras:\n  - id: a\n    uri: rtsp://h/s\n    decode: fast\n",
          "mem.yaml");
      FAIL () << "no error";
    }
  catch (const config_error &error)
    {
      EXPECT_EQ (error.file (), "mem.yaml");
      EXPECT_EQ (error.line (), 4);
      EXPECT_EQ (error.key (), "cameras[0].decode");
      EXPECT_EQ (error.problem (),
                 "\"fast\": unknown decode mode; use all, on-demand, "
                 "key-units or auto");
    }
}

// Durations need a unit (but 0), whole numbers only, no sign, no overflow.
TEST (ServiceConfig_Values, DurationRule)
{
  EXPECT_EQ (service::parse_duration ("0"), 0ms);
  EXPECT_EQ (service::parse_duration ("0ms"), 0ms);
  EXPECT_EQ (service::parse_duration ("300ms"), 300ms);
  EXPECT_EQ (service::parse_duration ("5s"), 5s);
  EXPECT_EQ (service::parse_duration ("2m"), 2min);
  EXPECT_EQ (service::parse_duration ("007s"), 7s);
  for (const char *bad :
       { "", "500", "1.5s", "-1s", "+1s", "5 s", "s", "5S", "5sec", "1h", "5s ",
         " 5s", "0x10ms", "99999999999999999999ms", "153722867280913m",
         "1e3ms" })
    EXPECT_THROW (service::parse_duration (bad), std::invalid_argument)
        << '"' << bad << '"';
}

// Sizes: bytes, SI and binary units, no sign, no overflow.
TEST (ServiceConfig_Values, SizeRule)
{
  EXPECT_EQ (service::parse_size ("0"), 0u);
  EXPECT_EQ (service::parse_size ("1048576"), 1048576u);
  EXPECT_EQ (service::parse_size ("12B"), 12u);
  EXPECT_EQ (service::parse_size ("500MB"), 500000000u);
  EXPECT_EQ (service::parse_size ("2kB"), 2000u);
  EXPECT_EQ (service::parse_size ("3KiB"), 3072u);
  EXPECT_EQ (service::parse_size ("256MiB"), 256u << 20);
  EXPECT_EQ (service::parse_size ("1GiB"), 1u << 30);
  EXPECT_EQ (service::parse_size ("2TB"), 2000000000000u);
  EXPECT_EQ (service::parse_size ("16777215TiB"), 16777215ull << 40);
  EXPECT_EQ (service::parse_size ("18446744073709551615"),
             std::numeric_limits<std::uint64_t>::max ());
  for (const char *bad : { "", "-1", "1.5GiB", "256 MiB", "256mib", "1Gb",
                           "MiB", "16777216TiB", "18446744073709551616" })
    EXPECT_THROW (service::parse_size (bad), std::invalid_argument)
        << '"' << bad << '"';
}

// same_pipeline_as compares every setting and only the line is free.
TEST (ServiceConfig_Values, SamePipelineIgnoresOnlyTheLine)
{
  const camera_config base = camera ("door");
  camera_config moved = base;
  moved.line = 99;
  EXPECT_TRUE (base.same_pipeline_as (moved));
  const std::vector<void (*) (camera_config &)> changes = {
    [] (camera_config &c) { c.id += "x"; },
    [] (camera_config &c) { c.uri += "x"; },
    [] (camera_config &c) { c.username = "u"; },
    [] (camera_config &c) { c.password = "p"; },
    [] (camera_config &c) { c.analyses += " ! cvqrdecode"; },
    [] (camera_config &c) { c.max_age += 1ms; },
    [] (camera_config &c) { c.decode = latestframe::decode_mode::automatic; },
    [] (camera_config &c) { c.analysis_rate += 0.5; },
    [] (camera_config &c) { c.protocols = "udp"; },
    [] (camera_config &c) { c.stall_timeout += 1ms; },
  };
  for (std::size_t i = 0; i < changes.size (); i++)
    {
      camera_config changed = base;
      changes[i](changed);
      EXPECT_FALSE (base.same_pipeline_as (changed)) << "change " << i;
      EXPECT_FALSE (changed.same_pipeline_as (base)) << "change " << i;
    }
}

/* The error a configuration text gives, or "" when it parses. */
std::string
parse_error (const std::string &text, const std::string &file = "mem.yaml")
{
  try
    {
      service::parse_service_config (text, file);
    }
  catch (const config_error &error)
    {
      return error.what ();
    }
  return "";
}

// ${NAME} and ${file:PATH} stand for their values in any string value,
// whole or in part; $${ is a literal ${; the file loses one trailing newline.
TEST (ServiceConfig_Secrets, SubstitutedFromEnvironmentAndFiles)
{
  ASSERT_TRUE (secrets_set);
  const service_config config = service::load_service_config (
      (configs_dir / "good" / "secrets.yaml").string ());
  EXPECT_EQ (config.broker.host, "broker.test");
  EXPECT_EQ (config.broker.username, "mqtt-op");
  EXPECT_EQ (config.broker.password, "s3cr3t: @/#% x");
  EXPECT_EQ (config.broker.client_id, "site-a-${not-a-variable}");
  EXPECT_EQ (config.broker.keepalive, 120s);
  ASSERT_EQ (config.cameras.size (), 2u);
  EXPECT_EQ (config.cameras[0].uri, "rtsp://broker.test/stream");
  EXPECT_EQ (config.cameras[0].username, "op") << "from defaults";
  EXPECT_EQ (config.cameras[0].password, "camera pass: @/#%");
  // A percent-encoded user part is kept as written, for the capture.
  EXPECT_EQ (config.cameras[1].uri,
             "rtsp://viewer:p%40ss%2Fw%23rd@10.0.0.6/stream");
  EXPECT_EQ (config.cameras[1].password, "");

  // Only one trailing newline goes; a file is read from the folder of the
  // configuration file as its name is written.
  const fs::path dir = fs::temp_directory_path () / "latestframe-secrets-test";
  fs::create_directories (dir);
  std::ofstream (dir / "two-newlines") << "pw\n\n";
  const std::string text = "broker: { password: \"${file:two-newlines}\" }\n"
                           "cameras: []\n";
  EXPECT_EQ (service::parse_service_config (text, (dir / "x.yaml").string ())
                 .broker.password,
             "pw\n");
  std::ofstream (dir / "empty");
  EXPECT_EQ (service::parse_service_config (
                 "broker: { password: \"${file:" + (dir / "empty").string ()
                     + "}\" }\ncameras: []\n",
                 "elsewhere.yaml")
                 .broker.password,
             "")
      << "an absolute path";
  fs::remove_all (dir);
}

// A value that fails its check after substitution is quoted as written,
// so that the secret it held never shows.
TEST (ServiceConfig_Secrets, ErrorsShowTheReferenceNotTheValue)
{
  ::setenv ("LATESTFRAME_TEST_PORT", "Hunter2-not-a-port", 1);
  EXPECT_EQ (parse_error ("broker:\n  port: ${LATESTFRAME_TEST_PORT}\n"
                          "cameras: []\n"),
             "mem.yaml:2: broker.port: \"${LATESTFRAME_TEST_PORT}\": not a "
             "whole number");
  ::setenv ("LATESTFRAME_TEST_CAMERA", "admin:Hunter2@host/s", 1);
  const std::string error
      = parse_error ("cameras:\n  - id: a\n    uri: ftp://${LATESTFRAME_"
                     "TEST_CAMERA}\n");
  EXPECT_EQ (error.find ("Hunter2"), std::string::npos) << error;
  EXPECT_NE (error.find ("not an RTSP URI"), std::string::npos) << error;
  // A password substituted into a URI that then cannot be read.
  ::setenv ("LATESTFRAME_TEST_RAW", "p@ss/Hunter2#", 1);
  EXPECT_EQ (parse_error ("cameras:\n  - id: a\n    uri: rtsp://admin:${"
                          "LATESTFRAME_TEST_RAW}@10.0.0.5/s\n"),
             std::string ("mem.yaml:3: cameras[0].uri: ")
                 + latestframe::uri_user_info_unreadable
                 + " or give username: and password: beside uri");
  const std::string directory = parse_error (
      "broker: { password: \"${file:/}\" }\ncameras: []\n");
  EXPECT_EQ (directory, "mem.yaml:1: broker.password: ${file:/}: cannot read "
                        "/: Is a directory");
  for (const char *name : { "LATESTFRAME_TEST_PORT", "LATESTFRAME_TEST_CAMERA",
                            "LATESTFRAME_TEST_RAW" })
    ::unsetenv (name);
}

// A camera's credentials: keys beside the uri or in defaults, or a
// percent-encoded user part; never both.
TEST (ServiceConfig_Secrets, CameraCredentials)
{
  const service_config config = service::parse_service_config (
      "defaults: { username: viewer, password: 'a b@c' }\n"
      "cameras:\n"
      "  - { id: a, uri: rtsp://h/s }\n"
      "  - { id: b, uri: rtsp://h/s, username: admin, password: 'x:y/z' }\n"
      "  - { id: c, uri: 'rtsp://u:p%40@h/s', username: '', password: '' }\n",
      "mem.yaml");
  ASSERT_EQ (config.cameras.size (), 3u);
  EXPECT_EQ (config.cameras[0].username, "viewer");
  EXPECT_EQ (config.cameras[0].password, "a b@c");
  EXPECT_EQ (config.cameras[1].username, "admin");
  EXPECT_EQ (config.cameras[1].password, "x:y/z");
  EXPECT_EQ (config.cameras[2].username, "");
  EXPECT_EQ (config.cameras[2].uri, "rtsp://u:p%40@h/s");
  EXPECT_EQ (parse_error ("cameras:\n  - id: a\n    uri: rtsp://u@h/s\n"
                          "    password: pw\n"),
             "mem.yaml:3: cameras[0].uri: a user part in the URI and "
             "username: or password: (here or in defaults) too: give one or "
             "the other");
  // The raw password of the corpus's bad file is in no part of its error.
  const std::string raw = parse_error (
      "cameras:\n  - id: a\n    uri: 'rtsp://admin:p@ss/w#rd @10.0.0.5/s'\n");
  EXPECT_NE (raw, "");
  EXPECT_EQ (raw.find ("w#rd"), std::string::npos) << raw;
}

// Broker keys: TLS on with a tls map, even empty, and port 8883 unless
// given; keepalive in whole seconds within MQTT's range.
TEST (ServiceConfig_Secrets, BrokerKeysAndTls)
{
  const service_config empty_tls
      = service::parse_service_config ("broker: { tls: {} }\ncameras: []\n",
                                       "mem.yaml");
  EXPECT_TRUE (empty_tls.broker.tls.enabled);
  EXPECT_EQ (empty_tls.broker.port, 8883);
  const service_config given_port = service::parse_service_config (
      "broker:\n  tls:\n    ca-file: /ca.pem\n    cert-file: /c.pem\n"
      "    key-file: /k.pem\n    insecure: true\n    version: tlsv1.3\n"
      "  port: 1884\n  keepalive: 65535s\n  client-id: cam-host-1\n"
      "cameras: []\n",
      "mem.yaml");
  const service::broker_tls_config &tls = given_port.broker.tls;
  EXPECT_TRUE (tls.enabled);
  EXPECT_EQ (given_port.broker.port, 1884) << "a port written wins";
  EXPECT_EQ (tls.ca_file, "/ca.pem");
  EXPECT_EQ (tls.cert_file, "/c.pem");
  EXPECT_EQ (tls.key_file, "/k.pem");
  EXPECT_TRUE (tls.insecure);
  EXPECT_EQ (tls.version, "tlsv1.3");
  EXPECT_EQ (given_port.broker.keepalive, 65535s);
  EXPECT_EQ (given_port.broker.client_id, "cam-host-1");
  EXPECT_EQ (service::parse_service_config (
                 "broker: { keepalive: 5000ms }\ncameras: []\n", "mem.yaml")
                 .broker.keepalive,
             5s);
  EXPECT_EQ (parse_error ("broker: { keepalive: 65536s }\ncameras: []\n"),
             "mem.yaml:1: broker.keepalive: \"65536s\": must be between 5s "
             "and 65535s");
  EXPECT_EQ (parse_error ("broker: { tls: { key-file: /k.pem } }\n"
                          "cameras: []\n"),
             "mem.yaml:1: broker.tls.key-file: given without cert-file (a key "
             "needs its client certificate)");
}

// Randomized: whatever bytes a good file is mutated into, parsing either
// succeeds or throws config_error, never another exception (and ASan sees
// no bad access).
TEST (ServiceConfig_Model, MutatedFilesFailOnlyAsConfigErrors)
{
  std::vector<std::string> texts;
  for (const fs::path &file : yaml_files_in (configs_dir / "good"))
    texts.push_back (read_text (file));
  texts.push_back (read_text (SERVICE_EXAMPLE_CONFIG));
  const std::string alphabet = ":-[]{}!&*?|>'\"#%@`,\n\t 0aZ.~\\";
  for (std::uint32_t seed : model_seeds (4))
    {
      SCOPED_TRACE ("LATESTFRAME_MODEL_SEED=" + std::to_string (seed));
      std::mt19937 random (seed);
      for (int round = 0; round < 500; round++)
        {
          std::string text = texts[random () % texts.size ()];
          const int edits = 1 + static_cast<int> (random () % 4);
          for (int e = 0; e < edits && !text.empty (); e++)
            {
              const std::size_t at = random () % text.size ();
              switch (random () % 3)
                {
                case 0:
                  text[at] = alphabet[random () % alphabet.size ()];
                  break;
                case 1:
                  text.erase (at, 1 + random () % 8);
                  break;
                default:
                  text.insert (at, 1, alphabet[random () % alphabet.size ()]);
                }
            }
          try
            {
              service::parse_service_config (text, "mutated.yaml");
            }
          catch (const config_error &error)
            {
              EXPECT_EQ (std::string (error.what ()).rfind ("mutated.yaml:", 0),
                         0u)
                  << error.what ();
            }
          catch (const std::exception &error)
            {
              ADD_FAILURE () << "not a config_error: " << error.what () << "\n"
                             << text;
            }
        }
    }
}

/* --------------------------------------------------------------------- */
/* Rendezvous hashing                                                    */

// The building blocks match their published definitions: FNV-1a 64's
// reference values, SplitMix64's output sequence for seed 1234567.
TEST (Rendezvous_Hash, BuildingBlocksMatchTheirReferences)
{
  EXPECT_EQ (service::fnv1a_64 (""), 0xcbf29ce484222325ULL);
  EXPECT_EQ (service::fnv1a_64 ("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ (service::fnv1a_64 ("foobar"), 0x85944171f73967e8ULL);
  const std::uint64_t expected[]
      = { 6457827717110365317ULL, 3203168211198807973ULL,
          9817491932198370423ULL, 4593380528125082431ULL,
          16408922859458223821ULL };
  std::uint64_t state = 1234567;
  for (std::uint64_t value : expected)
    {
      state += 0x9e3779b97f4a7c15ULL;
      EXPECT_EQ (service::splitmix64_mix (state), value);
    }
}

// The weight is SplitMix64's output shard+1 seeded by FNV-1a of the id, as
// the header writes it out.
TEST (Rendezvous_Hash, WeightIsTheDocumentedFormula)
{
  for (const char *id : { "", "door", "cam-00", "\xc3\xa9t\xc3\xa9" })
    {
      std::uint64_t state = service::fnv1a_64 (id);
      for (std::uint32_t shard = 0; shard < 20; shard++)
        {
          state += 0x9e3779b97f4a7c15ULL;
          EXPECT_EQ (service::rendezvous_weight (id, shard),
                     service::splitmix64_mix (state))
              << id << " " << shard;
        }
    }
}

// Pinned values: weights and owners cannot change between versions, or a
// rolling update would run some cameras twice and others not at all.
TEST (Rendezvous_Hash, PinnedValues)
{
  EXPECT_EQ (service::rendezvous_weight ("door", 0), 0x5e73f4c14b4c01beULL);
  EXPECT_EQ (service::rendezvous_weight ("door", 1), 0x8657649d0277d190ULL);
  EXPECT_EQ (service::rendezvous_weight ("cam-00", 0), 0xea88d997c3f432c9ULL);
  EXPECT_EQ (service::rendezvous_weight ("", 1), 0x100cdaacc0bc9316ULL);
  struct pinned
  {
    const char *id;
    std::uint32_t shards;
    std::uint32_t owner;
  };
  const pinned table[] = {
    { "door", 1, 0 },     { "door", 2, 1 },   { "door", 3, 2 },
    { "door", 16, 13 },   { "cam-00", 8, 5 }, { "cam-07", 3, 2 },
    { "yard", 8, 5 },     { "yard", 16, 12 }, { "gate-2", 5, 4 },
    { "gate-2", 16, 15 }, { "", 8, 5 },
  };
  for (const pinned &row : table)
    EXPECT_EQ (service::owner_shard (row.id, row.shards), row.owner)
        << row.id << " over " << row.shards;
  std::vector<std::uint32_t> owners;
  for (int i = 0; i < 12; i++)
    {
      char id[16];
      std::snprintf (id, sizeof id, "cam-%02d", i);
      owners.push_back (service::owner_shard (id, 3));
    }
  EXPECT_EQ (owners, (std::vector<std::uint32_t>{ 0, 0, 1, 1, 0, 1, 2, 2, 2, 1,
                                                  2, 1 }));
}

namespace
{

std::vector<std::string>
random_ids (std::size_t count, std::uint32_t seed)
{
  std::mt19937 random (seed);
  const std::string chars
      = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
  std::set<std::string> ids;
  while (ids.size () < count)
    {
      std::string id (1 + random () % 16, ' ');
      for (char &c : id)
        c = chars[random () % chars.size ()];
      ids.insert (id);
    }
  return { ids.begin (), ids.end () };
}

} // namespace

// For cam-00..cam-11 over 3 shards, every camera has exactly one owner:
// the shards' lists partition the camera list, each in file order.
TEST (Rendezvous_Owner, EveryCameraHasExactlyOneShard)
{
  std::vector<camera_config> cameras;
  for (int i = 0; i < 12; i++)
    {
      char id[16];
      std::snprintf (id, sizeof id, "cam-%02d", i);
      cameras.push_back (camera (id));
    }
  std::map<std::string, int> owners;
  for (std::uint32_t shard = 0; shard < 3; shard++)
    {
      std::vector<camera_config> mine
          = service::cameras_of_shard (cameras, shard, 3);
      EXPECT_FALSE (mine.empty ());
      for (std::size_t i = 1; i < mine.size (); i++)
        EXPECT_LT (mine[i - 1].id, mine[i].id) << "in the list's order";
      for (const camera_config &c : mine)
        {
          owners[c.id]++;
          EXPECT_EQ (service::owner_shard (c.id, 3), shard);
        }
    }
  EXPECT_EQ (owners.size (), 12u);
  for (const auto &[id, count] : owners)
    EXPECT_EQ (count, 1) << id;
}

// Over 10,000 random ids each of N = 1..8 shards gets 1/N of them, within
// 2 percentage points.
TEST (Rendezvous_Owner, SharesAreEven)
{
  const std::vector<std::string> ids = random_ids (10000, 7);
  for (std::uint32_t shards = 1; shards <= 8; shards++)
    {
      std::vector<std::size_t> counts (shards);
      for (const std::string &id : ids)
        counts[service::owner_shard (id, shards)]++;
      for (std::uint32_t shard = 0; shard < shards; shard++)
        EXPECT_NEAR (double (counts[shard]) / ids.size (), 1.0 / shards, 0.02)
            << "shard " << shard << " of " << shards;
    }
}

// Going from N to N+1 shards moves cameras only to the new shard, never
// between old ones, and moves 1/(N+1) of them within 2 points.
TEST (Rendezvous_Owner, GrowingMovesOnlyToTheNewShard)
{
  const std::vector<std::string> ids = random_ids (10000, 11);
  for (std::uint32_t shards = 1; shards <= 8; shards++)
    {
      std::size_t moved = 0;
      for (const std::string &id : ids)
        {
          const std::uint32_t before = service::owner_shard (id, shards);
          const std::uint32_t after = service::owner_shard (id, shards + 1);
          if (after != before)
            {
              moved++;
              EXPECT_EQ (after, shards) << id << " moved between old shards";
            }
        }
      EXPECT_NEAR (double (moved) / ids.size (), 1.0 / (shards + 1), 0.02)
          << shards << " -> " << shards + 1;
    }
}

// No shards is a contract violation, said by an exception.
TEST (Rendezvous_Owner, ZeroShardsIsRefused)
{
  EXPECT_THROW (service::owner_shard ("door", 0), std::invalid_argument);
  EXPECT_THROW (service::cameras_of_shard ({ camera ("door") }, 0, 0),
                std::invalid_argument);
  EXPECT_THROW (service::cameras_of_shard ({ camera ("door") }, 3, 3),
                std::invalid_argument);
}

/* --------------------------------------------------------------------- */
/* Shard identity                                                        */

namespace
{

std::string
shard_failure (const shard_sources &sources)
{
  try
    {
      const shard_identity identity = service::parse_shard (sources);
      return "no error: " + std::to_string (identity.index) + "/"
             + std::to_string (identity.count);
    }
  catch (const shard_error &error)
    {
      return error.what ();
    }
}

} // namespace

// Nothing given: one shard, this one.
TEST (Rendezvous_Shard, NothingGivenIsTheOnlyShard)
{
  EXPECT_EQ (service::parse_shard ({}), (shard_identity{ 0, 1 }));
  shard_sources sources;
  sources.hostname = "latestframe-2";
  EXPECT_EQ (service::parse_shard (sources), (shard_identity{ 0, 1 }))
      << "a hostname alone does not shard";
  sources.env_shard = "";
  sources.env_shards = "";
  EXPECT_EQ (service::parse_shard (sources), (shard_identity{ 0, 1 }))
      << "empty environment values are unset";
}

// Flags win over the environment, the environment over the hostname; each
// value on its own.
TEST (Rendezvous_Shard, Precedence)
{
  shard_sources sources;
  sources.hostname = "latestframe-2";
  sources.env_shards = "4";
  EXPECT_EQ (service::parse_shard (sources), (shard_identity{ 2, 4 }));
  sources.hostname = "latestframe-3.latestframe.video.svc.cluster.local";
  EXPECT_EQ (service::parse_shard (sources), (shard_identity{ 3, 4 }));
  sources.env_shard = "1";
  EXPECT_EQ (service::parse_shard (sources), (shard_identity{ 1, 4 }));
  sources.flag_shard = "0";
  EXPECT_EQ (service::parse_shard (sources), (shard_identity{ 0, 4 }));
  sources.flag_shards = "8";
  sources.flag_shard = "7";
  EXPECT_EQ (service::parse_shard (sources), (shard_identity{ 7, 8 }));
  sources = {};
  sources.flag_shards = "1";
  EXPECT_EQ (service::parse_shard (sources), (shard_identity{ 0, 1 }));
}

// Bad values are refused with a message naming where they came from.
TEST (Rendezvous_Shard, BadValuesSayWhere)
{
  shard_sources sources;
  sources.flag_shard = "3";
  sources.flag_shards = "3";
  EXPECT_EQ (shard_failure (sources),
             "shard index 3 (from --shard) is not below the shard count 3 "
             "(from --shards)");
  sources.flag_shards = "0";
  EXPECT_EQ (shard_failure (sources),
             "--shards \"0\": there must be at least one shard");
  sources.flag_shards = "three";
  EXPECT_EQ (shard_failure (sources),
             "--shards \"three\": not a whole number from 0 to 4294967295");
  sources.flag_shards = "-1";
  EXPECT_EQ (shard_failure (sources),
             "--shards \"-1\": not a whole number from 0 to 4294967295");
  sources.flag_shards = "";
  EXPECT_EQ (shard_failure (sources),
             "--shards \"\": not a whole number from 0 to 4294967295");

  sources = {};
  sources.env_shard = "2";
  EXPECT_EQ (shard_failure (sources),
             "LATESTFRAME_SHARD 2 without a shard count: give --shards N or "
             "LATESTFRAME_SHARDS as well");

  sources = {};
  sources.env_shards = "3";
  sources.hostname = "latestframe-3";
  EXPECT_EQ (shard_failure (sources),
             "shard index 3 (from the hostname \"latestframe-3\"'s ordinal) "
             "is not below the shard count 3 (from LATESTFRAME_SHARDS)");
  sources.hostname = "camera-host";
  EXPECT_EQ (shard_failure (sources),
             "shard count 3 (from LATESTFRAME_SHARDS) but no shard index: "
             "give --shard I or LATESTFRAME_SHARD, or run with a hostname "
             "ending in -<ordinal> as a StatefulSet does (the hostname is "
             "\"camera-host\")");
  sources.hostname.reset ();
  EXPECT_EQ (shard_failure (sources),
             "shard count 3 (from LATESTFRAME_SHARDS) but no shard index: "
             "give --shard I or LATESTFRAME_SHARD, or run with a hostname "
             "ending in -<ordinal> as a StatefulSet does");
  sources.env_shard = "1x";
  EXPECT_EQ (shard_failure (sources),
             "LATESTFRAME_SHARD \"1x\": not a whole number from 0 to "
             "4294967295");
}

// Only a trailing "-<digits>" of the first hostname label is an ordinal.
TEST (Rendezvous_Shard, HostnameOrdinal)
{
  const std::pair<const char *, bool> names[] = {
    { "latestframe-1", true }, { "a-b-c-1", true },       { "lf-01", true },
    { "latestframe", false },  { "latestframe-", false }, { "host-1a", false },
    { "host1", false },        { "host-x.pod-1", false }, { "", false },
  };
  for (const auto &[name, has_ordinal] : names)
    {
      shard_sources sources;
      sources.env_shards = "2";
      sources.hostname = name;
      if (has_ordinal)
        EXPECT_EQ (service::parse_shard (sources), (shard_identity{ 1, 2 }))
            << name;
      else
        EXPECT_THROW (service::parse_shard (sources), shard_error) << name;
    }
}

/* --------------------------------------------------------------------- */
/* Reload plans                                                          */

// Added cameras start, removed stop, changed restart, unchanged keep; each
// list in its documented order.
TEST (ReloadPlan_Plan, SortsCamerasIntoFourLists)
{
  camera_config changed = camera ("b");
  changed.max_age = 100ms;
  camera_config moved = camera ("c");
  moved.line = 40;
  const reload_plan plan = service::plan_reload (
      { camera ("a"), camera ("b"), camera ("c"), camera ("z"), camera ("d") },
      { camera ("e"), moved, changed, camera ("f") });
  EXPECT_EQ (plan.start, (std::vector<std::string>{ "e", "f" }));
  EXPECT_EQ (plan.stop, (std::vector<std::string>{ "a", "z", "d" }));
  EXPECT_EQ (plan.restart, (std::vector<std::string>{ "b" }));
  EXPECT_EQ (plan.keep, (std::vector<std::string>{ "c" }))
      << "a camera that only moved in the file keeps running";
}

// Nothing to nothing, everything to nothing, nothing to everything.
TEST (ReloadPlan_Plan, EmptySides)
{
  const std::vector<camera_config> some = { camera ("a"), camera ("b") };
  const reload_plan none = service::plan_reload ({}, {});
  EXPECT_TRUE (none.start.empty () && none.stop.empty ()
               && none.restart.empty () && none.keep.empty ());
  EXPECT_EQ (service::plan_reload (some, {}).stop,
             (std::vector<std::string>{ "a", "b" }));
  EXPECT_EQ (service::plan_reload ({}, some).start,
             (std::vector<std::string>{ "a", "b" }));
  EXPECT_EQ (service::plan_reload (some, some).keep,
             (std::vector<std::string>{ "a", "b" }));
}

// A repeated id is a contract violation, said by an exception.
TEST (ReloadPlan_Plan, RepeatedIdIsRefused)
{
  EXPECT_THROW (service::plan_reload ({ camera ("a"), camera ("a") }, {}),
                std::invalid_argument);
  EXPECT_THROW (service::plan_reload ({}, { camera ("a"), camera ("a") }),
                std::invalid_argument);
}

// Randomized model: over random running/wanted lists drawn from a small
// pool of ids and settings, (1) every id of either side is in exactly one
// list, (2) each list holds exactly the ids the rules say, and (3) carrying
// the plan out on a model of the running cameras (stop, restart with the
// wanted settings, start) gives exactly the wanted cameras, while kept
// cameras were never touched.
TEST (ReloadPlan_Model, CarryingOutThePlanGivesWhatIsWanted)
{
  for (std::uint32_t seed : model_seeds (200))
    {
      SCOPED_TRACE ("LATESTFRAME_MODEL_SEED=" + std::to_string (seed));
      std::mt19937 random (seed);
      auto random_list = [&] {
        std::vector<std::string> pool;
        for (int i = 0; i < 12; i++)
          pool.push_back ("cam-" + std::to_string (i));
        std::shuffle (pool.begin (), pool.end (), random);
        pool.resize (random () % 13);
        std::vector<camera_config> cameras;
        for (const std::string &id : pool)
          {
            camera_config c = camera (id);
            // Few variants, so that both same and changed pairs come up.
            c.max_age = std::chrono::milliseconds (100 * (random () % 2));
            c.decode = random () % 4 == 0 ? latestframe::decode_mode::automatic
                                          : latestframe::decode_mode::all;
            c.line = static_cast<int> (random () % 50); // never a change
            cameras.push_back (c);
          }
        return cameras;
      };
      for (int round = 0; round < 50; round++)
        {
          const std::vector<camera_config> running = random_list ();
          const std::vector<camera_config> wanted = random_list ();
          const reload_plan plan = service::plan_reload (running, wanted);

          std::map<std::string, const camera_config *> was, want;
          for (const camera_config &c : running)
            was[c.id] = &c;
          for (const camera_config &c : wanted)
            want[c.id] = &c;
          std::map<std::string, int> seen;
          for (const auto *list :
               { &plan.start, &plan.stop, &plan.restart, &plan.keep })
            for (const std::string &id : *list)
              seen[id]++;
          std::set<std::string> all;
          for (const auto &[id, c] : was)
            all.insert (id);
          for (const auto &[id, c] : want)
            all.insert (id);
          ASSERT_EQ (seen.size (), all.size ());
          for (const std::string &id : all)
            {
              ASSERT_EQ (seen[id], 1) << id;
              const bool in_was = was.count (id) > 0;
              const bool in_want = want.count (id) > 0;
              auto contains = [&] (const std::vector<std::string> &list) {
                return std::find (list.begin (), list.end (), id)
                       != list.end ();
              };
              if (!in_was)
                EXPECT_TRUE (contains (plan.start)) << id;
              else if (!in_want)
                EXPECT_TRUE (contains (plan.stop)) << id;
              else if (was[id]->same_pipeline_as (*want[id]))
                EXPECT_TRUE (contains (plan.keep)) << id;
              else
                EXPECT_TRUE (contains (plan.restart)) << id;
            }

          // Carry it out: the model of running pipelines, with a generation
          // per camera that changes whenever it is (re)started.
          std::map<std::string, std::pair<camera_config, int>> pipelines;
          for (const camera_config &c : running)
            pipelines[c.id] = { c, 0 };
          for (const std::string &id : plan.stop)
            ASSERT_EQ (pipelines.erase (id), 1u);
          for (const std::string &id : plan.restart)
            pipelines.at (id) = { *want.at (id), 1 };
          for (const std::string &id : plan.start)
            ASSERT_TRUE (
                pipelines.emplace (id, std::make_pair (*want.at (id), 1))
                    .second);
          ASSERT_EQ (pipelines.size (), want.size ());
          for (const auto &[id, c] : want)
            EXPECT_TRUE (pipelines.at (id).first.same_pipeline_as (*c)) << id;
          for (const std::string &id : plan.keep)
            EXPECT_EQ (pipelines.at (id).second, 0) << id << " was touched";
        }
    }
}

/* --------------------------------------------------------------------- */
/* Prometheus text format                                                */

// A scrape's text: HELP and TYPE once per family, then its samples, labels
// in the order given.
TEST (Prometheus_Text, ExactText)
{
  metrics_text text;
  text.family ("latestframe_frames_dropped_total", "Frames dropped, by reason.",
               metric_type::counter);
  text.sample ({ { "camera", "door" }, { "reason", "age" } }, 12);
  text.sample ({ { "camera", "door" }, { "reason", "overflow" } },
               std::uint64_t (18446744073709551615ULL));
  text.family ("latestframe_held_bytes", "Bytes held.", metric_type::gauge);
  text.sample ({}, 4096.0);
  text.family ("latestframe_up", "Whether the camera streams.",
               metric_type::gauge);
  text.sample ({ { "camera", "yard" } }, true);
  EXPECT_EQ (text.str (),
             "# HELP latestframe_frames_dropped_total Frames dropped, by "
             "reason.\n"
             "# TYPE latestframe_frames_dropped_total counter\n"
             "latestframe_frames_dropped_total{camera=\"door\",reason="
             "\"age\"} 12\n"
             "latestframe_frames_dropped_total{camera=\"door\",reason="
             "\"overflow\"} 18446744073709551615\n"
             "# HELP latestframe_held_bytes Bytes held.\n"
             "# TYPE latestframe_held_bytes gauge\n"
             "latestframe_held_bytes 4096\n"
             "# HELP latestframe_up Whether the camera streams.\n"
             "# TYPE latestframe_up gauge\n"
             "latestframe_up{camera=\"yard\"} 1\n");
  EXPECT_STREQ (metrics_text::content_type,
                "text/plain; version=0.0.4; charset=utf-8");
}

// Label values escape backslash, double quote and newline; HELP escapes
// backslash and newline, and leaves the double quote alone.
TEST (Prometheus_Text, Escaping)
{
  metrics_text text;
  text.family ("m", "a \\ b \"c\"\nd", metric_type::gauge);
  text.sample ({ { "v", "x\\y\"z\"\nw" } }, 1);
  EXPECT_EQ (text.str (), "# HELP m a \\\\ b \"c\"\\nd\n"
                          "# TYPE m gauge\n"
                          "m{v=\"x\\\\y\\\"z\\\"\\nw\"} 1\n");
}

// Values: integers exactly, fractions shortest round-trip, NaN and Inf by
// their spellings in the format.
TEST (Prometheus_Text, Values)
{
  EXPECT_EQ (service::prometheus_value (0.0), "0");
  EXPECT_EQ (service::prometheus_value (-0.0), "0");
  EXPECT_EQ (service::prometheus_value (42.0), "42");
  EXPECT_EQ (service::prometheus_value (-3.0), "-3");
  EXPECT_EQ (service::prometheus_value (1e15), "1000000000000000");
  EXPECT_EQ (service::prometheus_value (0.1), "0.1");
  EXPECT_EQ (service::prometheus_value (2.5), "2.5");
  EXPECT_EQ (service::prometheus_value (1.0 / 3), "0.3333333333333333");
  EXPECT_EQ (service::prometheus_value (1e300), "1e+300");
  EXPECT_EQ (service::prometheus_value (9223372036854775808.0),
             "9223372036854775808")
      << "shortest: fixed beats e+18";
  EXPECT_EQ (service::prometheus_value (5e-324), "5e-324");
  EXPECT_EQ (service::prometheus_value (std::nan ("")), "NaN");
  EXPECT_EQ (service::prometheus_value (HUGE_VAL), "+Inf");
  EXPECT_EQ (service::prometheus_value (-HUGE_VAL), "-Inf");
  metrics_text text;
  text.family ("m", "h", metric_type::gauge);
  text.sample ({}, -7);
  text.sample ({}, 0.25f);
  text.sample ({}, std::numeric_limits<std::int64_t>::min ());
  EXPECT_EQ (text.str (), "# HELP m h\n# TYPE m gauge\nm -7\nm 0.25\n"
                          "m -9223372036854775808\n");
  // Every double written reads back as itself.
  std::mt19937_64 random (3);
  for (int i = 0; i < 10000; i++)
    {
      std::uint64_t bits = random ();
      double value;
      std::memcpy (&value, &bits, sizeof value);
      if (std::isnan (value))
        continue;
      EXPECT_EQ (
          std::strtod (service::prometheus_value (value).c_str (), nullptr),
          value);
    }
}

// Names are checked; a family comes once; a sample needs a family.
TEST (Prometheus_Text, RefusesWhatTheFormatForbids)
{
  metrics_text text;
  EXPECT_THROW (text.sample ({}, 1), std::logic_error);
  for (const char *bad : { "", "1abc", "a-b", "a b", "é" })
    EXPECT_THROW (text.family (bad, "h", metric_type::gauge),
                  std::invalid_argument)
        << bad;
  EXPECT_NO_THROW (text.family ("ns:sub_name9", "h", metric_type::gauge));
  EXPECT_NO_THROW (text.family ("_x", "h", metric_type::counter));
  EXPECT_THROW (text.family ("ns:sub_name9", "again", metric_type::gauge),
                std::invalid_argument);
  for (const char *bad : { "", "__reserved", "a:b", "9a", "a-b" })
    EXPECT_THROW (text.sample ({ { bad, "v" } }, 1), std::invalid_argument)
        << bad;
  EXPECT_THROW (text.sample ({ { "a", "1" }, { "a", "2" } }, 1),
                std::invalid_argument);
  EXPECT_NO_THROW (text.sample ({ { "_a", "" } }, 1));
  const std::string taken = text.take ();
  EXPECT_NE (taken.find ("_x{_a=\"\"} 1\n"), std::string::npos);
  EXPECT_EQ (text.str (), "");
  EXPECT_NO_THROW (text.family ("_x", "a new scrape", metric_type::counter));
}
