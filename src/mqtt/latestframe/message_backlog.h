/* latestframe — the outgoing messages a publisher holds while it cannot send
 * them, with a bound.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace latestframe
{
namespace mqtt
{

/* What a message is, for choosing which one a full backlog gives up. */
enum class message_kind
{
  /* One frame's results: the next frame's supersede it. */
  detection,
  /* A health record or status: rare, and each one says something the
   * detections do not. */
  record,
};

/* One message to publish. The topic is shared: a producer that publishes
 * every message to the same topic hands the same string each time, and a
 * message costs only its payload. */
struct outgoing_message
{
  std::shared_ptr<const std::string> topic;
  std::string payload;
  /* The camera it is about ("" allowed: one source like any other). */
  std::string source;
  message_kind kind = message_kind::detection;
};

/* The backlog's figures, read together under its lock. */
struct backlog_counts
{
  /* Messages pushed since construction. */
  std::uint64_t accepted = 0;
  /* Messages taken out by send_oldest() (handed to the network). */
  std::uint64_t sent = 0;
  /* Messages dropped to make room for a newer one. */
  std::uint64_t dropped = 0;
  /* `dropped`, by the source of the dropped message (sources that never
   * lost one are absent). */
  std::map<std::string, std::uint64_t> dropped_by_source;
  /* Messages held now. */
  std::size_t level = 0;
  /* The most messages held at once. */
  std::size_t peak_level = 0;
};

/* A bounded FIFO of outgoing messages: the policy of a publisher whose
 * network may be away, with no network in it.
 *
 * Pushing never blocks on anything but the lock and never fails: into a
 * full backlog, one held message is dropped (and counted, by source) to
 * make room, chosen fairly between the cameras sharing the backlog:
 *  - a record is never pushed out while a detection is held;
 *  - among detections, the oldest detection of the source that holds the
 *    most detections goes (ties: the source whose oldest is oldest), so a
 *    chatty camera loses its own oldest results and quiet cameras keep
 *    theirs; with one source, that is simply the oldest message;
 *  - only when nothing but records is held does the oldest record go.
 * After an outage the consumer gets each camera's most recent results,
 * never a stale run. Sending stays FIFO over all messages. The capacity is
 * at least one message (a publisher that keeps nothing while the broker is
 * away is a publisher with no backlog, not this class).
 *
 * Cost: push and send are O(log n) (n held messages, s sources), with no
 * scan of the held messages.
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
   * the message the policy above chooses (possibly of another source),
   * counted in `dropped` and `dropped_by_source`. Returns whether one was
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
  using arrival = std::uint64_t;
  using held_detections = std::map<std::string, std::deque<arrival>>;

  /* A source's claim to lose a detection next: the most held first, then
   * the one whose oldest is oldest. */
  struct detection_rank
  {
    std::size_t held;
    arrival oldest;
    held_detections::iterator source;
    bool operator< (const detection_rank &other) const
    {
      if (held != other.held)
        return held > other.held;
      return oldest < other.oldest;
    }
  };

  /* With mutex_ held. Takes `message` out of the per-kind indexes: it
   * must be the oldest held of its source (detections) or the oldest
   * record, as both the sender and the policy take. */
  void unindex_locked (const outgoing_message &message);
  /* With mutex_ held. Moves the chosen victim out, counted. */
  outgoing_message drop_one_locked ();
  void unrank_locked (held_detections::iterator source);
  void rank_locked (held_detections::iterator source);
  void remove_oldest_locked ();

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  /* Every held message by arrival number: begin() is the oldest. */
  std::map<arrival, outgoing_message> messages_;
  arrival next_arrival_ = 0;
  /* Arrival numbers of the held records, oldest first. */
  std::deque<arrival> records_;
  /* Arrival numbers of the held detections of each source, oldest first;
   * a source holding none has no entry. */
  held_detections detections_;
  /* One entry per entry of detections_, best victim first. */
  std::set<detection_rank> ranks_;
  backlog_counts counts_;
};

template <typename Sender>
bool
message_backlog::send_oldest (Sender &&send)
{
  std::lock_guard<std::mutex> lock (mutex_);
  if (messages_.empty ())
    return false;
  if (!send (static_cast<const outgoing_message &> (
          messages_.begin ()->second)))
    return false;
  /* The sender copied what it needed: the payload is freed here, under
   * the lock, which costs no more than the copy it follows. */
  remove_oldest_locked ();
  counts_.sent++;
  counts_.level = messages_.size ();
  return true;
}

} // namespace mqtt
} // namespace latestframe
