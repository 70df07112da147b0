"""Sums up meson test logs as test cases: gtest and gst-check binaries count
their own cases; any other test counts as one. A binary that failed without
reporting its failed cases (a crash, a timeout, a sanitizer report at exit)
counts one failure more. Prints "N passed, N failed" last; exits 1 on any
failure."""
import argparse
import json
import re
import sys

GTEST_PASSED = re.compile(r"^\[  PASSED  \] (\d+) tests?\.", re.M)
GTEST_FAILED = re.compile(r"^\[  FAILED  \] (\d+) tests?, listed below", re.M)
CHECK_SUMMARY = re.compile(r"^\d+%: Checks: (\d+), Failures: (\d+), Errors: (\d+)", re.M)


def count(result):
    out = (result.get("stdout") or "") + (result.get("stderr") or "")
    ok = result["result"] in ("OK", "EXPECTEDFAIL")
    skipped = result["result"] == "SKIP"
    passed = failed = 0
    gtest_passed = GTEST_PASSED.findall(out)
    check = CHECK_SUMMARY.findall(out)
    if gtest_passed or GTEST_FAILED.search(out):
        passed = sum(int(n) for n in gtest_passed)
        failed = sum(int(n) for n in GTEST_FAILED.findall(out))
    elif check:
        for checks, failures, errors in check:
            passed += int(checks) - int(failures) - int(errors)
            failed += int(failures) + int(errors)
    elif skipped:
        return 0, 0, 1
    else:
        return (1, 0, 0) if ok else (0, 1, 0)
    if not ok and failed == 0:
        failed = 1
    return passed, failed, 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--broken", type=int, default=0,
                        help="builds that failed before their tests ran")
    parser.add_argument("logs", nargs="*")
    args = parser.parse_args()
    passed, failed, skipped = 0, args.broken, 0
    for path in args.logs:
        try:
            with open(path, encoding="utf-8") as log:
                results = [json.loads(line) for line in log if line.strip()]
        except OSError as error:
            print(f"{path}: {error}")
            failed += 1
            continue
        for result in results:
            p, f, s = count(result)
            print(f"{path.split('/')[0]:12} {result['name']:28} {result['result']:8} {p} passed, {f} failed")
            passed, failed, skipped = passed + p, failed + f, skipped + s
    tail = f", {skipped} skipped" if skipped else ""
    print(f"{passed} passed, {failed} failed{tail}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
