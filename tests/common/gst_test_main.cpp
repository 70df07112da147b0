/* main() of the GoogleTest programs that use GStreamer: initialises it
 * before the tests and deinitialises it after, so that the leaks tracer
 * and the sanitizers see a clean exit. */
#include <gst/gst.h>
#include <gtest/gtest.h>

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  ::testing::InitGoogleTest (&argc, argv);
  const int failed = RUN_ALL_TESTS ();
  gst_deinit ();
  return failed;
}
