"""The parts of the docs and schemas made from the core's lists, rendered
from `latestframe-reference` (src/core/tools): the drop reasons' table in
docs/memory.md (between its two markers) and the `dropped_by_reason` object
of schema/health.schema.json.

    reference.py --program build/src/core/latestframe-reference --check
    reference.py --program build/src/core/latestframe-reference --write

--check (the suite) fails naming each file that differs from what the core
says; --write rewrites them. Nothing else in those files is touched."""
import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "src/core/latestframe/drop_reasons.h"
MEMORY_DOC = ROOT / "docs" / "memory.md"
HEALTH_SCHEMA = ROOT / "schema" / "health.schema.json"
BEGIN = f"<!-- drop reasons: generated from {SOURCE} by tests/docs/reference.py --write -->"
END = "<!-- end of the generated drop reasons -->"


def drop_reasons_table(reasons):
    rows = ["| reason | `stats` fields | capture, Python | meaning |",
            "| --- | --- | --- | --- |"]
    for reason in reasons:
        name = reason["name"]
        python = "dropped_" + name.replace("-", "_")
        rows.append(f"| `{name}` | `dropped-{name}`, `dropped-{name}-bytes` "
                    f"| `dropped_for (drop_reason::{name.replace('-', '_')})`, "
                    f"`{python}` | {reason['meaning']} |")
    return "\n".join(rows)


def with_table(doc, table):
    begin, end = doc.find(BEGIN), doc.find(END)
    if begin < 0 or end < begin:
        raise SystemExit(f"{MEMORY_DOC.relative_to(ROOT)}: the markers are missing")
    return doc[:begin + len(BEGIN)] + "\n\n" + table + "\n\n" + doc[end:]


def dropped_by_reason_schema(reasons, indent):
    pad = " " * indent
    names = ", ".join(json.dumps(reason["name"]) for reason in reasons)
    properties = ",\n".join(
        f'{pad}    {json.dumps(reason["name"])}: {{ "$ref": "#/$defs/count", '
        f'"description": {json.dumps(reason["meaning"])} }}'
        for reason in reasons)
    return ("{\n"
            f'{pad}  "$comment": "Generated from {SOURCE} by tests/docs/reference.py --write.",\n'
            f'{pad}  "type": "object", "additionalProperties": false,\n'
            f'{pad}  "required": [{names}],\n'
            f'{pad}  "properties": {{\n{properties}\n{pad}  }}\n'
            f"{pad}}}")


def object_end(text, start):
    """The index after the JSON object that opens at text[start]."""
    depth, in_string, escaped = 0, False, False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index + 1
    raise SystemExit(f"{HEALTH_SCHEMA.relative_to(ROOT)}: unbalanced braces")


def with_schema(schema_text, reasons):
    key = '"dropped_by_reason": '
    at = schema_text.find(key)
    if at < 0:
        raise SystemExit(f"{HEALTH_SCHEMA.relative_to(ROOT)}: no dropped_by_reason")
    start = at + len(key)
    line_start = schema_text.rfind("\n", 0, at) + 1
    indent = at - line_start
    updated = (schema_text[:start] + dropped_by_reason_schema(reasons, indent)
               + schema_text[object_end(schema_text, start):])
    json.loads(updated)  # still JSON
    return updated


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--program", required=True)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true")
    action.add_argument("--write", action="store_true")
    args = parser.parse_args()
    reasons = json.loads(subprocess.run([args.program], check=True,
                                        capture_output=True, text=True).stdout)["drop_reasons"]
    outputs = {
        MEMORY_DOC: with_table(MEMORY_DOC.read_text(), drop_reasons_table(reasons)),
        HEALTH_SCHEMA: with_schema(HEALTH_SCHEMA.read_text(), reasons),
    }
    stale = [path for path, text in outputs.items() if path.read_text() != text]
    if args.write:
        for path in stale:
            path.write_text(outputs[path])
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    for path in stale:
        print(f"FAIL {path.relative_to(ROOT)} is not what {SOURCE} says: "
              f"run tests/docs/reference.py --write")
    print(f"{len(reasons)} drop reasons; {len(outputs) - len(stale)} of "
          f"{len(outputs)} files up to date")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
