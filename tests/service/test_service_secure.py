"""latestframe-service in production: an authenticated TLS broker (Debian's
mosquitto with certificates made by openssl and a password file,
anonymous access off), secrets from the environment and from files,
availability (retained online/offline, the last will), cameras behind basic
auth whose password is never shown, and a backlog shared fairly between
cameras while the broker is away.

Run with the other service tests (meson test service/live); the fixtures
and helpers are test_service_live.py's.
"""
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from test_service_live import (CAMERA_ARGS, Subscriber, broker, cameras,  # noqa: F401
                               metric, program, services, wait_for, workdir,
                               write_config)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "pipelines" / "lib"))
from live_servers import Certificates, MqttBroker, RtspCamera  # noqa: E402

BROKER_USER = "latestframe"
BROKER_PASSWORD = "broker pw: @/#%:x"
# Every character a URI's user part cannot hold raw, and a space.
CAMERA_USER = "viewer"
CAMERA_PASSWORD = "p@ss:w/rd #%1 x"


@pytest.fixture(scope="module")
def pki():
    made = Certificates()
    yield made
    made.close()


def secure_broker(pki, **options):
    try:
        return MqttBroker(users={BROKER_USER: BROKER_PASSWORD}, tls=pki, **options)
    except FileNotFoundError as missing:
        pytest.skip(str(missing))


def secure_subscriber(server, pki):
    return Subscriber(server.port, username=BROKER_USER,
                      password=BROKER_PASSWORD, tls=pki)


def broker_lines(pki, password="${file:%s}", ca="${LF_TEST_CA}", more=()):
    """The broker section's secure keys: the user from the environment, the
    password from a file, the CA's path from the environment."""
    # Quoted: in a flow map ({ }), a plain ${...} would read as a map.
    return ["username: \"${LF_TEST_MQTT_USER}\"", f"password: \"{password}\"",
            f"tls: {{ ca-file: \"{ca}\"{''.join(', ' + m for m in more)} }}"]


def secret_file(workdir, name, value):
    path = workdir / name
    path.write_text(value + "\n")
    return path


def last_error(service):
    text = service.metrics()
    for line in text.splitlines():
        if line.startswith("latestframe_mqtt_last_error_info{"):
            return line.split('reason="', 1)[1].rsplit('"}', 1)[0]
    return None


# The broker wants a user, a password and TLS: the service connects with
# the user from ${ENV}, the password from ${file:...} and the CA's path from
# ${ENV}; its detections, health and `online` arrive. SIGTERM: `offline`
# arrives, retained, and the exit status is 0.
def test_authenticated_tls_broker(pki, cameras, services, workdir):
    server = secure_broker(pki)
    subscriber = secure_subscriber(server, pki)
    try:
        camera, = cameras(1)
        password_file = secret_file(workdir, "mqtt-password", BROKER_PASSWORD)
        config = workdir / "cameras.yaml"
        write_config(config, server.port, [("gate", camera.url)],
                     broker_lines=broker_lines(pki, "${file:%s}" % password_file))
        env = {"LF_TEST_MQTT_USER": BROKER_USER, "LF_TEST_CA": pki.path("ca.crt")}
        start = time.monotonic()
        service = services(config, "--publisher", "secure-0", env=env)
        wait_for(lambda: "gate" in subscriber.cameras_heard(start, "detections")
                 and "gate" in subscriber.cameras_heard(start, "health")
                 and "online" in subscriber.availability_of(start, "secure-0"),
                 60, lambda: f"detections, health and online over TLS: {service.log[-5:]}")
        # /metrics is written once a second.
        wait_for(lambda: metric(service.metrics(), "latestframe_mqtt_connected") == 1
                 and service.said("connected"), 5, lambda: service.log[-5:])
        assert service.said("(TLS)")
        stopping = time.monotonic()
        assert service.stop() == 0, service.log[-10:]
        wait_for(lambda: subscriber.availability_of(stopping, "secure-0")[-1:] == ["offline"],
                 10, "offline published on a clean stop")
        assert not any(BROKER_PASSWORD in line for line in service.log)
    finally:
        subscriber.close()
        server.close()


# What goes wrong is said apart: a wrong password, a CA that did not sign
# the broker's certificate, a certificate made for another host. Each in
# the log and on /metrics within 10 s, while the process runs on, retrying.
@pytest.mark.parametrize("case", ["wrong password", "unknown CA", "another host"])
def test_broker_refusals_are_named(pki, cameras, services, workdir, case):
    server = secure_broker(pki, tls_server="other-host" if case == "another host"
                           else "server")
    try:
        camera, = cameras(1)
        password = BROKER_PASSWORD if case != "wrong password" else "not the password"
        password_file = secret_file(workdir, "mqtt-password", password)
        config = workdir / "cameras.yaml"
        ca = pki.path("other-ca.crt" if case == "unknown CA" else "ca.crt")
        write_config(config, server.port, [("gate", camera.url)],
                     broker_lines=broker_lines(pki, "${file:%s}" % password_file))
        service = services(config, env={"LF_TEST_MQTT_USER": BROKER_USER,
                                        "LF_TEST_CA": ca})
        words = {"wrong password": ("not authorised", "password"),
                 "unknown CA": ("certificate",),
                 "another host": ("host",)}[case]

        def named():
            reason = last_error(service) or ""
            return any(w in reason.lower() for w in words) and any(
                "not connected" in line and any(w in line.lower() for w in words)
                for line in service.log)

        started = time.monotonic()
        wait_for(named, 10, lambda: f"{case} named: metrics {last_error(service)!r}, "
                 f"log {service.log[-3:]}")
        print(f"{case}: named in {time.monotonic() - started:.1f} s as "
              f"{last_error(service)!r}")
        assert metric(service.metrics(), "latestframe_mqtt_connected") == 0
        time.sleep(2)
        assert service.process.poll() is None, service.log[-5:]
        assert password not in service.metrics()
        assert not any(password in line for line in service.log)
    finally:
        server.close()


# A broker that wants a client certificate: without one the connection is
# refused, named; with cert-file and key-file it works.
def test_client_certificate(pki, cameras, services, workdir):
    server = secure_broker(pki, require_certificate=True)
    subscriber = secure_subscriber(server, pki)
    try:
        camera, = cameras(1)
        password_file = secret_file(workdir, "mqtt-password", BROKER_PASSWORD)
        env = {"LF_TEST_MQTT_USER": BROKER_USER, "LF_TEST_CA": pki.path("ca.crt")}
        without = workdir / "without.yaml"
        write_config(without, server.port, [("gate", camera.url)],
                     broker_lines=broker_lines(pki, "${file:%s}" % password_file))
        refused = services(without, env=env)
        wait_for(lambda: last_error(refused), 10,
                 lambda: f"a reason without a client certificate: {refused.log[-3:]}")
        print(f"without a client certificate: {last_error(refused)!r}")
        assert metric(refused.metrics(), "latestframe_mqtt_connected") == 0
        assert refused.stop() == 0

        config = workdir / "cameras.yaml"
        write_config(config, server.port, [("gate", camera.url)],
                     broker_lines=broker_lines(pki, "${file:%s}" % password_file, more=(
                         f"cert-file: {pki.path('client.crt')}",
                         f"key-file: {pki.path('client.key')}")))
        start = time.monotonic()
        services(config, env=env)
        wait_for(lambda: "gate" in subscriber.cameras_heard(start, "detections"),
                 60, "detections with a client certificate")
    finally:
        subscriber.close()
        server.close()


# A process that dies (SIGKILL) and one that hangs (SIGSTOP: its socket
# stays open and it sends nothing, as when its host is gone): either way
# the broker publishes its last will, a retained `offline`; after SIGKILL
# within 1.5 keepalives.
def test_last_will(broker, cameras, services, workdir):
    camera, = cameras(1)
    config = workdir / "cameras.yaml"
    keepalive = 5
    write_config(config, broker.port, [("gate", camera.url)],
                 broker_lines=[f"keepalive: {keepalive}s"])
    subscriber = Subscriber(broker.port)
    try:
        start = time.monotonic()
        service = services(config, "--publisher", "doomed")
        wait_for(lambda: subscriber.availability_of(start, "doomed") == ["online"]
                 and "gate" in subscriber.cameras_heard(start, "detections"),
                 60, "online, and detections")

        def offline_after(since, how, within):
            wait_for(lambda: subscriber.availability_of(since, "doomed") == ["offline"],
                     within, f"offline by the last will after {how}")
            took = min(m[0] for m in subscriber.availability
                       if m[1] == "doomed" and m[0] >= since) - since
            print(f"last will: offline {took:.1f} s after {how} (keepalive {keepalive} s)")

        hung = time.monotonic()
        service.process.send_signal(signal.SIGSTOP)
        try:
            # The broker's own keepalive enforcement: MQTT says 1.5
            # keepalives after the last packet, and mosquitto 2.0.11 was
            # measured at 10.8 s for a 5 s keepalive here (8 s outside the
            # test). Bounded at 3 keepalives: this checks that the will is
            # set and sent for a silent process, not the broker's timing.
            offline_after(hung, "SIGSTOP", within=keepalive * 3)
        finally:
            service.process.send_signal(signal.SIGCONT)
        back = time.monotonic()
        wait_for(lambda: subscriber.availability_of(back, "doomed") == ["online"], 30,
                 "online again once continued")

        killed = time.monotonic()
        service.kill()
        offline_after(killed, "SIGKILL", within=keepalive * 1.5)
    finally:
        subscriber.close()

    # Retained: a subscriber that comes later is told at once.
    late = Subscriber(broker.port)
    try:
        wait_for(lambda: late.availability_of(0, "doomed") == ["offline"], 10,
                 "the retained offline for a later subscriber")
        assert all(m[3] for m in late.availability if m[1] == "doomed")
    finally:
        late.close()


class RawMessages:
    """Every message under the prefix, as bytes, for grepping."""

    def __init__(self, port):
        import paho.mqtt.client as mqtt
        self.payloads = []
        self.client = mqtt.Client(client_id=f"test-raw-{os.getpid()}", clean_session=True)
        self.client.on_message = lambda _c, _u, m: self.payloads.append(
            m.topic.encode() + b" " + m.payload)
        self.client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def password_forms(password):
    """The password as it is, and as a URI would carry it."""
    return {password, urllib.parse.quote(password, safe=""),
            urllib.parse.quote(password)}


def shows_password(text):
    return [form for form in password_forms(CAMERA_PASSWORD) if form in text]


# Cameras behind basic auth with a password holding @ : / # % and a space,
# given both ways: username/password keys (from a file), and
# percent-encoded in the URI. Frames arrive from both, through the service,
# the C++ capture and the Python one; the password is in none of their
# logs (GST_DEBUG=latestframe*:6), health records, /metrics, MQTT messages
# or --check's output. A raw password in the URI is refused, saying what
# to do.
def test_camera_passwords_stay_secret(broker, services, workdir):
    testcam = program("LATESTFRAME_TESTCAM")
    camera = RtspCamera(testcam, *CAMERA_ARGS, "--user", CAMERA_USER,
                        "--password", CAMERA_PASSWORD)
    raw = RawMessages(broker.port)
    subscriber = Subscriber(broker.port)
    try:
        assert "@" not in camera.url.split("//", 1)[1]
        encoded = camera.url.replace(
            "rtsp://", "rtsp://%s:%s@" % (CAMERA_USER,
                                          urllib.parse.quote(CAMERA_PASSWORD, safe="")))
        password_file = secret_file(workdir, "camera-password", CAMERA_PASSWORD)
        config = workdir / "cameras.yaml"
        write_config(config, broker.port, [
            ("keys", camera.url, {"username": "${LF_TEST_CAMERA_USER}",
                                  "password": "\"${file:%s}\"" % password_file}),
            ("encoded", encoded)])
        env = {"LF_TEST_CAMERA_USER": CAMERA_USER,
               "GST_DEBUG": "latestframe*:6,mqttpublish*:6",
               "GST_DEBUG_NO_COLOR": "1"}
        check = subprocess.run([program("LATESTFRAME_SERVICE"), "--config", str(config),
                                "--check"], capture_output=True, text=True,
                               env=dict(os.environ, **env))
        assert check.returncode == 0, check.stderr
        assert not shows_password(check.stdout + check.stderr)

        start = time.monotonic()
        service = services(config, env=env)
        wait_for(lambda: subscriber.cameras_heard(start, "detections") == {"keys", "encoded"}
                 and subscriber.cameras_heard(start, "health") == {"keys", "encoded"},
                 60, lambda: f"detections and health of both cameras: {service.log[-5:]}")
        # /metrics is written once a second.
        wait_for(lambda: all(
            (metric(service.metrics(), "latestframe_frames_received_total", camera=c) or 0) > 0
            for c in ("keys", "encoded")), 5, "frames counted on /metrics")
        metrics = service.metrics()
        assert service.stop() == 0
        logged = "\n".join(service.log)
        categories = {line.split()[4] for line in service.log
                      if len(line.split()) > 4 and line.split()[3] in
                      ("ERROR", "WARN", "FIXME", "INFO", "DEBUG", "LOG", "TRACE")}
        assert {"latestframe_dataflow", "mqttpublish"} <= categories, \
            f"GST_DEBUG did not log the frames and the connection: {categories}"
        assert not shows_password(logged)
        assert not shows_password(metrics)
        messages = b"\n".join(raw.payloads).decode(errors="replace")
        assert "health" in messages
        assert not shows_password(messages)

        # The capture, C++ and Python, both ways.
        runs = {
            "C++ keys": [program("LATESTFRAME_CAPTURE_EXAMPLE"), camera.url,
                         "--username", CAMERA_USER, "--password", CAMERA_PASSWORD],
            "C++ encoded": [program("LATESTFRAME_CAPTURE_EXAMPLE"), encoded],
            "Python keys": [sys.executable, str(ROOT / "src" / "capture" / "examples"
                                               / "newest_frame.py"), camera.url,
                            "--username", CAMERA_USER, "--password", CAMERA_PASSWORD],
            "Python encoded": [sys.executable, str(ROOT / "src" / "capture" / "examples"
                                                   / "newest_frame.py"), encoded],
        }
        python_env = {"PYTHONPATH": os.environ.get("LATESTFRAME_PYTHONPATH", "")}
        for name, command in runs.items():
            done = subprocess.run([*command, "--seconds", "2"], capture_output=True,
                                  text=True, errors="replace", timeout=60,
                                  env=dict(os.environ, **env, **python_env))
            assert done.returncode == 0, (name, done.stderr[-2000:])
            assert "frames" in done.stdout, (name, done.stdout[-500:])
            # The password given on its command line is not the log's.
            assert not shows_password(done.stdout + done.stderr), name

        # Written raw, the URI cannot be read: refused, saying what to do.
        bad = workdir / "raw.yaml"
        # Quoted for YAML (a plain " #" would start a comment).
        write_config(bad, broker.port, [("raw", '"%s"' % camera.url.replace(
            "rtsp://", f"rtsp://{CAMERA_USER}:{CAMERA_PASSWORD}@"))])
        refused = subprocess.run([program("LATESTFRAME_SERVICE"), "--config", str(bad),
                                  "--check"], capture_output=True, text=True)
        assert refused.returncode == 2
        assert "percent-encode" in refused.stderr, refused.stderr
        assert not shows_password(refused.stderr), refused.stderr
    finally:
        subscriber.close()
        raw.close()
        camera.stop()


# The broker away for 30 s while one camera publishes ten times as much as
# the other two: once it is back, the quiet cameras' messages of the outage
# and every camera's newest health record arrive, and what was dropped was
# the chatty camera's.
def test_backlog_is_shared_fairly(cameras, services, workdir):
    from datetime import datetime
    try:
        # Keeps the subscriber's session across its restart: what the
        # service sends the moment it is back is queued for it.
        broker = MqttBroker(persistent=True)
    except FileNotFoundError as missing:
        pytest.skip(str(missing))
    servers = cameras(3)
    config = workdir / "cameras.yaml"
    rates = {"chatty": 5, "quiet-a": 0.5, "quiet-b": 0.5}
    # on-demand: the analysis rate paces what is decoded and analysed, so
    # what is published.
    write_config(config, broker.port,
                 [(camera_id, server.url, {"analysis-rate": rate, "decode": "on-demand"})
                  for (camera_id, rate), server in zip(rates.items(), servers)],
                 # A share of 50 each: a quiet camera's 0.5 messages a
                 # second and a health record every 5 s come to about 21
                 # over the 30 s; at 100 (a share of 33) one went over in a
                 # loaded run whose reconnection took longer.
                 backlog=150, health="5s")
    session = f"test-fairness-{os.getpid()}"
    service = services(config)
    before = Subscriber(broker.port, session=session)
    try:
        start = time.monotonic()
        wait_for(lambda: before.cameras_heard(start, "detections") == set(rates),
                 60, "detections from the three cameras")
        time.sleep(5)
        published = {c: len(before.since(start, "detections", c)) for c in rates}
        print(f"detections before the outage: {published}")
    finally:
        before.close()
    broker.stop()
    away_from = time.time()
    time.sleep(30)
    broker.start()
    back_at = time.time()
    after = Subscriber(broker.port, session=session)
    try:
        wait_for(lambda: metric(service.metrics(), "latestframe_mqtt_connected") == 1,
                 30, "connected again")
        time.sleep(5)

        def made_during_outage(camera_id, kind, field):
            stamps = []
            for message in after.since(0, kind, camera_id):
                stamp = datetime.fromisoformat(
                    message[3][field].replace("Z", "+00:00")).timestamp()
                if away_from <= stamp <= back_at:
                    stamps.append(stamp)
            return stamps

        metrics = service.metrics()
        dropped = {c: metric(metrics, "latestframe_camera_mqtt_dropped_total", camera=c)
                   for c in rates}
        outage = back_at - away_from
        heard = {c: len(made_during_outage(c, "detections", "published_at")) for c in rates}
        print(f"broker away {outage:.0f} s: dropped per camera {dropped}, "
              f"outage detections delivered {heard}")
        assert dropped["chatty"] > 0
        for quiet in ("quiet-a", "quiet-b"):
            assert dropped[quiet] == 0, dropped
            # All of them but what the analysis rate's start may shift.
            assert heard[quiet] >= rates[quiet] * outage * 0.8, heard
        for camera_id in rates:
            newest = made_during_outage(camera_id, "health", "time")
            assert newest and max(newest) >= back_at - 6, (camera_id, newest)
    finally:
        after.close()
        assert service.stop() == 0
        broker.close()
