"""The deployment files in deploy/ say what the service accepts: the
StatefulSet's camera list passes the service's own check, its shard count
matches its replicas, its probe and ports match the service's; the systemd
unit starts the service with flags it knows and reloads it with SIGHUP."""
import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def service():
    path = os.environ.get("LATESTFRAME_SERVICE")
    if not path:
        pytest.skip("no LATESTFRAME_SERVICE")
    return path


def manifest():
    documents = list(yaml.safe_load_all(
        (DEPLOY / "kubernetes" / "latestframe-service.yaml").read_text()))
    return {document["kind"]: document for document in documents}


# The StatefulSet: LATESTFRAME_SHARDS = replicas; each pod's hostname ends
# in its ordinal (the service reads it); the ConfigMap's file passes
# --check for every shard and together they take every camera once; the
# liveness probe and port are the ones the file's metrics settings serve.
def test_statefulset_matches_the_service(tmp_path):
    kinds = manifest()
    statefulset = kinds["StatefulSet"]
    replicas = statefulset["spec"]["replicas"]
    container, = statefulset["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert int(env["LATESTFRAME_SHARDS"]) == replicas
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text(kinds["ConfigMap"]["data"]["cameras.yaml"])
    listed = yaml.safe_load(cameras.read_text())
    taken = []
    for ordinal in range(replicas):
        # As in the pod: no --shard, the hostname's ordinal.
        check = subprocess.run(
            [service(), "--config", str(cameras), "--check"],
            env=dict(os.environ, HOSTNAME=f"{statefulset['metadata']['name']}-{ordinal}",
                     LATESTFRAME_SHARDS=env["LATESTFRAME_SHARDS"]),
            capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        assert f"shard {ordinal}/{replicas}" in check.stdout, check.stdout
        taken += [i for i in check.stdout.rsplit(":", 1)[1].split() if i != "-"]
    assert sorted(taken) == sorted(c["id"] for c in listed["cameras"])
    assert container["command"][0] == "latestframe-service"
    assert container["command"][1:] == ["--config", "/etc/latestframe/cameras.yaml"]
    port, = [p["containerPort"] for p in container["ports"]]
    assert listed["metrics"]["port"] == port
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


# The systemd unit: ExecStart's flags, given the example file, pass
# --check; reload is SIGHUP, stop SIGTERM.
def test_systemd_unit_matches_the_service():
    unit = (DEPLOY / "systemd" / "latestframe-service.service").read_text()
    settings = dict(line.split("=", 1) for line in unit.splitlines()
                    if "=" in line and not line.startswith("#"))
    command = settings["ExecStart"].split()
    assert command[0] == "/usr/local/bin/latestframe-service"
    args = command[1:]
    assert args[0] == "--config"
    args[1] = str(ROOT / "pipelines" / "service" / "cameras.example.yaml")
    check = subprocess.run([service(), *args, "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert settings["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert settings["KillSignal"] == "SIGTERM"


# The examples in schema/README.md are messages the schemas accept.
def test_schema_examples_validate():
    import json

    import jsonschema
    text = (ROOT / "schema" / "README.md").read_text()
    examples = [block.split("```", 1)[0] for block in text.split("```json")[1:]]
    kinds = [json.loads(example)["schema"].split("/")[1] for example in examples]
    assert sorted(kinds) == ["detections", "health"], kinds
    for example, kind in zip(examples, kinds):
        schema = json.loads((ROOT / "schema" / f"{kind}.schema.json").read_text())
        jsonschema.Draft202012Validator(schema).validate(json.loads(example))
