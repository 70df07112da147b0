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
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert int(env["LATESTFRAME_SHARDS"]) == replicas
    secret_env, mounted = pod_secrets(kinds, container, tmp_path)
    text = kinds["ConfigMap"]["data"]["cameras.yaml"]
    for mount_path, copy in mounted.items():
        text = text.replace(f"${{file:{mount_path}/", f"${{file:{copy}/")
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text(text)
    listed = yaml.safe_load(cameras.read_text())
    taken = []
    for ordinal in range(replicas):
        # As in the pod: no --shard, the hostname's ordinal.
        check = subprocess.run(
            [service(), "--config", str(cameras), "--check"],
            env=dict(os.environ, HOSTNAME=f"{statefulset['metadata']['name']}-{ordinal}",
                     LATESTFRAME_SHARDS=env["LATESTFRAME_SHARDS"], **secret_env),
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


def pod_secrets(kinds, container, tmp_path):
    """What the pod gets from its Secret: the environment variables taken
    from it, and each Secret volume's files, written under tmp_path (mount
    path -> the copy). Checks that every password in the camera list comes
    from the Secret, none written in the ConfigMap."""
    secret = kinds["Secret"]
    data = secret["stringData"]
    secret_env = {}
    for entry in container["env"]:
        reference = entry.get("valueFrom", {}).get("secretKeyRef")
        if reference:
            assert reference["name"] == secret["metadata"]["name"]
            secret_env[entry["name"]] = data[reference["key"]]
    volumes = {v["name"]: v for v in kinds["StatefulSet"]["spec"]["template"]["spec"]["volumes"]}
    mounted = {}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "secret" in volume:
            assert volume["secret"]["secretName"] == secret["metadata"]["name"]
            copy = tmp_path / mount["name"]
            copy.mkdir()
            for key, value in data.items():
                (copy / key).write_text(value)
            mounted[mount["mountPath"]] = copy
    listed = yaml.safe_load(kinds["ConfigMap"]["data"]["cameras.yaml"])
    passwords = [listed["broker"]["password"]] + [c["password"] for c in listed["cameras"]]
    used = set()
    for password in passwords:
        assert password.startswith("${") and password.endswith("}"), \
            f"a password written in the ConfigMap: {password!r}"
        name = password[2:-1]
        if name.startswith("file:"):
            directory, key = name[5:].rsplit("/", 1)
            assert directory in mounted and key in data, password
            used.add(key)
        else:
            assert name in secret_env, password
            used.update(e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"]
                        if e["name"] == name)
    assert {"mqtt-password", "camera-password"} <= used, used
    return secret_env, mounted


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
    # The example's secrets, as EnvironmentFile= would give them.
    secrets = {"MQTT_PASSWORD": "broker secret", "YARD_CAMERA_PASSWORD": "camera secret"}
    check = subprocess.run([service(), *args, "--check"], capture_output=True, text=True,
                           env=dict(os.environ, **secrets))
    assert check.returncode == 0, check.stderr
    assert settings["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert settings["KillSignal"] == "SIGTERM"


# The unit's passwords: LoadCredential= hands each file to the service in
# $CREDENTIALS_DIRECTORY, with an empty fallback; the camera list its
# comment shows reads them with ${file:...} and passes --check once the
# credentials are there.
def test_systemd_unit_loads_the_passwords(tmp_path):
    unit = (DEPLOY / "systemd" / "latestframe-service.service").read_text()
    loaded = dict(line.split("=", 1)[1].split(":", 1) for line in unit.splitlines()
                  if line.startswith("LoadCredential="))
    fallback = [line.split("=", 1)[1].split(":", 1)[0] for line in unit.splitlines()
                if line.startswith("SetCredential=")]
    assert sorted(loaded) == ["camera-password", "mqtt-password"], loaded
    assert sorted(fallback) == sorted(loaded)
    credentials = "/run/credentials/latestframe-service.service"
    shown = [line.lstrip("#").rstrip() for line in unit.splitlines()
             if line.startswith("#   ") and not line.startswith("#   sudo")
             and not line.startswith("#   printf")]
    start = shown.index(next(line for line in shown if line.strip().startswith("broker:")))
    example = "\n".join(line[3:] for line in shown[start:start + 5])
    for name in loaded:
        assert f"${{file:{credentials}/{name}}}" in example, example
    copy = tmp_path / "credentials"
    copy.mkdir()
    for name in loaded:
        (copy / name).write_text(f"{name} with @ : / # % and spaces\n")
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text(example.replace(credentials, str(copy)))
    check = subprocess.run([service(), "--config", str(cameras), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, (check.stderr, example)
    assert "with @" not in check.stdout + check.stderr


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
