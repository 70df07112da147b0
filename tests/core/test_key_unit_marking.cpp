/* Unit tests of latestframe/key_unit_marking.h: when the segment
 * downstream says that key units alone follow. */
#include "latestframe/key_unit_marking.h"

#include <gtest/gtest.h>

namespace
{

using latestframe::key_unit_marking;
using change = key_unit_marking::change;

} // namespace

// Marked before a key unit alone, unmarked before any other frame, and
// nothing pushed while it stays.
TEST (KeyUnitMarking, MarksKeyUnitsAloneAndUnmarksOtherFrames)
{
  key_unit_marking marking;
  marking.new_segment (true, false);
  EXPECT_EQ (marking.before_frame (true, true).segment, change::mark);
  EXPECT_EQ (marking.before_frame (true, true).segment, change::none);
  EXPECT_EQ (marking.before_frame (false, false).segment, change::unmark);
  EXPECT_EQ (marking.before_frame (false, false).segment, change::none);
  EXPECT_EQ (marking.before_frame (true, true).segment, change::mark);
  marking.new_segment (true, false);
  EXPECT_FALSE (marking.marked ()) << "a new segment comes unmarked";
  EXPECT_EQ (marking.before_frame (true, true).segment, change::mark);
}

// The first key unit a decoder in that mode would skip ends the marking for
// the stream, with a warning only when it comes right after a marked one;
// new caps judge afresh.
TEST (KeyUnitMarking, AKeyUnitADecoderWouldSkipEndsIt)
{
  key_unit_marking marking;
  marking.new_segment (true, false);
  EXPECT_EQ (marking.before_frame (true, true).segment, change::mark);
  EXPECT_TRUE (marking.judges_key_units ());
  auto verdict = marking.before_frame (true, false);
  EXPECT_EQ (verdict.segment, change::unmark);
  EXPECT_TRUE (verdict.warn_may_be_skipped);
  EXPECT_FALSE (marking.judges_key_units ()) << "no key unit to read now";
  verdict = marking.before_frame (true, true);
  EXPECT_EQ (verdict.segment, change::none) << "not again on this stream";
  EXPECT_FALSE (verdict.warn_may_be_skipped);
  marking.new_caps ();
  EXPECT_TRUE (marking.judges_key_units ());
  EXPECT_EQ (marking.before_frame (true, true).segment, change::mark);

  key_unit_marking unmarked_first;
  unmarked_first.new_segment (true, false);
  verdict = unmarked_first.before_frame (true, false);
  EXPECT_EQ (verdict.segment, change::none);
  EXPECT_FALSE (verdict.warn_may_be_skipped) << "nothing was marked before it";
}

// A segment upstream marked keeps its flag, and one that cannot be marked
// (not TIME, or reverse) gets none.
TEST (KeyUnitMarking, LeavesUpstreamsFlagAndUnmarkableSegments)
{
  key_unit_marking marking;
  marking.new_segment (true, true);
  EXPECT_EQ (marking.before_frame (true, true).segment, change::none);
  EXPECT_EQ (marking.before_frame (false, false).segment, change::none);
  marking.new_segment (false, false);
  EXPECT_EQ (marking.before_frame (true, true).segment, change::none);
  EXPECT_FALSE (marking.marked ());
}
