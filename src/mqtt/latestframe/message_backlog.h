/* latestframe — the outgoing messages a publisher holds while it cannot send
 * them, with a bound.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

namespace latestframe
{
namespace mqtt
{

/* One message to publish. The topic is shared: a producer that publishes
 * every message to the same topic hands the same string each time, and a
 * message costs only its payload. */
struct outgoing_message
{
  std::shared_ptr<const std::string> topic;
  std::string payload;
};

/* The backlog's figures, read together under its lock. */
struct backlog_counts
{
  /* Messages pushed since construction. */
  std::uint64_t accepted = 0;
  /* Messages taken out by send_oldest() (handed to the network). */
  std::uint64_t sent = 0;
  /* Oldest messages dropped to make room for a newer one. */
  std::uint64_t dropped = 0;
  /* Messages held now. */
  std::size_t level = 0;
  /* The most messages held at once. */
  std::size_t peak_level = 0;
};

/* A bounded FIFO of outgoing messages: the policy of a publisher whose
 * network may be away, with no network in it.
 *
 * Pushing never blocks on anything but the lock and never fails: into a
 * full backlog, the OLDEST message is dropped (and counted) to make room,
 * so that what is held is always the newest `capacity` messages: after an
 * outage the consumer gets the most recent results, never a stale run.
 * The capacity is at least one message (a publisher that keeps nothing
 * while the broker is away is a publisher with no backlog, not this
 * class).
 *
 * Invariant, at every moment the lock is free:
 *   accepted == sent + dropped + level, and level <= capacity.
 *
 * Threads: any thread may call any method; one mutex guards everything.
 * Dropped messages are destroyed after the lock is released. */
class message_backlog
{
public:
  /* Throws std::invalid_argument when `capacity` is 0. */
  explicit message_backlog (std::size_t capacity);

  message_backlog (const message_backlog &) = delete;
  message_backlog &operator= (const message_backlog &) = delete;

  /* Any thread. Appends `message`; when the backlog is full, first drops
   * the oldest message, counted in `dropped`. Returns whether one was
   * dropped. */
  bool push (outgoing_message message);

  /* Any thread (the sending thread). Offers the oldest message to `send`,
   * which runs under the backlog's lock (it must not block and must not
   * call back into the backlog) and returns whether it took the message:
   * then the message is removed and counted `sent`; otherwise it stays
   * the oldest. Returns false, without calling `send`, when empty. */
  template <typename Sender> bool send_oldest (Sender &&send);

  /* Any thread. The figures, consistent with each other. */
  backlog_counts counts () const;

  /* Any thread. Messages held now; racy: stale as soon as it returns. */
  std::size_t level_approx () const;

  /* Any thread. The capacity given at construction. */
  std::size_t capacity () const { return capacity_; }

private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<outgoing_message> messages_;
  backlog_counts counts_;
};

template <typename Sender>
bool
message_backlog::send_oldest (Sender &&send)
{
  std::lock_guard<std::mutex> lock (mutex_);
  if (messages_.empty ())
    return false;
  if (!send (static_cast<const outgoing_message &> (messages_.front ())))
    return false;
  /* The sender copied what it needed: the payload is freed here, under
   * the lock, which costs no more than the copy it follows. */
  messages_.pop_front ();
  counts_.sent++;
  counts_.level = messages_.size ();
  return true;
}

} // namespace mqtt
} // namespace latestframe
