/* latestframe._latestframe — the Python binding of latestframe::capture.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The C++ capture as it is, with Python manners: times in seconds, options as
 * keywords, frames as NumPy arrays over the frame's own memory (no copy),
 * cv2.VideoCapture's names so that switching is one line, a context manager
 * and an iterator. Everything that waits (open, read, release) runs without
 * the GIL; no thread of the capture ever calls into Python.
 */
#include "latestframe/capture.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#ifndef LATESTFRAME_VERSION
#error "the build defines LATESTFRAME_VERSION (meson.project_version())"
#endif

namespace py = pybind11;

namespace
{

using latestframe::capture_options;
using latestframe::capture_state;
using latestframe::frame_info;
using std::chrono::milliseconds;

/* cv2's property ids that get() answers; any other reads 0, as in cv2. */
constexpr int cap_prop_frame_width = 3;
constexpr int cap_prop_frame_height = 4;
constexpr int cap_prop_fps = 5;

/* How often a read waiting without the GIL comes back to let Python handle
 * signals: Ctrl-C interrupts a 10 s read within this. */
constexpr milliseconds signal_check_interval{ 100 };

/* Seconds as steady_clock sees them, which is time.monotonic()'s clock:
 * libstdc++'s steady_clock::now() reads clock_gettime (CLOCK_MONOTONIC),
 * which is what time.get_clock_info ("monotonic") names on Linux. */
double
monotonic_seconds (std::chrono::steady_clock::time_point when)
{
  return std::chrono::duration<double> (when.time_since_epoch ()).count ();
}

std::string
type_name (py::handle value)
{
  return Py_TYPE (value.ptr ())->tp_name;
}

/* A Python number of seconds as the milliseconds the C++ options hold, to
 * the nearest. Beyond a year (math.inf included) a year, which the capture's
 * waits take as "for ever" without overflowing their clock arithmetic. */
milliseconds
milliseconds_from_seconds (const char *name, py::handle value)
{
  if (PyBool_Check (value.ptr ()))
    throw py::type_error (std::string (name)
                          + " must be a number of seconds, not bool");
  const double seconds = PyFloat_AsDouble (value.ptr ());
  if (seconds == -1.0 && PyErr_Occurred ())
    {
      PyErr_Clear ();
      throw py::type_error (std::string (name)
                            + " must be a number of seconds, not "
                            + type_name (value));
    }
  if (std::isnan (seconds))
    throw py::value_error (std::string (name) + " is NaN");
  constexpr double a_year = 365.0 * 24 * 3600;
  return std::chrono::round<milliseconds> (
      std::chrono::duration<double> (std::clamp (seconds, -a_year, a_year)));
}

/* How each kind of option keyword turns its Python value into the C++
 * option, and shows the C++ default in the docstring. Wrong types raise
 * TypeError, values no capture_options can hold ValueError; values the
 * capture itself judges (a format, protocols) are left to open(). */
template <std::string capture_options::*field> struct text_keyword
{
  static constexpr const char *python_type = "str";
  static void apply (capture_options &options, const char *name,
                     py::handle value)
  {
    if (!py::isinstance<py::str> (value))
      throw py::type_error (std::string (name) + " must be a str, not "
                            + type_name (value));
    options.*field = value.cast<std::string> ();
  }
  static std::string show (const capture_options &options)
  {
    return py::repr (py::str (options.*field)).cast<std::string> ();
  }
};

template <milliseconds capture_options::*field> struct seconds_keyword
{
  static constexpr const char *python_type = "float";
  static void apply (capture_options &options, const char *name,
                     py::handle value)
  {
    options.*field = milliseconds_from_seconds (name, value);
  }
  static std::string show (const capture_options &options)
  {
    return py::repr (
               py::float_ (
                   std::chrono::duration<double> (options.*field).count ()))
        .cast<std::string> ();
  }
};

template <std::uint64_t capture_options::*field> struct bytes_keyword
{
  static constexpr const char *python_type = "int";
  static void apply (capture_options &options, const char *name,
                     py::handle value)
  {
    if (PyBool_Check (value.ptr ()) || !PyIndex_Check (value.ptr ()))
      throw py::type_error (std::string (name) + " must be an int, not "
                            + type_name (value));
    const py::int_ bytes
        = py::reinterpret_steal<py::int_> (PyNumber_Index (value.ptr ()));
    if (!bytes)
      throw py::error_already_set ();
    const unsigned long long count = PyLong_AsUnsignedLongLong (bytes.ptr ());
    if (PyErr_Occurred ())
      {
        PyErr_Clear ();
        throw py::value_error (std::string (name)
                               + " must be a byte count >= 0 that fits 64 "
                                 "bits");
      }
    options.*field = count;
  }
  static std::string show (const capture_options &options)
  {
    return std::to_string (options.*field);
  }
};

template <bool capture_options::*field> struct flag_keyword
{
  static constexpr const char *python_type = "bool";
  static void apply (capture_options &options, const char *name,
                     py::handle value)
  {
    if (!PyBool_Check (value.ptr ()))
      throw py::type_error (std::string (name) + " must be a bool, not "
                            + type_name (value));
    options.*field = value.ptr () == Py_True;
  }
  static std::string show (const capture_options &options)
  {
    return options.*field ? "True" : "False";
  }
};

/* The decoding, by latestframe's own names for it (decode_modes.h, its
 * `decode` property's nicks). */
struct decoding_keyword
{
  static constexpr const char *python_type = "str";
  static void apply (capture_options &options, const char *name,
                     py::handle value)
  {
    if (!py::isinstance<py::str> (value))
      throw py::type_error (std::string (name) + " must be a str, not "
                            + type_name (value));
    const std::string given = value.cast<std::string> ();
    if (const std::optional<latestframe::decode_mode> mode
        = latestframe::decode_mode_named (given))
      {
        options.decode = *mode;
        return;
      }
    std::string names;
    for (const latestframe::decode_mode_info &mode : latestframe::decode_modes)
      names += std::string (names.empty () ? "'" : "', '") + mode.name;
    throw py::value_error (std::string (name) + " must be one of " + names
                           + "', not '" + given + "'");
  }
  static std::string show (const capture_options &options)
  {
    return std::string ("'") + latestframe::decode_mode_name (options.decode)
           + "'";
  }
};

struct rate_keyword
{
  static constexpr const char *python_type = "float";
  static void apply (capture_options &options, const char *name,
                     py::handle value)
  {
    if (PyBool_Check (value.ptr ()) || !PyNumber_Check (value.ptr ()))
      throw py::type_error (std::string (name) + " must be a float, not "
                            + type_name (value));
    const double rate = value.cast<double> ();
    if (!(rate >= 0 && rate <= 1000))
      throw py::value_error (std::string (name)
                             + " must be between 0 and 1000 frames per "
                               "second");
    options.analysis_rate = rate;
  }
  static std::string show (const capture_options &options)
  {
    return py::repr (py::float_ (options.analysis_rate)).cast<std::string> ();
  }
};

/* One keyword of Capture() and open(). */
struct option_keyword
{
  const char *name;
  const char *python_type;
  const char *meaning;
  void (*apply) (capture_options &options, const char *name, py::handle value);
  std::string (*show) (const capture_options &options);
};

template <typename kind>
option_keyword
keyword (const char *name, const char *meaning)
{
  return { name, kind::python_type, meaning, &kind::apply, &kind::show };
}

/* The one table of option keywords: what Capture() and open() accept, and
 * what their docstrings list, in capture_options' order. */
const std::vector<option_keyword> &
option_keywords ()
{
  using o = capture_options;
  static const std::vector<option_keyword> table{
    keyword<text_keyword<&o::format>> (
        "format",
        "GStreamer raw format of the frames read: BGR, RGB (h x w x 3), "
        "BGRx, BGRA, RGBx, RGBA (h x w x 4), GRAY8 (h x w), GRAY16_LE (h x w, "
        "uint16), or I420, YV12, NV12, NV21 (h * 3/2 x w, for "
        "cv2.COLOR_YUV2BGR_*; even sizes only)."),
    keyword<seconds_keyword<&o::read_timeout>> (
        "read_timeout", "How long read() without a timeout waits, seconds."),
    keyword<seconds_keyword<&o::open_timeout>> (
        "open_timeout",
        "How long opening waits for the first frame (retrying a live source "
        "that refuses), seconds."),
    keyword<seconds_keyword<&o::max_age>> (
        "max_age",
        "Never return a frame decoded longer ago than this, seconds: read() "
        "waits for the next one instead (0: the newest at once, however "
        "old)."),
    keyword<decoding_keyword> (
        "decode",
        "RTSP only: how much of the camera's video is decoded: 'all', "
        "'on-demand' (at each analysis_rate tick, the newest frame and what "
        "it needs), 'key-units' (key frames only: up to one key interval "
        "old), 'auto' (key units when analysis_rate and max_age allow)."),
    keyword<rate_keyword> (
        "analysis_rate",
        "RTSP only: decode at most this many new frames per second for the "
        "reader (0 = no pace)."),
    keyword<text_keyword<&o::memory_budget>> (
        "memory_budget",
        "Name of a process-wide latestframe memory budget this capture "
        "shares ('' = none)."),
    keyword<bytes_keyword<&o::memory_budget_bytes>> (
        "memory_budget_bytes",
        "This capture's cap for that budget, bytes (0 = none)."),
    keyword<text_keyword<&o::protocols>> (
        "protocols",
        "RTSP transports: 'tcp', 'udp', 'udp-mcast', or several joined by "
        "'+' ('' = UDP, falling back to TCP)."),
    keyword<text_keyword<&o::username>> (
        "username",
        "RTSP only: the camera's user, any characters, not percent-encoded "
        "(not with a user part in the URI)."),
    keyword<text_keyword<&o::password>> (
        "password",
        "RTSP only: its password, any characters, not percent-encoded; never "
        "shown in last_error."),
    keyword<seconds_keyword<&o::latency>> (
        "latency", "RTSP jitter buffer, seconds (0: frames as soon as they are "
                   "whole)."),
    keyword<flag_keyword<&o::reconnect>> (
        "reconnect",
        "Rebuild the pipeline when a live source errors, ends or stalls "
        "(files never reconnect)."),
    keyword<seconds_keyword<&o::stall_timeout>> (
        "stall_timeout",
        "A live source without a frame for this long has stalled and is "
        "reconnected, seconds (0 = no watchdog; frames are counted every "
        "tenth of it, 0.1 to 1 s, so a stall is caught up to two of those "
        "late)."),
    keyword<seconds_keyword<&o::backoff_initial>> (
        "backoff_initial",
        "First wait between reconnection attempts, seconds; it doubles..."),
    keyword<seconds_keyword<&o::backoff_max>> ("backoff_max",
                                               "...up to this, seconds."),
    keyword<text_keyword<&o::analysis>> (
        "analysis",
        "Analyse in the pipeline instead of reading: a gst-launch fragment "
        "(our cv elements, mqttpublish) run on every frame latestframe hands "
        "over; read() then has no frame ('' = none)."),
    keyword<flag_keyword<&o::open_in_background>> (
        "open_in_background",
        "Return from opening at once and keep connecting, retrying with "
        "backoff, instead of waiting open_timeout for a first frame."),
  };
  return table;
}

/* `base` with the keywords given; TypeError for a keyword there is not. */
capture_options
options_with (capture_options base, const py::kwargs &given)
{
  for (const auto &[key, value] : given)
    {
      const std::string name = py::str (key);
      const auto &table = option_keywords ();
      const auto found = std::find_if (
          table.begin (), table.end (),
          [&] (const option_keyword &known) { return name == known.name; });
      if (found == table.end ())
        throw py::type_error ("unexpected keyword argument '" + name
                              + "' (the options are listed in "
                                "help(latestframe.Capture))");
      found->apply (base, found->name, value);
    }
  return base;
}

/* `text` in lines of at most `width` characters: the first after
 * `first_indent`, the others after `indent`. */
std::string
wrapped (const std::string &text, const std::string &indent,
         const std::string &first_indent, std::size_t width = 76)
{
  std::string lines, line;
  const std::string *line_indent = &first_indent;
  std::size_t from = 0;
  while (from < text.size ())
    {
      std::size_t to = text.find (' ', from);
      if (to == std::string::npos)
        to = text.size ();
      const std::string word = text.substr (from, to - from);
      if (!line.empty ()
          && line_indent->size () + line.size () + 1 + word.size () > width)
        {
          lines += *line_indent + line + "\n";
          line.clear ();
          line_indent = &indent;
        }
      line += (line.empty () ? "" : " ") + word;
      from = to + 1;
    }
  return lines + *line_indent + line + "\n";
}

/* The constructor's signature, with the defaults of capture_options. */
std::string
describe_constructor ()
{
  const capture_options defaults;
  std::string parameters = "source=None, *";
  for (const option_keyword &known : option_keywords ())
    parameters += std::string (", ") + known.name + "=" + known.show (defaults);
  return wrapped ("Capture(" + parameters + ")", "        ", "");
}

/* The option keywords as the docstrings list them, with their defaults. */
std::string
describe_option_keywords ()
{
  const capture_options defaults;
  std::string listing;
  for (const option_keyword &known : option_keywords ())
    listing += std::string ("    ") + known.name + ": " + known.python_type
               + " = " + known.show (defaults) + "\n"
               + wrapped (known.meaning, "        ", "        ");
  return listing;
}

/* A capture as Python holds it. Its fields are reached with the GIL held;
 * the calls of `camera` that wait are made without it. */
struct python_capture
{
  /* The options given to Capture(); open() starts from them. */
  capture_options configured;
  /* What the current open() was given: read() without a timeout waits
   * read_timeout. */
  milliseconds read_timeout = capture_options{}.read_timeout;
  std::string source;
  /* capture::read and open are for one thread at a time; Python threads
   * sharing a Capture take turns here (without the GIL). release() does
   * not: it is how another thread stops a waiting read. */
  std::mutex read_or_open_turn;
  latestframe::capture camera;

  python_capture () = default;
  python_capture (const python_capture &) = delete;
  python_capture &operator= (const python_capture &) = delete;
  ~python_capture ()
  {
    /* Stopping joins the capture's threads, which never need the GIL:
     * Python's other threads run meanwhile. */
    if (PyGILState_Check ())
      {
        py::gil_scoped_release unlocked;
        camera.release ();
      }
  }
};

bool
open_capture (python_capture &self, py::handle source, const py::kwargs &given)
{
  const capture_options options = options_with (self.configured, given);
  std::optional<int> index;
  if (PyLong_Check (source.ptr ()) && !PyBool_Check (source.ptr ()))
    index = source.cast<int> ();
  else if (!py::isinstance<py::str> (source))
    throw py::type_error ("source must be a str (URI, device, pipeline "
                          "description) or an int (camera index), not "
                          + type_name (source));
  self.source = index ? "/dev/video" + std::to_string (*index)
                      : source.cast<std::string> ();
  self.read_timeout = options.read_timeout;
  py::gil_scoped_release unlocked;
  std::lock_guard<std::mutex> turn (self.read_or_open_turn);
  return index ? self.camera.open (*index, options)
               : self.camera.open (self.source, options);
}

/* A frame read, and what the capture said about it. */
struct frame_read
{
  cv::Mat frame;
  frame_info info;
};

/* The newest frame not returned before, waiting at most `timeout`; nothing
 * when none came in time or the capture refused (closed, ended, a frame
 * without an OpenCV layout). Waits without the GIL, in slices, so that
 * Python handles signals meanwhile (KeyboardInterrupt propagates). */
std::optional<frame_read>
read_newest (python_capture &self, milliseconds timeout)
{
  using clock = std::chrono::steady_clock;
  const clock::time_point deadline = clock::now () + timeout;
  for (;;)
    {
      const milliseconds slice = std::clamp (
          std::chrono::ceil<milliseconds> (deadline - clock::now ()),
          milliseconds (0), signal_check_interval);
      frame_read taken;
      bool got;
      clock::duration waited;
      {
        py::gil_scoped_release unlocked;
        std::lock_guard<std::mutex> turn (self.read_or_open_turn);
        const clock::time_point started = clock::now ();
        got = self.camera.read (taken.frame, slice, &taken.info);
        waited = clock::now () - started;
      }
      if (got)
        return taken;
      if (PyErr_CheckSignals () != 0)
        throw py::error_already_set ();
      /* read() waits its whole slice unless it has an answer: one before
       * then is a refusal, not "nothing yet". */
      if (waited < slice || clock::now () >= deadline)
        return std::nullopt;
    }
}

milliseconds
timeout_or_default (const python_capture &self, py::handle timeout)
{
  return timeout.is_none () ? self.read_timeout
                            : milliseconds_from_seconds ("timeout", timeout);
}

/* The NumPy type of the elements of a Mat of OpenCV depth `depth`: the
 * capture's formats are 8-bit but for GRAY16_LE. */
py::dtype
numpy_element_of (int depth)
{
  switch (depth)
    {
    case CV_8U:
      return py::dtype::of<std::uint8_t> ();
    case CV_16U:
      return py::dtype::of<std::uint16_t> ();
    default:
      throw std::runtime_error ("a frame of OpenCV depth "
                                + std::to_string (depth)
                                + " has no NumPy type here");
    }
}

/* The frame as a NumPy array over its own memory: the array's base owns a
 * cv::Mat that shares the frame, so the frame (and its GStreamer buffer,
 * still counted by latestframe's accounting) lives as long as the array or
 * any view of it. Writable; strides from the Mat's, which may be padded. */
py::array
array_sharing (cv::Mat frame)
{
  const py::dtype element = numpy_element_of (frame.depth ());
  std::vector<py::ssize_t> shape{ frame.rows, frame.cols };
  std::vector<py::ssize_t> strides{ static_cast<py::ssize_t> (frame.step[0]),
                                    static_cast<py::ssize_t> (frame.step[1]) };
  if (frame.channels () > 1)
    {
      shape.push_back (frame.channels ());
      strides.push_back (static_cast<py::ssize_t> (frame.elemSize1 ()));
    }
  auto owner = std::make_unique<cv::Mat> (std::move (frame));
  void *pixels = owner->data;
  py::capsule base (owner.get (), [] (void *held) {
    /* Takes back the Mat the capsule held, and lets it go. */
    std::unique_ptr<cv::Mat> ending (static_cast<cv::Mat *> (held));
  });
  owner.release (); /* the capsule holds it now */
  return py::array (element, shape, strides, pixels, base);
}

py::dict
stats_as_dict (const latestframe::capture_stats &stats)
{
  py::dict figures;
  figures["state"] = latestframe::to_string (stats.state);
  figures["received"] = stats.received;
  figures["pushed"] = stats.pushed;
  figures["dropped"] = stats.dropped;
  /* dropped_overflow, ..., dropped_broken_chain: one per reason. */
  for (const latestframe::drop_reason_info &reason : latestframe::drop_reasons)
    {
      std::string key = std::string ("dropped_") + reason.name;
      std::replace (key.begin (), key.end (), '-', '_');
      figures[key.c_str ()] = stats.dropped_for (reason.reason);
    }
  figures["capture_time_frames"] = stats.capture_time_frames;
  figures["capture_time_unused"] = stats.capture_time_unused;
  figures["not_decoded"] = stats.not_decoded;
  figures["decode_only"] = stats.decode_only;
  figures["capture_clock_fallback"] = stats.capture_clock_fallback;
  figures["held_frames"] = stats.held_frames;
  figures["held_bytes"] = stats.held_bytes;
  figures["in_flight_bytes"] = stats.in_flight_bytes;
  figures["peak_bytes"] = stats.peak_bytes;
  figures["age_p50_ns"] = stats.age_p50_ns;
  figures["age_p95_ns"] = stats.age_p95_ns;
  figures["age_max_ns"] = stats.age_max_ns;
  figures["memory_budget_bytes"] = stats.memory_budget_bytes;
  figures["memory_budget_used"] = stats.memory_budget_used;
  figures["returned"] = stats.returned;
  figures["skipped"] = stats.skipped;
  figures["reconnects"] = stats.reconnects;
  figures["stalls"] = stats.stalls;
  figures["copied"] = stats.copied;
  figures["width"] = stats.width;
  figures["height"] = stats.height;
  figures["fps"] = stats.fps;
  figures["last_error"] = stats.last_error;
  return figures;
}

std::string
describe_frame_info (const frame_info &info)
{
  return "FrameInfo(sequence=" + std::to_string (info.sequence)
         + ", skipped=" + std::to_string (info.skipped)
         + ", pts_ns=" + std::to_string (info.pts_ns)
         + ", age_ns=" + std::to_string (info.age_ns) + ", capture_time_ns="
         + std::to_string (info.capture_time_ns) + ", received="
         + py::repr (py::float_ (monotonic_seconds (info.received)))
               .cast<std::string> ()
         + ", connection=" + std::to_string (info.connection) + ")";
}

const char *const module_doc
    = R"doc(Always the newest frame of a camera, as a NumPy array.

latestframe.Capture reads a camera (RTSP, a V4L2 device, a file played at its
own pace, a GStreamer pipeline) so that every read returns the newest frame
there is, never one returned before, however slow the reader: the frames it
had no time for are dropped inside GStreamer, before conversion. It mirrors
cv2.VideoCapture (open, isOpened, read, release, get), so switching is one
line:

    import latestframe

    with latestframe.Capture("rtsp://127.0.0.1:8554/cam") as camera:
        for frame, info in camera:          # until the stream ends
            analyse(frame)                  # as slow as it needs
            print(info.sequence, info.skipped, info.age_ns)

Frames are NumPy arrays over the frame's own memory (no copy), writable.
)doc";

const char *const frame_info_doc
    = R"doc(What read_with_info() says about the frame it returned (read-only).

sequence: 1 for the first frame the capture received since open, counted
    across reconnections.
skipped: frames received since the previous frame returned that will never
    be returned.
pts_ns: the frame's timestamp in its stream, ns (-1 without one).
age_ns: how old the frame was when latestframe handed it over, ns: since the
    camera captured it when the stream tells (capture_time_ns set), else
    since the receiver timestamped it, before decoding; -1 without either.
capture_time_ns: when the camera captured the frame, Unix time ns on this
    host's clock (time.time_ns()), as the stream tells it; -1 when it does
    not.
received: when the frame entered the pipeline, seconds on time.monotonic()'s
    clock: time.monotonic() - info.received is its age now.
connection: 1 for the first connection, +1 per reconnection.
)doc";

const char *const capture_doc_head = R"doc(
A source read as "always the newest frame", with cv2.VideoCapture's
interface. With a source, opens it at once (as cv2.VideoCapture does);
without one, open() it later. The options are keywords only; open() starts
from the ones given here.

source: a str: an rtsp:// or rtsps:// URI, a file:// (or other) URI, played
    at its own pace as a camera would deliver it, a V4L2 device
    (/dev/videoN), or a GStreamer pipeline description whose last element
    outputs raw video ("videotestsrc is-live=true ! video/x-raw,width=640");
    or an int: the camera /dev/video<int>.

Options (times in seconds):
)doc";

const char *const capture_doc_tail = R"doc(
Errors: as with cv2, a source that cannot be opened does not raise: the
constructor returns a closed capture and open() returns False; last_error
says why. The same holds for option values the capture refuses (an unknown
format or RTSP protocol). A wrong type for an option (or a NaN time, a
negative byte count) raises TypeError or ValueError at once, as in any
Python call; so does an unknown keyword.

Frames: read() returns NumPy arrays that share the frame's memory (no copy:
frame.flags.owndata is False, frame.base holds the frame). The frame stays
alive, and counted in latestframe's memory accounting, as long as the array
or a view of it does. Arrays are writable, uint8 (uint16 for GRAY16_LE),
(h, w, channels) or (h, w) for one channel, with the frame's strides (rows
may be padded). stats()['copied'] counts the frames that had to be copied
(those the decoder still references, when asking for its own format).

Iteration: `for frame, info in camera` yields (array, FrameInfo) until the
capture has ended (the end of a file, or of a live source that does not
reconnect) or is closed; while it connects or reconnects, it waits.

Context manager: `with Capture(url) as camera:` releases it on exit.

Threads: open, read and release wait without holding the GIL, and Ctrl-C
interrupts them. Threads sharing a capture take turns to open and read;
release() from another thread stops a waiting read, which returns (False,
None). state, last_error and stats() may be used from any thread. The
capture's own threads never call into Python.
)doc";

const char *const open_doc = R"doc(open(source, **options) -> bool

Closes what was open, starts reading `source` (as in Capture()) and waits,
up to open_timeout, for its first frame. True when one came; False, and
closed, otherwise: last_error says why. The options are those given to
Capture(), with the keywords given here instead, for this open only.
)doc";

const char *const read_doc
    = R"doc(read(timeout=None) -> (bool, numpy.ndarray | None)

The newest frame not returned before, as cv2.VideoCapture.read returns a
frame: (True, frame), or (False, None) when none came within `timeout`
seconds (read_timeout when None), after the end of a stream, or when closed.
Never returns the same frame twice.
)doc";

const char *const read_with_info_doc
    = R"doc(read_with_info(timeout=None) -> (numpy.ndarray | None, FrameInfo | None)

As read(), with what the capture says about the frame: (frame, info), or
(None, None).
)doc";

const char *const get_doc = R"doc(get(prop_id) -> float

cv2.VideoCapture.get for CAP_PROP_FRAME_WIDTH, CAP_PROP_FRAME_HEIGHT and
CAP_PROP_FPS (0 until known; fps 0 also for a variable rate); 0.0 for any
other property, as in cv2.
)doc";

const char *const set_doc = R"doc(set(prop_id, value) -> False

Changes nothing and says so, as cv2 does for a property a backend does not
support, so that code written for cv2 runs unchanged (often
set(cv2.CAP_PROP_BUFFERSIZE, 1), which latestframe makes needless). The
options are keywords of Capture() and open().
)doc";

const char *const stats_doc = R"doc(stats() -> dict

The capture's figures, by the names of latestframe::capture_stats:
latestframe's counts summed over connections (received, pushed, dropped and
by reason), the current connection's held and in-flight bytes, peak, frame
ages and memory budget, the capture's own counts (returned, skipped,
reconnects, stalls, copied), width, height, fps, last_error, and state (a
str).
)doc";

/* Runs `ask` on the capture without the GIL: the capture answers under its
 * own lock, which its threads may hold for a while. */
template <typename question>
auto
asked_without_gil (const question &ask)
{
  py::gil_scoped_release unlocked;
  return ask ();
}

} // namespace

PYBIND11_MODULE (_latestframe, m)
{
  /* The docstrings start with the signatures as Python users write them,
   * rather than pybind11's (`handle`, `**kwargs`). */
  py::options docstrings;
  docstrings.disable_function_signatures ();

  m.doc () = module_doc;
  m.attr ("__version__") = LATESTFRAME_VERSION;
  m.attr ("CAP_PROP_FRAME_WIDTH") = cap_prop_frame_width;
  m.attr ("CAP_PROP_FRAME_HEIGHT") = cap_prop_frame_height;
  m.attr ("CAP_PROP_FPS") = cap_prop_fps;

  py::class_<frame_info> frame_info_class (m, "FrameInfo", frame_info_doc);
  frame_info_class
      .def_readonly ("sequence", &frame_info::sequence,
                     "1 for the first frame received since open, across "
                     "reconnections.")
      .def_readonly ("skipped", &frame_info::skipped,
                     "Frames received since the previous frame returned that "
                     "will never be returned.")
      .def_readonly ("pts_ns", &frame_info::pts_ns,
                     "The frame's timestamp in its stream, ns (-1 without "
                     "one).")
      .def_readonly ("age_ns", &frame_info::age_ns,
                     "How old the frame was when latestframe handed it over, "
                     "ns: from its capture time when known (-1 without a "
                     "timestamp).")
      .def_readonly ("capture_time_ns", &frame_info::capture_time_ns,
                     "When the camera captured the frame, Unix time ns on "
                     "this host's clock, as the stream tells it (-1 when it "
                     "does not).")
      .def_property_readonly (
          "received",
          [] (const frame_info &info) {
            return monotonic_seconds (info.received);
          },
          "When the frame entered the pipeline: seconds on "
          "time.monotonic()'s clock.")
      .def_readonly ("connection", &frame_info::connection,
                     "1 for the first connection, +1 per reconnection.")
      .def ("__repr__", &describe_frame_info);

  static const std::string capture_doc
      = describe_constructor () + capture_doc_head + describe_option_keywords ()
        + capture_doc_tail;
  py::class_<python_capture> capture_class (m, "Capture", capture_doc.c_str ());
  capture_class
      .def (py::init ([] (py::object source, const py::kwargs &given) {
              auto self = std::make_unique<python_capture> ();
              self->configured = options_with (capture_options{}, given);
              if (!source.is_none ())
                open_capture (*self, source, py::kwargs ());
              return self;
            }),
            py::arg ("source") = py::none (),
            "Capture(source=None, **options): see help(latestframe.Capture).")
      .def ("open", &open_capture, py::arg ("source"), open_doc)
      .def (
          "isOpened",
          [] (python_capture &self) {
            return asked_without_gil ([&] { return self.camera.isOpened (); });
          },
          "isOpened() -> bool\n\nTrue from a successful open until "
          "release(), through reconnections\nand after the end of a file.")
      .def (
          "read",
          [] (python_capture &self, py::handle timeout) {
            std::optional<frame_read> taken
                = read_newest (self, timeout_or_default (self, timeout));
            if (!taken)
              return py::make_tuple (false, py::none ());
            return py::make_tuple (true,
                                   array_sharing (std::move (taken->frame)));
          },
          py::arg ("timeout") = py::none (), read_doc)
      .def (
          "read_with_info",
          [] (python_capture &self, py::handle timeout) {
            std::optional<frame_read> taken
                = read_newest (self, timeout_or_default (self, timeout));
            if (!taken)
              return py::make_tuple (py::none (), py::none ());
            return py::make_tuple (array_sharing (std::move (taken->frame)),
                                   taken->info);
          },
          py::arg ("timeout") = py::none (), read_with_info_doc)
      .def (
          "release",
          [] (python_capture &self) {
            asked_without_gil ([&] { self.camera.release (); });
          },
          "release() -> None\n\nStops the pipeline and frees it; a read "
          "waiting in another thread\nreturns (False, None). Frames already "
          "read stay valid. Idempotent.")
      .def (
          "get",
          [] (python_capture &self, int property) {
            const latestframe::capture_stats stats
                = asked_without_gil ([&] { return self.camera.stats (); });
            switch (property)
              {
              case cap_prop_frame_width:
                return static_cast<double> (stats.width);
              case cap_prop_frame_height:
                return static_cast<double> (stats.height);
              case cap_prop_fps:
                return stats.fps;
              default:
                return 0.0;
              }
          },
          py::arg ("prop_id"), get_doc)
      .def (
          "set", [] (python_capture &, int, double) { return false; },
          py::arg ("prop_id"), py::arg ("value"), set_doc)
      .def (
          "stats",
          [] (python_capture &self) {
            return stats_as_dict (
                asked_without_gil ([&] { return self.camera.stats (); }));
          },
          stats_doc)
      .def_property_readonly (
          "state",
          [] (python_capture &self) {
            return std::string (latestframe::to_string (
                asked_without_gil ([&] { return self.camera.state (); })));
          },
          "'closed', 'connecting', 'streaming', 'reconnecting' or 'ended'.")
      .def_property_readonly (
          "last_error",
          [] (python_capture &self) {
            return asked_without_gil (
                [&] { return self.camera.last_error (); });
          },
          "Why the last open failed or the last connection ended ('' if "
          "none did).")
      .def (
          "__enter__", [] (py::object self) { return self; },
          "__enter__() -> Capture\n\nThe capture itself.")
      .def (
          "__exit__",
          [] (python_capture &self, py::args) {
            asked_without_gil ([&] { self.camera.release (); });
          },
          "__exit__(*exception) -> None\n\nReleases the capture.")
      .def (
          "__iter__", [] (py::object self) { return self; },
          "__iter__() -> Capture\n\nThe capture itself: iterating yields "
          "(frame, FrameInfo) until\nthe capture has ended or is closed.")
      .def (
          "__next__",
          [] (python_capture &self) {
            /* Nothing for a while is not the end: a live source may be
             * reconnecting. The iteration ends only when the capture has. */
            constexpr milliseconds patience{ 1000 };
            for (;;)
              {
                std::optional<frame_read> taken = read_newest (self, patience);
                if (taken)
                  return py::make_tuple (
                      array_sharing (std::move (taken->frame)), taken->info);
                const capture_state state
                    = asked_without_gil ([&] { return self.camera.state (); });
                if (state == capture_state::ended
                    || state == capture_state::closed)
                  throw py::stop_iteration ();
              }
          },
          "__next__() -> (numpy.ndarray, FrameInfo)\n\nThe next newest frame "
          "and what the capture says about it;\nStopIteration once the "
          "capture has ended or is closed.")
      .def ("__repr__", [] (python_capture &self) {
        const capture_state state
            = asked_without_gil ([&] { return self.camera.state (); });
        return "<latestframe.Capture "
               + py::repr (py::str (self.source)).cast<std::string> () + " "
               + latestframe::to_string (state) + ">";
      });

  /* Users import them from the package. */
  frame_info_class.attr ("__module__") = "latestframe";
  capture_class.attr ("__module__") = "latestframe";
}
