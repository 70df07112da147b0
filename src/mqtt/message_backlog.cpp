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
        dropped = drop_one_locked ();
        dropped_one = true;
      }
    const arrival number = next_arrival_++;
    if (message.kind == message_kind::record)
      records_.push_back (number);
    else
      {
        const auto source
            = detections_.try_emplace (message.source).first;
        unrank_locked (source);
        source->second.push_back (number);
        rank_locked (source);
      }
    messages_.emplace_hint (messages_.end (), number, std::move (message));
    counts_.accepted++;
    counts_.level = messages_.size ();
    counts_.peak_level = std::max (counts_.peak_level, counts_.level);
  }
  return dropped_one;
}

void
message_backlog::unrank_locked (held_detections::iterator source)
{
  if (!source->second.empty ())
    ranks_.erase (
        detection_rank{ source->second.size (), source->second.front (),
                        source });
}

void
message_backlog::rank_locked (held_detections::iterator source)
{
  if (source->second.empty ())
    detections_.erase (source);
  else
    ranks_.insert (detection_rank{ source->second.size (),
                                   source->second.front (), source });
}

void
message_backlog::unindex_locked (const outgoing_message &message)
{
  /* Sending takes the oldest of all, and the policy drops the oldest of a
   * source or of the records: either way the front of its index. */
  if (message.kind == message_kind::record)
    {
      records_.pop_front ();
      return;
    }
  const auto source = detections_.find (message.source);
  unrank_locked (source);
  source->second.pop_front ();
  rank_locked (source);
}

outgoing_message
message_backlog::drop_one_locked ()
{
  /* A detection while any is held, of the source holding the most; else
   * the oldest record. */
  const arrival victim = ranks_.empty () ? records_.front ()
                                         : ranks_.begin ()->oldest;
  const auto held = messages_.find (victim);
  outgoing_message dropped = std::move (held->second);
  messages_.erase (held);
  unindex_locked (dropped);
  counts_.dropped++;
  counts_.dropped_by_source[dropped.source]++;
  return dropped;
}

void
message_backlog::remove_oldest_locked ()
{
  const auto oldest = messages_.begin ();
  unindex_locked (oldest->second);
  messages_.erase (oldest);
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
