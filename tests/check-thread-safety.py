"""Clang's lock analysis (-Wthread-safety) over the code the suite's clang
build does not compile. That build (-Dfuzzing=true) leaves out OpenCV,
and with it the capture library and the service, whose locks are
annotated too (src/core/latestframe/thread_annotations.h). Here each
translation unit of src/ and gst/ in the plain build that includes an
annotated header is parsed again by clang++ with the plain build's own
flags (its compile_commands.json), its warnings off but the lock analysis
on and an error. Fails naming each unit clang refused, with clang's words.

    check-thread-safety.py CLANG++ BUILD_DIR SOURCE_DIR
"""
import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)


def includes(path):
    return {Path(name).name for name in INCLUDE.findall(path.read_text(errors="replace"))}


def annotated_headers(source_dir):
    """Names of the headers that include thread_annotations.h, or include
    one that does, among the project's (by file name: ours are unique)."""
    headers = {path.name: includes(path)
               for folder in ("src", "gst") for path in (source_dir / folder).rglob("*.h")}
    annotated = {"thread_annotations.h"}
    grew = True
    while grew:
        found = {name for name, named in headers.items() if named & annotated}
        grew = not found <= annotated
        annotated |= found
    return annotated


def clang_command(clang, entry):
    """The unit's compile command for clang++, parsing only: its compiler,
    output and dependency-file arguments and its warnings left out."""
    words = shlex.split(entry["command"])
    # The compiler, after ccache when ccache runs it.
    first = 1 + next(i for i, word in enumerate(words) if Path(word).name != "ccache")
    command, skip = [clang], False
    for word in words[first:]:
        if skip:
            skip = False
        elif word in ("-o", "-MF", "-MQ", "-MT"):
            skip = True
        elif word in ("-c", "-MD", "-MMD") or word.startswith("-W") or word == "-pedantic":
            continue
        else:
            command.append(word)
    return command + ["-fsyntax-only", "-fno-color-diagnostics", "-Wthread-safety",
                      "-Werror=thread-safety", "-Wno-unknown-warning-option"]


def check(clang, entry):
    done = subprocess.run(clang_command(clang, entry), cwd=entry["directory"],
                          capture_output=True, text=True)
    return entry["file"], done.returncode, done.stderr


def main():
    clang, build_dir = sys.argv[1], Path(sys.argv[2])
    source_dir = Path(sys.argv[3]).resolve()
    annotated = annotated_headers(source_dir)
    entries = json.loads((build_dir / "compile_commands.json").read_text())
    units = []
    for entry in entries:
        path = (Path(entry["directory"]) / entry["file"]).resolve()
        ours = path.is_relative_to(source_dir / "src") or path.is_relative_to(source_dir / "gst")
        if ours and path.suffix == ".cpp" and includes(path) & annotated:
            units.append(entry)
    if not units:
        sys.exit("no unit includes an annotated header: is the list of headers right?")
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for name, status, said in pool.map(lambda entry: check(clang, entry), units):
            print(f"{'ok' if status == 0 else 'FAIL'} {name}")
            if status != 0:
                failed += 1
                print(said, file=sys.stderr)
    print(f"{len(units) - failed} of {len(units)} units pass the lock analysis")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
