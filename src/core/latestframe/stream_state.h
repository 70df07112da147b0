/* latestframe — where a keeper's stream stands, and every way it moves.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/keeper_types.h"

#include <cstdint>

namespace latestframe
{

/* Where the stream stands: one value, in place of queue's separate
 * srcresult / eos / unexpected flags.
 *
 * | state            | entered by                      | frames  | markers admitted            | hand-over         | left by                       |
 * |------------------|---------------------------------|---------|-----------------------------|-------------------|-------------------------------|
 * | running          | resume() (activation,           | admitted| all                         | delivers          | the entries below             |
 * |                  | FLUSH_STOP), new_stream, relink |         |                             |                   |                               |
 * | ended            | end_of_stream admitted          | refused | new_stream (-> running),    | delivers what is  | new_stream; flush_start();    |
 * |                  |                                 |         | queries                     | held, then waits  | downstream_* ()               |
 * | ended_downstream | downstream_ended() found nothing| refused | all; new_stream -> running, | delivers          | new_stream, end_of_stream;    |
 * |                  | it could still deliver          |         | end_of_stream -> ended      |                   | flush_start()                 |
 * | unlinked         | downstream_unlinked()           | refused | sticky, new_stream          | halted            | relink(); flush_start()       |
 * | failed           | downstream_failed(): all held   | refused | sticky, new_stream          | halted            | flush_start(), resume()       |
 * |                  | entries are released            |         |                             |                   |                               |
 * | flushing         | flush_start() (FLUSH_START,     | refused | sticky, new_stream          | halted at once    | resume()                      |
 * |                  | deactivation)                   |         |                             |                   |                               |
 *
 * "Refused" means the keeper answers `refused` with the state (and, for
 * failed, the owner's failure code): the owner turns it into its own flow
 * return. A refused frame never counts as received. */
enum class stream_state : std::uint8_t
{
  running,
  ended,
  ended_downstream,
  unlinked,
  failed,
  flushing,
};

/* The table above as code: each transition is one method, named for the
 * event that makes it, next to the row it implements. What the keeper does
 * with its entries around a transition is the keeper's; this part only
 * says where the stream stands. Single-threaded: its owner serialises. */
class stream_lifecycle
{
public:
  stream_state state () const { return state_; }
  /* The owner's failure code while failed (0 otherwise). */
  int failure_code () const { return failure_code_; }

  /* Hand-over stops (the owner stops its consumer thread) until resume()
   * or relink(). */
  bool halted () const
  {
    return state_ == stream_state::flushing || state_ == stream_state::unlinked
           || state_ == stream_state::failed;
  }

  bool refuses_frames () const { return state_ != stream_state::running; }

  /* The "markers admitted" column. */
  bool admits_marker (marker_kind kind) const
  {
    switch (state_)
      {
      case stream_state::running:
      case stream_state::ended_downstream:
        return true;
      case stream_state::ended:
        return kind == marker_kind::new_stream || kind == marker_kind::query;
      case stream_state::unlinked:
      case stream_state::failed:
      case stream_state::flushing:
        return kind == marker_kind::sticky || kind == marker_kind::new_stream;
      }
    return false;
  }

  /* A marker was admitted: new_stream leaves ended and ended_downstream
   * for running; end_of_stream ends running and ended_downstream. In the
   * halted states a new_stream is only held: it changes nothing. */
  void marker_admitted (marker_kind kind)
  {
    if (kind == marker_kind::new_stream
        && (state_ == stream_state::ended
            || state_ == stream_state::ended_downstream))
      state_ = stream_state::running;
    else if (kind == marker_kind::end_of_stream
             && (state_ == stream_state::running
                 || state_ == stream_state::ended_downstream))
      state_ = stream_state::ended;
  }

  /* Downstream answered end-of-stream, and nothing held could still be
   * delivered: running -> ended_downstream. */
  void downstream_ended (bool deliverable_left)
  {
    if (!deliverable_left && state_ == stream_state::running)
      state_ = stream_state::ended_downstream;
  }

  /* running, ended, ended_downstream -> unlinked. Returns whether the
   * producer had ended the stream (it sees no flow return any more). */
  bool downstream_unlinked ()
  {
    const bool had_ended = state_ == stream_state::ended;
    if (state_ == stream_state::running || state_ == stream_state::ended
        || state_ == stream_state::ended_downstream)
      state_ = stream_state::unlinked;
    return had_ended;
  }

  /* Anything but flushing -> failed with `code`. Returns whether the
   * producer had ended the stream. */
  bool downstream_failed (int code)
  {
    const bool had_ended = state_ == stream_state::ended;
    if (state_ != stream_state::flushing)
      {
        state_ = stream_state::failed;
        failure_code_ = code;
      }
    return had_ended;
  }

  /* unlinked -> ended (an end of stream is the newest boundary held) or
   * running. Returns whether it was unlinked. */
  bool relink (bool end_of_stream_held)
  {
    if (state_ != stream_state::unlinked)
      return false;
    state_ = end_of_stream_held ? stream_state::ended : stream_state::running;
    return true;
  }

  /* Anything -> flushing. */
  void flush_start () { state_ = stream_state::flushing; }

  /* Anything -> running, with no failure. */
  void resume ()
  {
    state_ = stream_state::running;
    failure_code_ = 0;
  }

private:
  stream_state state_ = stream_state::running;
  int failure_code_ = 0;
};

} // namespace latestframe
