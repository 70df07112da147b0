/* latestframe-service — the HTTP endpoint Prometheus scrapes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "metrics_server.h"

#include "latestframe/prometheus.h"
#include "status_page.h"

#include <stdexcept>

namespace latestframe::service
{

namespace
{

constexpr gsize max_request_bytes = 8192;
/* Requests answered at once; more wait for a thread, up to max_waiting
 * (each holds a descriptor); beyond that a connection is closed unread. */
constexpr gint max_threads = 4;
constexpr guint max_waiting = 64;
/* Connections the kernel holds until the main loop accepts them. */
constexpr int listen_backlog = 128;

/* Reads the request head (up to the empty line), at most
 * max_request_bytes; empty when the client sent nothing usable. */
std::string
read_request_head (GInputStream *input)
{
  std::string head;
  char chunk[1024];
  while (head.size () < max_request_bytes
         && head.find ("\r\n\r\n") == std::string::npos
         && head.find ("\n\n") == std::string::npos)
    {
      const gssize got
          = g_input_stream_read (input, chunk, sizeof chunk, nullptr, nullptr);
      if (got <= 0)
        break;
      head.append (chunk, static_cast<std::size_t> (got));
    }
  return head;
}

void
answer (GOutputStream *output, const char *status, const char *type,
        const std::string &body,
        const std::vector<std::pair<std::string, std::string>> &headers = {})
{
  std::string response = std::string ("HTTP/1.0 ") + status
                         + "\r\nContent-Type: " + type
                         + "\r\nContent-Length: "
                         + std::to_string (body.size ());
  for (const auto &[name, value] : headers)
    response += "\r\n" + name + ": " + value;
  response += "\r\nConnection: close\r\n\r\n" + body;
  g_output_stream_write_all (output, response.data (), response.size (),
                             nullptr, nullptr, nullptr);
}

/* Before closing a connection whose request was not read to its end (a
 * head over max_request_bytes, or not a GET, which may have a body):
 * closing with bytes unread sends a reset, which can destroy the answer
 * before the client reads it. Says the answer is done, then reads and
 * drops what the client still sends, until it closes or for 64 KiB or 1 s
 * at most. */
void
drain (GSocketConnection *connection)
{
  GSocket *socket = g_socket_connection_get_socket (connection);
  if (!g_socket_shutdown (socket, FALSE, TRUE, nullptr))
    return;
  g_socket_set_timeout (socket, 1);
  GInputStream *input
      = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  const gint64 end = g_get_monotonic_time () + G_USEC_PER_SEC;
  char chunk[4096];
  gsize dropped = 0;
  while (dropped < 65536 && g_get_monotonic_time () < end)
    {
      const gssize got
          = g_input_stream_read (input, chunk, sizeof chunk, nullptr, nullptr);
      if (got <= 0)
        break;
      dropped += static_cast<gsize> (got);
    }
}

/* Answers one connection, on a thread of the pool. */
void
serve (GSocketConnection *connection, metrics_server::shared_text *served)
{
  /* A scraper that stops talking does not keep its thread for ever. */
  g_socket_set_timeout (g_socket_connection_get_socket (connection), 10);
  GIOStream *stream = G_IO_STREAM (connection);
  const std::string head
      = read_request_head (g_io_stream_get_input_stream (stream));
  GOutputStream *output = g_io_stream_get_output_stream (stream);
  const bool whole = head.find ("\r\n\r\n") != std::string::npos
                     || head.find ("\n\n") != std::string::npos;
  const std::size_t line_end
      = whole ? head.find_first_of ("\r\n") : std::string::npos;
  const std::string line = head.substr (0, line_end);
  const auto path_of = [&] () -> std::string {
    if (line.rfind ("GET ", 0) != 0)
      return {};
    const std::size_t end = line.find (' ', 4);
    std::string path = line.substr (4, end == std::string::npos
                                           ? std::string::npos
                                           : end - 4);
    const std::size_t query = path.find ('?');
    return query == std::string::npos ? path : path.substr (0, query);
  };
  const std::string path = path_of ();
  const std::size_t query_start = line.find ('?');
  const std::size_t query_end = line.find (' ', 4);
  const std::string query
      = query_start == std::string::npos || query_start > query_end
            ? std::string ()
            : line.substr (query_start + 1,
                           query_end == std::string::npos
                               ? std::string::npos
                               : query_end - query_start - 1);
  /* /cameras/<id>/latest.jpg: the id, or "" for another path. */
  const std::string snapshot_prefix = "/cameras/", snapshot_suffix
                                                   = "/latest.jpg";
  std::string snapshot_of;
  if (path.size () > snapshot_prefix.size () + snapshot_suffix.size ()
      && path.rfind (snapshot_prefix, 0) == 0
      && path.compare (path.size () - snapshot_suffix.size (),
                       snapshot_suffix.size (), snapshot_suffix)
             == 0)
    snapshot_of = path.substr (snapshot_prefix.size (),
                               path.size () - snapshot_prefix.size ()
                                   - snapshot_suffix.size ());
  snapshot_handler snapshots;
  {
    std::lock_guard<std::mutex> guard (served->lock);
    snapshots = served->snapshots;
  }
  if (line_end == std::string::npos || path.empty ())
    answer (output, "400 Bad Request", "text/plain", "GET /metrics\n");
  else if (path == "/metrics")
    {
      std::string body;
      {
        std::lock_guard<std::mutex> guard (served->lock);
        body = served->text;
      }
      answer (output, "200 OK", metrics_text::content_type, body);
    }
  else if (path == "/api/cameras")
    {
      std::string body;
      {
        std::lock_guard<std::mutex> guard (served->lock);
        body = served->cameras;
      }
      if (body.empty ())
        answer (output, "503 Service Unavailable", "text/plain",
                "the cameras' figures are not read yet\n");
      else
        answer (output, "200 OK", "application/json", body);
    }
  else if (!snapshot_of.empty () && snapshot_of.find ('/') == std::string::npos
           && snapshots)
    {
      const http_answer reply = snapshots (snapshot_of, query);
      answer (output, reply.status.c_str (), reply.content_type.c_str (),
              reply.body, reply.headers);
    }
  else if (path == "/healthz")
    answer (output, "200 OK", "text/plain", "ok\n");
  else if (path == "/")
    answer (output, "200 OK", "text/html; charset=utf-8",
            std::string (status_page_html),
            { { "Content-Security-Policy", std::string (status_page_policy) },
              { "Cache-Control", "no-cache" } });
  else
    answer (output, "404 Not Found", "text/plain",
            "latestframe-service serves / (a page of every camera), "
            "/metrics, /api/cameras, /cameras/<id>/latest.jpg and "
            "/healthz\n");
  if (!whole || line.rfind ("GET ", 0) != 0)
    drain (connection);
  g_io_stream_close (stream, nullptr, nullptr);
}

/* The pool's function: `data` is the connection, ours to unref. */
void
on_connection (gpointer data, gpointer user_data)
{
  GSocketConnection *connection = G_SOCKET_CONNECTION (data);
  serve (connection, static_cast<metrics_server::shared_text *> (user_data));
  g_object_unref (connection);
}

/* On the main loop: hands the connection to a thread of the pool, where it
 * waits its turn when all are busy. */
gboolean
on_incoming (GSocketService *, GSocketConnection *connection, GObject *,
             gpointer user_data)
{
  GThreadPool *pool = static_cast<GThreadPool *> (user_data);
  if (g_thread_pool_unprocessed (pool) >= max_waiting)
    g_io_stream_close (G_IO_STREAM (connection), nullptr, nullptr);
  else
    g_thread_pool_push (pool, g_object_ref (connection), nullptr);
  return TRUE;
}

} // namespace

metrics_server::metrics_server (const std::string &address, unsigned port)
{
  service_ = g_socket_service_new ();
  GInetAddress *inet = g_inet_address_new_from_string (address.c_str ());
  if (!inet)
    {
      g_object_unref (service_);
      throw std::runtime_error ("metrics: \"" + address
                                + "\" is not an IP address");
    }
  GSocketAddress *where = g_inet_socket_address_new (inet, port);
  g_object_unref (inet);
  /* GLib's default queue of 10 connections not accepted yet overflowed
   * under 20 clients at once (the main loop accepts one a turn), and a
   * refused client waits 1 s to try again. */
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (service_), listen_backlog);
  GSocketAddress *bound = nullptr;
  GError *error = nullptr;
  const gboolean listening = g_socket_listener_add_address (
      G_SOCKET_LISTENER (service_), where, G_SOCKET_TYPE_STREAM,
      G_SOCKET_PROTOCOL_TCP, nullptr, &bound, &error);
  g_object_unref (where);
  if (!listening)
    {
      const std::string why = error ? error->message : "unknown error";
      g_clear_error (&error);
      g_object_unref (service_);
      throw std::runtime_error ("metrics: cannot listen on " + address + ":"
                                + std::to_string (port) + ": " + why);
    }
  port_ = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_object_unref (bound);
  exposition_ = std::make_unique<shared_text> ();
  /* Not GThreadedSocketService: when all its threads are busy it stops
   * the socket service and a request thread starts it again, and GLib
   * 2.74's service, stopped and started so from another thread while the
   * main loop accepts, crashed the process under 20 concurrent clients
   * (SIGSEGV in GIO's accept, on the main loop). Here the main loop
   * accepts all the time and the pool's threads only answer. */
  pool_ = g_thread_pool_new (on_connection, exposition_.get (), max_threads,
                             FALSE, nullptr);
  g_signal_connect (service_, "incoming", G_CALLBACK (on_incoming), pool_);
  g_socket_service_start (service_);
}

metrics_server::~metrics_server ()
{
  g_socket_service_stop (service_);
  g_socket_listener_close (G_SOCKET_LISTENER (service_));
  g_object_unref (service_);
  /* The connections waiting are answered; then the threads are done with
   * exposition_. */
  g_thread_pool_free (pool_, FALSE, TRUE);
}

void
metrics_server::update (std::string exposition)
{
  std::lock_guard<std::mutex> guard (exposition_->lock);
  exposition_->text = std::move (exposition);
}

void
metrics_server::serve_snapshots (snapshot_handler handler)
{
  std::lock_guard<std::mutex> guard (exposition_->lock);
  exposition_->snapshots = std::move (handler);
}

void
metrics_server::update_cameras (std::string cameras_json)
{
  std::lock_guard<std::mutex> guard (exposition_->lock);
  exposition_->cameras = std::move (cameras_json);
}

} // namespace latestframe::service
