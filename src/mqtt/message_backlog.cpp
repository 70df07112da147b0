/* latestframe — the bounded backlog of outgoing messages.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/message_backlog.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace latestframe
{
namespace mqtt
{

message_backlog::message_backlog (std::size_t capacity) : capacity_ (capacity)
{
  if (capacity == 0)
    throw std::invalid_argument (
        "a message backlog holds at least one message (capacity 0)");
}

bool
message_backlog::push (outgoing_message message)
{
  /* Destroyed after the lock is released: freeing a large payload is not
   * done while another thread waits for the lock. */
  outgoing_message dropped;
  bool dropped_one = false;
  {
    std::lock_guard<std::mutex> lock (mutex_);
    if (messages_.size () >= capacity_)
      {
        dropped = std::move (messages_.front ());
        messages_.pop_front ();
        counts_.dropped++;
        dropped_one = true;
      }
    messages_.push_back (std::move (message));
    counts_.accepted++;
    counts_.level = messages_.size ();
    counts_.peak_level = std::max (counts_.peak_level, counts_.level);
  }
  return dropped_one;
}

backlog_counts
message_backlog::counts () const
{
  std::lock_guard<std::mutex> lock (mutex_);
  return counts_;
}

std::size_t
message_backlog::level_approx () const
{
  std::lock_guard<std::mutex> lock (mutex_);
  return messages_.size ();
}

} // namespace mqtt
} // namespace latestframe
