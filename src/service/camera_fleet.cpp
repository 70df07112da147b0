/* latestframe-service — the cameras one process runs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "camera_fleet.h"

#include <gst/gst.h>

#include <algorithm>
#include <thread>

namespace latestframe::service
{

namespace
{

/* A value for a gst-launch property, quoted so that spaces and the
 * launch-line's own characters stay in it. */
std::string
quoted (const std::string &value)
{
  std::string out = "\"";
  for (const char c : value)
    {
      if (c == '"' || c == '\\')
        out += '\\';
      out += c;
    }
  return out + "\"";
}

/* Stops captures side by side: each release() takes its pipeline to NULL
 * and joins its supervisor, which one after the other would add up over
 * many cameras (and hold the service's main loop meanwhile). */
void
release_together (std::vector<std::shared_ptr<capture>> captures)
{
  std::vector<std::thread> stopping;
  for (std::shared_ptr<capture> &one : captures)
    stopping.emplace_back ([owned = std::move (one)] () mutable {
      owned->release ();
      owned.reset ();
    });
  for (std::thread &thread : stopping)
    thread.join ();
}

} // namespace

camera_fleet::camera_fleet (fleet_settings settings)
    : settings_ (std::move (settings))
{
}

camera_fleet::~camera_fleet () { stop_all (); }

std::string
camera_fleet::analysis_of (const camera_config &camera) const
{
  const broker_config &broker = settings_.broker;
  std::string fragment
      = camera.analyses.empty () ? std::string ("identity") : camera.analyses;
  fragment
      += " ! mqttpublish name=publish camera=" + quoted (camera.id)
         + " connection=" + quoted (settings_.connection) + " host="
         + quoted (broker.host) + " port=" + std::to_string (broker.port)
         + " qos=" + std::to_string (broker.qos) + " backlog="
         + std::to_string (std::max<std::uint32_t> (broker.backlog, 1))
         + " topic=" + quoted (broker.topic_prefix + "/{camera}/detections")
         + " publisher=" + quoted (settings_.publisher);
  return fragment;
}

capture_options
camera_fleet::options_of (const camera_config &camera) const
{
  capture_options options;
  options.analysis = analysis_of (camera);
  options.open_in_background = true;
  options.max_age = camera.max_age;
  options.decode = camera.decode;
  options.analysis_rate = camera.analysis_rate;
  options.protocols = camera.protocols;
  /* To rtspsrc's user-id and user-pw, never into a pipeline description
   * or a URI that a log line could show. */
  options.username = camera.username;
  options.password = camera.password;
  options.stall_timeout = camera.stall_timeout;
  if (camera.snapshot_frame == camera_config::frame_keeping::on_request)
    options.last_analysed_kept_for = snapshot_frame_kept_for;
  options.memory_budget = settings_.memory_budget;
  options.memory_budget_bytes = settings_.memory_budget_bytes;
  /* Many cameras lost together (a switch, the service's host) come back
   * spread out: the supervisor draws each wait between half and all of
   * the backoff. */
  options.backoff_initial = std::chrono::milliseconds (500);
  options.backoff_max = std::chrono::milliseconds (10000);
  return options;
}

void
camera_fleet::start (const camera_config &camera)
{
  running_camera &slot = running_[camera.id];
  slot.config = camera;
  slot.instance = ++starts_;
  slot.started = std::chrono::steady_clock::now ();
  slot.source = std::make_shared<capture> ();
  if (!slot.source->open (camera.uri, options_of (camera)))
    GST_WARNING ("camera %s (line %d) cannot start: %s", camera.id.c_str (),
                 camera.line, slot.source->last_error ().c_str ());
}

reload_plan
camera_fleet::apply (const std::vector<camera_config> &wanted)
{
  std::vector<camera_config> now_running;
  for (const std::string &id : order_)
    now_running.push_back (running_.at (id).config);
  const reload_plan plan = plan_reload (now_running, wanted);
  std::vector<std::shared_ptr<capture>> leaving;
  for (const auto *ids : { &plan.stop, &plan.restart })
    for (const std::string &id : *ids)
      {
        leaving.push_back (std::move (running_.at (id).source));
        running_.erase (id);
      }
  release_together (std::move (leaving));
  order_.clear ();
  for (const camera_config &camera : wanted)
    {
      order_.push_back (camera.id);
      if (running_.count (camera.id) == 0)
        start (camera);
      else
        /* Kept: its line may have moved. */
        running_.at (camera.id).config = camera;
    }
  return plan;
}

std::vector<camera_view>
camera_fleet::cameras () const
{
  std::vector<camera_view> views;
  for (const std::string &id : order_)
    {
      const running_camera &camera = running_.at (id);
      camera_view view;
      view.config = camera.config;
      view.stats = camera.source->stats ();
      view.instance = camera.instance;
      view.started = camera.started;
      views.push_back (std::move (view));
    }
  return views;
}

std::vector<closed_camera>
camera_fleet::closed_cameras () const
{
  std::vector<closed_camera> closed;
  for (const std::string &id : order_)
    {
      const running_camera &camera = running_.at (id);
      if (camera.source->state () != capture_state::closed)
        continue;
      std::string reason = camera.source->last_error ();
      if (!reason.empty ())
        closed.push_back (
            { camera.config, camera.instance, std::move (reason) });
    }
  return closed;
}

std::map<std::string, std::shared_ptr<capture>>
camera_fleet::captures () const
{
  std::map<std::string, std::shared_ptr<capture>> by_id;
  for (const auto &[id, camera] : running_)
    by_id.emplace (id, camera.source);
  return by_id;
}

void
camera_fleet::stop_all ()
{
  std::vector<std::shared_ptr<capture>> leaving;
  for (auto &[id, camera] : running_)
    leaving.push_back (std::move (camera.source));
  running_.clear ();
  order_.clear ();
  release_together (std::move (leaving));
}

} // namespace latestframe::service
