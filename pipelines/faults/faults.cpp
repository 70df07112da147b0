/* latestframe-faults: runs one fault of the matrix against one pipeline
 * shape and prints its row as a JSON line (pipelines/faults.sh runs them
 * all, each in its own process under the leaks tracer, and prints the
 * table).
 *   latestframe-faults --list
 *   latestframe-faults --fault NAME --shape SHAPE [--full] [--seed N] [--check]
 * --check: exit 1 when the row fails (as faults_report.py judges it), so
 * that a fault can be a test of the suite on its own.
 * The camera faults start LATESTFRAME_TESTCAM (else latestframe-testcam from
 * PATH). */
#include "faults.h"

#include <gst/gst.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace lff = latestframe::faults;

namespace
{

std::vector<lff::fault>
all_faults ()
{
  std::vector<lff::fault> faults = lff::camera_faults ();
  for (lff::fault &f : lff::element_faults ())
    faults.push_back (std::move (f));
  return faults;
}

int
usage ()
{
  std::fprintf (stderr, "usage: latestframe-faults --list\n"
                        "       latestframe-faults --fault NAME --shape SHAPE "
                        "[--full] [--seed N] [--check]\n");
  return 2;
}

} // namespace

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  lff::fault_settings settings;
  std::string name, shape;
  bool list = false, check = false;
  for (int i = 1; i < argc; i++)
    {
      const bool has_value = i + 1 < argc;
      if (std::strcmp (argv[i], "--list") == 0)
        list = true;
      else if (std::strcmp (argv[i], "--full") == 0)
        settings.full = true;
      else if (std::strcmp (argv[i], "--fault") == 0 && has_value)
        name = argv[++i];
      else if (std::strcmp (argv[i], "--shape") == 0 && has_value)
        shape = argv[++i];
      else if (std::strcmp (argv[i], "--seed") == 0 && has_value)
        settings.seed
            = static_cast<std::uint32_t> (std::strtoul (argv[++i], nullptr, 10));
      else if (std::strcmp (argv[i], "--check") == 0)
        check = true;
      else
        return usage ();
    }
  const std::vector<lff::fault> faults = all_faults ();
  if (list)
    {
      /* One line per fault and shape: "NAME SHAPE  summary". */
      for (const lff::fault &f : faults)
        for (const std::string &s : f.shapes)
          std::printf ("%s %s\t%s\n", f.name, s.c_str (), f.summary);
      return 0;
    }
  for (const lff::fault &f : faults)
    if (name == f.name)
      for (const std::string &s : f.shapes)
        if (s == shape)
          {
            lff::fault_row row = f.run (settings, shape);
            row.fault = f.name;
            row.shape = shape;
            lff::print_row (row);
            const std::string failed = lff::row_failures (row);
            if (check && !failed.empty ())
              std::fprintf (stderr, "%s %s failed: %s\n", f.name,
                            shape.c_str (), failed.c_str ());
            return check && !failed.empty () ? 1 : 0;
          }
  std::fprintf (stderr, "no fault %s for shape %s (--list)\n", name.c_str (),
                shape.c_str ());
  return 2;
}
