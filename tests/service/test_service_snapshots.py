"""latestframe-service's HTTP API with real parts: GET /api/cameras and
GET /cameras/<id>/latest.jpg, against the service binary, two RTSP test
cameras (one asking for a password) and mosquitto, with the fixtures of
test_service_live.py.

Run by meson test service/snapshots (tests/service/meson.build), or by
hand as test_service_live.py says.
"""
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_service_live import (ROOT, RtspCamera, CAMERA_ARGS,  # noqa: E402,F401
                               broker, cameras, program, services, wait_for,
                               workdir, write_config)

CAMERAS_SCHEMA = jsonschema.Draft202012Validator(
    json.loads((ROOT / "schema" / "cameras.schema.json").read_text()))
# The second camera's credentials: characters a URI must percent-encode.
CAMERA_USER = "viewer"
CAMERA_PASSWORD = "p@ss w/rd"
CAMERA_PASSWORD_ENCODED = "p%40ss%20w%2Frd"


def get(port, path):
    """(status, headers, body) of GET `path`; status 0 while the service
    does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}",
                                    timeout=10) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()
    except OSError:
        return 0, {}, b""


def camera_list(service):
    status, _, body = get(service.metrics_port, "/api/cameras")
    return json.loads(body) if status == 200 else None


@pytest.fixture
def running(broker, cameras, services, workdir):
    """A service with two streaming cameras, `open` and `locked` (whose
    URI carries percent-encoded credentials the camera asks for)."""
    plain = cameras(1)[0]
    locked = RtspCamera(program("LATESTFRAME_TESTCAM"), *CAMERA_ARGS,
                        f"--user={CAMERA_USER}",
                        f"--password={CAMERA_PASSWORD}")
    try:
        locked_url = locked.url.replace(
            "rtsp://", f"rtsp://{CAMERA_USER}:{CAMERA_PASSWORD_ENCODED}@", 1)
        config = workdir / "cameras.yaml"
        write_config(config, broker.port,
                     [("open", plain.url), ("locked", locked_url)])
        service = services(config)

        def streaming():
            listed = camera_list(service)
            return listed is not None and all(
                camera["state"] == "streaming"
                and camera["frames"]["analysed"] > 0
                for camera in listed["cameras"])

        wait_for(streaming, 60,
                 lambda: f"both cameras streaming: {camera_list(service)}"
                 f" {service.log[-10:]}")
        yield service
    finally:
        locked.stop()


# /api/cameras is valid against its schema, lists every camera with its
# figures, and shows a URI's user info only as ***.
def test_api_cameras(running):
    listed = camera_list(running)
    errors = [error.message for error in CAMERAS_SCHEMA.iter_errors(listed)]
    assert not errors, errors
    by_id = {camera["id"]: camera for camera in listed["cameras"]}
    assert list(by_id) == ["open", "locked"]
    for camera in by_id.values():
        assert (camera["video"]["width"], camera["video"]["height"]) == (160, 120)
        assert camera["frames"]["received"] >= camera["frames"]["analysed"] > 0
    assert by_id["locked"]["uri"].startswith("rtsp://***@127.0.0.1:")
    status, _, body = get(running.metrics_port, "/api/cameras")
    for secret in (CAMERA_USER, CAMERA_PASSWORD_ENCODED, "p@ss"):
        assert secret.encode() not in body
    assert "***" not in by_id["open"]["uri"]
