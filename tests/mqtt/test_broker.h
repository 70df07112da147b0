/* A real mosquitto broker for tests, on 127.0.0.1 and a free port, with a
 * config of its own in a temporary folder; stopped and started again on
 * the same port, killed when the object goes.
 *
 * The program is $LATESTFRAME_MOSQUITTO, else /usr/sbin/mosquitto. */
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

extern char **environ;

namespace latestframe_test
{

class test_broker
{
public:
  static std::string program ()
  {
    const char *configured = std::getenv ("LATESTFRAME_MOSQUITTO");
    return configured && *configured ? configured : "/usr/sbin/mosquitto";
  }

  static bool available () { return access (program ().c_str (), X_OK) == 0; }

  /* A TCP port nothing listens on now (the kernel's pick). */
  static int free_port ()
  {
    const int fd = socket (AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (fd < 0
        || bind (fd, reinterpret_cast<sockaddr *> (&address), length) != 0
        || getsockname (fd, reinterpret_cast<sockaddr *> (&address), &length)
               != 0)
      throw std::runtime_error ("no free port");
    close (fd);
    return ntohs (address.sin_port);
  }

  test_broker () : port_ (free_port ())
  {
    char pattern[] = "/tmp/latestframe-mqtt-XXXXXX";
    if (!mkdtemp (pattern))
      throw std::runtime_error ("no temporary folder");
    folder_ = pattern;
    std::ofstream config (folder_ / "mosquitto.conf");
    config << "listener " << port_ << " 127.0.0.1\n"
           << "allow_anonymous true\n"
           << "persistence false\n"
           << "log_dest stderr\n";
  }

  ~test_broker ()
  {
    stop ();
    std::error_code ignored;
    std::filesystem::remove_all (folder_, ignored);
  }

  test_broker (const test_broker &) = delete;
  test_broker &operator= (const test_broker &) = delete;

  int port () const { return port_; }

  /* Starts the broker and returns once it accepts connections; throws if
   * it does not within `deadline` (a bound for failing only). */
  void start (std::chrono::seconds deadline = std::chrono::seconds (30))
  {
    const std::string path = program ();
    const std::string config = (folder_ / "mosquitto.conf").string ();
    char *argv[]
        = { const_cast<char *> (path.c_str ()), const_cast<char *> ("-c"),
            const_cast<char *> (config.c_str ()), nullptr };
    if (posix_spawn (&pid_, path.c_str (), nullptr, nullptr, argv, environ)
        != 0)
      throw std::runtime_error ("could not start " + path);
    const auto give_up = std::chrono::steady_clock::now () + deadline;
    while (!accepts_connections ())
      {
        int status;
        if (waitpid (pid_, &status, WNOHANG) == pid_)
          {
            pid_ = -1;
            throw std::runtime_error ("mosquitto exited at start");
          }
        if (std::chrono::steady_clock::now () > give_up)
          throw std::runtime_error ("mosquitto does not accept connections");
        std::this_thread::sleep_for (std::chrono::milliseconds (20));
      }
  }

  /* Kills the broker (SIGKILL: it vanishes as a crashed host would, with
   * no goodbye to its clients) and reaps it. */
  void stop ()
  {
    if (pid_ <= 0)
      return;
    kill (pid_, SIGKILL);
    int status;
    waitpid (pid_, &status, 0);
    pid_ = -1;
  }

private:
  bool accepts_connections () const
  {
    const int fd = socket (AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    address.sin_port = htons (static_cast<uint16_t> (port_));
    const bool ok
        = connect (fd, reinterpret_cast<sockaddr *> (&address), sizeof address)
          == 0;
    close (fd);
    return ok;
  }

  int port_;
  std::filesystem::path folder_;
  pid_t pid_ = -1;
};

} // namespace latestframe_test
