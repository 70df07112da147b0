/* latestframe-service — each camera's newest analysed frame as a JPEG.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "snapshots.h"

#include "latestframe/analysis.h"

#include <glib.h>
#include <opencv2/imgproc.hpp>

#include <csetjmp>
#include <cstdio> /* before jpeglib.h, which needs FILE */
#include <cstdlib>
#include <jpeglib.h>

#include <cmath>
#include <ctime>
#include <exception>
#include <tuple>
#include <vector>

namespace latestframe::service
{

namespace
{

/* A decimal number of at most 9 digits, nothing else; -1 otherwise. */
int
small_number (const std::string &text)
{
  if (text.empty () || text.size () > 9
      || text.find_first_not_of ("0123456789") != std::string::npos)
    return -1;
  return std::stoi (text);
}

http_answer
plain (const char *status, std::string message)
{
  http_answer reply;
  reply.status = status;
  reply.content_type = "text/plain";
  reply.body = std::move (message) + "\n";
  return reply;
}

/* libjpeg's way out of an error: back to the setjmp in jpeg_of, not
 * libjpeg's default exit(). */
struct jpeg_failure
{
  jpeg_error_mgr manager;
  std::jmp_buf back;
};

void
jpeg_failed (j_common_ptr info)
{
  std::longjmp (reinterpret_cast<jpeg_failure *> (info->err)->back, 1);
}

/* An 8-bit BGR image as a JPEG of this quality, by libjpeg(-turbo) itself;
 * empty when it fails. Not cv::imencode: libopencv_imgcodecs brings GDAL,
 * GDCM, Poppler and some 75 other libraries into the process at start,
 * about 29 MiB resident whether a snapshot is ever asked for or not.
 * Nothing with a destructor lives between the setjmp and a longjmp. */
std::string
jpeg_of (const cv::Mat &bgr, int quality)
{
  jpeg_compress_struct info;
  jpeg_failure failure;
  unsigned char *data = nullptr;
  unsigned long size = 0;
  info.err = jpeg_std_error (&failure.manager);
  failure.manager.error_exit = jpeg_failed;
  if (setjmp (failure.back))
    {
      jpeg_destroy_compress (&info);
      std::free (data);
      return {};
    }
  jpeg_create_compress (&info);
  jpeg_mem_dest (&info, &data, &size);
  info.image_width = static_cast<JDIMENSION> (bgr.cols);
  info.image_height = static_cast<JDIMENSION> (bgr.rows);
  info.input_components = 3;
  info.in_color_space = JCS_EXT_BGR;
  jpeg_set_defaults (&info);
  jpeg_set_quality (&info, quality, TRUE);
  jpeg_start_compress (&info, TRUE);
  while (info.next_scanline < info.image_height)
    {
      JSAMPROW row = const_cast<JSAMPROW> (bgr.ptr<JSAMPLE> (
          static_cast<int> (info.next_scanline)));
      jpeg_write_scanlines (&info, &row, 1);
    }
  jpeg_finish_compress (&info);
  jpeg_destroy_compress (&info);
  std::string jpeg (reinterpret_cast<const char *> (data), size);
  std::free (data);
  return jpeg;
}

/* The frame as the options ask, as a JPEG; empty when libjpeg cannot. */
std::string
encode (const analysed_frame &frame, const snapshot_options &options)
{
  cv::Mat image = frame.image;
  if (options.boxes)
    /* image is the capture's copy, ours to draw on. */
    draw_boxes (image, channel_order::bgr, frame.regions);
  if (options.width > 0 && options.width != image.cols)
    {
      const int height = std::max (
          1, static_cast<int> (std::lround (static_cast<double> (image.rows)
                                            * options.width / image.cols)));
      cv::Mat scaled;
      cv::resize (image, scaled, cv::Size (options.width, height), 0, 0,
                  cv::INTER_AREA);
      image = scaled;
    }
  if (image.type () != CV_8UC3)
    return {};
  return jpeg_of (image, options.quality);
}

} // namespace

bool
snapshot_options::operator< (const snapshot_options &other) const
{
  return std::tie (width, quality, boxes)
         < std::tie (other.width, other.quality, other.boxes);
}

bool
parse_snapshot_options (const std::string &query, snapshot_options &options,
                        std::string &problem)
{
  snapshot_options read;
  std::size_t start = 0;
  while (start < query.size ())
    {
      std::size_t end = query.find ('&', start);
      if (end == std::string::npos)
        end = query.size ();
      const std::string pair = query.substr (start, end - start);
      start = end + 1;
      if (pair.empty ())
        continue;
      const std::size_t equals = pair.find ('=');
      const std::string key = pair.substr (0, equals);
      const std::string value
          = equals == std::string::npos ? "" : pair.substr (equals + 1);
      const int number = small_number (value);
      if (key == "width")
        {
          if (number < 1)
            {
              problem = "width: \"" + value + "\" is not a width in pixels (1 "
                                              "up to the frame's)";
              return false;
            }
          read.width = number;
        }
      else if (key == "quality")
        {
          if (number < 1 || number > 100)
            {
              problem = "quality: \"" + value + "\" is not 1..100";
              return false;
            }
          read.quality = number;
        }
      else if (key == "boxes")
        {
          if (number != 0 && number != 1)
            {
              problem = "boxes: \"" + value + "\" is not 0 or 1";
              return false;
            }
          read.boxes = number == 1;
        }
      else
        {
          problem = "unknown option \"" + key
                    + "\" (width, quality, boxes)";
          return false;
        }
    }
  options = read;
  return true;
}

std::string
http_date (std::int64_t unix_ns)
{
  /* Fixed English names: strftime's follow the locale. */
  static const char *const days[]
      = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
  static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May",
                                        "Jun", "Jul", "Aug", "Sep", "Oct",
                                        "Nov", "Dec" };
  const std::time_t seconds = static_cast<std::time_t> (unix_ns / 1000000000);
  std::tm utc{};
  gmtime_r (&seconds, &utc);
  char text[64];
  std::snprintf (text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                 days[utc.tm_wday], utc.tm_mday, months[utc.tm_mon],
                 utc.tm_year + 1900, utc.tm_hour, utc.tm_min, utc.tm_sec);
  return text;
}

void
camera_snapshots::update (std::map<std::string, std::shared_ptr<capture>> cameras)
{
  checked_lock guard (lock_);
  /* A camera gone (or restarted: a new capture) starts with no JPEG. */
  for (auto cache = caches_.begin (); cache != caches_.end ();)
    {
      const auto camera = cameras.find (cache->first);
      const auto before = cameras_.find (cache->first);
      if (camera == cameras.end () || before == cameras_.end ()
          || camera->second != before->second)
        cache = caches_.erase (cache);
      else
        ++cache;
    }
  cameras_ = std::move (cameras);
}

std::shared_ptr<const std::string>
camera_snapshots::camera_cache::cached (snapshot_options options) const
{
  if (options.width == frame.width)
    options.width = 0;
  const auto done = jpegs.find (options);
  return done == jpegs.end () ? nullptr : done->second;
}

std::map<std::string, std::uint64_t>
camera_snapshots::encodes () const
{
  checked_lock guard (lock_);
  return encodes_;
}

http_answer
camera_snapshots::answer (const std::string &id, const std::string &query)
{
  std::shared_ptr<capture> camera;
  std::shared_ptr<camera_cache> cache;
  {
    checked_lock guard (lock_);
    const auto found = cameras_.find (id);
    if (found == cameras_.end ())
      return plain ("404 Not Found", "no camera \"" + id + "\" here");
    camera = found->second;
    std::shared_ptr<camera_cache> &slot = caches_[id];
    if (!slot)
      slot = std::make_shared<camera_cache> ();
    cache = slot;
  }
  snapshot_options options;
  std::string problem;
  if (!parse_snapshot_options (query, options, problem))
    return plain ("400 Bad Request", problem);

  frame_facts facts;
  std::shared_ptr<const std::string> jpeg;
  {
    checked_lock encoding (cache->encoding);
    /* The frame encoded last is still the newest: no copy of it needed
     * unless these options are new. */
    const std::uint64_t newest = camera->last_analysed_sequence ();
    if (newest == 0 || newest != cache->frame.sequence)
      {
        cache->jpegs.clear ();
        cache->frame = {};
      }
    if (cache->frame.sequence != 0)
      jpeg = cache->cached (options);
    facts = cache->frame;
    if (!jpeg)
      {
        analysed_frame frame;
        if (!camera->last_analysed (frame))
          {
            http_answer reply
                = plain ("503 Service Unavailable",
                         "camera \"" + id
                             + "\" has no analysed frame (or none kept) yet");
            reply.headers.emplace_back ("Retry-After", "1");
            return reply;
          }
        facts = { frame.sequence, frame.analysed_unix_ns,
                  frame.capture_time_ns, frame.image.cols };
        if (frame.sequence != cache->frame.sequence)
          {
            cache->jpegs.clear ();
            cache->frame = facts;
          }
        if (options.width > facts.width)
          return plain ("400 Bad Request",
                        "width: " + std::to_string (options.width)
                            + " is wider than the frame ("
                            + std::to_string (facts.width) + ")");
        if (options.width == facts.width)
          options.width = 0;
        /* Frames without a sequence cannot be told apart: never cached. */
        if (facts.sequence != 0)
          jpeg = cache->cached (options);
        if (!jpeg)
          {
            try
              {
                jpeg = std::make_shared<const std::string> (
                    encode (frame, options));
              }
            catch (const std::exception &error)
              {
                return plain ("500 Internal Server Error",
                              std::string ("cannot encode the frame: ")
                                  + error.what ());
              }
            if (jpeg->empty ())
              return plain ("500 Internal Server Error",
                            "cannot encode the frame as a JPEG");
            {
              checked_lock guard (lock_);
              ++encodes_[id];
            }
            if (facts.sequence != 0)
              cache->jpegs[options] = jpeg;
          }
      }
  }

  http_answer reply;
  reply.status = "200 OK";
  reply.content_type = "image/jpeg";
  reply.body = *jpeg;
  if (facts.analysed_unix_ns >= 0)
    reply.headers.emplace_back ("Last-Modified",
                                http_date (facts.analysed_unix_ns));
  /* Only by the camera's clock: an age from the receiver's timestamps
   * would say how long the frame spent here, not how old the picture is. */
  if (facts.capture_time_ns >= 0)
    {
      const std::int64_t age_ns
          = g_get_real_time () * 1000 - facts.capture_time_ns;
      reply.headers.emplace_back (
          "X-Frame-Age-Ms", std::to_string (std::max<std::int64_t> (age_ns, 0)
                                            / 1000000));
    }
  return reply;
}

} // namespace latestframe::service
