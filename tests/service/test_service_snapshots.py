"""latestframe-service's HTTP API with real parts: GET /api/cameras and
GET /cameras/<id>/latest.jpg, against the service binary, two RTSP test
cameras (one asking for a password) and mosquitto, with the fixtures of
test_service_live.py.

Run by meson test service/snapshots (tests/service/meson.build), or by
hand as test_service_live.py says.
"""
import email.utils
import json
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import numpy
import pytest

cv2 = pytest.importorskip("cv2")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_service_live import (ROOT, RtspCamera, CAMERA_ARGS,  # noqa: E402,F401
                               broker, cameras, free_port, program, services,
                               wait_for, workdir, write_config)

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
    URI carries percent-encoded credentials the camera asks for), and
    `absent`, whose URI nothing answers. The service is yielded with
    `.open_camera` set, the RtspCamera of `open`."""
    plain = cameras(1)[0]
    locked = RtspCamera(program("LATESTFRAME_TESTCAM"), *CAMERA_ARGS,
                        f"--user={CAMERA_USER}",
                        f"--password={CAMERA_PASSWORD}")
    try:
        locked_url = locked.url.replace(
            "rtsp://", f"rtsp://{CAMERA_USER}:{CAMERA_PASSWORD_ENCODED}@", 1)
        config = workdir / "cameras.yaml"
        # `open` waits long before it calls a paused camera stalled.
        write_config(config, broker.port,
                     [("open", plain.url, {"stall-timeout": "60s"}),
                      ("locked", locked_url),
                      ("absent", f"rtsp://127.0.0.1:{free_port()}/none")])
        service = services(config)
        service.open_camera = plain

        def streaming():
            listed = camera_list(service)
            return listed is not None and all(
                camera["state"] == "streaming"
                and camera["frames"]["analysed"] > 0
                for camera in listed["cameras"] if camera["id"] != "absent")

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
    assert list(by_id) == ["open", "locked", "absent"]
    assert by_id["absent"]["state"] != "streaming"
    for camera in (by_id["open"], by_id["locked"]):
        assert (camera["video"]["width"], camera["video"]["height"]) == (160, 120)
        assert camera["frames"]["received"] >= camera["frames"]["analysed"] > 0
    assert by_id["locked"]["uri"].startswith("rtsp://***@127.0.0.1:")
    status, _, body = get(running.metrics_port, "/api/cameras")
    for secret in (CAMERA_USER, CAMERA_PASSWORD_ENCODED, "p@ss"):
        assert secret.encode() not in body
    assert "***" not in by_id["open"]["uri"]


def decoded(body):
    image = cv2.imdecode(numpy.frombuffer(body, numpy.uint8), cv2.IMREAD_COLOR)
    assert image is not None, f"not a JPEG: {body[:16]!r}"
    return image


# latest.jpg is the newest analysed frame as a JPEG at the camera's size or
# the asked width, with its headers; every camera has its own.
def test_latest_jpg(running):
    port = running.metrics_port
    for camera in ("open", "locked"):
        status, headers, body = get(port, f"/cameras/{camera}/latest.jpg")
        assert status == 200, body
        assert headers["Content-Type"] == "image/jpeg"
        assert decoded(body).shape == (120, 160, 3)
        analysed = email.utils.parsedate_to_datetime(headers["Last-Modified"])
        assert abs(analysed.timestamp() - time.time()) < 60
        # The test camera tells its capture times (RTCP, RFC 6051).
        assert int(headers["X-Frame-Age-Ms"]) >= 0
    status, _, body = get(port, "/cameras/open/latest.jpg?width=80&quality=50")
    assert status == 200, body
    assert decoded(body).shape == (60, 80, 3)
    status, _, body = get(port, "/cameras/open/latest.jpg?width=160")
    assert status == 200 and decoded(body).shape == (120, 160, 3)


# With the camera paused, the newest analysed frame stays the same: asked
# twice it is the same JPEG (encoded once), and boxes=1 draws cvmotion's
# detections on it, only where the moving ball is, not all over.
def test_latest_jpg_boxes(running):
    port = running.metrics_port
    camera = running.open_camera
    camera.signal(signal.SIGSTOP)
    try:
        # Whatever was on its way is analysed.
        time.sleep(1)
        plain = get(port, "/cameras/open/latest.jpg")[2]
        again = get(port, "/cameras/open/latest.jpg")[2]
        boxed = get(port, "/cameras/open/latest.jpg?boxes=1")[2]
        assert plain == again
    finally:
        camera.signal(signal.SIGCONT)
    difference = cv2.absdiff(decoded(plain), decoded(boxed)).max(axis=2) > 40
    changed = difference.mean()
    assert changed > 0.002, "boxes=1 drew nothing"
    assert changed < 0.5, f"boxes=1 changed {changed:.0%} of the picture"
    # The scene's moving object (src/stamp/scene.cpp: a box of shade 250,
    # height/6 a side, going round the middle; the gradient stays below 200
    # and the stamp's white at 235) is inside a drawn box: from its centre,
    # a drawn line in each of the four directions.
    cx, cy = moving_box_centre(decoded(plain))
    assert (difference[cy, :cx].any() and difference[cy, cx + 1:].any()
            and difference[:cy, cx].any() and difference[cy + 1:, cx].any()), (
        f"the moving box at ({cx}, {cy}) is in no drawn box")


def moving_box_centre(image):
    """The centre (x, y) of the test camera's bright moving box."""
    bright = (cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) >= 243).astype(numpy.uint8)
    count, _, stats, centres = cv2.connectedComponentsWithStats(bright)
    side = image.shape[0] // 6
    boxes = [n for n in range(1, count)
             if 0.5 * side * side <= stats[n, cv2.CC_STAT_AREA] <= 1.5 * side * side]
    assert len(boxes) == 1, f"not one moving box: {stats[1:]}"
    x, y = centres[boxes[0]]
    return int(round(x)), int(round(y))


# Errors: an unknown camera is 404, one without a frame 503 with
# Retry-After, bad options 400 with a one-line reason.
def test_latest_jpg_errors(running):
    port = running.metrics_port
    status, _, body = get(port, "/cameras/nosuch/latest.jpg")
    assert status == 404, body
    status, headers, body = get(port, "/cameras/absent/latest.jpg")
    assert status == 503, body
    assert headers["Retry-After"] == "1"
    for query, says in (("width=abc", b"width"), ("width=0", b"width"),
                        ("width=161", b"wider"), ("quality=0", b"quality"),
                        ("quality=101", b"quality"), ("boxes=2", b"boxes"),
                        ("size=3", b"unknown option"),
                        ("width=-5", b"width")):
        status, _, body = get(port, f"/cameras/open/latest.jpg?{query}")
        assert status == 400, (query, status)
        assert says in body and body.count(b"\n") == 1, (query, body)
