/* latestframe — the tickets of queries held in a keeper, and their answers.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/keeper_types.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace latestframe
{

/* A query travels in order with the frames while its producer waits for
 * the answer. Each admitted query gets a ticket, whose life is:
 *
 *   issue() -> queued -> start() -> in process -> answer() -> answered
 *                    \                                     /
 *                     `-> abandon() (flushed, withdrawn) -'
 *
 * collect() gives the producer its result once the ticket is answered or
 * abandoned, and forgets it; a ticket that is not known any more reads as
 * abandoned. A ticket in process is never abandoned: the consumer is
 * using the query and its answer is coming.
 *
 * Tickets are few at a time (one producer thread, one query each): a
 * vector searched front to back. Single-threaded: its owner serialises. */
class query_tickets
{
public:
  /* A new ticket, queued. */
  std::uint64_t issue ()
  {
    const std::uint64_t ticket = ++last_ticket_;
    slots_.push_back (slot{ ticket, phase::queued });
    return ticket;
  }

  /* The consumer took the query: its answer is coming. */
  void start (std::uint64_t ticket) { set (ticket, phase::in_process); }

  void answer (std::uint64_t ticket, bool accepted)
  {
    set (ticket, accepted ? phase::accepted : phase::refused);
  }

  /* Never handled: its producer stops waiting. */
  void abandon (std::uint64_t ticket) { set (ticket, phase::abandoned); }

  /* The producer's result, once there is one (the ticket is then
   * forgotten); nothing while the query is still queued or in process. */
  std::optional<ack_result> collect (std::uint64_t ticket)
  {
    auto found = find (ticket);
    if (found == slots_.end ())
      return ack_result::abandoned;
    std::optional<ack_result> result;
    switch (found->state)
      {
      case phase::queued:
      case phase::in_process:
        return std::nullopt;
      case phase::accepted:
        result = ack_result::accepted;
        break;
      case phase::refused:
        result = ack_result::refused;
        break;
      case phase::abandoned:
        result = ack_result::abandoned;
        break;
      }
    slots_.erase (found);
    return result;
  }

  /* Whether `ticket` is queued (for the keeper's invariants). */
  bool queued (std::uint64_t ticket) const
  {
    auto found = std::find_if (
        slots_.begin (), slots_.end (),
        [ticket] (const slot &s) { return s.ticket == ticket; });
    return found != slots_.end () && found->state == phase::queued;
  }

  /* Tickets queued now. */
  std::size_t queued_count () const
  {
    return static_cast<std::size_t> (
        std::count_if (slots_.begin (), slots_.end (), [] (const slot &s) {
          return s.state == phase::queued;
        }));
  }

private:
  enum class phase : std::uint8_t
  {
    queued,
    in_process,
    accepted,
    refused,
    abandoned,
  };

  struct slot
  {
    std::uint64_t ticket;
    phase state;
  };

  std::vector<slot>::iterator find (std::uint64_t ticket)
  {
    return std::find_if (
        slots_.begin (), slots_.end (),
        [ticket] (const slot &s) { return s.ticket == ticket; });
  }

  void set (std::uint64_t ticket, phase state)
  {
    auto found = find (ticket);
    if (found != slots_.end ())
      found->state = state;
  }

  std::uint64_t last_ticket_ = 0;
  std::vector<slot> slots_;
};

} // namespace latestframe
