/* latestframe-service — the HTTP endpoint Prometheus scrapes.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "metrics_server.h"

#include "latestframe/prometheus.h"
#include "status_page.h"

#include <stdexcept>
#include <utility>

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

/* Owns a reference to a GObject (GIO's, not GStreamer's). */
struct unref_object
{
  void operator() (gpointer object) const { g_object_unref (object); }
};
template <typename T> using object_ptr = std::unique_ptr<T, unref_object>;

/* Connections whose request head is still being read, on the main loop;
 * beyond this many a new one is closed unread (each holds a descriptor). */
constexpr std::size_t max_reading = 256;
/* A client that has not sent its whole head by then is closed unanswered. */
constexpr guint head_timeout_s = 10;

bool
head_is_whole (const std::string &head)
{
  return head.find ("\r\n\r\n") != std::string::npos
         || head.find ("\n\n") != std::string::npos;
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

/* The path a whole head's GET asks for, without its query; "" for a head
 * that is not whole or not a GET. */
std::string
path_of (const std::string &head)
{
  if (!head_is_whole (head) || head.rfind ("GET ", 0) != 0)
    return {};
  const std::string line = head.substr (0, head.find_first_of ("\r\n"));
  const std::size_t end = line.find (' ', 4);
  std::string path
      = line.substr (4, end == std::string::npos ? std::string::npos : end - 4);
  const std::size_t query = path.find ('?');
  return query == std::string::npos ? path : path.substr (0, query);
}

/* The paths whose figures the refresher makes before they are answered. */
constexpr const char *metrics_path = "/metrics";
constexpr const char *cameras_path = "/api/cameras";

/* Answers one connection whose request head was read, and whose path
 * (path_of, read once on the main loop) it asks for, on a thread of the
 * pool. */
void
serve (GSocketConnection *connection, const std::string &head,
       const std::string &path, metrics_server::shared_text *served)
{
  /* A client that stops reading does not keep the thread for ever. */
  g_socket_set_timeout (g_socket_connection_get_socket (connection), 10);
  GIOStream *stream = G_IO_STREAM (connection);
  GOutputStream *output = g_io_stream_get_output_stream (stream);
  const bool whole = head_is_whole (head);
  const std::size_t line_end
      = whole ? head.find_first_of ("\r\n") : std::string::npos;
  const std::string line = head.substr (0, line_end);
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
    checked_lock guard (served->lock);
    snapshots = served->snapshots;
  }
  if (line_end == std::string::npos || path.empty ())
    answer (output, "400 Bad Request", "text/plain", "GET /metrics\n");
  else if (path == metrics_path)
    {
      std::string body;
      {
        checked_lock guard (served->lock);
        body = served->text;
      }
      answer (output, "200 OK", metrics_text::content_type, body);
    }
  else if (path == cameras_path)
    {
      std::string body;
      {
        checked_lock guard (served->lock);
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

/* A connection, its request head and the path it asks for: what the
 * pool's threads answer. */
struct request
{
  object_ptr<GSocketConnection> connection;
  std::string head;
  std::string path;
};

/* The pool's function: `data` is a request, ours to delete. */
void
on_request (gpointer data, gpointer user_data)
{
  const std::unique_ptr<request> taken (static_cast<request *> (data));
  serve (taken->connection.get (), taken->head, taken->path,
         static_cast<metrics_server::shared_text *> (user_data));
}

} // namespace

/* One connection whose head is read on the main loop, asynchronously, so
 * that a client that connects and says nothing holds no thread: only a
 * whole head (or one over max_request_bytes, or one the client ended)
 * goes to the pool. */
struct head_reader
{
  std::shared_ptr<metrics_server::readers> owner;
  object_ptr<GSocketConnection> connection;
  object_ptr<GCancellable> cancellable{ g_cancellable_new () };
  guint timeout = 0;
  std::string head;
  char chunk[1024];
};

namespace
{

void read_more (head_reader *reader);

/* Ends the reading: hands the request to the pool when it has something to
 * answer (and the server is still there), else closes the connection. */
void
finish (head_reader *reader, bool answer_it)
{
  const std::unique_ptr<head_reader> done (reader);
  if (done->timeout != 0)
    g_source_remove (done->timeout);
  metrics_server::readers &owner = *done->owner;
  owner.reading.erase (reader);
  if (answer_it && owner.pool
      && g_thread_pool_unprocessed (owner.pool) < max_waiting)
    {
      std::string path = path_of (done->head);
      if (owner.refresher && (path == metrics_path || path == cameras_path))
        owner.refresher ();
      auto handed = std::make_unique<request> (
          request{ std::move (done->connection), std::move (done->head),
                   std::move (path) });
      g_thread_pool_push (owner.pool, handed.release (), nullptr);
    }
  else
    g_io_stream_close (G_IO_STREAM (done->connection.get ()), nullptr,
                       nullptr);
}

void
on_read (GObject *input, GAsyncResult *result, gpointer data)
{
  head_reader *reader = static_cast<head_reader *> (data);
  const gssize got = g_input_stream_read_finish (G_INPUT_STREAM (input),
                                                 result, nullptr);
  if (got > 0)
    reader->head.append (reader->chunk, static_cast<std::size_t> (got));
  if (got > 0 && reader->head.size () < max_request_bytes
      && !head_is_whole (reader->head))
    {
      read_more (reader);
      return;
    }
  /* A whole head, one too long, or one the client ended (it gets its 400);
   * nothing at all, an error or the timeout's cancel: closed. */
  finish (reader, got >= 0 && !reader->head.empty ()
                      && !g_cancellable_is_cancelled (reader->cancellable.get ()));
}

void
read_more (head_reader *reader)
{
  g_input_stream_read_async (
      g_io_stream_get_input_stream (G_IO_STREAM (reader->connection.get ())),
      reader->chunk, sizeof reader->chunk, G_PRIORITY_DEFAULT,
      reader->cancellable.get (), on_read, reader);
}

gboolean
on_head_timeout (gpointer data)
{
  head_reader *reader = static_cast<head_reader *> (data);
  reader->timeout = 0;
  g_cancellable_cancel (reader->cancellable.get ());
  return G_SOURCE_REMOVE;
}

/* On the main loop: starts reading the connection's head. */
gboolean
on_incoming (GSocketService *, GSocketConnection *connection, GObject *,
             gpointer user_data)
{
  auto &owner = *static_cast<std::shared_ptr<metrics_server::readers> *> (
      user_data);
  if (owner->reading.size () >= max_reading)
    {
      g_io_stream_close (G_IO_STREAM (connection), nullptr, nullptr);
      return TRUE;
    }
  auto reader = std::make_unique<head_reader> ();
  reader->owner = owner;
  reader->connection.reset (G_SOCKET_CONNECTION (g_object_ref (connection)));
  head_reader *reading = reader.release ();
  owner->reading.insert (reading);
  reading->timeout
      = g_timeout_add_seconds (head_timeout_s, on_head_timeout, reading);
  read_more (reading);
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
  readers_ = std::make_shared<readers> ();
  readers_->pool = g_thread_pool_new (on_request, exposition_.get (),
                                      max_threads, FALSE, nullptr);
  g_signal_connect (service_, "incoming", G_CALLBACK (on_incoming), &readers_);
  g_socket_service_start (service_);
}

metrics_server::~metrics_server ()
{
  g_socket_service_stop (service_);
  g_socket_listener_close (G_SOCKET_LISTENER (service_));
  g_object_unref (service_);
  /* The heads still being read are dropped: each reader ends (and is
   * freed) when the main loop next runs its cancelled read, and then
   * finds no pool. */
  for (head_reader *reader : readers_->reading)
    g_cancellable_cancel (reader->cancellable.get ());
  GThreadPool *pool = std::exchange (readers_->pool, nullptr);
  /* The requests waiting are answered; then the threads are done with
   * exposition_. */
  g_thread_pool_free (pool, FALSE, TRUE);
}

void
metrics_server::update (std::string exposition)
{
  checked_lock guard (exposition_->lock);
  exposition_->text = std::move (exposition);
}

void
metrics_server::serve_snapshots (snapshot_handler handler)
{
  checked_lock guard (exposition_->lock);
  exposition_->snapshots = std::move (handler);
}

void
metrics_server::refresh_before_answering (std::function<void ()> refresher)
{
  readers_->refresher = std::move (refresher);
}

void
metrics_server::update_cameras (std::string cameras_json)
{
  checked_lock guard (exposition_->lock);
  exposition_->cameras = std::move (cameras_json);
}

} // namespace latestframe::service
