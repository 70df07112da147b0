/* latestframe — "always the newest frame" capture for applications.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/decode_modes.h"
#include "latestframe/drawn_box.h"
#include "latestframe/drop_reasons.h"

#include <opencv2/core.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

/* Exported from the shared library, which hides everything else. */
#define LATESTFRAME_CAPTURE_API __attribute__ ((visibility ("default")))

namespace latestframe
{

/* Where a capture is. `streaming` once a frame of the current connection has
 * arrived; `reconnecting` between a lost connection and the next frame;
 * `ended` after the end of a file (nothing more will come); `closed` before
 * open, after release, or after a failed open. */
enum class capture_state
{
  closed,
  connecting,
  streaming,
  reconnecting,
  ended,
};

LATESTFRAME_CAPTURE_API const char *to_string (capture_state state);

/* How much of an RTSP camera's encoded video is decoded (see latestframe's
 * `decode` property): all of it; on demand (at each analysis_rate tick the
 * newest chain up to the newest frame, the frames before that one decoded
 * but not shown); key units only; or auto (key units when analysis_rate and
 * max_age allow one key interval, else on demand). The element's own modes
 * (decode_modes.h), by another name. */
using decoding = decode_mode;

struct capture_options
{
  /* GStreamer raw video format of the frames read: BGR (CV_8UC3), RGB,
   * BGRx/BGRA/RGBx/RGBA (CV_8UC4), GRAY8 (CV_8UC1), GRAY16_LE (CV_16UC1),
   * or I420/YV12/NV12/NV21 (CV_8UC1, height * 3 / 2 rows, as OpenCV's
   * COLOR_YUV2BGR_* conversions expect; even sizes only: read() refuses
   * other frames, saying so in last_error). */
  std::string format = "BGR";

  /* read() without a timeout waits this long at most. */
  std::chrono::milliseconds read_timeout{ 10000 };
  /* open() waits this long for the first frame (retrying a live source
   * that refuses, with backoff) before it gives up. */
  std::chrono::milliseconds open_timeout{ 10000 };

  /* Do not return a frame older than this (frame_info::age_ns): read()
   * drops it and waits (within its timeout) for the next frame instead.
   * Without it (0), read() returns the newest frame at once however old, so
   * a reader gets frames up to one frame interval older than decoding; with
   * it, at most max_age older, at the cost of waiting up to one frame
   * interval in read(). One exception keeps a reader from starving: while
   * frames already arrive older than max_age (a limit below the stream's
   * own latency, or a loaded machine), the newest is returned anyway unless
   * it has waited longer than max_age (latestframe's max-age, which warns
   * once). */
  std::chrono::milliseconds max_age{ 0 };

  /* RTSP only: decode only what is read. With anything but decoding::all
   * (or an analysis_rate), a second latestframe sits between the parser and
   * the decoder and lets through what `decode` says, at most analysis_rate
   * frames per second (0 = no pace: on_demand then decodes every frame). At
   * one read per second from a camera with one key unit per second,
   * key_units decodes one frame in thirty; frames are then up to one key
   * interval old. */
  decoding decode = decoding::all;
  double analysis_rate = 0;

  /* latestframe's memory budget: a process-wide name shared by captures
   * (and elements) naming it, and this capture's cap in bytes for it
   * (empty / 0 = none). */
  std::string memory_budget;
  std::uint64_t memory_budget_bytes = 0;

  /* RTSP only: "tcp", "udp", "udp-mcast", or several joined by '+'
   * (empty = rtspsrc's default: try UDP, fall back to TCP); and rtspsrc's
   * jitter buffer latency (0 = none: frames as soon as they are whole). */
  std::string protocols;
  std::chrono::milliseconds latency{ 0 };

  /* RTSP only: the camera's user and password, any characters as they are
   * (not percent-encoded), given to rtspsrc as user-id / user-pw ("" =
   * none). The other way is a percent-encoded user part in the URI
   * (rtsp://admin:p%40ss@host/...), never both: open() refuses that, and a
   * URI whose user part cannot be read (a raw @ / # ? or space). The
   * capture shows a URI only with its user part as "***". */
  std::string username, password;

  /* Reconnect (tear down and rebuild the pipeline, with backoff doubling
   * from backoff_initial to backoff_max) when a live source errors, ends,
   * or stalls: no frame for stall_timeout (0 = no stall watchdog; frames
   * are counted every tenth of it, 100 ms to 1 s, so a stall is caught up
   * to two of those late). Files never reconnect: their end is the end. */
  bool reconnect = true;
  std::chrono::milliseconds stall_timeout{ 3000 };
  std::chrono::milliseconds backoff_initial{ 250 };
  std::chrono::milliseconds backoff_max{ 4000 };

  /* Analyse in the pipeline instead of reading: a gst-launch fragment of
   * filters (our OpenCV elements, mqttpublish) run on every frame
   * latestframe hands over, on its streaming thread:
   *
   *   <source> ! latestframe ! videoconvert ! <analysis> ! fakesink
   *
   * latestframe then pushes (`pushed` counts the frames analysed) and
   * read() has no frame to return (false at once, saying so in
   * last_error); reconnection, the watchdog and the figures are the same.
   * A fragment that does not parse fails open(). Empty = none. */
  std::string analysis;
  /* With an analysis: how long after the last call of last_analysed() or
   * last_analysed_sequence() the pipeline goes on keeping the newest
   * analysed frame for them (0 = always, the default). Kept, that frame
   * is one frame of memory per capture (1.3 MiB at 1280x720 I420) that a
   * caller who asks rarely, or only while someone watches, need not pay
   * for: once the time is over the frame is let go and none is kept, so
   * the next call returns false (0) and keeps the frames analysed from
   * then on; the first comes with the next analysis. Checked with the
   * stall watchdog's count of frames (every 100 ms to 1 s), so a frame
   * may stay kept up to that much longer. */
  std::chrono::milliseconds last_analysed_kept_for{ 0 };
  /* open() returns at once, true unless the options are wrong, and the
   * capture connects in the background, retrying with backoff until
   * release(): for a service whose cameras may be down when it starts
   * (state() and stats() tell how it goes). False: open() waits for the
   * first frame up to open_timeout and gives up without one. */
  bool open_in_background = false;
};

/* What read() says about the frame it returned. */
struct frame_info
{
  /* 1 for the first frame the capture received (since open, across
   * reconnections), counted where frames enter latestframe. */
  std::uint64_t sequence = 0;
  /* Frames received since the previous frame read() returned that will
   * never be returned: sequence minus the previous sequence minus 1. */
  std::uint64_t skipped = 0;
  /* The frame's timestamp in its stream, ns (-1 when it has none). */
  std::int64_t pts_ns = -1;
  /* How old the frame was when latestframe handed it over, ns: since the
   * camera captured it when the stream tells (capture_time_ns is then
   * set), else since the receiver timestamped it (the pipeline clock's
   * running time then minus the frame's); -1 when the frame has neither. */
  std::int64_t age_ns = -1;
  /* When the camera captured the frame, Unix time in ns on this host's
   * clock, as the stream tells it (RTCP sender reports, RFC 6051); -1 when
   * it does not, or tells one too far from this host's clock to use (more
   * than 3 s behind or 100 ms ahead; see
   * capture_stats::capture_clock_fallback). */
  std::int64_t capture_time_ns = -1;
  /* When the frame entered the pipeline, on this clock: the hand-over
   * minus age_ns (the hand-over itself for a frame without timestamp). */
  std::chrono::steady_clock::time_point received;
  /* 1 for frames of the first connection, +1 per reconnection. */
  std::uint64_t connection = 0;
};

/* The newest frame an analysis finished with (capture_options::analysis),
 * as capture::last_analysed() gives it. */
struct analysed_frame
{
  /* Its pixels, BGR (CV_8UC3), the caller's own copy: the frame in the
   * pipeline is never written. */
  cv::Mat image;
  /* The regions of interest the analyses attached to it (their
   * GstVideoRegionOfInterestMeta), in image coordinates, as cvoverlay
   * draws them: draw_boxes() (latestframe/analysis.h) draws them alike. */
  std::vector<drawn_box> regions;
  /* As in frame_info; sequence 0 when latestframe did not say (then two
   * frames cannot be told apart by it). */
  std::uint64_t sequence = 0;
  std::int64_t age_ns = -1;
  std::int64_t capture_time_ns = -1;
  /* When latestframe handed it to the analyses, Unix time in ns on this
   * host's clock; -1 when unknown. */
  std::int64_t analysed_unix_ns = -1;
};

/* The capture's figures. The counts of latestframe are summed over all
 * connections; levels, ages and bytes are the current connection's. */
struct capture_stats
{
  capture_state state = capture_state::closed;

  /* latestframe: frames received, handed over to read() (pushed),
   * dropped (and why), bytes. */
  std::uint64_t received = 0;
  std::uint64_t pushed = 0;
  std::uint64_t dropped = 0;
  /* `dropped` by reason (drop_reasons.h: the frames read() passed over
   * for a newer one are `superseded`); together they are `dropped`. */
  std::array<std::uint64_t, drop_reason_count> dropped_by_reason{};
  std::uint64_t dropped_for (drop_reason reason) const
  {
    return dropped_by_reason[drop_reason_index (reason)];
  }
  /* received == pushed + dropped + held_frames, always. */
  std::uint64_t held_frames = 0;
  std::uint64_t held_bytes = 0;
  std::uint64_t in_flight_bytes = 0;
  std::uint64_t peak_bytes = 0;
  /* Frames whose age ran from their capture time (the stream told it);
   * frames whose capture time was not used (more than 100 ms ahead of or 3 s
   * behind this host's clock, or while the clock was out of step); and
   * whether the current connection's camera clock is out of step with
   * this host's now (its capture times are then not used, until they have
   * been within those limits for 2 s). */
  std::uint64_t capture_time_frames = 0;
  std::uint64_t capture_time_unused = 0;
  bool capture_clock_fallback = false;
  /* Age at delivery of recent frames, ns: from capture when known. */
  std::uint64_t age_p50_ns = 0;
  std::uint64_t age_p95_ns = 0;
  std::uint64_t age_max_ns = 0;
  /* The memory budget this capture belongs to (options.memory_budget):
   * its cap and the bytes all its members hold and have in flight now. */
  std::uint64_t memory_budget_bytes = 0;
  std::uint64_t memory_budget_used = 0;

  /* The capture: frames returned by read(), frames that never will be
   * (superseded by a newer one before a read asked, or without an OpenCV
   * layout), reconnection attempts (pipelines built after the first), and
   * stalls caught by the watchdog. */
  std::uint64_t returned = 0;
  std::uint64_t skipped = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t stalls = 0;
  /* Frames read() had to copy because their memory was shared with the
   * decoder (asking for the decoder's own format, which it may keep as a
   * reference), or laid out in a way OpenCV cannot read in place. */
  std::uint64_t copied = 0;
  /* The stream's picture size and frame rate (0 until known; fps 0 also
   * for a variable rate). */
  int width = 0;
  int height = 0;
  double fps = 0;
  /* With options.decode or analysis_rate: frames received from the camera
   * that never reached the decoder (dropped before it: not needed; with
   * decoding::key_units over RTSP/TCP, H.264's delta units are dropped
   * as RTP packets, before the depayloader, and counted here too), and
   * frames decoded only so that a newer one could be. */
  std::uint64_t not_decoded = 0;
  std::uint64_t decode_only = 0;
  /* Why the last connection ended or failed (empty if none did). */
  std::string last_error;
};

/* A live source read as "always the newest frame": a GStreamer pipeline
 * (source, decoder, latestframe, videoconvert, sink) whose frames wait in
 * latestframe, which keeps only the newest; read() takes the newest one
 * and converts only that one.
 *
 * Sources: rtsp:// and rtsps:// URIs (rtspsrc), file:// and other URIs
 * (uridecodebin; played at their own pace, as a camera would deliver them),
 * a V4L2 device (/dev/videoN, or open (N)), or a pipeline description whose
 * last element outputs raw video ("videotestsrc is-live=true ! ...").
 *
 * Mirrors cv::VideoCapture's open / isOpened / read / release, so that
 * switching is one line; the names follow it rather than our snake_case.
 *
 * Threads: read() from one thread at a time; state() and stats() from any.
 */
class LATESTFRAME_CAPTURE_API capture
{
public:
  capture ();
  explicit capture (const std::string &source, capture_options options = {});
  ~capture ();
  capture (const capture &) = delete;
  capture &operator= (const capture &) = delete;
  capture (capture &&) noexcept;
  capture &operator= (capture &&) noexcept;

  /* Starts reading `source` and waits (up to options.open_timeout) for its
   * first frame. False, and closed, if none came: last_error() says why.
   * Closes what was open before. */
  bool open (const std::string &source, capture_options options = {});
  /* /dev/video<index>. */
  bool open (int index, capture_options options = {});

  /* True from a successful open until release(), through reconnections
   * and after the end of a file. */
  bool isOpened () const;

  /* The newest frame not returned before, as a cv::Mat that references the
   * frame's memory (no copy) and keeps it alive as long as any Mat shares
   * it; the Mat is the reader's to write into. Waits until such a frame
   * exists, at most `timeout` (options.read_timeout without one): false
   * when none came in time, after the end of a file, or when closed. Never
   * returns the same frame twice. */
  bool read (cv::Mat &frame);
  bool read (cv::Mat &frame, std::chrono::milliseconds timeout,
             frame_info *info = nullptr);
  capture &operator>> (cv::Mat &frame);

  /* Stops the pipeline and frees everything; a read() waiting returns
   * false. Idempotent. */
  void release ();

  /* With options.analysis: the newest frame the analysis passed on, with
   * its regions of interest. The pipeline keeps a reference to it anyway
   * (its final sink's last sample, counted in flight by latestframe;
   * with options.last_analysed_kept_for, only for that long after the
   * last call); only this call copies it out, converting it to BGR. False
   * when no frame of the current connection was analysed (or kept) yet,
   * without an analysis, or when closed. Never blocks a pipeline's streaming
   * thread. Thread-safe, from any thread, concurrently with read(). */
  bool last_analysed (analysed_frame &frame) const;
  /* The sequence of the frame last_analysed() would copy out now, without
   * copying it: 0 when there is none, or latestframe did not number it.
   * For a caller that keeps what it made of a frame, to tell whether that
   * frame is still the newest. Thread-safe. */
  std::uint64_t last_analysed_sequence () const;

  capture_state state () const;
  capture_stats stats () const;
  std::string last_error () const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/* Makes every GIO TCP connection of this process read its socket a buffer
 * (16 KiB) at a time and hand the bytes to the reads that follow, where
 * GIO makes each read a recv(). rtspsrc reads RTSP over TCP three small
 * reads per RTP packet: this takes most of those system calls off each
 * camera's receiving thread (issue 27, docs/benchmarks.md section 7.3).
 * Process-wide: call it once, from one thread, before any connection is
 * made. A connection must then be read only through its input stream, by
 * one reader at a time, as rtspsrc, GIO's TLS and GSocketService's users
 * do. Not for a process that reads a TCP connection's socket itself
 * (g_socket_receive, GDBus over TCP) or waits for it to be readable
 * (gst_rtsp_connection_poll): bytes read ahead are in the stream, not in
 * the socket. latestframe-service calls it; a capture does not on its
 * own. */
LATESTFRAME_CAPTURE_API void read_tcp_ahead ();

} // namespace latestframe
