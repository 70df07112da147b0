/* latestframe-service — the HTTP endpoint Prometheus scrapes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/thread_annotations.h"

#include <gio/gio.h>

#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace latestframe::service
{

/* A connection whose request head is being read (metrics_server.cpp). */
struct head_reader;

/* One answer of the server: "404 Not Found", its type, more headers. */
struct http_answer
{
  std::string status;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

/* Answers GET /cameras/<id>/latest.jpg?<query>, on a request thread. */
using snapshot_handler = std::function<http_answer (const std::string &id,
                                                    const std::string &query)>;

/* Serves GET /metrics (the text last given to update(), in Prometheus'
 * text format), GET /api/cameras (the JSON last given to
 * update_cameras(); both made fresh on request by the refresher, see
 * refresh_before_answering()), GET /cameras/<id>/latest.jpg
 * (serve_snapshots()'s handler), GET / (status_page_html: a page of every
 * camera, reading the last two) and GET /healthz ("ok") over HTTP/1.0.
 * Connections are accepted on the main loop of the thread that constructs it
 * and answered on a pool of 4 threads (a connection waits for a free one; past
 * 64 waiting, it is closed unanswered), so that a slow scraper never holds up
 * the service's main loop. Anything else gets 404, a request over 8 KiB or
 * not a GET 400.
 *
 * Threads: construct, update(), refresh_before_answering() and destroy
 * from one thread, whose main loop runs (and runs the refresher); requests
 * are answered on the pool's threads, from a copy taken under the lock.
 * Destroying waits for the requests in hand. */
class metrics_server
{
public:
  /* Listens on address:port (port 0: any free port, see port()). Throws
   * std::runtime_error saying why it cannot. */
  metrics_server (const std::string &address, unsigned port);
  ~metrics_server ();
  metrics_server (const metrics_server &) = delete;
  metrics_server &operator= (const metrics_server &) = delete;

  /* The port it listens on. */
  unsigned port () const { return port_; }

  void update (std::string exposition);
  /* The body of GET /api/cameras (cameras_json()). Until the first call,
   * 503. */
  void update_cameras (std::string cameras_json);
  /* Who answers GET /cameras/<id>/latest.jpg (404 until set). */
  void serve_snapshots (snapshot_handler handler);
  /* Called on the main loop when a request for /metrics or /api/cameras
   * has been read, before it goes to a request thread: it may call
   * update() and update_cameras(), so that the figures are made when
   * someone reads them rather than on a timer whether or not anyone does.
   * It must not throw (it runs inside a GIO callback). */
  void refresh_before_answering (std::function<void ()> refresher);

  /* The text served, shared with the request threads. */
  struct shared_text
  {
    checked_mutex lock;
    std::string text LF_GUARDED_BY (lock);
    std::string cameras LF_GUARDED_BY (lock);
    snapshot_handler snapshots LF_GUARDED_BY (lock);
  };

  /* The connections whose request head the main loop is reading (opaque
   * readers of metrics_server.cpp), and the pool answering those read;
   * both on the main loop's thread only. A reader keeps this alive until
   * its read ends, after the server may be gone (pool then null). */
  struct readers
  {
    GThreadPool *pool = nullptr;
    std::set<head_reader *> reading;
    std::function<void ()> refresher;
  };

private:
  GSocketService *service_ = nullptr;
  unsigned port_ = 0;
  std::unique_ptr<shared_text> exposition_;
  std::shared_ptr<readers> readers_;
};

} // namespace latestframe::service
