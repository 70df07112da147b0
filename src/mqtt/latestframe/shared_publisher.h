/* latestframe — MQTT publishers shared by name within a process, and told
 * to whoever listens.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/mqtt_publisher.h"

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace latestframe
{
namespace mqtt
{

/* One mqtt_publisher and the parties that hear of its connection's ups and
 * downs (mqttpublish elements post them on their bus). Parties naming the
 * same connection (acquire_publisher) share one: one client, one backlog,
 * one set of figures.
 *
 * Threads: any thread may listen, stop listening and publish; listeners
 * are called on the publisher's network thread (or the acquiring one, for
 * a broker found unreachable at once), without any lock of this class
 * held, so
 * that a listener may post a bus message whose handler stops the very
 * party listening. */
class shared_publisher
{
public:
  using listener
      = std::function<void (connection_event, const std::string &reason)>;

  mqtt_publisher &publisher () { return *publisher_; }

  /* From now on `heard` is told every connection event. Returns its token
   * for stop_listening(). */
  std::uint64_t listen (listener heard);

  /* After it returns, the listener of `token` is never called again (it
   * waits for a call in progress on another thread; from within a
   * listener it does not wait for itself). */
  void stop_listening (std::uint64_t token);

  /* Use acquire_publisher(). */
  shared_publisher () = default;
  ~shared_publisher ();
  shared_publisher (const shared_publisher &) = delete;
  shared_publisher &operator= (const shared_publisher &) = delete;

private:
  friend std::shared_ptr<shared_publisher>
  acquire_publisher (const std::string &, publisher_options, listener,
                     std::uint64_t &);
  void tell (connection_event event, const std::string &reason);

  struct party
  {
    std::uint64_t token;
    std::shared_ptr<const listener> heard;
  };

  std::mutex lock_;
  std::condition_variable told_;
  std::vector<party> parties_;
  std::uint64_t next_token_ = 1;
  /* Calls to listeners in progress, on any thread. */
  int telling_ = 0;
  /* The threads in those calls: a listener that stops listening does not
   * wait for its own call. (Not a thread_local: this code lives in a
   * plugin, and LeakSanitizer of GCC 12 crashes at exit on the dynamic
   * TLS of a module dlopen()ed.) */
  std::vector<std::thread::id> telling_threads_;
  /* Declared last, destroyed first: its thread, which calls tell(), is
   * gone before the parties are. */
  std::unique_ptr<mqtt_publisher> publisher_;
};

/* The publisher named `name` in this process, made with `options` unless a
 * party made it already (it must go to the same host and port, the port
 * compared after its default is applied: else std::invalid_argument naming
 * where it goes; its other settings, credentials, TLS and availability
 * topic included, are the first party's); or, with an empty name, a new one of the caller's own.
 * `first` listens from the start (an unreachable broker may be told while
 * the publisher is made); its token is stored in `token`. Throws as
 * mqtt_publisher's constructor does. The publisher lives as long as a
 * party holds it; a name no party holds any more is made afresh. */
std::shared_ptr<shared_publisher>
acquire_publisher (const std::string &name, publisher_options options,
                   shared_publisher::listener first, std::uint64_t &token);

/* Whether `held` is held by the caller alone: no other party has it, and
 * none can take it at this moment. (Another may take it right after: a
 * hint for whether to drain on leaving, not a lock.) */
bool is_sole_holder (const std::shared_ptr<shared_publisher> &held);

} // namespace mqtt
} // namespace latestframe
