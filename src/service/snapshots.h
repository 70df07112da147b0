/* latestframe-service — each camera's newest analysed frame as a JPEG, on
 * request.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/capture.h"
#include "latestframe/thread_annotations.h"
#include "metrics_server.h"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace latestframe::service
{

/* What a snapshot request asks for, from its query string. */
struct snapshot_options
{
  /* Scaled to this width, keeping the aspect; 0 = the frame's own. */
  int width = 0;
  /* JPEG quality, 1..100. */
  int quality = 80;
  /* Drawn with the frame's detections, as cvoverlay draws them. */
  bool boxes = false;

  bool operator< (const snapshot_options &other) const;
};

/* Reads "width=320&quality=70&boxes=1" (any of them, in any order; "" =
 * the defaults). False, with a one-line `problem`, for an unknown option,
 * a value that is not a number, or one out of range (width >= 1, quality
 * 1..100, boxes 0 or 1). The width's upper bound, the frame's, is checked
 * against the frame. */
bool parse_snapshot_options (const std::string &query,
                             snapshot_options &options, std::string &problem);

/* An HTTP date (RFC 7231, IMF-fixdate): Sun, 06 Nov 1994 08:49:37 GMT. */
std::string http_date (std::int64_t unix_ns);

/* GET /cameras/<id>/latest.jpg: the newest analysed frame of each camera
 * (capture::last_analysed), encoded only when asked for, at most one
 * encode per camera at a time; requests for a frame and options already
 * encoded share that JPEG.
 *
 * Threads: update() from the service's main loop; answer() from the HTTP
 * server's threads, which it never makes wait for the main loop or a
 * pipeline (only for another request's encode of the same camera). */
class camera_snapshots
{
public:
  /* The cameras that can be asked for, by id: the fleet's now. */
  void update (std::map<std::string, std::shared_ptr<capture>> cameras);

  /* The answer to a request for camera `id` with `query`: 200 with the
   * JPEG; 404 for an unknown camera; 503 (Retry-After: 1) for one without
   * an analysed frame yet; 400 for bad options. */
  http_answer answer (const std::string &id, const std::string &query);

  /* JPEGs encoded so far, by camera id, since the process started (a
   * camera's count survives its restarts): requests answered from the
   * cache, and an idle page, add nothing. */
  std::map<std::string, std::uint64_t> encodes () const;

private:
  /* What the answer says of a frame besides its pixels. */
  struct frame_facts
  {
    std::uint64_t sequence = 0;
    std::int64_t analysed_unix_ns = -1;
    std::int64_t capture_time_ns = -1;
    int width = 0;
  };

  /* One camera's encodes: the lock is held while encoding, so that a
   * second request for the same camera waits and takes the result. */
  struct camera_cache
  {
    checked_mutex encoding;
    /* The frame the JPEGs below are of (sequence 0: none), and them. */
    frame_facts frame LF_GUARDED_BY (encoding);
    std::map<snapshot_options, std::shared_ptr<const std::string>>
        jpegs LF_GUARDED_BY (encoding);

    /* The JPEG of `options` already made of `frame`, if any (a width
     * equal to the frame's is the frame's own). */
    std::shared_ptr<const std::string>
    cached (snapshot_options options) const LF_REQUIRES (encoding);
  };

  mutable checked_mutex lock_;
  std::map<std::string, std::shared_ptr<capture>> cameras_
      LF_GUARDED_BY (lock_);
  std::map<std::string, std::uint64_t> encodes_ LF_GUARDED_BY (lock_);
  std::map<std::string, std::shared_ptr<camera_cache>> caches_
      LF_GUARDED_BY (lock_);
};

} // namespace latestframe::service
