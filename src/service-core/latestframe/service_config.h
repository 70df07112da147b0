/* latestframe-service — the configuration file.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One YAML file lists every camera of every shard (see rendezvous.h) and the
 * process-wide settings. pipelines/service/cameras.example.yaml is a
 * complete, commented example that shows every key (the suite checks it).
 *
 * Keys: one table per map of the file, in service_config.cpp (key, how its
 * value is written, what it means, how it is read). The key lists, the
 * "did you mean" of an unknown key, the keys' table in docs/service.md and
 * schema/service-config.schema.json all come from it.
 *
 * Values:
 *  - Durations: a whole number with a unit, `ms`, `s` or `m` (`300ms`,
 *    `5s`, `2m`), no space, no fraction (`1500ms`, not `1.5s`); a bare `0`
 *    is the only number allowed without a unit, so that `500` can never be
 *    read as the wrong unit.
 *  - Sizes: a whole number of bytes (`1048576`), or with a unit, no space:
 *    `B`, `kB` `MB` `GB` `TB` (powers of 1000), `KiB` `MiB` `GiB` `TiB`
 *    (powers of 1024).
 *  - Numbers: decimal, no sign; analysis-rate may have a fraction (`0.5`).
 *  - Secrets: any value may hold ${NAME} (the environment variable NAME,
 *    [A-Za-z_][A-Za-z0-9_]*) or ${file:PATH} (the file's content, one
 *    trailing newline removed, as Kubernetes and systemd hand secrets over;
 *    a relative PATH is taken from the configuration file's folder), as the
 *    whole value or a part of it; $${ is a literal ${. A variable that is
 *    not set or a file that cannot be read is an error naming the variable
 *    or the path and why, never a value.
 *  - URIs: a camera's uri whose user part cannot be read (a raw @ / # ? or
 *    space in a password, see latestframe/uri_credentials.h) is an error
 *    that never shows the password; so is a user part in the uri together
 *    with username: or password:.
 *  - Every key is checked: a key this format does not know is an error that
 *    lists the allowed ones, so that a typo is never silently ignored; a key
 *    given twice in one map is an error too. Anchors and aliases work;
 *    merge keys (`<<`) do not: use `defaults`.
 *
 * Errors are thrown as config_error, whose what() reads
 *   FILE:LINE: KEY: problem     (a value, a key, a missing key)
 *   FILE:LINE: problem          (the document as a whole: YAML syntax)
 *   FILE: cannot read: reason   (the file itself)
 * LINE counts from 1; KEY is the path to the value, with list indices
 * counting from 0: `cameras[2].max-age`, `broker.port`. */
#pragma once

#include "latestframe/decode_modes.h"

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace latestframe::service
{

/* A configuration that cannot be used, said as FILE:LINE: KEY: problem
 * (see above). The parts are kept for callers that log them apart. */
class config_error : public std::runtime_error
{
public:
  /* line 0 = the file as a whole (cannot read it); key "" = the document
   * as a whole. */
  config_error (const std::string &file, int line, const std::string &key,
                const std::string &problem);

  const std::string &file () const { return file_; }
  int line () const { return line_; }
  const std::string &key () const { return key_; }
  const std::string &problem () const { return problem_; }

private:
  std::string file_;
  int line_;
  std::string key_;
  std::string problem_;
};

/* TLS to the broker: on when the file has a `tls` map in `broker`, even
 * an empty one. */
struct broker_tls_config
{
  bool enabled = false;
  /* "" = the system's certificate authorities. */
  std::string ca_file;
  /* A client certificate and its key: both or neither. */
  std::string cert_file, key_file;
  /* Accept a certificate whose name does not match the host (testing
   * only). */
  bool insecure = false;
  /* "" (the library's default), "tlsv1.2" or "tlsv1.3". */
  std::string version;
};

struct broker_config
{
  std::string host = "127.0.0.1";
  /* 8883 when tls is given and port is not. */
  std::uint16_t port = 1883;
  std::string topic_prefix = "latestframe";
  int qos = 1;
  /* Messages held while the broker is unreachable, 1..1000000 (the oldest
   * are dropped, counted, beyond it). */
  std::uint32_t backlog = 1000;
  /* "" = none. Secrets: never log the password. */
  std::string username, password;
  /* "" = the service's default (host, shard, pid). */
  std::string client_id;
  /* 5s..65535s. */
  std::chrono::seconds keepalive{ 60 };
  broker_tls_config tls;

  /* True when both make the same connection: every key is equal (what
   * only a restart of the service changes). */
  bool same_connection_as (const broker_config &other) const;
};

struct metrics_config
{
  std::string address = "127.0.0.1";
  /* 0 = no HTTP server. */
  std::uint16_t port = 9464;
};

/* One camera, with the file's defaults (or the built-in ones) filled in
 * for every key it leaves out. The default member values are the built-in
 * defaults. */
struct camera_config
{
  /* [A-Za-z0-9_-]+, unique in a file. */
  std::string id;
  /* As written (after ${...} substitution): show it only through
   * latestframe::redacted_uri, since it may hold a password. */
  std::string uri;
  /* For the camera's RTSP authentication, beside a uri without user info
   * ("" = none). Secrets: never log the password. */
  std::string username, password;
  /* A gst-launch fragment of analysis elements, not checked here;
   * "" = none. */
  std::string analyses = "cvmotion";
  /* 0 = off. */
  std::chrono::milliseconds max_age{ 500 };
  /* latestframe's decode modes (decode_modes.h), by their names in the
   * file: all | on-demand | key-units | auto. */
  decode_mode decode = decode_mode::all;
  /* Frames per second, 0..1000 (0 = as fast as the analyses run). */
  double analysis_rate = 0;
  /* rtspsrc's protocols: tcp, udp, udp-mcast, http, tls joined by '+'
   * ("" = rtspsrc's default). */
  std::string protocols = "tcp";
  /* 0 = no stall watchdog. */
  std::chrono::milliseconds stall_timeout{ 5000 };
  /* The newest analysed frame, which GET latest.jpg is made from: kept
   * always, or only for snapshot_frame_kept_for after the camera's last
   * request (on_request), so that a camera nobody looks at keeps none. */
  enum class frame_keeping
  {
    always, /* the file's names: service_config.cpp, in this order */
    on_request,
  };
  frame_keeping snapshot_frame = frame_keeping::always;
  /* Where the camera's entry starts in its file (1-based): for the
   * service's own messages about this camera, e.g. an analyses fragment
   * gst_parse refuses. 0 = not from a file. */
  int line = 0;

  /* True when both would run the same pipeline: every field but `line`
   * is equal (a camera that only moved in the file is unchanged). */
  bool same_pipeline_as (const camera_config &other) const;
};

/* How long a camera with snapshot-frame: on-request keeps its newest
 * analysed frame after a request for latest.jpg: the page asks each
 * second, and a tab hidden for less than this still has its pictures at
 * once when shown again. */
inline constexpr std::chrono::seconds snapshot_frame_kept_for{ 30 };

struct service_config
{
  broker_config broker;
  /* Each camera's health message (0 = never). */
  std::chrono::milliseconds health_interval{ 5000 };
  metrics_config metrics;
  /* All cameras' frames together (0 = no cap, accounting only). */
  std::uint64_t memory_budget_bytes = 0;
  /* In the file's order, defaults applied; may be empty. */
  std::vector<camera_config> cameras;
};

/* Parses a configuration from its text. `file_name` is only used in error
 * messages. Throws config_error for anything the format above does not
 * allow (never another exception, except std::bad_alloc). */
service_config parse_service_config (const std::string &yaml_text,
                                     const std::string &file_name);

/* Reads the file at `path` and parses it; error messages name the file as
 * `path` is written. Throws config_error, including when the file cannot be
 * read ("PATH: cannot read: No such file or directory"). */
service_config load_service_config (const std::string &path);

/* One key of the file, for its reference, made from the reader's own
 * tables: the keys' table in docs/service.md and
 * schema/service-config.schema.json come from it (latestframe-config-
 * reference, tests/docs/reference.py). */
struct config_key_reference
{
  /* Which map it is written in: "top", "broker", "tls" (broker.tls),
   * "health", "metrics", "camera" (a camera only: id, uri) or "setting" (a
   * camera, or `defaults`). */
  std::string section;
  std::string name;
  /* How its value is written, in words. */
  std::string value;
  /* The JSON Schema of its value; "" for a section (a map or a list). */
  std::string schema;
  /* What it means, with its default and what 0 means. */
  std::string meaning;
};

/* Every key the reader knows, section by section, in the reader's order. */
std::vector<config_key_reference> config_key_references ();

/* The parsers behind the value rules above, for the service's own flags;
 * each throws std::invalid_argument with the problem alone (no file, line
 * or key), the same words a config_error would use. */
std::chrono::milliseconds parse_duration (const std::string &text);
std::uint64_t parse_size (const std::string &text);

} // namespace latestframe::service
