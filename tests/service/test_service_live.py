"""latestframe-service with real parts: Debian's mosquitto on 127.0.0.1,
one RTSP test camera per camera id, the service processes themselves, and a
subscriber that validates every message it receives against the schemas in
schema/.

Waits are for events (a message from every camera, a count passing a
value), bounded by generous deadlines that only fail a test when the event
never comes. Run by meson test service/live (tests/meson.build), or by
hand:
  LATESTFRAME_SERVICE=<build>/src/service/latestframe-service \
  LATESTFRAME_TESTCAM=<build>/src/testcam/latestframe-testcam \
  GST_PLUGIN_PATH=<build>/gst python3 -m pytest tests/service -v
"""
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import jsonschema
import paho.mqtt.client as mqtt
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "pipelines" / "lib"))
from live_servers import (MqttBroker, RtspCamera, free_port, metric,  # noqa: E402
                          scrape_metrics)

SCHEMAS = {
    kind: jsonschema.Draft202012Validator(
        json.loads((ROOT / "schema" / f"{kind}.schema.json").read_text()))
    for kind in ("detections", "health")
}
# Small, slow cameras: twelve of them and three services share two cores
# with the rest of the suite.
CAMERA_ARGS = ("--width=160", "--height=120", "--fps=10", "--keyint=10",
               "--bitrate=200")


def program(variable):
    path = os.environ.get(variable)
    if not path:
        pytest.skip(f"no {variable}")
    return path


def wait_for(condition, deadline, what):
    """`what` says what was awaited: a text, or a function that makes it
    when the wait fails (to show the state at that moment)."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"within {deadline} s: {what() if callable(what) else what}")
        time.sleep(0.1)


class Subscriber:
    """Subscribes to every topic under the prefix and keeps each message:
    (arrival time, camera, kind, payload). Every payload is validated
    against its schema as it arrives; `invalid` lists the failures."""

    def __init__(self, port, prefix="latestframe", username=None,
                 password=None, tls=None, session=None):
        self.lock = threading.Lock()
        self.messages = []
        self.invalid = []
        # (arrival time, publisher, payload, retained) of
        # <prefix>/available/<publisher>.
        self.availability = []
        self.prefix = prefix
        # With a `session` name, the broker keeps the subscription and
        # queues the messages while this subscriber is away; another
        # Subscriber of the same name takes them.
        self.client = mqtt.Client(
            client_id=session or f"test-subscriber-{os.getpid()}-{id(self)}",
            clean_session=session is None)
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls is not None:
            self.client.tls_set(ca_certs=tls.path("ca.crt"),
                                certfile=tls.path("client.crt"),
                                keyfile=tls.path("client.key"))
        self.client.on_message = self._on_message
        self.client.on_connect = lambda client, *_: client.subscribe(
            f"{prefix}/#", qos=1)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def _on_message(self, _client, _userdata, message):
        available = f"{self.prefix}/available/"
        if message.topic.startswith(available):
            with self.lock:
                self.availability.append(
                    (time.monotonic(), message.topic[len(available):],
                     message.payload.decode(errors="replace"), message.retain))
            return
        parts = message.topic.split("/")
        kind = parts[-1]
        try:
            payload = json.loads(message.payload)
        except ValueError as error:
            with self.lock:
                self.invalid.append((message.topic, f"not JSON: {error}"))
            return
        validator = SCHEMAS.get(kind)
        if validator is None:
            with self.lock:
                self.invalid.append((message.topic, "unknown topic"))
            return
        errors = [error.message for error in validator.iter_errors(payload)]
        if errors:
            with self.lock:
                self.invalid.append((message.topic, errors[:3]))
        if len(parts) >= 3 and payload.get("camera") != parts[-2]:
            with self.lock:
                self.invalid.append((message.topic, "camera differs"))
        with self.lock:
            self.messages.append((time.monotonic(), parts[-2], kind, payload))

    def since(self, start, kind=None, camera=None):
        with self.lock:
            return [m for m in self.messages if m[0] >= start
                    and (kind is None or m[2] == kind)
                    and (camera is None or m[1] == camera)]

    def cameras_heard(self, start, kind):
        return {m[1] for m in self.since(start, kind)}

    def availability_of(self, start, publisher):
        """The payloads published to `publisher`'s availability topic
        since `start`, in order."""
        with self.lock:
            return [m[2] for m in self.availability
                    if m[0] >= start and m[1] == publisher]

    def publishers(self, start, camera):
        return {m[3]["publisher"] for m in self.since(start, camera=camera)}

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


class Service:
    """One latestframe-service process, its stderr kept."""

    def __init__(self, config, *args, env=None):
        self.config = config
        self.args = list(args)
        self.env = env
        self.metrics_port = free_port()
        self.log = []
        self.process = None
        self.start()

    def start(self):
        self.log = []
        self.process = subprocess.Popen(
            [program("LATESTFRAME_SERVICE"), "--config", str(self.config),
             "--metrics-port", str(self.metrics_port), *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            errors="replace",
            env=None if self.env is None else dict(os.environ, **self.env))

        def drain(stream, log):
            for line in stream:
                log.append(line.rstrip())

        threading.Thread(target=drain, args=(self.process.stderr, self.log),
                         daemon=True).start()

    def said(self, text):
        return any(text in line for line in self.log)

    def metrics(self):
        """The exposition, or "" while the service is not listening yet."""
        return scrape_metrics(self.metrics_port)

    def kill(self):
        self.process.kill()
        self.process.wait(20)

    def stop(self, timeout=30):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(20)
                pytest.fail("the service did not stop on SIGTERM")
        return self.process.returncode


def write_config(path, broker_port, cameras, **settings):
    """The service's file: `cameras` are (id, uri) or (id, uri, {key:
    value}); settings: health, backlog, and broker_lines (more keys of
    the broker section, YAML lines)."""
    health = settings.get("health", "1s")
    backlog = settings.get("backlog", 1000)
    lines = [
        "broker:",
        "  host: 127.0.0.1",
        f"  port: {broker_port}",
        f"  backlog: {backlog}",
        *(f"  {line}" for line in settings.get("broker_lines", [])),
        f"health: {{ interval: {health} }}",
        "memory-budget: 64MiB",
        "defaults: { analyses: \"cvmotion\", max-age: 0, stall-timeout: 3s }",
        "cameras:",
    ]
    for camera_id, url, *more in cameras:
        lines += [f"  - id: {camera_id}", f"    uri: {url}"]
        for key, value in (more[0] if more else {}).items():
            lines.append(f"    {key}: {value}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def broker():
    try:
        server = MqttBroker()
    except FileNotFoundError as missing:
        pytest.skip(str(missing))
    yield server
    server.close()


@pytest.fixture
def subscriber(broker):
    client = Subscriber(broker.port)
    # Subscribed before anything is published.
    time.sleep(0.5)
    yield client
    client.close()
    assert not client.invalid, f"messages not as the schemas say: {client.invalid[:5]}"


@pytest.fixture
def cameras():
    started = []

    def start(count):
        testcam = program("LATESTFRAME_TESTCAM")
        for _ in range(count):
            started.append(RtspCamera(testcam, *CAMERA_ARGS))
        return started[-count:]

    yield start
    for camera in started:
        camera.stop()


@pytest.fixture
def services():
    started = []

    def start(config, *args, env=None):
        service = Service(config, *args, env=env)
        started.append(service)
        return service

    yield start
    for service in started:
        if service.process.poll() is None:
            assert service.stop() == 0, service.log[-20:]
    # A GLib critical or warning is a bug, as in gst-check, even when the
    # service runs on (16 of them went unnoticed here once: 546822a).
    for service in started:
        loud = [line for line in service.log
                if "-CRITICAL **" in line or "-WARNING **" in line]
        assert not loud, loud[:5]


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="latestframe-service-") as path:
        yield Path(path)


def owners(config, shards):
    """Which shard takes each camera, as the service itself computes it
    (--check)."""
    taken = {}
    for index in range(shards):
        out = subprocess.run(
            [program("LATESTFRAME_SERVICE"), "--config", str(config), "--check",
             "--shard", str(index), "--shards", str(shards)],
            capture_output=True, text=True, check=True).stdout
        ids = out.rsplit(":", 1)[1].split()
        for camera_id in ids:
            if camera_id != "-":
                assert camera_id not in taken, f"{camera_id} taken twice"
                taken[camera_id] = index
    return taken


# 12 cameras, 3 processes (shards 0..2 of 3) on one broker: each camera's
# detections and health come from exactly one process, the one rendezvous
# hashing gives it; killing a process silences only its cameras, restarting
# it brings them back; and 3 -> 4 shards moves about a quarter of them, all
# to the new shard.
def test_three_shards_share_twelve_cameras(broker, subscriber, cameras,
                                           services, workdir):
    servers = cameras(12)
    config = workdir / "cameras.yaml"
    ids = [f"cam-{n:02d}" for n in range(12)]
    write_config(config, broker.port, zip(ids, (s.url for s in servers)))
    owner = owners(config, 3)
    assert sorted(owner) == ids
    start = time.monotonic()
    running = [services(config, "--shard", str(i), "--shards", "3")
               for i in range(3)]

    wait_for(lambda: subscriber.cameras_heard(start, "detections") == set(ids)
             and subscriber.cameras_heard(start, "health") == set(ids), 120,
             "detections and health from all 12 cameras")
    for camera_id in ids:
        publishers = subscriber.publishers(start, camera_id)
        assert len(publishers) == 1, (camera_id, publishers)
        shard = [m[3]["shard"] for m in subscriber.since(start, "health", camera_id)]
        assert {(s["index"], s["count"]) for s in shard} == {(owner[camera_id], 3)}

    # One process killed: its cameras fall silent, the others go on.
    victim = 1
    running[victim].kill()
    time.sleep(1)  # messages already on their way
    silent_from = time.monotonic()
    theirs = {c for c in ids if owner[c] == victim}
    others = set(ids) - theirs
    wait_for(lambda: subscriber.cameras_heard(silent_from, "detections") >= others,
             60, "the other processes' cameras while one process is down")
    time.sleep(2)
    assert not subscriber.cameras_heard(silent_from, None) & theirs, \
        "a killed process's cameras still publish"

    # Restarted: they come back, from the new process alone.
    resumed_from = time.monotonic()
    running[victim].start()
    wait_for(lambda: subscriber.cameras_heard(resumed_from, "detections") >= theirs,
             120, "the restarted process's cameras")
    for camera_id in theirs:
        assert len(subscriber.publishers(resumed_from, camera_id)) == 1

    # 3 -> 4 shards: only cameras the new shard wins move.
    owner4 = owners(config, 4)
    moved = [c for c in ids if owner4[c] != owner[c]]
    print(f"3 -> 4 shards: {len(moved)} of 12 cameras move: {moved}")
    assert all(owner4[c] == 3 for c in moved), (owner, owner4)
    assert len(moved) <= 4, f"{len(moved)} of 12 moved: {moved}"


# A camera killed and restarted under the service: the others keep their
# frame rate meanwhile (at least 80% of it), the lost camera is reconnected
# and publishes again.
def test_a_lost_camera_recovers_alone(broker, subscriber, cameras, services,
                                      workdir):
    servers = cameras(4)
    ids = [f"door-{n}" for n in range(4)]
    config = workdir / "cameras.yaml"
    write_config(config, broker.port, zip(ids, (s.url for s in servers)))
    service = services(config)
    start = time.monotonic()
    wait_for(lambda: subscriber.cameras_heard(start, "detections") == set(ids),
             60, "detections from 4 cameras")
    window = 5

    def received():
        text = service.metrics()
        return {c: metric(text, "latestframe_frames_received_total", camera=c) or 0
                for c in ids}

    def rates():
        start_counts, start = received(), time.monotonic()
        time.sleep(window)
        end_counts, seconds = received(), time.monotonic() - start
        return {c: (end_counts[c] - start_counts[c]) / seconds for c in ids}

    time.sleep(3)
    before = rates()
    reconnects = {c: metric(service.metrics(), "latestframe_camera_reconnects_total",
                            camera=c) for c in ids}
    servers[0].kill()
    during = rates()
    print(f"frames/s received before the loss {before}, while {ids[0]} was down {during}")
    # The camera sends 10 frames/s; the others keep theirs and their
    # connections.
    for camera_id in ids[1:]:
        assert during[camera_id] >= 0.8 * before[camera_id], (before, during)
        assert metric(service.metrics(), "latestframe_camera_reconnects_total",
                      camera=camera_id) == reconnects[camera_id]
    assert during[ids[0]] < 0.5 * before[ids[0]]
    # The test camera's RTCP sender reports give the capture time: the
    # others' ages run from it, their clocks in step with this host's.
    wait_for(lambda: all((metric(service.metrics(), "latestframe_capture_time_frames_total",
                                 camera=c) or 0) > 0 for c in ids[1:]),
             30, "frames aged from the cameras' capture times")
    for camera_id in ids[1:]:
        assert metric(service.metrics(), "latestframe_capture_clock_out_of_step",
                      camera=camera_id) == 0
        assert metric(service.metrics(), "latestframe_capture_time_unused_total",
                      camera=camera_id) is not None
    servers[0].start(servers[0].port())
    back_from = time.monotonic()
    wait_for(lambda: ids[0] in subscriber.cameras_heard(back_from, "detections"),
             60, "the restarted camera's detections")
    wait_for(lambda: any(m[3]["reconnects"] >= 1 and m[3]["state"] == "streaming"
                         for m in subscriber.since(back_from, "health", ids[0])),
             30, "a health record of the camera streaming again after reconnecting")
    assert service.process.poll() is None


# The broker away for 30 s: the service neither crashes nor grows its
# backlog past the bound, counts what it dropped, and publishes again once
# the broker is back.
def test_broker_away_for_30_seconds(broker, cameras, services, workdir):
    servers = cameras(2)
    ids = ["left", "right"]
    config = workdir / "cameras.yaml"
    backlog = 50
    write_config(config, broker.port, zip(ids, (s.url for s in servers)),
                 backlog=backlog)
    service = services(config)
    wait_for(lambda: (metric(service.metrics(), "latestframe_mqtt_published_total") or 0) > 20,
             60, "messages published")
    broker.stop()
    away_from = time.monotonic()
    worst_backlog = 0
    while time.monotonic() - away_from < 30:
        text = service.metrics()
        worst_backlog = max(worst_backlog,
                            metric(text, "latestframe_mqtt_backlog_messages") or 0)
        assert service.process.poll() is None, service.log[-20:]
        time.sleep(1)
    text = service.metrics()
    dropped = metric(text, "latestframe_mqtt_dropped_total")
    print(f"broker away 30 s: backlog at most {worst_backlog:.0f} of {backlog}, "
          f"{dropped:.0f} messages dropped")
    assert worst_backlog <= backlog
    assert dropped > 0, "30 s of messages fit a 50-message backlog?"
    assert metric(text, "latestframe_mqtt_connected") == 0

    broker.start()
    client = Subscriber(broker.port)
    try:
        back_from = time.monotonic()
        wait_for(lambda: subscriber_has(client, back_from, ids), 60,
                 "detections from both cameras after the broker came back")
        assert not client.invalid, client.invalid[:5]
    finally:
        client.close()
    wait_for(lambda: metric(service.metrics(), "latestframe_mqtt_connected") == 1,
             30, "connected again")


def subscriber_has(client, since, ids):
    return client.cameras_heard(since, "detections") >= set(ids)


# SIGHUP with one camera added and one removed: exactly those two pipelines
# change; the others keep their instance and their counts go on from where
# they were. A file that no longer parses is refused and nothing changes.
def test_sighup_changes_only_what_changed(broker, subscriber, cameras,
                                          services, workdir):
    servers = cameras(4)
    urls = [s.url for s in servers]
    config = workdir / "cameras.yaml"
    write_config(config, broker.port, [("a", urls[0]), ("b", urls[1]),
                                       ("c", urls[2])])
    service = services(config)
    start = time.monotonic()
    wait_for(lambda: subscriber.cameras_heard(start, "health") >= {"a", "b", "c"}
             and all(last_health(subscriber, c, start)["frames"]["received"] > 0
                     for c in "abc"),
             60, "health of a, b, c with frames")
    before = {c: last_health(subscriber, c, start) for c in "ab"}

    write_config(config, broker.port, [("a", urls[0]), ("b", urls[1]),
                                       ("d", urls[3])])
    service.process.send_signal(signal.SIGHUP)
    wait_for(lambda: service.said("started d; stopped c; restarted -; kept a b"),
             30, f"the reload's plan in the log: {service.log[-5:]}")
    reloaded = time.monotonic()
    wait_for(lambda: "d" in subscriber.cameras_heard(reloaded, "detections"), 60,
             "detections from the added camera")
    time.sleep(3)
    for camera_id in "ab":
        after = last_health(subscriber, camera_id, reloaded)
        assert after["instance"] == before[camera_id]["instance"]
        assert after["frames"]["received"] > before[camera_id]["frames"]["received"]
        assert after["reconnects"] == before[camera_id]["reconnects"]
    quiet_from = time.monotonic()
    time.sleep(3)
    assert "c" not in subscriber.cameras_heard(quiet_from, None)

    config.write_text("cameras:\n  - id: a\n    uri: rtsp://x\n    max-age: fast\n")
    service.process.send_signal(signal.SIGHUP)
    wait_for(lambda: service.said("reload refused"), 30, "the refusal")
    assert any(f"{config}:4: cameras[0].max-age" in line for line in service.log), \
        service.log[-5:]
    assert service.process.poll() is None


def last_health(subscriber, camera_id, since):
    found = subscriber.since(since, "health", camera_id)
    return found[-1][3] if found else {"frames": {"received": 0}}


# A bad file is refused at start with its file, line and key, and exit
# status 2; SIGTERM stops a running service cleanly (exit 0).
def test_bad_configuration_and_clean_stop(broker, cameras, services, workdir):
    config = workdir / "bad.yaml"
    config.write_text("cameras:\n  - id: door\n    uri: rtsp://x\n    decode: most\n")
    done = subprocess.run([program("LATESTFRAME_SERVICE"), "--config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"{config}:4: cameras[0].decode" in done.stderr, done.stderr

    # A camera whose analyses do not parse is named with its line; the
    # others run.
    servers = cameras(1)
    good = workdir / "good.yaml"
    write_config(good, broker.port, [("one", servers[0].url)])
    good.write_text(good.read_text() + f"  - id: two\n    uri: {servers[0].url}\n"
                    "    analyses: \"cvmotion ! cvnosuchanalysis\"\n")
    service = services(good)
    wait_for(lambda: (metric(service.metrics(), "latestframe_frames_analysed_total",
                             camera="one") or 0) > 0, 60, "frames analysed")
    line_of_two = good.read_text().splitlines().index("  - id: two") + 1
    wait_for(lambda: any(f"{good}:{line_of_two}: cameras: two: cannot run:" in line
                         and "cvnosuchanalysis" in line for line in service.log),
             30, f"camera two named as unable to run: {service.log[-3:]}")
    assert metric(service.metrics(), "latestframe_camera_state",
                  camera="two", state="closed") == 1
    assert service.stop() == 0
    assert service.said("stopped")
