/* latestframe-testcam run by a test: a real RTSP server on 127.0.0.1 in its
 * own process, on a free port; stopped (or killed) and restarted on the
 * same port; stopped at the end. Shared by the integration tests and the
 * fault matrix (pipelines/faults): no test framework in here. */
#pragma once

#include "common/percentile.h"

#include <glib.h>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

namespace latestframe
{

class testcam
{
public:
  /* Starts the camera with `args` (see latestframe-testcam --help); with
   * `mounts` > 1 it serves that many streams (--mounts=N is added). */
  explicit testcam (std::vector<std::string> args, int mounts = 1)
      : args_ (std::move (args)), mounts_ (mounts)
  {
    if (mounts_ > 1)
      args_.push_back ("--mounts=" + std::to_string (mounts_));
    start ("0");
  }
  testcam (const testcam &) = delete;
  testcam &operator= (const testcam &) = delete;
  ~testcam () { stop (); }

  /* The URL it serves, the first mount's with --mounts (empty if it did
   * not start). */
  const std::string &url () const { return url_; }

  /* Every mount's URL, the first first (fewer if it did not start). */
  const std::vector<std::string> &urls () const { return urls_; }

  /* Ends the process with `signal` (SIGKILL: as a crash or power loss
   * would) and waits for it. */
  void stop (int signal = SIGTERM)
  {
    if (!running_)
      return;
    kill (pid_, signal);
    int status;
    waitpid (pid_, &status, 0);
    g_spawn_close_pid (pid_);
    running_ = false;
  }

  /* Starts it again on the port it had; true when it serves the same URL. */
  bool restart ()
  {
    stop ();
    const std::string before = url_;
    const size_t colon = before.rfind (':');
    const size_t slash = before.find ('/', colon);
    if (colon == std::string::npos || slash == std::string::npos)
      return false;
    start (before.substr (colon + 1, slash - colon - 1));
    return url_ == before;
  }

private:
  void start (const std::string &port)
  {
    url_.clear ();
    const char *program = std::getenv ("LATESTFRAME_TESTCAM");
    std::vector<std::string> words{ program ? program : "latestframe-testcam",
                                    "--port=" + port };
    words.insert (words.end (), args_.begin (), args_.end ());
    std::vector<gchar *> argv;
    for (const std::string &word : words)
      argv.push_back (const_cast<gchar *> (word.c_str ()));
    argv.push_back (nullptr);
    GError *error = nullptr;
    gint out = -1;
    running_ = g_spawn_async_with_pipes (NULL, argv.data (), NULL,
                                         G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                         &pid_, NULL, &out, NULL, &error);
    if (!running_)
      {
        /* The caller sees an empty url(). */
        g_printerr ("cannot start %s: %s\n", words[0].c_str (),
                    error ? error->message : "");
        g_clear_error (&error);
        return;
      }
    /* Its first lines are the URLs it serves, one per mount: all are read
     * before the pipe closes, or the camera would write to a closed one. */
    urls_.clear ();
    GIOChannel *channel = g_io_channel_unix_new (out);
    g_io_channel_set_close_on_unref (channel, TRUE);
    for (int mount = 0; mount < mounts_; mount++)
      {
        gchar *line = nullptr;
        g_io_channel_read_line (channel, &line, NULL, NULL, NULL);
        if (!line)
          break;
        urls_.push_back (g_strstrip (line));
        g_free (line);
      }
    if (!urls_.empty ())
      url_ = urls_.front ();
    g_io_channel_unref (channel);
  }

  std::vector<std::string> args_;
  int mounts_ = 1;
  std::vector<std::string> urls_;
  bool running_ = false;
  GPid pid_ = 0;
  std::string url_;
};

} // namespace latestframe
