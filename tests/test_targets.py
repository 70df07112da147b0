"""The ninja targets a build's tests need: each test's program and what it
depends on (meson introspect). `./tests/run.sh` builds only these in the
sanitizer builds, whose tests are a subset of the plain build's, so that
they do not compile the service, the benchmarks or the test camera for
nothing.

    python3 tests/test_targets.py BUILD_DIR   # prints the targets, one per line
"""
import json
import os
import subprocess
import sys


def introspect(build, what):
    return json.loads(subprocess.run(["meson", "introspect", build, what],
                                     check=True, capture_output=True, text=True).stdout)


def main():
    build = sys.argv[1]
    targets = introspect(build, "--targets")
    by_id = {target["id"]: target for target in targets}
    by_file = {path: target for target in targets for path in target["filename"]}
    needed = set()
    for test in introspect(build, "--tests"):
        needed.update(test.get("depends", []))
        program = by_file.get(test["cmd"][0])
        if program:
            needed.add(program["id"])
    outputs = sorted(os.path.relpath(path, build)
                     for target_id in needed if target_id in by_id
                     for path in by_id[target_id]["filename"])
    if not outputs:
        sys.exit(f"{build}: no test needs any target (is it configured?)")
    print("\n".join(outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
