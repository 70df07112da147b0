/* latestframe capture — owning pointers for GStreamer objects.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

#include <memory>

namespace latestframe::detail
{

struct object_unref
{
  void operator() (gpointer object) const { gst_object_unref (object); }
};
template <typename T> using object_ptr = std::unique_ptr<T, object_unref>;

struct mini_object_unref
{
  void operator() (gpointer object) const
  {
    gst_mini_object_unref (GST_MINI_OBJECT_CAST (object));
  }
};
template <typename T>
using mini_object_ptr = std::unique_ptr<T, mini_object_unref>;
using sample_ptr = mini_object_ptr<GstSample>;
using buffer_ptr = mini_object_ptr<GstBuffer>;

struct structure_free
{
  void operator() (GstStructure *structure) const
  {
    gst_structure_free (structure);
  }
};
using structure_ptr = std::unique_ptr<GstStructure, structure_free>;

} // namespace latestframe::detail
