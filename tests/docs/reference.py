"""The parts of the docs and schemas made from the code's own lists:
- from `latestframe-reference` (src/core/tools): the drop reasons' table in
  docs/memory.md (between its two markers), the `dropped_by_reason`
  object of schema/health.schema.json, and the `dropped_*` keys of the
  Python binding's stats() in its type stubs (between their markers);
- from `latestframe-config-reference` (src/service-core/tools): the
  configuration keys' table in docs/service.md (between its two markers)
  and the whole of schema/service-config.schema.json.

    reference.py --program build/src/core/latestframe-reference \
        --config-program build/src/service-core/latestframe-config-reference --check
    (the same with --write)

--check (the suite) fails naming each file that differs from what the code
says; --write rewrites them. Nothing else in those files is touched.
--check also validates against the configuration schema the example camera
list (which must use every key), the good test configs, and one bad one
that the schema must refuse (`decode: sometimes`)."""
import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "src/core/latestframe/drop_reasons.h"
MEMORY_DOC = ROOT / "docs" / "memory.md"
HEALTH_SCHEMA = ROOT / "schema" / "health.schema.json"
PYTHON_STUBS = ROOT / "src" / "capture" / "python" / "latestframe" / "_latestframe.pyi"
PYI_BEGIN = f"    # drop reasons: generated from {SOURCE} by tests/docs/reference.py --write"
PYI_END = "    # end of the generated drop reasons"
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


def stub_keys(reasons):
    """The stats() keys per reason, as the binding names them."""
    return "\n".join(f"    dropped_{reason['name'].replace('-', '_')}: int" for reason in reasons)


def with_lines(text, lines, begin_marker, end_marker, path):
    begin, end = text.find(begin_marker), text.find(end_marker)
    if begin < 0 or end < begin:
        raise SystemExit(f"{path.relative_to(ROOT)}: the markers are missing")
    return text[:begin + len(begin_marker)] + "\n" + lines + "\n" + text[end:]


def with_table(doc, table, begin_marker=BEGIN, end_marker=END, path=MEMORY_DOC):
    begin, end = doc.find(begin_marker), doc.find(end_marker)
    if begin < 0 or end < begin:
        raise SystemExit(f"{path.relative_to(ROOT)}: the markers are missing")
    return doc[:begin + len(begin_marker)] + "\n\n" + table + "\n\n" + doc[end:]


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


CONFIG_SOURCE = "src/service-core/service_config.cpp"
SERVICE_DOC = ROOT / "docs" / "service.md"
CONFIG_SCHEMA = ROOT / "schema" / "service-config.schema.json"
CONFIG_EXAMPLE = ROOT / "pipelines" / "service" / "cameras.example.yaml"
GOOD_CONFIGS = ROOT / "tests" / "service" / "configs" / "good"
REFUSED_CONFIG = ROOT / "tests" / "service" / "configs" / "bad" / "decode-unknown.yaml"
CONFIG_BEGIN = (f"<!-- configuration keys: generated from {CONFIG_SOURCE} "
                "by tests/docs/reference.py --write -->")
CONFIG_END = "<!-- end of the generated configuration keys -->"
# Where each section's keys are written, and which top-level map holds them.
KEY_PATHS = {"top": ["{}"], "broker": ["broker.{}"], "tls": ["broker.tls.{}"],
             "health": ["health.{}"],
             "metrics": ["metrics.{}"], "camera": ["cameras[].{}"],
             "setting": ["cameras[].{}", "defaults.{}"]}
MAP_SECTIONS = {"broker": "broker", "health": "health", "metrics": "metrics",
                "defaults": "setting"}
# The maps inside a section's map: section -> {key: the section of its keys}.
INNER_MAPS = {"broker": {"tls": "tls"}}


def config_keys_table(keys):
    rows = ["| key | value | meaning |", "| --- | --- | --- |"]
    for key in keys:
        where = ", ".join(f"`{path.format(key['name'])}`"
                          for path in KEY_PATHS[key["section"]])
        rows.append(f"| {where} | {key['value']} | {key['meaning']} |")
    return "\n".join(rows)


def config_schema(keys):
    def properties(section):
        return {key["name"]: ({"description": key["meaning"], **key["schema"]}
                              if key["schema"] is not None else
                              closed_map(key["meaning"], INNER_MAPS[section][key["name"]]))
                for key in keys if key["section"] == section}

    def closed_map(description, section):
        return {"description": description, "type": ["object", "null"],
                "additionalProperties": False, "properties": properties(section)}

    top = {}
    for key in keys:
        if key["section"] != "top":
            continue
        if key["schema"] is not None:
            top[key["name"]] = {"description": key["meaning"], **key["schema"]}
        elif key["name"] in MAP_SECTIONS:
            top[key["name"]] = closed_map(key["meaning"], MAP_SECTIONS[key["name"]])
        else:  # the cameras
            camera = closed_map("One camera.", "camera")
            camera["type"] = "object"
            camera["required"] = [k["name"] for k in keys if k["section"] == "camera"]
            camera["properties"].update(properties("setting"))
            top[key["name"]] = {"description": key["meaning"],
                                "type": ["array", "null"], "items": camera}
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://latestframe.invalid/schema/service-config.schema.json",
        "title": "latestframe-service camera list",
        "description": ("The configuration file of latestframe-service (docs/service.md). "
                        "Numbers are written as YAML numbers here; the service also "
                        "takes them quoted."),
        "$comment": f"Generated from {CONFIG_SOURCE} by tests/docs/reference.py --write.",
        "type": "object", "additionalProperties": False, "required": ["cameras"],
        "properties": top,
    }
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def config_problems(keys, schema_text):
    """What the schema says of the example and test configs; [] = all good."""
    import jsonschema
    import yaml
    validator = jsonschema.Draft202012Validator(json.loads(schema_text))
    problems = []
    for path in [CONFIG_EXAMPLE, *sorted(GOOD_CONFIGS.glob("*.yaml"))]:
        document = yaml.safe_load(path.read_text())
        for error in validator.iter_errors(document):
            problems.append(f"{path.relative_to(ROOT)}: {error.json_path}: {error.message}")
    refused = yaml.safe_load(REFUSED_CONFIG.read_text())
    if validator.is_valid(refused):
        problems.append(f"{REFUSED_CONFIG.relative_to(ROOT)}: the schema lets it through")
    example = yaml.safe_load(CONFIG_EXAMPLE.read_text())
    used = {("top", name) for name in example}
    for name, section in MAP_SECTIONS.items():
        used |= {(section, key) for key in (example.get(name) or {})}
        for key, inner in INNER_MAPS.get(section, {}).items():
            used |= {(inner, k) for k in ((example.get(name) or {}).get(key) or {})}
    for camera in example.get("cameras") or []:
        used |= {("camera", key) for key in camera} | {("setting", key) for key in camera}
    for key in keys:
        if (key["section"], key["name"]) not in used:
            problems.append(f"{CONFIG_EXAMPLE.relative_to(ROOT)}: does not show "
                            f"{KEY_PATHS[key['section']][0].format(key['name'])}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--program", required=True)
    parser.add_argument("--config-program", required=True)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true")
    action.add_argument("--write", action="store_true")
    args = parser.parse_args()
    reasons = json.loads(subprocess.run([args.program], check=True,
                                        capture_output=True, text=True).stdout)["drop_reasons"]
    keys = json.loads(subprocess.run([args.config_program], check=True,
                                     capture_output=True, text=True).stdout)["config_keys"]
    schema_text = config_schema(keys)
    outputs = {
        MEMORY_DOC: with_table(MEMORY_DOC.read_text(), drop_reasons_table(reasons)),
        HEALTH_SCHEMA: with_schema(HEALTH_SCHEMA.read_text(), reasons),
        PYTHON_STUBS: with_lines(PYTHON_STUBS.read_text(), stub_keys(reasons),
                                 PYI_BEGIN, PYI_END, PYTHON_STUBS),
        SERVICE_DOC: with_table(SERVICE_DOC.read_text(), config_keys_table(keys),
                                CONFIG_BEGIN, CONFIG_END, SERVICE_DOC),
        CONFIG_SCHEMA: schema_text,
    }
    stale = [path for path, text in outputs.items()
             if not path.exists() or path.read_text() != text]
    if args.write:
        for path in stale:
            path.write_text(outputs[path])
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    for path in stale:
        print(f"FAIL {path.relative_to(ROOT)} is not what the code says: "
              f"run tests/docs/reference.py --write")
    problems = config_problems(keys, schema_text)
    for problem in problems:
        print(f"FAIL {problem}")
    print(f"{len(reasons)} drop reasons, {len(keys)} configuration keys; "
          f"{len(outputs) - len(stale)} of {len(outputs)} files up to date; "
          f"the example and {len(list(GOOD_CONFIGS.glob('*.yaml')))} good configs "
          f"checked against the schema")
    return 1 if stale or problems else 0


if __name__ == "__main__":
    sys.exit(main())
