/* The capture API on local sources (videotestsrc descriptions, a generated
 * file): newest-frame semantics, timeouts, formats, zero-copy frames, the
 * end of a file, and errors. Runs plain and under ASan+UBSan. Waits are for
 * events (a frame, a count reaching a value), bounded by generous deadlines
 * that only fail a test when the event never comes; where a test is about
 * time, it checks what happened meanwhile, not how long it took. */
#include "common/leaks_tracer.h"
#include "latestframe/capture.h"

#include <glib/gstdio.h>
#include <gst/gst.h>
#include <opencv2/imgproc.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace
{

using namespace std::chrono_literals;
using latestframe::analysed_frame;
using latestframe::capture;
using latestframe::capture_options;
using latestframe::capture_state;
using latestframe::drop_reason;
using latestframe::frame_info;

using steady = std::chrono::steady_clock;

const std::string live_320x240_30fps
    = "videotestsrc is-live=true pattern=ball "
      "! video/x-raw,width=320,height=240,framerate=30/1";

/* Waits until `camera` has received `count` frames in all (latestframe's
 * count, which sequence numbers follow), at most `deadline`: a bound for
 * failing, not an expectation. */
::testing::AssertionResult
wait_received (const capture &camera, std::uint64_t count,
               std::chrono::seconds deadline = 30s)
{
  const auto end = steady::now () + deadline;
  for (;;)
    {
      const std::uint64_t received = camera.stats ().received;
      if (received >= count)
        return ::testing::AssertionSuccess ();
      if (steady::now () >= end)
        return ::testing::AssertionFailure ()
               << received << " frames received in " << deadline.count ()
               << " s, waiting for " << count;
      std::this_thread::sleep_for (10ms);
    }
}

/* A live 64x64 source at `framerate` (GStreamer's fraction, "1/3"): slow
 * ones for the waits of read() and the watchdog. */
std::string
live_64x64_at (const std::string &framerate)
{
  return "videotestsrc is-live=true ! video/x-raw,width=64,height=64,"
         "framerate="
         + framerate;
}

capture_options
quick_options ()
{
  capture_options options;
  options.open_timeout = 10s;
  options.read_timeout = 5s;
  return options;
}

// A format read() cannot hand out as a Mat is refused at open, with the
// formats it can.
// latestframe's counts hold under the capture: every frame received was
// handed to read(), dropped (the ones read() passed over as superseded) or
// is held.
void
expect_counts_hold (const latestframe::capture &camera)
{
  const latestframe::capture_stats stats = camera.stats ();
  EXPECT_EQ (stats.received, stats.pushed + stats.dropped + stats.held_frames)
      << stats.received << " received, " << stats.pushed << " handed over, "
      << stats.dropped << " dropped, " << stats.held_frames << " held";
  std::uint64_t by_reason = 0;
  for (const std::uint64_t count : stats.dropped_by_reason)
    by_reason += count;
  EXPECT_EQ (by_reason, stats.dropped) << "a drop reason the capture misses";
}

TEST (Capture_Open, RefusesAnUnknownFormat)
{
  capture_options options = quick_options ();
  options.format = "YUY2";
  capture camera;
  EXPECT_FALSE (camera.open (live_320x240_30fps, options));
  EXPECT_FALSE (camera.isOpened ());
  EXPECT_NE (camera.last_error ().find ("BGR"), std::string::npos)
      << camera.last_error ();
}

// Unknown RTSP transports are refused at open, with the known ones.
TEST (Capture_Open, RefusesUnknownRtspProtocols)
{
  capture_options options = quick_options ();
  options.protocols = "tcp+carrier-pigeon";
  capture camera;
  EXPECT_FALSE (camera.open ("rtsp://127.0.0.1:1/cam", options));
  EXPECT_NE (camera.last_error ().find ("udp-mcast"), std::string::npos)
      << camera.last_error ();
}

// A URI whose user part cannot be read, and credentials given both in the
// URI and as options, are refused at open, in words that show no password;
// so is a description holding a URI with one that does not parse.
TEST (Capture_Open, RefusesCredentialsItCannotUse)
{
  capture camera;
  EXPECT_FALSE (camera.open ("rtsp://admin:p@ss/w#rd@127.0.0.1:1/cam",
                             quick_options ()));
  EXPECT_EQ (camera.last_error (),
             "the user part of the URI cannot be read: percent-encode it (@ "
             "as %40, : as %3A, / as %2F, # as %23, % as %25, space as %20) "
             "or give the username and password options");
  EXPECT_EQ (camera.state (), capture_state::closed);
  capture_options options = quick_options ();
  options.username = "admin";
  options.password = "Hunter2";
  EXPECT_FALSE (camera.open ("rtsp://admin:Hunter2@127.0.0.1:1/cam", options));
  EXPECT_NE (camera.last_error ().find ("give one or the other"),
             std::string::npos)
      << camera.last_error ();
  EXPECT_EQ (camera.last_error ().find ("Hunter2"), std::string::npos);
  EXPECT_FALSE (camera.open (
      "rtspsrc location=rtsp://admin:Hunter2@127.0.0.1:1/cam ! no-such-thing",
      quick_options ()));
  EXPECT_NE (camera.last_error ().find ("rtsp://***@127.0.0.1:1/cam"),
             std::string::npos)
      << camera.last_error ();
  EXPECT_EQ (camera.last_error ().find ("Hunter2"), std::string::npos);
}

// A description that does not parse fails open at once with GStreamer's
// reason, without waiting for open_timeout or retrying.
TEST (Capture_Open, ReportsAPipelineThatCannotBeBuilt)
{
  capture_options options = quick_options ();
  options.open_timeout = 60s;
  const auto start = steady::now ();
  capture camera;
  EXPECT_FALSE (camera.open ("no-such-element-here", options));
  EXPECT_LT (steady::now () - start, 30s) << "waited for open_timeout";
  EXPECT_NE (camera.last_error ().find ("no-such-element-here"),
             std::string::npos)
      << camera.last_error ();
  EXPECT_EQ (camera.state (), capture_state::closed);
}

// A source that never delivers a frame fails open after open_timeout.
TEST (Capture_Open, FailsWhenNoFrameComes)
{
  capture_options options = quick_options ();
  options.open_timeout = 500ms;
  capture camera;
  EXPECT_FALSE (camera.open ("appsrc is-live=true format=time "
                             "caps=video/x-raw,format=I420,width=64,height=64,"
                             "framerate=30/1",
                             options));
  EXPECT_FALSE (camera.isOpened ());
  EXPECT_NE (camera.last_error ().find ("no frame"), std::string::npos)
      << camera.last_error ();
}

// With an analysis, latestframe pushes every frame it hands over into it
// (counted as pushed, the rest dropped or held) and read() has nothing,
// saying why at once.
TEST (Capture_Analysis, FramesGoToTheAnalysisNotToRead)
{
  capture_options options = quick_options ();
  options.analysis = "identity name=analysed";
  capture camera;
  ASSERT_TRUE (camera.open (live_320x240_30fps, options))
      << camera.last_error ();
  ASSERT_TRUE (wait_received (camera, 10));
  const auto deadline = steady::now () + 30s;
  while (camera.stats ().pushed < 5 && steady::now () < deadline)
    std::this_thread::sleep_for (10ms);
  EXPECT_GE (camera.stats ().pushed, 5u);
  cv::Mat frame;
  const std::uint64_t received = camera.stats ().received;
  EXPECT_FALSE (camera.read (frame, 60s));
  // Without waiting out its timeout: far fewer than 60 s of frames came.
  EXPECT_LT (camera.stats ().received, received + 600) << "read() waited";
  EXPECT_NE (camera.last_error ().find ("analysis"), std::string::npos)
      << camera.last_error ();
  camera.release ();
  expect_counts_hold (camera);
}

// With an analysis, last_analysed() copies out the newest frame the
// analysis passed on, in BGR at the stream's size, with its sequence and
// when it was handed over; without an analysis there is none.
TEST (Capture_Analysis, LastAnalysedIsTheNewestAnalysedFrame)
{
  capture_options options = quick_options ();
  options.analysis = "identity";
  capture camera;
  ASSERT_TRUE (camera.open (live_320x240_30fps, options))
      << camera.last_error ();
  const auto deadline = steady::now () + 30s;
  while (camera.stats ().pushed < 3 && steady::now () < deadline)
    std::this_thread::sleep_for (10ms);
  analysed_frame first;
  ASSERT_TRUE (camera.last_analysed (first));
  EXPECT_EQ (first.image.type (), CV_8UC3);
  EXPECT_EQ (first.image.size (), cv::Size (320, 240));
  EXPECT_GE (first.sequence, 1u);
  EXPECT_TRUE (first.regions.empty ());
  const std::int64_t now_ns
      = std::chrono::duration_cast<std::chrono::nanoseconds> (
            std::chrono::system_clock::now ().time_since_epoch ())
            .count ();
  EXPECT_GT (first.analysed_unix_ns, 0);
  EXPECT_LE (first.analysed_unix_ns, now_ns);
  const std::uint64_t pushed = camera.stats ().pushed;
  while (camera.stats ().pushed < pushed + 3 && steady::now () < deadline)
    std::this_thread::sleep_for (10ms);
  analysed_frame later;
  ASSERT_TRUE (camera.last_analysed (later));
  EXPECT_GT (later.sequence, first.sequence);
  EXPECT_GE (camera.last_analysed_sequence (), later.sequence);
  camera.release ();
  EXPECT_FALSE (camera.last_analysed (later));
  EXPECT_EQ (camera.last_analysed_sequence (), 0u);
  expect_counts_hold (camera);

  capture reader;
  ASSERT_TRUE (reader.open (live_320x240_30fps, quick_options ()))
      << reader.last_error ();
  analysed_frame none;
  EXPECT_FALSE (reader.last_analysed (none));
  EXPECT_EQ (reader.last_analysed_sequence (), 0u);
}

// With last_analysed_kept_for, the newest analysed frame is kept only from
// a call of last_analysed() on and for that long after the last one: the
// first call finds none, later ones the newest, and once nobody has asked
// for a while the pipeline holds no frame (nothing in flight) until the
// next call.
TEST (Capture_Analysis, LastAnalysedIsKeptOnlyAWhileAfterTheLastCall)
{
  capture_options options = quick_options ();
  options.analysis = "identity";
  options.last_analysed_kept_for = 500ms;
  capture camera;
  ASSERT_TRUE (camera.open (live_320x240_30fps, options))
      << camera.last_error ();
  auto deadline = steady::now () + 30s;
  while (camera.stats ().pushed < 3 && steady::now () < deadline)
    std::this_thread::sleep_for (10ms);
  ASSERT_GE (camera.stats ().pushed, 3u);
  analysed_frame frame;
  EXPECT_FALSE (camera.last_analysed (frame)) << "kept before any call";

  deadline = steady::now () + 10s;
  bool kept = false;
  while (!(kept = camera.last_analysed (frame)) && steady::now () < deadline)
    std::this_thread::sleep_for (50ms);
  ASSERT_TRUE (kept) << "no frame kept after a call";
  // Asked for more often than kept_for: kept all along.
  for (int call = 0; call < 20; call++)
    {
      std::this_thread::sleep_for (50ms);
      EXPECT_NE (camera.last_analysed_sequence (), 0u) << "call " << call;
      EXPECT_GT (camera.stats ().in_flight_bytes, 0u) << "call " << call;
    }

  // Not asked for: let go of, so that at times no frame is in flight (a
  // kept one always is).
  deadline = steady::now () + 10s;
  bool let_go = false;
  while (!(let_go = camera.stats ().in_flight_bytes == 0)
         && steady::now () < deadline)
    std::this_thread::sleep_for (5ms);
  EXPECT_TRUE (let_go) << "the frame stayed kept without calls";
  EXPECT_FALSE (camera.last_analysed (frame)) << "kept without calls";
  deadline = steady::now () + 10s;
  while (!(kept = camera.last_analysed (frame)) && steady::now () < deadline)
    std::this_thread::sleep_for (50ms);
  EXPECT_TRUE (kept) << "no frame kept after the next call";
  camera.release ();
  expect_counts_hold (camera);
}

// An analysis fragment that does not parse fails open with GStreamer's
// reason, naming the element.
TEST (Capture_Analysis, ABadFragmentFailsOpen)
{
  capture_options options = quick_options ();
  options.analysis = "cvnosuchanalysis";
  capture camera;
  EXPECT_FALSE (camera.open (live_320x240_30fps, options));
  EXPECT_NE (camera.last_error ().find ("cvnosuchanalysis"), std::string::npos)
      << camera.last_error ();
}

// In the background, open() returns before any frame, and the capture
// keeps trying a source that is not there yet instead of giving up: it is
// still connecting or reconnecting after several of its open_timeouts.
TEST (Capture_Open, InTheBackgroundKeepsTrying)
{
  capture_options options = quick_options ();
  options.open_timeout = 100ms;
  options.backoff_initial = 20ms;
  options.backoff_max = 50ms;
  options.open_in_background = true;
  capture camera;
  // Builds, then fails to start: a camera that is down.
  ASSERT_TRUE (
      camera.open ("filesrc location=/nonexistent/latestframe-camera", options))
      << camera.last_error ();
  const auto deadline = steady::now () + 30s;
  while (camera.stats ().reconnects < 3 && steady::now () < deadline)
    std::this_thread::sleep_for (10ms);
  EXPECT_GE (camera.stats ().reconnects, 3u) << camera.last_error ();
  EXPECT_TRUE (camera.isOpened ());
  const capture_state state = camera.state ();
  EXPECT_TRUE (state == capture_state::connecting
               || state == capture_state::reconnecting)
      << latestframe::to_string (state);
}

// A reader as fast as the source gets every frame once: sequence numbers
// and timestamps strictly increase, and nothing is skipped but what the
// reader was too slow for.
TEST (Capture_Read, NeverReturnsAFrameTwice)
{
  capture camera (live_320x240_30fps, quick_options ());
  ASSERT_TRUE (camera.isOpened ()) << camera.last_error ();
  cv::Mat frame;
  frame_info info, previous;
  for (int i = 0; i < 40; i++)
    {
      ASSERT_TRUE (camera.read (frame, 5s, &info)) << "read " << i;
      ASSERT_EQ (frame.cols, 320);
      ASSERT_EQ (frame.rows, 240);
      ASSERT_EQ (frame.type (), CV_8UC3);
      if (i > 0)
        {
          EXPECT_GT (info.sequence, previous.sequence);
          EXPECT_GT (info.pts_ns, previous.pts_ns);
          EXPECT_EQ (info.skipped, info.sequence - previous.sequence - 1);
        }
      previous = info;
    }
  expect_counts_hold (camera);
}

// A reader slower than the source gets the newest frame each time (none
// received before it asked is newer) and is told how many it skipped: every
// frame is either returned or skipped. Its "analysis" lasts until three
// more frames came: slower than the source however loaded the machine.
TEST (Capture_Read, SkipsToTheNewestWithASlowReader)
{
  capture camera (live_320x240_30fps, quick_options ());
  ASSERT_TRUE (camera.isOpened ()) << camera.last_error ();
  cv::Mat frame;
  frame_info info;
  std::uint64_t reads = 0, skipped = 0, last_sequence = 0;
  for (int i = 0; i < 12; i++)
    {
      const std::uint64_t received_before = camera.stats ().received;
      ASSERT_TRUE (camera.read (frame, 5s, &info));
      const std::uint64_t received_after = camera.stats ().received;
      EXPECT_GT (info.sequence, last_sequence);
      /* The newest: received before the read returned, and no frame
       * received before it asked is newer. */
      EXPECT_GE (info.sequence, received_before) << "read " << i;
      EXPECT_LE (info.sequence, received_after) << "read " << i;
      reads++;
      skipped += info.skipped;
      last_sequence = info.sequence;
      ASSERT_TRUE (wait_received (camera, info.sequence + 3));
    }
  EXPECT_EQ (reads + skipped, last_sequence);
  EXPECT_GT (skipped, reads)
      << "a reader slower than the source skipped too few";
  latestframe::capture_stats stats = camera.stats ();
  EXPECT_EQ (stats.returned, reads);
  EXPECT_EQ (stats.skipped, skipped);
  EXPECT_GE (stats.received, last_sequence);
  EXPECT_EQ (stats.state, capture_state::streaming);
  /* latestframe keeps the newest frame; the older ones it drops while the
   * reader is busy are the ones read() skipped, counted as superseded. */
  EXPECT_GE (stats.dropped_for (drop_reason::superseded), skipped);
  EXPECT_EQ (stats.dropped_for (drop_reason::overflow), 0u);
  EXPECT_EQ (stats.reconnects, 0u);
  expect_counts_hold (camera);
}

// read() waits its timeout when no newer frame exists, and gives up before
// the next frame comes (a read that waited for it would return it); a later
// read returns the next frame when it comes.
TEST (Capture_Read, TimesOutWhenNothingNewerComes)
{
  capture_options options = quick_options ();
  options.stall_timeout = 10s;
  capture camera (live_64x64_at ("1/3"), options);
  ASSERT_TRUE (camera.isOpened ()) << camera.last_error ();
  cv::Mat frame;
  ASSERT_TRUE (camera.read (frame, 5s));
  /* The next frame is 3 s away. */
  const std::uint64_t received = camera.stats ().received;
  const auto start = steady::now ();
  EXPECT_FALSE (camera.read (frame, 200ms));
  EXPECT_GE (steady::now () - start, 200ms);
  EXPECT_EQ (camera.stats ().received, received)
      << "the read gave up only once the next frame came";
  EXPECT_EQ (camera.state (), capture_state::streaming);
  EXPECT_TRUE (camera.read (frame, 6s)) << "the next frame never came";
  expect_counts_hold (camera);
}

// The watchdog, which counts frames every tenth of its timeout once they
// come: a source that stops sending (one frame, the next 30 s away) is
// caught, not before the timeout and within one and a half times it.
TEST (Capture_Watchdog, CatchesAStallNotBeforeItsTimeout)
{
  capture_options options = quick_options ();
  options.stall_timeout = 2s;
  options.backoff_initial = 100ms;
  /* The frame came after this, and was read before the next. */
  const auto before_open = steady::now ();
  capture camera (live_64x64_at ("1/30"), options);
  ASSERT_TRUE (camera.isOpened ()) << camera.last_error ();
  cv::Mat frame;
  ASSERT_TRUE (camera.read (frame, 5s));
  const auto after_read = steady::now ();
  while (camera.stats ().stalls == 0 && steady::now () - after_read < 20s)
    std::this_thread::sleep_for (20ms);
  const auto caught = steady::now ();
  const latestframe::capture_stats stats = camera.stats ();
  ASSERT_EQ (stats.stalls, 1u) << "no stall caught in 20 s";
  EXPECT_GE (caught - before_open, 2s) << "caught before the timeout";
  /* The reads every 200 ms overrun it by 400 ms at most; the rest is
   * room for a loaded machine. */
  EXPECT_LT (caught - after_read, 3s) << "caught late";
  EXPECT_NE (stats.last_error.find ("no frame for 2000 ms"), std::string::npos)
      << stats.last_error;
}

// Two captures naming one memory budget share its cap: what they hold and
// have in flight together never exceeds it, and frames that do not fit are
// dropped and counted as budget drops.
TEST (Capture_Read, CapturesShareAMemoryBudget)
{
  const std::string source = "videotestsrc is-live=true "
                             "! video/x-raw,format=BGR,width=160,height=120,"
                             "framerate=30/1";
  const std::uint64_t frame_bytes = 160 * 120 * 3;
  capture_options options = quick_options ();
  options.memory_budget = "capture-test-two-cameras";
  options.memory_budget_bytes = 2 * frame_bytes;
  capture first (source, options), second (source, options);
  ASSERT_TRUE (first.isOpened ()) << first.last_error ();
  ASSERT_TRUE (second.isOpened ()) << second.last_error ();
  /* One reader thread per camera, as applications read cameras. Each
   * keeps its frame (in flight) while it "analyses" it, until two more
   * frames reached its camera, and latestframe holds the next: more than
   * two frames' worth, so some arrivals are dropped for the budget. Each
   * reader lets its frame go before it asks for the next, so neither can
   * wait for ever on the other. */
  std::atomic<std::uint64_t> most_used{ 0 };
  std::atomic<int> failed_reads{ 0 }, failed_waits{ 0 };
  auto read_slowly = [&] (capture &camera) {
    cv::Mat kept;
    for (int i = 0; i < 20; i++)
      {
        kept.release ();
        if (!camera.read (kept, 5s))
          failed_reads++;
        std::uint64_t used = camera.stats ().memory_budget_used;
        std::uint64_t seen = most_used.load ();
        while (used > seen && !most_used.compare_exchange_weak (seen, used))
          ;
        if (!wait_received (camera, camera.stats ().received + 2))
          failed_waits++;
      }
  };
  std::thread reader_first (read_slowly, std::ref (first));
  std::thread reader_second (read_slowly, std::ref (second));
  reader_first.join ();
  reader_second.join ();
  EXPECT_EQ (failed_reads.load (), 0);
  EXPECT_EQ (failed_waits.load (), 0) << "a camera sent nothing for 30 s";
  const latestframe::capture_stats a = first.stats (), b = second.stats ();
  EXPECT_EQ (a.memory_budget_bytes, 2 * frame_bytes);
  EXPECT_GT (most_used.load (), 0u);
  EXPECT_LE (most_used.load (), 2 * frame_bytes);
  EXPECT_GT (a.dropped_for (drop_reason::budget)
                 + b.dropped_for (drop_reason::budget),
             0u);
  expect_counts_hold (first);
  expect_counts_hold (second);
}

// A live source that ends is a lost connection: the capture builds the
// pipeline again and frames come from the new one; without reconnect, the
// end is the end.
TEST (Capture_Read, LiveSourceThatEndsIsReconnected)
{
  const std::string ending = "videotestsrc is-live=true num-buffers=10 "
                             "! video/x-raw,width=64,height=64,framerate=30/1";
  capture_options options = quick_options ();
  options.backoff_initial = 50ms;
  capture camera (ending, options);
  ASSERT_TRUE (camera.isOpened ()) << camera.last_error ();
  cv::Mat frame;
  frame_info info;
  bool reconnected = false;
  for (int i = 0; i < 60 && !reconnected; i++)
    {
      ASSERT_TRUE (camera.read (frame, 5s, &info)) << camera.last_error ();
      reconnected = info.connection > 1;
    }
  EXPECT_TRUE (reconnected);
  EXPECT_GE (camera.stats ().reconnects, 1u);
  EXPECT_EQ (camera.stats ().last_error, "the stream ended");

  options.reconnect = false;
  capture once (ending, options);
  ASSERT_TRUE (once.isOpened ()) << once.last_error ();
  int reads = 0;
  while (once.read (frame, 5s))
    reads++;
  EXPECT_GE (reads, 1);
  EXPECT_LE (reads, 10);
  EXPECT_EQ (once.state (), capture_state::ended);
  expect_counts_hold (camera);
}

// At 5 fps a reader taking 280 ms per frame finds the newest frame about
// 80 ms old when it asks; with max_age at 50 ms read() refuses it and waits
// for the next one instead, so frames read are young. The hand-over
// (received + age) happened during the read; when read() refused a frame
// for its age, the one it returned came after it; and frames are within
// max_age as latestframe measured them at the hand-over, but for those
// that arrived older than that (latestframe hands the newest such frame over
// anyway, which a loaded machine causes now and then): at most half.
TEST (Capture_Read, MaxAgeWaitsForAYoungFrame)
{
  const auto max_age = 50ms;
  capture_options options = quick_options ();
  options.max_age = max_age;
  capture camera ("videotestsrc is-live=true "
                  "! video/x-raw,width=160,height=120,framerate=5/1",
                  options);
  ASSERT_TRUE (camera.isOpened ()) << camera.last_error ();
  cv::Mat frame;
  frame_info info;
  const int reads = 8;
  int over_max_age = 0;
  for (int i = 0; i < reads; i++)
    {
      const latestframe::capture_stats before = camera.stats ();
      const auto read_start = steady::now ();
      ASSERT_TRUE (camera.read (frame, 5s, &info));
      const auto read_end = steady::now ();
      EXPECT_GE (info.age_ns, 0);
      if (info.age_ns > std::chrono::nanoseconds (max_age).count ())
        over_max_age++;
      const auto handed_over
          = info.received + std::chrono::nanoseconds (info.age_ns);
      EXPECT_GE (handed_over, read_start) << "read " << i;
      EXPECT_LE (handed_over, read_end) << "read " << i;
      EXPECT_GE (info.sequence, before.received) << "read " << i;
      if (camera.stats ().dropped_for (drop_reason::age)
          > before.dropped_for (drop_reason::age))
        {
          EXPECT_GT (info.sequence, before.received)
              << "read " << i << " refused a frame and returned an older one";
        }
      /* The analysis: the newest frame ages meanwhile. */
      std::this_thread::sleep_for (280ms);
    }
  EXPECT_GT (camera.stats ().dropped_for (drop_reason::age), 0u)
      << "no read found the newest frame too old";
  EXPECT_LE (over_max_age, reads / 2) << "frames older than max_age";
  expect_counts_hold (camera);
}

// A frame read stays counted by latestframe as in flight while a Mat holds
// it, converted or not, and lands when the last Mat lets go.
TEST (Capture_Read, FrameStaysInFlightWhileAMatHoldsIt)
{
  for (const char *format : { "BGR", "I420" })
    {
      capture_options options = quick_options ();
      options.format = format;
      /* I420 from the source: read() converts it to BGR, or hands the
       * decoded frame itself over for I420. */
      capture camera ("videotestsrc is-live=true "
                      "! video/x-raw,format=I420,width=160,height=120,"
                      "framerate=30/1",
                      options);
      ASSERT_TRUE (camera.isOpened ()) << camera.last_error ();
      cv::Mat frame;
      ASSERT_TRUE (camera.read (frame, 5s)) << format;
      EXPECT_GE (camera.stats ().in_flight_bytes, 160u * 120 * 3 / 2) << format;
      frame.release ();
      /* The charge lands when the buffer goes back to its pool: at once. */
      EXPECT_EQ (camera.stats ().in_flight_bytes, 0u) << format;
      EXPECT_EQ (camera.stats ().copied, 0u) << format;
      expect_counts_hold (camera);
    }
}

// The Mat is the frame's own memory, not a copy: no frame is copied, the
// reader may write into it, and it stays valid after the capture is gone.
TEST (Capture_Read, MatReferencesTheFrameAndOutlivesTheCapture)
{
  cv::Mat frame;
  cv::Scalar before;
  {
    capture camera ("videotestsrc is-live=true pattern=solid-color "
                    "foreground-color=0xff3060c0 "
                    "! video/x-raw,width=160,height=120,framerate=30/1",
                    quick_options ());
    ASSERT_TRUE (camera.isOpened ()) << camera.last_error ();
    for (int i = 0; i < 5; i++)
      ASSERT_TRUE (camera.read (frame, 5s));
    EXPECT_EQ (camera.stats ().copied, 0u);
    /* The buffer's memory, not a Mat of its own. */
    ASSERT_NE (frame.u, nullptr);
    EXPECT_NE (frame.u->currAllocator, cv::Mat::getDefaultAllocator ());
    before = cv::mean (frame);
    camera.release ();
    EXPECT_FALSE (camera.isOpened ());
    EXPECT_FALSE (camera.read (frame, 100ms)) << "read after release";
  }
  EXPECT_EQ (cv::mean (frame), before);
  EXPECT_NEAR (before[0], 0xc0, 3); /* B */
  EXPECT_NEAR (before[1], 0x60, 3); /* G */
  EXPECT_NEAR (before[2], 0x30, 3); /* R */
  frame.setTo (cv::Scalar (1, 2, 3));
  EXPECT_EQ (cv::mean (frame), cv::Scalar (1, 2, 3));
  cv::Mat shared = frame;
  frame.release ();
  EXPECT_EQ (cv::mean (shared), cv::Scalar (1, 2, 3));
}

// Other formats come as the Mats OpenCV expects: GRAY8 one channel, I420
// a (height * 3 / 2) x width block that COLOR_YUV2BGR_I420 turns into the
// same picture as a BGR read.
TEST (Capture_Read, FormatsComeAsTheMatsOpenCvExpects)
{
  const std::string solid = "videotestsrc is-live=true pattern=solid-color "
                            "foreground-color=0xff3060c0 "
                            "! video/x-raw,width=160,height=120,"
                            "framerate=30/1";
  capture_options options = quick_options ();
  options.format = "GRAY8";
  cv::Mat gray;
  {
    capture camera (solid, options);
    ASSERT_TRUE (camera.isOpened ()) << camera.last_error ();
    ASSERT_TRUE (camera.read (gray, 5s));
  }
  EXPECT_EQ (gray.type (), CV_8UC1);
  EXPECT_EQ (gray.size (), cv::Size (160, 120));

  options.format = "I420";
  cv::Mat i420, bgr;
  {
    capture camera (solid, options);
    ASSERT_TRUE (camera.isOpened ()) << camera.last_error ();
    ASSERT_TRUE (camera.read (i420, 5s));
  }
  EXPECT_EQ (i420.type (), CV_8UC1);
  EXPECT_EQ (i420.size (), cv::Size (160, 180));
  cv::cvtColor (i420, bgr, cv::COLOR_YUV2BGR_I420);
  const cv::Scalar colour = cv::mean (bgr);
  EXPECT_NEAR (colour[0], 0xc0, 6);
  EXPECT_NEAR (colour[1], 0x60, 6);
  EXPECT_NEAR (colour[2], 0x30, 6);
}

// OpenCV's 4:2:0 layout has no odd sizes: such a frame is refused with a
// reason (and counted as skipped), while BGR reads it.
TEST (Capture_Read, OddSizedFramesAreRefusedInYuv420)
{
  const std::string odd = "videotestsrc is-live=true "
                          "! video/x-raw,width=161,height=121,framerate=30/1";
  capture_options options = quick_options ();
  options.format = "I420";
  cv::Mat frame;
  {
    capture camera (odd, options);
    ASSERT_TRUE (camera.isOpened ()) << camera.last_error ();
    EXPECT_FALSE (camera.read (frame, 5s));
    EXPECT_NE (camera.last_error ().find ("even sizes"), std::string::npos)
        << camera.last_error ();
    EXPECT_GE (camera.stats ().skipped, 1u);
  }
  options.format = "BGR";
  capture camera (odd, options);
  ASSERT_TRUE (camera.isOpened ()) << camera.last_error ();
  ASSERT_TRUE (camera.read (frame, 5s));
  EXPECT_EQ (frame.size (), cv::Size (161, 121));
}

class Capture_File : public ::testing::Test
{
protected:
  void SetUp () override
  {
    gchar *directory = g_dir_make_tmp ("latestframe-capture-XXXXXX", nullptr);
    ASSERT_NE (directory, nullptr);
    directory_ = directory;
    g_free (directory);
    path_ = directory_ + "/thirty-frames.avi";
    GError *error = nullptr;
    GstElement *writer = gst_parse_launch (
        ("videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240,"
         "framerate=30/1 ! jpegenc ! avimux ! filesink location="
         + path_)
            .c_str (),
        &error);
    ASSERT_NE (writer, nullptr) << (error ? error->message : "");
    gst_element_set_state (writer, GST_STATE_PLAYING);
    GstBus *bus = gst_element_get_bus (writer);
    GstMessage *done = gst_bus_timed_pop_filtered (
        bus, 30 * GST_SECOND,
        static_cast<GstMessageType> (GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    ASSERT_NE (done, nullptr);
    EXPECT_EQ (GST_MESSAGE_TYPE (done), GST_MESSAGE_EOS);
    gst_message_unref (done);
    gst_object_unref (bus);
    gst_element_set_state (writer, GST_STATE_NULL);
    gst_object_unref (writer);
  }
  void TearDown () override
  {
    g_remove (path_.c_str ());
    g_rmdir (directory_.c_str ());
  }
  std::string uri () const
  {
    gchar *uri = gst_filename_to_uri (path_.c_str (), nullptr);
    std::string result = uri;
    g_free (uri);
    return result;
  }

  std::string directory_, path_;
};

// A file plays at its own pace and ends: a fast reader gets frames in
// order, then read() returns false at once, the state says ended, and the
// capture stays open (as cv::VideoCapture does) until released.
TEST_F (Capture_File, EndsCleanly)
{
  capture camera (uri (), quick_options ());
  ASSERT_TRUE (camera.isOpened ()) << camera.last_error ();
  cv::Mat frame;
  frame_info info;
  std::uint64_t reads = 0, last_sequence = 0;
  while (camera.read (frame, 5s, &info))
    {
      EXPECT_GT (info.sequence, last_sequence);
      last_sequence = info.sequence;
      reads++;
      ASSERT_LE (reads, 30u);
    }
  EXPECT_EQ (camera.state (), capture_state::ended) << camera.last_error ();
  EXPECT_GE (reads, 10u) << "a reader as fast as the file missed most frames";
  EXPECT_LE (last_sequence, 30u);
  /* Without waiting for its timeout: bounded by the timeout itself. */
  const auto timeout = 60s;
  const auto start = steady::now ();
  EXPECT_FALSE (camera.read (frame, timeout));
  EXPECT_LT (steady::now () - start, timeout / 2)
      << "read after the end waited";
  EXPECT_TRUE (camera.isOpened ());
  camera.release ();
  EXPECT_EQ (camera.state (), capture_state::closed);
}

// A missing file fails open with the reason, without retrying.
TEST_F (Capture_File, MissingFileFailsOpen)
{
  capture camera;
  EXPECT_FALSE (camera.open (uri () + ".missing", quick_options ()));
  EXPECT_FALSE (camera.last_error ().empty ());
  EXPECT_EQ (camera.state (), capture_state::closed);
}

/* The objects alive now, as text (one line each). */
std::vector<std::string>
live_objects (GstTracer *tracer)
{
  std::vector<std::string> objects;
  if (GPtrArray *alive = leaks_tracer_live_objects (tracer))
    {
      for (guint i = 0; i < alive->len; i++)
        objects.emplace_back (
            static_cast<const gchar *> (g_ptr_array_index (alive, i)));
      g_ptr_array_unref (alive);
    }
  return objects;
}

// Opening, reading (frames kept past release) and releasing, over and over,
// leaves no GStreamer object or buffer alive (the leaks tracer's count).
TEST (Capture_Leaks, OpenReadReleaseLeavesNothingAlive)
{
  GstTracer *tracer = leaks_tracer_find ();
  ASSERT_NE (tracer, nullptr) << "run with GST_TRACERS=leaks";
  auto cycle = [] {
    cv::Mat kept, other;
    capture camera (live_320x240_30fps, quick_options ());
    ASSERT_TRUE (camera.isOpened ()) << camera.last_error ();
    ASSERT_TRUE (camera.read (kept, 5s));
    ASSERT_TRUE (camera.read (other, 5s));
    camera.release ();
  };
  cycle (); /* loads plugins and creates one-off objects */
  const std::vector<std::string> before = live_objects (tracer);
  for (int i = 0; i < 20; i++)
    cycle ();
  const std::vector<std::string> after = live_objects (tracer);
  std::vector<std::string> added = after;
  for (const std::string &object : before)
    {
      auto found = std::find (added.begin (), added.end (), object);
      if (found != added.end ())
        added.erase (found);
    }
  EXPECT_TRUE (added.empty ()) << [&] {
    std::string names = "alive after, not before:\n";
    for (const std::string &object : added)
      names += object + "\n";
    return names;
  }();
  gst_object_unref (tracer);
}

} // namespace
