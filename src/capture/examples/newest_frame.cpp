/* latestframe-capture-example: the newest frame of a camera, analysed.
 *
 * What hand-rolled "latest frame" readers try to do: read an RTSP camera,
 * run an OpenCV analysis slower than the camera on its newest frame, and
 * report what it found, how old the frame was and how many frames went by
 * unanalysed. Here the reading is latestframe::capture; the analysis is
 * motion (background subtraction, then the moving blobs' boxes).
 *
 *   latestframe-capture-example rtsp://127.0.0.1:8554/test --seconds 10
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <latestframe/capture.h>

#include <opencv2/imgproc.hpp>
#include <opencv2/video/background_segm.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace
{

using namespace std::chrono_literals;

/* Boxes around the moving regions of `frame`, at least `min_area` pixels. */
std::vector<cv::Rect>
moving_regions (cv::BackgroundSubtractor &background, const cv::Mat &frame,
                double min_area)
{
  cv::Mat foreground;
  background.apply (frame, foreground);
  cv::threshold (foreground, foreground, 200, 255, cv::THRESH_BINARY);
  cv::morphologyEx (foreground, foreground, cv::MORPH_OPEN,
                    cv::getStructuringElement (cv::MORPH_RECT, { 3, 3 }));
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours (foreground, contours, cv::RETR_EXTERNAL,
                    cv::CHAIN_APPROX_SIMPLE);
  std::vector<cv::Rect> boxes;
  for (const auto &contour : contours)
    if (cv::contourArea (contour) >= min_area)
      boxes.push_back (cv::boundingRect (contour));
  return boxes;
}

int
usage (const char *program)
{
  std::fprintf (stderr,
                "usage: %s URI [--seconds N] [--extra-ms N] [--protocols "
                "tcp|udp] [--username NAME --password PASSWORD]\n"
                "  URI: rtsp://..., file:///..., /dev/videoN or a pipeline "
                "description\n"
                "  --seconds N   stop after N seconds (default: run until the "
                "end of the stream)\n"
                "  --extra-ms N  make the analysis N ms slower, as a heavier "
                "one would be (default 0)\n"
                "  --username NAME, --password PASSWORD  an RTSP camera's "
                "credentials, any character as it is (or percent-encoded in "
                "the URI: rtsp://NAME:PASSWORD@...)\n",
                program);
  return 2;
}

} // namespace

int
main (int argc, char **argv)
{
  if (argc < 2 || argv[1][0] == '-')
    return usage (argv[0]);
  const std::string uri = argv[1];
  double seconds = 0;
  int extra_ms = 0;
  latestframe::capture_options options;
  for (int i = 2; i < argc; i += 2)
    {
      if (i + 1 >= argc)
        return usage (argv[0]);
      if (!std::strcmp (argv[i], "--seconds"))
        seconds = std::atof (argv[i + 1]);
      else if (!std::strcmp (argv[i], "--extra-ms"))
        extra_ms = std::atoi (argv[i + 1]);
      else if (!std::strcmp (argv[i], "--protocols"))
        options.protocols = argv[i + 1];
      else if (!std::strcmp (argv[i], "--username"))
        options.username = argv[i + 1];
      else if (!std::strcmp (argv[i], "--password"))
        options.password = argv[i + 1];
      else
        return usage (argv[0]);
    }

  /* With cv::VideoCapture this line would be `cv::VideoCapture camera (uri);`.
   */
  latestframe::capture camera (uri, options);
  if (!camera.isOpened ())
    {
      /* Not the URI itself, which may hold a password: the error names
       * the camera with it hidden. */
      std::fprintf (stderr, "cannot open the camera: %s\n",
                    camera.last_error ().c_str ());
      return 1;
    }

  cv::Ptr<cv::BackgroundSubtractorMOG2> background
      = cv::createBackgroundSubtractorMOG2 (200, 16, false);
  const auto start = std::chrono::steady_clock::now ();
  cv::Mat frame, small;
  latestframe::frame_info info;
  std::uint64_t analysed = 0;
  while (seconds <= 0
         || std::chrono::steady_clock::now () - start
                < std::chrono::duration<double> (seconds))
    {
      if (!camera.read (frame, 2000ms, &info))
        {
          if (camera.state () == latestframe::capture_state::ended)
            break;
          std::printf ("no frame for 2 s (%s)\n",
                       latestframe::to_string (camera.state ()));
          continue;
        }
      const double age_ms
          = std::chrono::duration<double, std::milli> (
                std::chrono::steady_clock::now () - info.received)
                .count ();
      /* Analyse at 320 pixels wide: motion needs no more. */
      const double scale = 320.0 / frame.cols;
      cv::resize (frame, small, {}, scale, scale, cv::INTER_AREA);
      std::vector<cv::Rect> boxes = moving_regions (*background, small, 40);
      if (extra_ms > 0)
        std::this_thread::sleep_for (std::chrono::milliseconds (extra_ms));
      analysed++;
      std::printf ("frame %llu (%dx%d): %zu moving, %llu skipped, %.1f ms "
                   "old when read",
                   static_cast<unsigned long long> (info.sequence), frame.cols,
                   frame.rows, boxes.size (),
                   static_cast<unsigned long long> (info.skipped), age_ms);
      for (const cv::Rect &box : boxes)
        std::printf (" [%d,%d %dx%d]", static_cast<int> (box.x / scale),
                     static_cast<int> (box.y / scale),
                     static_cast<int> (box.width / scale),
                     static_cast<int> (box.height / scale));
      std::printf ("\n");
    }

  const latestframe::capture_stats stats = camera.stats ();
  std::printf ("analysed %llu of %llu frames received (%llu skipped, "
               "%llu dropped in latestframe); reconnects %llu; %s\n",
               static_cast<unsigned long long> (analysed),
               static_cast<unsigned long long> (stats.received),
               static_cast<unsigned long long> (stats.skipped),
               static_cast<unsigned long long> (stats.dropped),
               static_cast<unsigned long long> (stats.reconnects),
               latestframe::to_string (stats.state));
  camera.release ();
  return analysed > 0 ? 0 : 1;
}
