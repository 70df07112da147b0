/* latestframe capture — what to build for a source.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/capture.h"

#include <gst/gst.h>

#include <string>

namespace latestframe::detail
{

/* A source as the capture reads it: an RTSP URI (rtspsrc), a V4L2 device,
 * another URI (uridecodebin; a file:// one played at its own pace), or a
 * pipeline description whose last element outputs raw video. */
class source_spec
{
public:
  enum class kind
  {
    rtsp,
    v4l2,
    uri,
    description,
  };

  explicit source_spec (std::string text = {});

  kind type () const { return kind_; }
  const std::string &text () const { return text_; }
  /* A file: not live, and its end is the end (never reconnected). */
  bool is_file () const { return file_; }

  /* The pipeline description up to (not including) latestframe; the
   * source element, when the capture sets it up, is named "source". */
  /* With `gated`, an RTSP camera's encoded video goes through a
   * latestframe named "gate" before the decoder. */
  std::string description (bool gated = false) const;
  /* Sets up the source element of a pipeline built from description(). */
  void configure (GstBin *pipeline, const capture_options &options) const;
  /* Why `options`' credentials cannot work with this source (both in the
   * URI and in the options, a URI whose user part cannot be read, or
   * credentials for a source that is not RTSP); "" = they can. */
  std::string credentials_problem (const capture_options &options) const;

private:
  std::string text_;
  kind kind_ = kind::description;
  bool file_ = false;
};

/* rtspsrc's "protocols" flags by their nicks ("tcp", "udp+tcp"), or
 * empty. */
bool are_rtsp_protocols (const std::string &protocols);

} // namespace latestframe::detail
