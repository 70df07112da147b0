"""latestframe-service on the bundled test camera, watched from outside:
a mosquitto broker on 127.0.0.1, the RTSP test camera, a camera list of N
cameras (all reading the test camera), one service process; every second
it prints, per camera, the detection messages received and the last health
record, as a subscriber sees them; at the end, an excerpt of /metrics.

  service_demo.py --service PROGRAM --testcam PROGRAM [--cameras 3]
                  [--seconds 10] [--analyses "cvmotion ! cvpeopledetect"]
"""
import argparse
import collections
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from live_servers import MqttBroker, RtspCamera, free_port, scrape_metrics  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", required=True)
    parser.add_argument("--testcam", required=True)
    parser.add_argument("--cameras", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--analyses", default="cvmotion ! cvpeopledetect")
    parser.add_argument("--port", type=int, default=0,
                        help="the service's HTTP port (its page, API and "
                        "/metrics); 0 = any free one")
    args = parser.parse_args()

    broker = MqttBroker()
    camera = RtspCamera(args.testcam, "--width=640", "--height=360")
    print(f"broker 127.0.0.1:{broker.port}; test camera {camera.url}")
    lock = threading.Lock()
    detections = collections.Counter()
    found = collections.Counter()
    health = {}

    def on_message(_client, _userdata, message):
        if "/available/" in message.topic:
            # Plain text, retained: online / offline (schema/README.md).
            print(f"{message.topic}: {message.payload.decode()}")
            return
        payload = json.loads(message.payload)
        with lock:
            if message.topic.endswith("/detections"):
                detections[payload["camera"]] += 1
                found[payload["camera"]] += len(payload["detections"])
            elif message.topic.endswith("/health"):
                health[payload["camera"]] = payload

    subscriber = mqtt.Client()
    subscriber.on_message = on_message
    subscriber.on_connect = lambda client, *_: client.subscribe("latestframe/#", qos=1)
    subscriber.connect("127.0.0.1", broker.port)
    subscriber.loop_start()

    status = 1
    with tempfile.TemporaryDirectory(prefix="latestframe-service-demo-") as folder:
        config = Path(folder) / "cameras.yaml"
        ids = [f"camera-{n}" for n in range(1, args.cameras + 1)]
        config.write_text(
            f"broker: {{ host: 127.0.0.1, port: {broker.port} }}\n"
            "health: { interval: 1s }\n"
            "memory-budget: 64MiB\n"
            f"defaults: {{ analyses: \"{args.analyses}\", max-age: 500ms }}\n"
            "cameras:\n"
            + "".join(f"  - id: {i}\n    uri: {camera.url}\n" for i in ids))
        port = args.port or free_port()
        service = subprocess.Popen([args.service, "--config", str(config),
                                    "--metrics-port", str(port)])
        try:
            started = time.monotonic()
            # Every camera's newest analysed frame with its boxes, its
            # figures, and a camera in trouble in red.
            print(f"the page: http://127.0.0.1:{port}/ (open it while the "
                  "demo runs; --seconds S runs it longer)", flush=True)
            while time.monotonic() - started < args.seconds:
                time.sleep(1)
                if service.poll() is not None:
                    print(f"the service exited with {service.returncode}")
                    return 1
                with lock:
                    line = []
                    for camera_id in ids:
                        record = health.get(camera_id, {})
                        frames = record.get("frames", {})
                        line.append(
                            f"{camera_id}: {record.get('state', '-')}, "
                            f"{detections[camera_id]} messages ({found[camera_id]} detections), "
                            f"received {frames.get('received', 0)} analysed "
                            f"{frames.get('analysed', 0)} age p95 "
                            f"{record.get('age_ms', {}).get('p95', 0):.0f} ms")
                print(f"t={time.monotonic() - started:4.1f}s  " + " | ".join(line), flush=True)
            text = scrape_metrics(port)
            print("/metrics (excerpt):")
            for metric_line in text.splitlines():
                if metric_line.startswith(("latestframe_frames_analysed_total",
                                           "latestframe_memory_budget",
                                           "latestframe_mqtt_published_total")):
                    print("  " + metric_line)
            with lock:
                status = 0 if all(detections[i] > 0 and i in health for i in ids) else 1
            if status:
                print("FAIL: a camera published no detection or no health record")
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(60)
            subscriber.loop_stop()
            camera.stop()
            broker.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
