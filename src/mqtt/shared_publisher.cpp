/* latestframe — MQTT publishers shared by name within a process.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/shared_publisher.h"

#include <algorithm>
#include <map>
#include <thread>
#include <stdexcept>

namespace latestframe
{
namespace mqtt
{

namespace
{

/* The named publishers of the process. Weak: a publisher lives as long as
 * a party holds it. */
std::mutex registry_lock;
std::map<std::string, std::weak_ptr<shared_publisher>> &
registry ()
{
  static std::map<std::string, std::weak_ptr<shared_publisher>> named;
  return named;
}

} // namespace

shared_publisher::~shared_publisher ()
{
  /* Stops the publisher's network thread while the parties still exist. */
  publisher_.reset ();
}

std::uint64_t
shared_publisher::listen (listener heard)
{
  std::lock_guard<std::mutex> guard (lock_);
  const std::uint64_t token = next_token_++;
  parties_.push_back (
      { token, std::make_shared<const listener> (std::move (heard)) });
  return token;
}

void
shared_publisher::stop_listening (std::uint64_t token)
{
  std::unique_lock<std::mutex> guard (lock_);
  for (auto it = parties_.begin (); it != parties_.end (); ++it)
    if (it->token == token)
      {
        parties_.erase (it);
        break;
      }
  /* From within a listener: the call in progress is this one. */
  if (std::find (telling_threads_.begin (), telling_threads_.end (),
                 std::this_thread::get_id ())
      != telling_threads_.end ())
    return;
  told_.wait (guard, [this] { return telling_ == 0; });
}

void
shared_publisher::tell (connection_event event, const std::string &reason)
{
  std::vector<std::shared_ptr<const listener>> hearing;
  {
    std::lock_guard<std::mutex> guard (lock_);
    for (const party &one : parties_)
      hearing.push_back (one.heard);
    telling_++;
    telling_threads_.push_back (std::this_thread::get_id ());
  }
  for (const std::shared_ptr<const listener> &heard : hearing)
    {
      /* One that stopped listening meanwhile is not told. */
      bool still = false;
      {
        std::lock_guard<std::mutex> guard (lock_);
        for (const party &one : parties_)
          still = still || one.heard == heard;
      }
      if (still)
        (*heard) (event, reason);
    }
  std::lock_guard<std::mutex> guard (lock_);
  telling_threads_.erase (std::find (telling_threads_.begin (),
                                     telling_threads_.end (),
                                     std::this_thread::get_id ()));
  telling_--;
  told_.notify_all ();
}

std::shared_ptr<shared_publisher>
acquire_publisher (const std::string &name, publisher_options options,
                   shared_publisher::listener first, std::uint64_t &token)
{
  std::unique_lock<std::mutex> guard (registry_lock, std::defer_lock);
  if (!name.empty ())
    {
      guard.lock ();
      if (std::shared_ptr<shared_publisher> existing = registry ()[name].lock ())
        {
          const publisher_options &made = existing->publisher ().options ();
          const int port = mqtt_publisher::effective_port (made);
          if (made.host != options.host
              || port != mqtt_publisher::effective_port (options))
            throw std::invalid_argument (
                "connection \"" + name + "\" already goes to " + made.host
                + ":" + std::to_string (port));
          token = existing->listen (std::move (first));
          return existing;
        }
    }
  auto made = std::make_shared<shared_publisher> ();
  token = made->listen (std::move (first));
  shared_publisher *told = made.get ();
  options.on_connection
      = [told] (connection_event event, const std::string &why) {
          told->tell (event, why);
        };
  made->publisher_ = std::make_unique<mqtt_publisher> (std::move (options));
  if (!name.empty ())
    registry ()[name] = made;
  return made;
}

bool
is_sole_holder (const std::shared_ptr<shared_publisher> &held)
{
  std::lock_guard<std::mutex> guard (registry_lock);
  return held.use_count () == 1;
}

} // namespace mqtt
} // namespace latestframe
