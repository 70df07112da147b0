"""mqttpublish against a real mosquitto broker (started here, on 127.0.0.1
and a free port, with a config of its own), read by a paho-mqtt subscriber:
the messages validate against schema/detections.schema.json, detections
come out with the right boxes, a broker outage neither stops nor fails the
stream, and bad settings fail the start with a clear error.

Waits are for events (bus messages, messages arriving, counts reaching a
value), bounded by generous deadlines that only fail a test when the event
never comes."""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from gi.repository import Gst

mqtt = pytest.importorskip("paho.mqtt.client")
jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "pipelines" / "lib"))
from live_servers import MqttBroker, free_port  # noqa: E402

SCHEMA = ROOT / "schema" / "detections.schema.json"
DEADLINE_S = 30


def start_broker():
    try:
        return MqttBroker()
    except FileNotFoundError as missing:
        pytest.skip(str(missing))


@pytest.fixture(scope="module")
def broker():
    """One broker for the module's tests that do not stop it."""
    running = start_broker()
    yield running
    running.close()


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


class Subscriber:
    """A paho-mqtt client subscribed (QoS 1) to one topic, again after each
    reconnection; keeps every message, decoded."""

    def __init__(self, port, topic):
        self.topic = topic
        self.messages = []          # (payload dict, qos)
        self.subscriptions = 0
        self.changed = threading.Condition()
        self.client = mqtt.Client()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, rc):
        if rc == 0:
            client.subscribe(self.topic, qos=1)

    def _on_subscribe(self, client, userdata, mid, granted_qos):
        with self.changed:
            self.subscriptions += 1
            self.changed.notify_all()

    def _on_message(self, client, userdata, message):
        with self.changed:
            self.messages.append((json.loads(message.payload), message.qos))
            self.changed.notify_all()

    def wait(self, predicate, what):
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self),
                                         DEADLINE_S), f"never: {what}"

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscribe():
    subscribers = []

    def make(port, topic):
        subscriber = Subscriber(port, topic)
        subscribers.append(subscriber)
        subscriber.wait(lambda s: s.subscriptions >= 1, f"subscribed to {topic}")
        return subscriber

    yield make
    for subscriber in subscribers:
        subscriber.close()


class BusLog:
    """Every message of a pipeline's bus, popped as they come."""

    def __init__(self, pipeline):
        self.bus = pipeline.get_bus()
        self.messages = []

    def wait(self, predicate, what, deadline_s=DEADLINE_S):
        """Pops messages until one satisfies `predicate`; returns it."""
        give_up = time.monotonic() + deadline_s
        while True:
            left = give_up - time.monotonic()
            assert left > 0, f"no bus message: {what}"
            message = self.bus.timed_pop(int(min(left, 0.1) * Gst.SECOND))
            if message is None:
                continue
            self.messages.append(message)
            if predicate(message):
                return message

    def drain(self):
        while (message := self.bus.pop()) is not None:
            self.messages.append(message)

    def of_type(self, kind):
        return [m for m in self.messages if m.type == kind]


def text_of(message):
    if message.type == Gst.MessageType.ERROR:
        return message.parse_error()[0].message
    if message.type == Gst.MessageType.WARNING:
        return message.parse_warning()[0].message
    if message.type == Gst.MessageType.INFO:
        return message.parse_info()[0].message
    return ""


def finish(pipeline, publish):
    """Stops the pipeline (which drains the backlog) and returns the
    element's figures of the run."""
    assert pipeline.set_state(Gst.State.NULL) == Gst.StateChangeReturn.SUCCESS
    return publish.get_property("stats")


# A live test pattern through latestframe and cvmotion: every message
# validates against schema/detections.schema.json, arrives with QoS 1, one
# per frame that reached the element, with sequences strictly increasing,
# the camera and the publisher (HOST:PID) the element was given.
def test_messages_validate_against_the_schema(require_elements, run_to_eos,
                                              broker, subscribe, validator):
    require_elements("latestframe", "cvmotion", "mqttpublish")
    reader = subscribe(broker.port, "latestframe/schema-test/detections")
    pipeline, _ = run_to_eos(
        "videotestsrc is-live=true num-buffers=40 pattern=ball "
        "! video/x-raw,width=320,height=240,framerate=30/1 ! latestframe "
        "! videoconvert ! cvmotion "
        f"! mqttpublish name=publish camera=schema-test port={broker.port} "
        "! fakesink", deadline_s=60)
    publish = pipeline.get_by_name("publish")
    stats = finish(pipeline, publish)
    published = stats.get_value("published")
    assert published > 0
    assert stats.get_value("dropped") == 0
    assert stats.get_value("accepted") == published
    reader.wait(lambda s: len(s.messages) >= published,
                f"{published} messages")

    sequences = []
    for payload, qos in reader.messages:
        errors = sorted(validator.iter_errors(payload), key=str)
        assert not errors, f"{payload}: {errors[0].message}"
        assert qos == 1
        assert payload["camera"] == "schema-test"
        assert payload["publisher"] == f"{socket.gethostname()}:{os.getpid()}"
        assert (payload["width"], payload["height"]) == (320, 240)
        for found in payload["detections"]:
            assert found["analysis"] == "cvmotion"
            assert found["label"] == "motion"
        sequences.append(payload["sequence"])
    assert len(sequences) == published
    assert all(a < b for a, b in zip(sequences, sequences[1:])), sequences
    moving = sum(bool(p["detections"]) for p, _ in reader.messages)
    print(f"{published} messages, sequences {sequences[0]}..{sequences[-1]}, "
          f"{moving} with motion")


# messi5.jpg through cvfacedetect: one message, whose face is where the
# cv element tests find it, with the frame's size and no capture time.
def test_face_box_from_a_known_image(require_elements, run_to_eos, broker,
                                     subscribe, validator, sample_data):
    require_elements("cvfacedetect", "mqttpublish")
    image = sample_data / "messi5.jpg"
    if not image.exists():
        pytest.skip(f"no {image}")
    reader = subscribe(broker.port, "faces/messi")
    pipeline, _ = run_to_eos(
        f"filesrc location={image} ! jpegdec ! videoconvert "
        "! video/x-raw,format=BGR ! cvfacedetect min-neighbors=6 "
        f"! mqttpublish name=publish camera=messi topic=faces/{{camera}} "
        f"port={broker.port} ! fakesink")
    finish(pipeline, pipeline.get_by_name("publish"))
    reader.wait(lambda s: len(s.messages) >= 1, "the face message")
    (payload, _), = reader.messages
    assert not list(validator.iter_errors(payload))
    assert payload["sequence"] == 1
    assert payload["capture_time"] is None and payload["age_ms"] is None
    assert (payload["width"], payload["height"]) == (548, 342)
    faces = [f for f in payload["detections"] if f["label"] == "face"]
    assert faces, payload
    assert all(f["analysis"] == "cvfacedetect" for f in faces)
    assert all(0 < f["confidence"] <= 1 for f in faces)
    # The face the cv element tests expect (tests/elements/test_cv_elements).
    assert any(abs(f["x"] + f["width"] / 2 - 245) <= 12
               and abs(f["y"] + f["height"] / 2 - 112) <= 12
               for f in faces), faces


# The broker is killed while frames flow: no error, one warning, the stream
# goes on; with backlog=5 the backlog stays within 5 and drops the oldest,
# counted. The broker comes back on the same port: the element reconnects
# by itself (an info message says so) and the messages that arrive then are
# of newer frames than any before the outage.
def test_broker_outage(require_elements, subscribe):
    require_elements("latestframe", "mqttpublish")
    own = start_broker()
    try:
        reader = subscribe(own.port, "latestframe/outage/detections")
        pipeline = Gst.parse_launch(
            "videotestsrc is-live=true "
            "! video/x-raw,width=64,height=48,framerate=30/1 ! latestframe "
            f"! mqttpublish name=publish camera=outage port={own.port} "
            "backlog=5 max-in-flight=2 reconnect-delay-max=1 drain-timeout=0 "
            "! fakesink name=sink signal-handoffs=true")
        publish = pipeline.get_by_name("publish")
        frames = [0]
        pipeline.get_by_name("sink").connect(
            "handoff", lambda *args: frames.__setitem__(0, frames[0] + 1))
        bus = BusLog(pipeline)
        is_error = lambda m: m.type == Gst.MessageType.ERROR  # noqa: E731
        assert pipeline.set_state(Gst.State.PLAYING) \
            != Gst.StateChangeReturn.FAILURE
        reader.wait(lambda s: len(s.messages) >= 3, "messages before")

        own.stop()
        warning = bus.wait(lambda m: is_error(m)
                           or m.type == Gst.MessageType.WARNING,
                           "a warning about the broker")
        assert not is_error(warning), text_of(warning)
        assert "Lost the MQTT broker" in text_of(warning), text_of(warning)
        assert f"127.0.0.1:{own.port}" in text_of(warning)
        with reader.changed:
            before = max(p["sequence"] for p, _ in reader.messages)
            received_before = len(reader.messages)

        # Frames keep flowing while the backlog overflows.
        frames_at_loss = frames[0]
        give_up = time.monotonic() + DEADLINE_S
        while publish.get_property("dropped") == 0 or frames[0] < frames_at_loss + 10:
            assert publish.get_property("backlog-level") <= 5
            assert time.monotonic() < give_up, "no drop from the backlog"
            bus.drain()
            assert not bus.of_type(Gst.MessageType.ERROR)
            time.sleep(0.05)
        stats = publish.get_property("stats")
        assert not stats.get_value("connected")
        assert stats.get_value("backlog-level") <= 5
        assert stats.get_value("peak-backlog-level") <= 5
        assert stats.get_value("dropped") > 0

        own.start()
        info = bus.wait(lambda m: is_error(m)
                        or m.type == Gst.MessageType.INFO,
                        "an info about the reconnection")
        assert not is_error(info), text_of(info)
        assert "Reconnected" in text_of(info), text_of(info)
        reader.wait(lambda s: s.subscriptions >= 2, "subscribed again")
        reader.wait(lambda s: len(s.messages) >= received_before + 3,
                    "messages after the outage")
        with reader.changed:
            after = [p["sequence"] for p, _ in reader.messages[received_before:]]
        # QoS 1: a message in flight at the loss may come again, once.
        seen = {p["sequence"] for p, _ in reader.messages[:received_before]}
        assert all(sequence > before or sequence in seen
                   for sequence in after), (before, after)
        assert after[-1] > before, (before, after)

        bus.drain()
        assert not bus.of_type(Gst.MessageType.ERROR)
        warnings = [text_of(m) for m in bus.of_type(Gst.MessageType.WARNING)]
        assert len(warnings) == 1, warnings
        stats = finish(pipeline, publish)
        assert stats.get_value("connects") == 2
        assert stats.get_value("disconnects") == 1
        print(f"before the outage up to sequence {before}; after, "
              f"{after[0]}..{after[-1]}; dropped {stats.get_value('dropped')}")
    finally:
        own.close()


# Bad settings fail the start with an error that names what is wrong; no
# crash, and the pipeline can be stopped.
@pytest.mark.parametrize("settings, says", [
    ({"port": 0, "host": ""}, "host"),
    ({"tls": True, "tls-cert-file": "/etc/hostname"}, "without its key"),
    ({"tls": True, "tls-key-file": "/etc/hostname"},
     "without its certificate"),
    ({"tls": True, "tls-ca-file": "/nonexistent/ca.pem"},
     '"/nonexistent/ca.pem" cannot be read'),
    ({"tls": True, "tls-version": "sslv3"}, "unknown TLS version"),
    ({"tls-ca-file": "/etc/hostname"}, "TLS is not enabled"),
    ({"username": "u", "password": "Secret-P4ss", "tls": True,
      "tls-cert-file": "/etc/hostname"}, "without its key"),
    ({"host": ""}, "host"),
    ({"topic": ""}, "topic"),
    ({"topic": "latestframe/+/detections"}, "topic"),
    ({"reconnect-delay": 5, "reconnect-delay-max": 2}, "reconnect"),
])
def test_bad_settings_fail_with_a_clear_error(require_elements, settings,
                                              says):
    require_elements("mqttpublish")
    pipeline = Gst.parse_launch(
        "videotestsrc num-buffers=5 ! mqttpublish name=publish ! fakesink")
    publish = pipeline.get_by_name("publish")
    for name, value in settings.items():
        publish.set_property(name, value)
    bus = BusLog(pipeline)
    pipeline.set_state(Gst.State.PLAYING)
    message = bus.wait(lambda m: m.type in (Gst.MessageType.ERROR,
                                            Gst.MessageType.EOS),
                       "an error")
    assert message.type == Gst.MessageType.ERROR, "started anyway"
    assert message.src == publish
    text = text_of(message)
    assert says in text, text
    assert "Secret-P4ss" not in text, text
    print(f"{settings}: {text}")
    assert pipeline.set_state(Gst.State.NULL) == Gst.StateChangeReturn.SUCCESS


# A run with the broker there and one without leave no GStreamer object
# alive: the leaks tracer, in a Python process of its own (GST_TRACERS must
# be set before Gst.init), reports at Gst.deinit() what is still alive.
LEAKS_SCRIPT = """
import sys, gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)
pipeline = Gst.parse_launch(sys.argv[1])
pipeline.set_state(Gst.State.PLAYING)
message = pipeline.get_bus().timed_pop_filtered(
    60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
assert message and message.type == Gst.MessageType.EOS, message
pipeline.set_state(Gst.State.NULL)
del message, pipeline
Gst.deinit()
"""


@pytest.mark.parametrize("with_broker", [True, False])
def test_leaves_nothing_alive(require_elements, broker, with_broker):
    require_elements("mqttpublish")
    port = broker.port if with_broker else free_port()
    environment = dict(os.environ, GST_TRACERS="leaks",
                       GST_DEBUG="GST_TRACER:7")
    run = subprocess.run(
        ["/usr/bin/python3", "-c", LEAKS_SCRIPT,
         "videotestsrc num-buffers=20 ! mqttpublish camera=leaks "
         f"port={port} drain-timeout=100 ! fakesink"],
        env=environment, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    # The tracer ran (it declared its records), and found nothing alive.
    assert "object-alive.class" in run.stderr, "the leaks tracer did not run"
    alive = [line for line in run.stderr.splitlines()
             if re.search(r"object-alive, type-name=\(string\)[^%]", line)]
    assert not alive, "\n".join(alive)


# Behind a slow consumer, latestframe drops frames, and the messages'
# sequence numbers are latestframe's (LatestFrameInfoMeta): they skip the
# frames it dropped, which the element's own count of frames could not.
def test_sequence_numbers_are_latestframes(require_elements, run_to_eos,
                                           broker, subscribe):
    require_elements("latestframe", "mqttpublish")
    reader = subscribe(broker.port, "latestframe/slow/detections")
    pipeline, _ = run_to_eos(
        "videotestsrc is-live=true num-buffers=60 "
        "! video/x-raw,width=64,height=48,framerate=60/1 "
        "! latestframe name=latest ! identity sleep-time=50000 "
        f"! mqttpublish name=publish camera=slow port={broker.port} "
        "! fakesink", deadline_s=60)
    latest = pipeline.get_by_name("latest")
    received = latest.get_property("stats").get_value("received")
    dropped = latest.get_property("stats").get_value("dropped")
    stats = finish(pipeline, pipeline.get_by_name("publish"))
    reader.wait(lambda s: len(s.messages) >= stats.get_value("published"),
                "every message")
    sequences = [p["sequence"] for p, _ in reader.messages]
    assert dropped > 0, "the consumer was not slow enough to drop"
    assert all(a < b for a, b in zip(sequences, sequences[1:])), sequences
    assert sequences[-1] <= received
    skipped = sum(b - a - 1 for a, b in zip(sequences, sequences[1:]))
    assert skipped > 0, sequences
    print(f"{len(sequences)} messages up to sequence {sequences[-1]}: "
          f"{skipped} skipped, latestframe dropped {dropped} of {received}")


# Elements naming one connection share it: one client, whose figures every
# one of them reports; an element outside any pipeline, started, sends an
# application's own message through it with the publish action; a name
# already taken by another broker is refused with an error saying which.
def test_elements_naming_a_connection_share_it(require_elements, broker,
                                               subscribe):
    require_elements("mqttpublish")
    reader = subscribe(broker.port, "latestframe/#")
    holder = Gst.ElementFactory.make("mqttpublish", "holder")
    holder.set_property("connection", "shared-test")
    holder.set_property("port", broker.port)
    assert not holder.emit("publish", "latestframe/app/health", "{}")
    assert holder.set_state(Gst.State.PAUSED) == Gst.StateChangeReturn.SUCCESS
    pipeline = Gst.parse_launch(
        "videotestsrc is-live=true num-buffers=10 "
        "! video/x-raw,width=64,height=48,framerate=30/1 ! tee name=t "
        f"t. ! queue ! mqttpublish name=a camera=a connection=shared-test port={broker.port} ! fakesink "
        f"t. ! queue ! mqttpublish name=b camera=b connection=shared-test port={broker.port} ! fakesink")
    bus = BusLog(pipeline)
    pipeline.set_state(Gst.State.PLAYING)
    bus.wait(lambda m: m.type in (Gst.MessageType.EOS, Gst.MessageType.ERROR),
             "the end of the stream")
    assert not bus.of_type(Gst.MessageType.ERROR)
    assert holder.emit("publish", "latestframe/app/health", '{"ok": true}')
    reader.wait(lambda s: sum(1 for p, _ in s.messages if p.get("camera") == "a") == 10
                and sum(1 for p, _ in s.messages if p.get("camera") == "b") == 10
                and any(p == {"ok": True} for p, _ in s.messages),
                "10 messages of each camera and the application's")
    accepted = [element.get_property("stats").get_value("accepted")
                for element in (holder, pipeline.get_by_name("a"),
                                pipeline.get_by_name("b"))]
    assert accepted == [21, 21, 21], accepted
    # Stopping a user leaves the connection to the others.
    assert pipeline.set_state(Gst.State.NULL) == Gst.StateChangeReturn.SUCCESS
    assert holder.get_property("connected")
    assert holder.emit("publish", "latestframe/app/health", '{"after": 1}')
    reader.wait(lambda s: any(p == {"after": 1} for p, _ in s.messages),
                "a message after the pipeline stopped")

    other = Gst.parse_launch(
        "videotestsrc num-buffers=1 ! mqttpublish name=c connection=shared-test "
        f"port={broker.port + 1} ! fakesink")
    other_bus = BusLog(other)
    other.set_state(Gst.State.PLAYING)
    error = other_bus.wait(lambda m: m.type in (Gst.MessageType.ERROR,
                                                Gst.MessageType.EOS), "an error")
    assert error.type == Gst.MessageType.ERROR
    assert "already goes to" in error.parse_error()[0].message
    other.set_state(Gst.State.NULL)
    assert holder.set_state(Gst.State.NULL) == Gst.StateChangeReturn.SUCCESS
