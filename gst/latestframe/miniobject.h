/* RAII holders for GStreamer mini objects.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

#include <utility>

namespace latestframe
{

/* A mini object held by a queue: owns one reference (buffers, events), or
 * borrows the object when its owner waits for it to be handled (serialized
 * queries stay owned by the thread that sent them). Move-only. */
class held_object
{
public:
  /* Holds nothing. */
  held_object () : object_ (nullptr), owned_ (false) {}

  static held_object owning (GstMiniObject *object)
  {
    return held_object (object, true);
  }
  static held_object borrowing (GstMiniObject *object)
  {
    return held_object (object, false);
  }

  held_object (held_object &&other) noexcept
      : object_ (std::exchange (other.object_, nullptr)), owned_ (other.owned_)
  {
  }
  held_object &operator= (held_object &&other) noexcept
  {
    if (this != &other)
      {
        reset ();
        object_ = std::exchange (other.object_, nullptr);
        owned_ = other.owned_;
      }
    return *this;
  }
  held_object (const held_object &) = delete;
  held_object &operator= (const held_object &) = delete;
  ~held_object () { reset (); }

  GstMiniObject *get () const { return object_; }

  /* Hands the reference (if owned) to the caller. */
  GstMiniObject *release () { return std::exchange (object_, nullptr); }

private:
  held_object (GstMiniObject *object, bool owned)
      : object_ (object), owned_ (owned)
  {
  }

  void reset ()
  {
    GstMiniObject *object = std::exchange (object_, nullptr);
    if (object && owned_)
      gst_mini_object_unref (object);
  }

  GstMiniObject *object_;
  bool owned_;
};

} // namespace latestframe
