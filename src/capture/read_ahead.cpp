/* latestframe capture — GIO's TCP connections read a socket buffer at a time.
 *
 * GstRTSPConnection (rtspsrc) parses RTSP interleaved data as it reads it:
 * each RTP packet over TCP is three reads of the connection's input stream
 * (the '$', the channel and length, the packet), and GIO's socket stream
 * makes each one a recv(). Its blocking read waits on the socket with the
 * connection's cancellable, and GLib makes an eventfd for that wait and
 * closes it after. At 30 frames a second of 720p H.264 that was 611
 * recv(), 30 eventfd() and 32 close() a second per camera, in rtspsrc's
 * receiving thread (issue 27, docs/benchmarks.md section 7.3).
 *
 * read_ahead_stream reads what the socket holds, up to 16 KiB, and hands it
 * out to the reads that follow; it holds the cancellable's wakeup fd while
 * it reads with it, so the waits reuse one. GTcpConnection's class is told
 * to give it as its input stream: no API reaches the connection rtspsrc
 * makes, and GIO's connection factory cannot take a second type for TCP
 * (GLib 2.74 frees a replaced entry and keeps using it).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/capture.h"

#include <gio/gio.h>

#include <cstring>

namespace
{

/* A socket receive buffer's worth of packets for one recv(): a delta frame
 * of the test camera is ~7 packets of 1.4 KB, a key frame ~45. Per
 * connection, allocated at the first read. */
constexpr gsize read_ahead_capacity = 16 * 1024;

struct ReadAheadStream
{
  GInputStream parent;

  /*< private >*/
  GSocket *socket;
  guint8 *buffer; /* read_ahead_capacity bytes, or NULL before a read */
  gsize start;    /* buffer[start, end) is read from the socket, not out */
  gsize end;
  /* The cancellable whose wakeup fd is held open (see hold_wakeup). */
  GCancellable *held;
};

struct ReadAheadStreamClass
{
  GInputStreamClass parent_class;
};

GType read_ahead_stream_get_type ();
void read_ahead_stream_pollable_init (GPollableInputStreamInterface *iface);

G_DEFINE_TYPE_WITH_CODE (
    ReadAheadStream, read_ahead_stream, G_TYPE_INPUT_STREAM,
    G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                           read_ahead_stream_pollable_init))

#define READ_AHEAD_STREAM(obj)                                                 \
  (G_TYPE_CHECK_INSTANCE_CAST ((obj), read_ahead_stream_get_type (),           \
                               ReadAheadStream))

gsize
buffered (const ReadAheadStream *self)
{
  return self->end - self->start;
}

gssize
take_buffered (ReadAheadStream *self, void *out, gsize count)
{
  const gsize taken = MIN (count, buffered (self));
  memcpy (out, self->buffer + self->start, taken);
  self->start += taken;
  return static_cast<gssize> (taken);
}

void
release_wakeup (ReadAheadStream *self)
{
  if (!self->held)
    return;
  g_cancellable_release_fd (self->held);
  g_clear_object (&self->held);
}

/* GSocket's blocking receive asks `cancellable` for a pollable fd at each
 * wait and releases it after; GLib closes the fd when its last user
 * releases it. Holding one here keeps it open: the waits reuse it. Reads
 * without a cancellable keep the one held: GstRTSPConnection passes none
 * while rtspsrc says it may not cancel, and its own again after. */
void
hold_wakeup (ReadAheadStream *self, GCancellable *cancellable)
{
  if (!cancellable || cancellable == self->held)
    return;
  release_wakeup (self);
  GPollFD unused;
  if (g_cancellable_make_pollfd (cancellable, &unused))
    self->held = G_CANCELLABLE (g_object_ref (cancellable));
}

/* What is buffered, else one receive of what the socket holds. A read as
 * large as the buffer goes to the socket straight. */
gssize
receive (ReadAheadStream *self, void *out, gsize count, gboolean blocking,
         GCancellable *cancellable, GError **error)
{
  if (buffered (self) > 0)
    return take_buffered (self, out, count);
  if (blocking)
    hold_wakeup (self, cancellable);
  if (count >= read_ahead_capacity)
    return g_socket_receive_with_blocking (self->socket,
                                           static_cast<gchar *> (out), count,
                                           blocking, cancellable, error);
  if (!self->buffer)
    self->buffer = static_cast<guint8 *> (g_malloc (read_ahead_capacity));
  const gssize got = g_socket_receive_with_blocking (
      self->socket, reinterpret_cast<gchar *> (self->buffer),
      read_ahead_capacity, blocking, cancellable, error);
  if (got <= 0)
    return got;
  self->start = 0;
  self->end = static_cast<gsize> (got);
  return take_buffered (self, out, count);
}

gssize
read_ahead_stream_read (GInputStream *stream, void *out, gsize count,
                        GCancellable *cancellable, GError **error)
{
  return receive (READ_AHEAD_STREAM (stream), out, count, TRUE, cancellable,
                  error);
}

gboolean
read_ahead_stream_close (GInputStream *stream, GCancellable *, GError **)
{
  /* The socket belongs to the connection, which closes it. */
  ReadAheadStream *self = READ_AHEAD_STREAM (stream);
  self->start = self->end = 0;
  release_wakeup (self);
  return TRUE;
}

gboolean
read_ahead_stream_is_readable (GPollableInputStream *pollable)
{
  ReadAheadStream *self = READ_AHEAD_STREAM (pollable);
  return buffered (self) > 0
         || g_socket_condition_check (self->socket, G_IO_IN);
}

gssize
read_ahead_stream_read_nonblocking (GPollableInputStream *pollable, void *out,
                                    gsize count, GError **error)
{
  /* As GSocketInputStream: g_pollable_input_stream_read_nonblocking has
   * checked the cancellable already. */
  return receive (READ_AHEAD_STREAM (pollable), out, count, FALSE, nullptr,
                  error);
}

/* A child source ready while bytes are buffered: the socket's own source
 * would not wake a reader that left some there. */
struct BufferedSource
{
  GSource source;
  ReadAheadStream *stream; /* a reference */
};

gboolean
buffered_source_prepare (GSource *source, gint *timeout)
{
  *timeout = -1;
  return buffered (reinterpret_cast<BufferedSource *> (source)->stream) > 0;
}

gboolean
buffered_source_check (GSource *source)
{
  return buffered (reinterpret_cast<BufferedSource *> (source)->stream) > 0;
}

gboolean
buffered_source_dispatch (GSource *, GSourceFunc callback, gpointer data)
{
  return callback ? callback (data) : G_SOURCE_CONTINUE;
}

void
buffered_source_finalize (GSource *source)
{
  g_object_unref (reinterpret_cast<BufferedSource *> (source)->stream);
}

GSourceFuncs buffered_source_funcs = {
  buffered_source_prepare,
  buffered_source_check,
  buffered_source_dispatch,
  buffered_source_finalize,
  nullptr,
  nullptr,
};

GSource *
read_ahead_stream_create_source (GPollableInputStream *pollable,
                                 GCancellable *cancellable)
{
  ReadAheadStream *self = READ_AHEAD_STREAM (pollable);
  GSource *source = g_pollable_source_new (G_OBJECT (self));
  GSource *socket_source
      = g_socket_create_source (self->socket, G_IO_IN, cancellable);
  g_source_set_dummy_callback (socket_source);
  g_source_add_child_source (source, socket_source);
  g_source_unref (socket_source);
  /* No callback (its dispatch takes none): GLib sets a dummy one only on
   * sources whose funcs have a closure_callback. */
  GSource *buffered_source
      = g_source_new (&buffered_source_funcs, sizeof (BufferedSource));
  reinterpret_cast<BufferedSource *> (buffered_source)->stream
      = READ_AHEAD_STREAM (g_object_ref (self));
  g_source_add_child_source (source, buffered_source);
  g_source_unref (buffered_source);
  return source;
}

void
read_ahead_stream_pollable_init (GPollableInputStreamInterface *iface)
{
  iface->is_readable = read_ahead_stream_is_readable;
  iface->create_source = read_ahead_stream_create_source;
  iface->read_nonblocking = read_ahead_stream_read_nonblocking;
}

void
read_ahead_stream_finalize (GObject *object)
{
  ReadAheadStream *self = READ_AHEAD_STREAM (object);
  release_wakeup (self);
  g_free (self->buffer);
  g_object_unref (self->socket);
  G_OBJECT_CLASS (read_ahead_stream_parent_class)->finalize (object);
}

void
read_ahead_stream_class_init (ReadAheadStreamClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = read_ahead_stream_finalize;
  G_INPUT_STREAM_CLASS (klass)->read_fn = read_ahead_stream_read;
  G_INPUT_STREAM_CLASS (klass)->close_fn = read_ahead_stream_close;
}

void
read_ahead_stream_init (ReadAheadStream *)
{
}

/* GTcpConnection's own close_fn and close_async (its graceful
 * disconnect, then GSocketConnection's), before read_tcp_ahead. */
gboolean (*close_connection) (GIOStream *, GCancellable *, GError **) = nullptr;
void (*close_connection_async) (GIOStream *, int, GCancellable *,
                                GAsyncReadyCallback, gpointer)
    = nullptr;

/* Two threads asking a new connection for its input stream at once get
 * the same one. */
G_LOCK_DEFINE_STATIC (read_ahead_made);

GQuark
read_ahead_quark ()
{
  return g_quark_from_static_string ("latestframe-read-ahead-stream");
}

GInputStream *
read_ahead_input_stream (GIOStream *connection)
{
  G_LOCK (read_ahead_made);
  gpointer stream
      = g_object_get_qdata (G_OBJECT (connection), read_ahead_quark ());
  if (!stream)
    {
      ReadAheadStream *made = READ_AHEAD_STREAM (
          g_object_new (read_ahead_stream_get_type (), nullptr));
      made->socket = G_SOCKET (g_object_ref (
          g_socket_connection_get_socket (G_SOCKET_CONNECTION (connection))));
      stream = made;
      g_object_set_qdata_full (G_OBJECT (connection), read_ahead_quark (),
                               stream, g_object_unref);
    }
  G_UNLOCK (read_ahead_made);
  return G_INPUT_STREAM (stream);
}

/* Closing the stream lets go of its buffer's bytes and the wakeup fd it
 * holds; closing it never blocks. */
void
close_read_ahead (GIOStream *connection)
{
  if (gpointer stream
      = g_object_get_qdata (G_OBJECT (connection), read_ahead_quark ()))
    g_input_stream_close (G_INPUT_STREAM (stream), nullptr, nullptr);
}

gboolean
close_with_read_ahead (GIOStream *connection, GCancellable *cancellable,
                       GError **error)
{
  close_read_ahead (connection);
  return close_connection (connection, cancellable, error);
}

/* GTcpConnection's graceful close_async ends in GSocketConnection's
 * close_fn, not in the class's: the stream is closed first here. */
void
close_async_with_read_ahead (GIOStream *connection, int priority,
                             GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer data)
{
  close_read_ahead (connection);
  close_connection_async (connection, priority, cancellable, callback, data);
}

} // namespace

namespace latestframe
{

void
read_tcp_ahead ()
{
  static gsize done = 0;
  if (!g_once_init_enter (&done))
    return;
  /* The class stays referenced: its functions are ours from now on. */
  GIOStreamClass *tcp
      = G_IO_STREAM_CLASS (g_type_class_ref (G_TYPE_TCP_CONNECTION));
  close_connection = tcp->close_fn;
  close_connection_async = tcp->close_async;
  tcp->get_input_stream = read_ahead_input_stream;
  tcp->close_fn = close_with_read_ahead;
  tcp->close_async = close_async_with_read_ahead;
  g_once_init_leave (&done, 1);
}

} // namespace latestframe
