/* read_tcp_ahead(): GIO's TCP connections reading a socket buffer at a
 * time, as latestframe-service makes them (src/capture/read_ahead.cpp).
 * Pairs of real TCP connections on 127.0.0.1, read through the client's
 * input stream the ways GIO's users read: small blocking reads
 * (GstRTSPConnection), non-blocking reads and pollable sources (GIO's
 * async reads, the service's HTTP server), cancellation and the socket's
 * timeout, and TLS on top (rtsps://). Its own process: read_tcp_ahead()
 * is process-wide. Waits are for events, bounded by deadlines that only
 * fail a test when the event never comes. */
#include "gst_ptr.h"
#include "latestframe/capture.h"

#include <gio/gio.h>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace
{

/* A throwaway self-signed certificate and its key, for these tests only
 * (openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1
 * -nodes -days 36500 -subj /CN=latestframe-test). */
const char test_certificate_and_key[]
    = "-----BEGIN CERTIFICATE-----\n"
      "MIIBjTCCATOgAwIBAgIUGlkLvfDUwIlwI7AcM4ZFMnDLv/swCgYIKoZIzj0EAwIw\n"
      "GzEZMBcGA1UEAwwQbGF0ZXN0ZnJhbWUtdGVzdDAgFw0yNjEyMDcxMzEzMDdaGA8y\n"
      "MTI2MTExMzEzMTMwN1owGzEZMBcGA1UEAwwQbGF0ZXN0ZnJhbWUtdGVzdDBZMBMG\n"
      "ByqGSM49AgEGCCqGSM49AwEHA0IABBD26pG/7pwEV7HUmMNI0KyRh6VIxg/A6/K1\n"
      "TEF+C0S4AfPGOVCb8gYtN6y91gnUj6CM0mZvy/v+FboqNm2rwWSjUzBRMB0GA1Ud\n"
      "DgQWBBR2YL0hKy4+NDaogrzLPOii7t5TfzAfBgNVHSMEGDAWgBR2YL0hKy4+NDao\n"
      "grzLPOii7t5TfzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQCh\n"
      "uD/fiVB310A1FipwzH3KsflocHb1vTBPRmYe/lw+NAIgf55pHml0W3Ak+78uzTvN\n"
      "DjM1oklfZaAabedthJ9KC0Q=\n"
      "-----END CERTIFICATE-----\n"
      "-----BEGIN PRIVATE KEY-----\n"
      "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgjxqURtbYLvcpJp+k\n"
      "/q6ZFt0tqlAdbxtTebC4saBFz2uhRANCAAQQ9uqRv+6cBFex1JjDSNCskYelSMYP\n"
      "wOvytUxBfgtEuAHzxjlQm/IGLTesvdYJ1I+gjNJmb8v7/hW6KjZtq8Fk\n"
      "-----END PRIVATE KEY-----\n";

using latestframe::detail::object_ptr;

/* Both ends of one TCP connection on 127.0.0.1, made by GIO's listener and
 * client as rtspsrc's and the service's are. */
struct tcp_pair
{
  object_ptr<GSocketConnection> client;
  object_ptr<GSocketConnection> server;

  tcp_pair ()
  {
    object_ptr<GSocketListener> listener (g_socket_listener_new ());
    object_ptr<GInetAddress> loopback (
        g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4));
    object_ptr<GSocketAddress> any_port (
        g_inet_socket_address_new (loopback.get (), 0));
    GSocketAddress *bound = nullptr;
    EXPECT_TRUE (g_socket_listener_add_address (
        listener.get (), any_port.get (), G_SOCKET_TYPE_STREAM,
        G_SOCKET_PROTOCOL_TCP, nullptr, &bound, nullptr));
    object_ptr<GSocketAddress> address (bound);
    object_ptr<GSocketClient> connector (g_socket_client_new ());
    client.reset (g_socket_client_connect (
        connector.get (), G_SOCKET_CONNECTABLE (address.get ()), nullptr,
        nullptr));
    server.reset (
        g_socket_listener_accept (listener.get (), nullptr, nullptr, nullptr));
  }

  GInputStream *input () const
  {
    return g_io_stream_get_input_stream (G_IO_STREAM (client.get ()));
  }
  GSocket *client_socket () const
  {
    return g_socket_connection_get_socket (client.get ());
  }

  /* Sends `bytes` from the server's end, and waits until the client's
   * socket has them all: a read then finds them there. */
  ::testing::AssertionResult send_and_wait (const std::string &bytes) const
  {
    gsize written = 0;
    if (!g_output_stream_write_all (
            g_io_stream_get_output_stream (G_IO_STREAM (server.get ())),
            bytes.data (), bytes.size (), &written, nullptr, nullptr))
      return ::testing::AssertionFailure () << "could not send";
    const gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
    while (g_socket_get_available_bytes (client_socket ())
           < static_cast<gssize> (bytes.size ()))
      {
        if (g_get_monotonic_time () > end)
          return ::testing::AssertionFailure ()
                 << g_socket_get_available_bytes (client_socket ()) << " of "
                 << bytes.size () << " bytes arrived";
        g_socket_condition_timed_wait (client_socket (), G_IO_IN, 10000,
                                       nullptr, nullptr);
      }
    return ::testing::AssertionSuccess ();
  }
};

std::string
read_exactly (GInputStream *input, gsize count,
              GCancellable *cancellable = nullptr)
{
  std::string out (count, '\0');
  gsize got = 0;
  g_input_stream_read_all (input, out.data (), count, &got, cancellable,
                           nullptr);
  out.resize (got);
  return out;
}

std::string
random_bytes (gsize count, unsigned seed)
{
  std::mt19937 random (seed);
  std::string out (count, '\0');
  for (char &byte : out)
    byte = static_cast<char> (random ());
  return out;
}

/* Reads of what rtspsrc reads (the '$', channel and length, a packet) take
 * everything the socket holds at the first: one recv() for many reads. */
TEST (ReadAhead, SmallReadsTakeWhatTheSocketHoldsAtOnce)
{
  tcp_pair pair;
  const std::string packets ("$\0\0\5hello$\0\0\3you", 16);
  ASSERT_TRUE (pair.send_and_wait (packets));
  EXPECT_EQ (read_exactly (pair.input (), 1), "$");
  EXPECT_EQ (g_socket_get_available_bytes (pair.client_socket ()), 0)
      << "the first read left bytes in the socket";
  std::string read_back = "$";
  for (gsize size : { 3, 5, 1, 3, 3 })
    read_back += read_exactly (pair.input (), size);
  EXPECT_EQ (read_back, packets);
}

/* Invariant: the bytes come out in order and whole, whatever the sizes of
 * the reads, small or larger than the buffer, and of the sends. */
TEST (ReadAhead, ReadsOfAnySizeGiveTheBytesInOrder)
{
  tcp_pair pair;
  const std::string sent = random_bytes (400 * 1024, 1);
  std::thread sender ([&] {
    GOutputStream *output
        = g_io_stream_get_output_stream (G_IO_STREAM (pair.server.get ()));
    std::mt19937 random (2);
    for (gsize at = 0; at < sent.size ();)
      {
        const gsize size
            = std::min<gsize> (1 + random () % 30000, sent.size () - at);
        g_output_stream_write_all (output, sent.data () + at, size, nullptr,
                                   nullptr, nullptr);
        at += size;
      }
  });
  std::mt19937 random (3);
  std::string received;
  while (received.size () < sent.size ())
    {
      /* Mostly small reads, some larger than the 16 KiB buffer. */
      const gsize size = random () % 4 ? 1 + random () % 1500
                                       : 16 * 1024 + random () % 20000;
      std::string chunk (size, '\0');
      const gssize got = g_input_stream_read (pair.input (), chunk.data (),
                                              size, nullptr, nullptr);
      ASSERT_GT (got, 0) << "after " << received.size () << " bytes";
      received.append (chunk, 0, static_cast<gsize> (got));
    }
  sender.join ();
  EXPECT_TRUE (received == sent) << "the bytes differ";
}

/* Non-blocking reads and is_readable count the buffered bytes: readable
 * while some are there though the socket is empty, would-block only when
 * both are empty. */
TEST (ReadAhead, NonBlockingReadsSeeTheBufferedBytes)
{
  tcp_pair pair;
  GPollableInputStream *input = G_POLLABLE_INPUT_STREAM (pair.input ());
  char byte;
  GError *error = nullptr;
  EXPECT_EQ (g_pollable_input_stream_read_nonblocking (input, &byte, 1, nullptr,
                                                       &error),
             -1);
  EXPECT_TRUE (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK));
  g_clear_error (&error);
  EXPECT_FALSE (g_pollable_input_stream_is_readable (input));

  ASSERT_TRUE (pair.send_and_wait ("0123456789"));
  EXPECT_EQ (g_pollable_input_stream_read_nonblocking (input, &byte, 1, nullptr,
                                                       nullptr),
             1);
  EXPECT_EQ (byte, '0');
  EXPECT_EQ (g_socket_get_available_bytes (pair.client_socket ()), 0);
  EXPECT_TRUE (g_pollable_input_stream_is_readable (input));
  char rest[16];
  EXPECT_EQ (g_pollable_input_stream_read_nonblocking (input, rest, sizeof rest,
                                                       nullptr, nullptr),
             9);
  EXPECT_EQ (std::string (rest, 9), "123456789");
  EXPECT_FALSE (g_pollable_input_stream_is_readable (input));
}

gboolean
count_dispatch (GObject *, gpointer count)
{
  ++*static_cast<int *> (count);
  return G_SOURCE_CONTINUE;
}

/* A pollable source wakes its reader for bytes left in the buffer, though
 * the socket has none: GIO's async reads (the service's HTTP server) wait
 * on it. */
TEST (ReadAhead, PollableSourceFiresForBufferedBytes)
{
  tcp_pair pair;
  ASSERT_TRUE (pair.send_and_wait ("GET / HTTP/1.0\r\n\r\n"));
  EXPECT_EQ (read_exactly (pair.input (), 4), "GET ");
  ASSERT_EQ (g_socket_get_available_bytes (pair.client_socket ()), 0);

  GMainContext *context = g_main_context_new ();
  GSource *source = g_pollable_input_stream_create_source (
      G_POLLABLE_INPUT_STREAM (pair.input ()), nullptr);
  int dispatched = 0;
  g_source_set_callback (source, G_SOURCE_FUNC (count_dispatch), &dispatched,
                         nullptr);
  g_source_attach (source, context);
  for (int i = 0; i < 100 && dispatched == 0; i++)
    g_main_context_iteration (context, FALSE);
  EXPECT_GT (dispatched, 0) << "nothing woke the reader of buffered bytes";
  g_source_destroy (source);
  g_source_unref (source);
  g_main_context_unref (context);
  EXPECT_EQ (read_exactly (pair.input (), 14), "/ HTTP/1.0\r\n\r\n");
}

void
note_read (GObject *stream, GAsyncResult *result, gpointer read)
{
  *static_cast<gssize *> (read)
      = g_input_stream_read_finish (G_INPUT_STREAM (stream), result, nullptr);
}

/* GIO's async reads (the service's HTTP server reads requests so) wait on
 * the stream's pollable source: for the socket while nothing is there,
 * for the buffer after a read left bytes in it. */
TEST (ReadAhead, AsyncReadsWaitForBytesAndTakeBufferedOnes)
{
  tcp_pair pair;
  GMainContext *context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  char chunk[4];
  gssize read = 0;
  g_input_stream_read_async (pair.input (), chunk, 2, G_PRIORITY_DEFAULT,
                             nullptr, note_read, &read);
  g_main_context_iteration (context, FALSE);
  EXPECT_EQ (read, 0) << "an async read ended with nothing sent";
  ASSERT_TRUE (pair.send_and_wait ("abcd"));
  while (read == 0)
    g_main_context_iteration (context, TRUE);
  EXPECT_EQ (read, 2);
  EXPECT_EQ (std::string (chunk, 2), "ab");
  ASSERT_EQ (g_socket_get_available_bytes (pair.client_socket ()), 0);
  read = 0;
  g_input_stream_read_async (pair.input (), chunk, sizeof chunk,
                             G_PRIORITY_DEFAULT, nullptr, note_read, &read);
  while (read == 0)
    g_main_context_iteration (context, TRUE);
  EXPECT_EQ (read, 2);
  EXPECT_EQ (std::string (chunk, 2), "cd");
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
}

void
note_closed (GObject *connection, GAsyncResult *result, gpointer closed)
{
  g_io_stream_close_finish (G_IO_STREAM (connection), result, nullptr);
  *static_cast<bool *> (closed) = true;
}

/* Closing the connection closes the stream and lets go of what it holds,
 * whichever way it closes: at once, or gracefully (waiting for the peer's
 * end), which GTcpConnection finishes past its class's close. */
TEST (ReadAhead, ClosingTheConnectionClosesTheStream)
{
  tcp_pair pair;
  ASSERT_TRUE (pair.send_and_wait ("left"));
  EXPECT_EQ (read_exactly (pair.input (), 1), "l");
  g_io_stream_close (G_IO_STREAM (pair.client.get ()), nullptr, nullptr);
  EXPECT_TRUE (g_input_stream_is_closed (pair.input ()));

  tcp_pair graceful;
  ASSERT_TRUE (graceful.send_and_wait ("left"));
  EXPECT_EQ (read_exactly (graceful.input (), 1), "l");
  g_tcp_connection_set_graceful_disconnect (
      G_TCP_CONNECTION (graceful.client.get ()), TRUE);
  g_io_stream_close (G_IO_STREAM (graceful.server.get ()), nullptr, nullptr);
  GMainContext *context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  bool closed = false;
  g_io_stream_close_async (G_IO_STREAM (graceful.client.get ()),
                           G_PRIORITY_DEFAULT, nullptr, note_closed, &closed);
  while (!closed)
    g_main_context_iteration (context, TRUE);
  EXPECT_TRUE (g_input_stream_is_closed (graceful.input ()));
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
}

/* A blocking read waiting for bytes ends when its cancellable is
 * cancelled, and at the socket's timeout when none comes: rtspsrc stops
 * and sends its keep-alives by these. */
TEST (ReadAhead, BlockingReadsEndOnCancelAndOnTheSocketsTimeout)
{
  tcp_pair pair;
  GCancellable *cancellable = g_cancellable_new ();
  const std::string reader_state
      = "/proc/self/task/" + std::to_string (gettid ()) + "/stat";
  std::thread canceller ([&] {
    /* Cancels once the reader sleeps: in its wait for bytes. */
    for (;;)
      {
        gchar *stat = nullptr;
        g_file_get_contents (reader_state.c_str (), &stat, nullptr, nullptr);
        const char *state = stat ? strrchr (stat, ')') : nullptr;
        const bool sleeping = state && state[1] == ' ' && state[2] == 'S';
        g_free (stat);
        if (sleeping)
          break;
        std::this_thread::yield ();
      }
    g_cancellable_cancel (cancellable);
  });
  char byte;
  GError *error = nullptr;
  EXPECT_EQ (g_input_stream_read (pair.input (), &byte, 1, cancellable, &error),
             -1);
  EXPECT_TRUE (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      << (error ? error->message : "no error");
  g_clear_error (&error);
  canceller.join ();
  g_object_unref (cancellable);

  g_socket_set_timeout (pair.client_socket (), 1);
  EXPECT_EQ (g_input_stream_read (pair.input (), &byte, 1, nullptr, &error),
             -1);
  EXPECT_TRUE (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
      << (error ? error->message : "no error");
  g_clear_error (&error);
  g_socket_set_timeout (pair.client_socket (), 0);

  ASSERT_TRUE (pair.send_and_wait ("x"));
  EXPECT_EQ (read_exactly (pair.input (), 1), "x");
}

/* The cancellable's wakeup fd stays open between the reads that use it:
 * GLib makes and closes one at each wait when nobody holds it. */
TEST (ReadAhead, ReadsHoldTheCancellablesWakeupFd)
{
  tcp_pair pair;
  GCancellable *cancellable = g_cancellable_new ();
  ASSERT_TRUE (pair.send_and_wait ("ab"));
  EXPECT_EQ (read_exactly (pair.input (), 1, cancellable), "a");
  GPollFD poll_fd;
  ASSERT_TRUE (g_cancellable_make_pollfd (cancellable, &poll_fd));
  g_cancellable_release_fd (cancellable);
  EXPECT_NE (fcntl (poll_fd.fd, F_GETFD), -1)
      << "the wakeup fd was closed when its last other user let go";
  EXPECT_EQ (read_exactly (pair.input (), 1), "b");
  g_io_stream_close (G_IO_STREAM (pair.client.get ()), nullptr, nullptr);
  EXPECT_TRUE (g_input_stream_is_closed (pair.input ()));
  g_object_unref (cancellable);
}

/* TLS on top (rtsps://): GIO's TLS reads the connection's input stream
 * with blocking, non-blocking and pollable reads. */
TEST (ReadAhead, TlsRunsOverIt)
{
#ifdef __SANITIZE_ADDRESS__
  /* LeakSanitizer's tracer crashes at exit once glib-networking's module
   * is loaded: it reads a bogus dynamic TLS range for it
   * (0x5000011a0-0x15000022a2, LSAN_OPTIONS=verbosity=1:log_threads=1).
   * The plain build runs this test. */
  GTEST_SKIP () << "LeakSanitizer cannot scan glib-networking's TLS";
#endif
  if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    GTEST_SKIP () << "no TLS backend (glib-networking)";
  tcp_pair pair;
  GError *error = nullptr;
  object_ptr<GTlsCertificate> certificate (
      g_tls_certificate_new_from_pem (test_certificate_and_key, -1, &error));
  ASSERT_TRUE (certificate) << error->message;
  object_ptr<GIOStream> server (g_tls_server_connection_new (
      G_IO_STREAM (pair.server.get ()), certificate.get (), &error));
  ASSERT_TRUE (server) << error->message;
  object_ptr<GIOStream> client (g_tls_client_connection_new (
      G_IO_STREAM (pair.client.get ()), nullptr, &error));
  ASSERT_TRUE (client) << error->message;
  /* The test's own certificate, which nothing signed. */
  g_signal_connect (client.get (), "accept-certificate",
                    G_CALLBACK (+[] (GTlsConnection *, GTlsCertificate *,
                                     GTlsCertificateFlags,
                                     gpointer) { return gboolean (TRUE); }),
                    nullptr);

  const std::string request = random_bytes (100 * 1024, 4);
  const std::string reply = random_bytes (150 * 1024, 5);
  std::string server_read;
  std::thread server_side ([&] {
    if (!g_tls_connection_handshake (G_TLS_CONNECTION (server.get ()), nullptr,
                                     nullptr))
      {
        /* The client's handshake or read, waiting on it, ends too. */
        g_io_stream_close (G_IO_STREAM (pair.server.get ()), nullptr, nullptr);
        return;
      }
    server_read = read_exactly (g_io_stream_get_input_stream (server.get ()),
                                request.size ());
    g_output_stream_write_all (g_io_stream_get_output_stream (server.get ()),
                               reply.data (), reply.size (), nullptr, nullptr,
                               nullptr);
  });
  std::string client_read;
  if (g_tls_connection_handshake (G_TLS_CONNECTION (client.get ()), nullptr,
                                  &error))
    {
      g_output_stream_write_all (g_io_stream_get_output_stream (client.get ()),
                                 request.data (), request.size (), nullptr,
                                 nullptr, nullptr);
      client_read = read_exactly (g_io_stream_get_input_stream (client.get ()),
                                  reply.size ());
    }
  else
    {
      ADD_FAILURE () << "client handshake: " << error->message;
      g_clear_error (&error);
      /* The server's handshake or read, waiting on it, ends too. */
      g_io_stream_close (G_IO_STREAM (pair.client.get ()), nullptr, nullptr);
    }
  server_side.join ();
  EXPECT_TRUE (server_read == request) << "the request differs";
  EXPECT_TRUE (client_read == reply) << "the reply differs";
}

} // namespace

int
main (int argc, char **argv)
{
  /* A critical is a failure here, as in gst-check. */
  g_log_set_always_fatal (static_cast<GLogLevelFlags> (
      G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING));
  latestframe::read_tcp_ahead ();
  ::testing::InitGoogleTest (&argc, argv);
  return RUN_ALL_TESTS ();
}
