/* A real mosquitto broker for tests, on 127.0.0.1 and a free port, with a
 * config of its own in a temporary folder; stopped and started again on
 * the same port, killed when the object goes. Optionally as a production
 * broker is set up: a TLS listener, a password file and no anonymous
 * clients, a client certificate required (broker_settings), with the
 * certificates test_pki makes with `openssl`.
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
#include <utility>
#include <vector>

extern char **environ;

namespace latestframe_test
{

/* A temporary folder readable by all (mosquitto, started as root, drops
 * to its own user before it reads its files), removed when it goes. */
class test_folder
{
public:
  test_folder ()
  {
    char pattern[] = "/tmp/latestframe-mqtt-XXXXXX";
    if (!mkdtemp (pattern))
      throw std::runtime_error ("no temporary folder");
    path_ = pattern;
    std::filesystem::permissions (path_, std::filesystem::perms (0755));
  }
  ~test_folder ()
  {
    std::error_code ignored;
    std::filesystem::remove_all (path_, ignored);
  }
  test_folder (const test_folder &) = delete;
  test_folder &operator= (const test_folder &) = delete;

  const std::filesystem::path &path () const { return path_; }

  /* Runs `command` (sh) in the folder, then makes every file in it
   * readable by all; throws naming the command when it fails. */
  void run (const std::string &command) const
  {
    const std::string line
        = "cd '" + path_.string () + "' && (" + command + ") >/dev/null 2>&1";
    if (std::system (line.c_str ()) != 0)
      throw std::runtime_error ("test setup failed: " + command);
    for (const auto &entry : std::filesystem::directory_iterator (path_))
      std::filesystem::permissions (entry.path (),
                                    std::filesystem::perms (0644));
  }

private:
  std::filesystem::path path_;
};

/* A test certificate authority and what it signs, made with `openssl` (EC
 * keys: quick): ca.pem; server.pem/server.key for 127.0.0.1 and
 * localhost; elsewhere.pem/elsewhere.key, a server certificate of the
 * same CA for another host name only; client.pem/client.key; and
 * other-ca.pem, a CA that signed none of them. */
class test_pki
{
public:
  static bool available ()
  {
    return std::system ("openssl version >/dev/null 2>&1") == 0;
  }

  test_pki ()
  {
    const std::string key
        = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    folder_.run ("openssl req -x509 " + key
                 + " -keyout ca.key -out ca.pem -days 2 "
                   "-subj /CN=latestframe-test-ca");
    folder_.run ("openssl req -x509 " + key
                 + " -keyout other-ca.key -out other-ca.pem -days 2 "
                   "-subj /CN=latestframe-other-ca");
    sign ("server", "/CN=127.0.0.1",
          "subjectAltName=IP:127.0.0.1,DNS:localhost");
    sign ("elsewhere", "/CN=elsewhere.example",
          "subjectAltName=DNS:elsewhere.example");
    sign ("client", "/CN=latestframe-client",
          "extendedKeyUsage=clientAuth");
  }

  std::string file (const std::string &name) const
  {
    return (folder_.path () / name).string ();
  }

private:
  void sign (const std::string &name, const std::string &subject,
             const std::string &extension)
  {
    folder_.run ("printf '%s\\n' '" + extension + "' > " + name
                 + ".ext && openssl req -newkey ec -pkeyopt "
                   "ec_paramgen_curve:prime256v1 -nodes -keyout "
                 + name + ".key -out " + name + ".csr -subj " + subject
                 + " && openssl x509 -req -in " + name
                 + ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
                   "-out "
                 + name + ".pem -extfile " + name + ".ext");
  }

  test_folder folder_;
};

/* How a test_broker is set up; by default, plain TCP and anonymous. */
struct broker_settings
{
  /* TLS on the listener with the server certificate and key of this
   * name in `pki` (e.g. "server", "elsewhere"); "" = plain TCP. */
  const test_pki *pki = nullptr;
  std::string server_certificate;
  /* The listener asks for a client certificate of the test CA. */
  bool require_certificate = false;
  /* With users: a password file (mosquitto_passwd) and no anonymous
   * clients. */
  std::vector<std::pair<std::string, std::string>> users;
  /* The port to listen on; 0 = a free one. */
  int port = 0;
};

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

  explicit test_broker (const broker_settings &settings = {})
      : port_ (settings.port != 0 ? settings.port : free_port ())
  {
    if (!settings.users.empty ())
      {
        std::string command;
        for (const auto &[user, password] : settings.users)
          command += (command.empty () ? "mosquitto_passwd -b -c passwd '"
                                       : " && mosquitto_passwd -b passwd '")
                     + user + "' '" + password + "'";
        folder_.run (command);
      }
    std::ofstream config (folder_.path () / "mosquitto.conf");
    config << "listener " << port_ << " 127.0.0.1\n"
           << "persistence false\n"
           << "log_dest stderr\n";
    if (settings.users.empty ())
      config << "allow_anonymous true\n";
    else
      config << "allow_anonymous false\n"
             << "password_file " << (folder_.path () / "passwd").string ()
             << "\n";
    if (settings.pki)
      {
        const test_pki &pki = *settings.pki;
        config << "cafile " << pki.file ("ca.pem") << "\n"
               << "certfile " << pki.file (settings.server_certificate + ".pem")
               << "\n"
               << "keyfile " << pki.file (settings.server_certificate + ".key")
               << "\n"
               << "require_certificate "
               << (settings.require_certificate ? "true" : "false") << "\n";
      }
  }

  ~test_broker () { stop (); }

  test_broker (const test_broker &) = delete;
  test_broker &operator= (const test_broker &) = delete;

  int port () const { return port_; }

  /* Starts the broker and returns once it accepts connections; throws if
   * it does not within `deadline` (a bound for failing only). */
  void start (std::chrono::seconds deadline = std::chrono::seconds (30))
  {
    const std::string path = program ();
    const std::string config = (folder_.path () / "mosquitto.conf").string ();
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

  /* Freezes the broker (SIGSTOP): the kernel still accepts connections
   * for it, but it answers nothing until resume(). */
  void pause ()
  {
    if (pid_ > 0)
      kill (pid_, SIGSTOP);
  }

  void resume ()
  {
    if (pid_ > 0)
      kill (pid_, SIGCONT);
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

  test_folder folder_;
  int port_;
  pid_t pid_ = -1;
};

} // namespace latestframe_test
