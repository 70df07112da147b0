"""Real servers on 127.0.0.1 for the tests and the scripts of pipelines/:
the RTSP test camera (latestframe-testcam) and Debian's mosquitto broker,
each in its own process, started on a free port, killed and restarted on
the same one.

Imported by whoever needs them (tests/python, tests/service, the fault
matrix, the service benchmark): put pipelines/lib on sys.path first."""
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def accepts_connections(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class RtspCamera:
    """latestframe-testcam in its own process: started on a free port,
    killed, stopped and continued, restarted on the same port. `program`
    is the camera's path (LATESTFRAME_TESTCAM). With `mounts` > 1 it
    serves that many streams whose key units are out of step (--mounts):
    `urls` lists them, `url` is the first."""

    def __init__(self, program, *args, mounts=1):
        self.program = program
        self.args = list(args) + ([f"--mounts={mounts}"] if mounts > 1 else [])
        self.mounts = mounts
        self.process = None
        self.url = None
        self.urls = []
        self.start(0)

    def start(self, port):
        self.process = subprocess.Popen(
            [self.program, f"--port={port}", *self.args],
            stdout=subprocess.PIPE, text=True)
        served = threading.Event()
        lines = []

        # Its first lines are the URLs it serves, one per mount; later
        # lines are drained, so that a full pipe never blocks it.
        def drain(stdout):
            for line in stdout:
                lines.append(line.strip())
                if len(lines) >= self.mounts:
                    served.set()
            served.set()

        threading.Thread(target=drain, args=(self.process.stdout,),
                         daemon=True).start()
        assert served.wait(20), "the test camera printed nothing"
        assert len(lines) >= self.mounts and all(
            line.startswith("rtsp://") for line in lines[:self.mounts]), lines
        self.urls = lines[:self.mounts]
        self.url = self.urls[0]

    def port(self):
        return int(self.url.rsplit(":", 1)[1].split("/", 1)[0])

    def signal(self, number):
        self.process.send_signal(number)

    def kill(self):
        self.process.kill()
        self.process.wait(20)

    def restart(self):
        url = self.url
        self.kill()
        self.start(self.port())
        assert self.url == url, "restarted on another URL"

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(20)


class MqttBroker:
    """Debian's mosquitto on 127.0.0.1, on a port of its own, no
    persistence: stopped and started again on the same port. Anonymous by
    default; with `users` ({name: password}) only they may connect; with
    `tls` (a Certificates) it speaks TLS only, with the server certificate
    `tls_server` ("server", or "other-host": one made for another host
    name), and with `require_certificate` a client must show one the CA
    signed. With `persistent`, what it holds (the sessions of clients that
    asked to keep theirs, their subscriptions and queued messages) is
    saved when it stops and read back when it starts again."""

    PROGRAM = "/usr/sbin/mosquitto"

    def __init__(self, users=None, tls=None, tls_server="server",
                 require_certificate=False, persistent=False):
        if not os.access(self.PROGRAM, os.X_OK):
            raise FileNotFoundError(
                f"{self.PROGRAM} is missing: apt-get install mosquitto")
        self.port = free_port()
        self.directory = tempfile.TemporaryDirectory(prefix="latestframe-mqtt-")
        # mosquitto run as root drops to its own user: what it reads must be
        # readable by others.
        os.chmod(self.directory.name, 0o755)
        self.config = Path(self.directory.name) / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1",
                 f"persistence {'true' if persistent else 'false'}",
                 # QoS 1 messages of a subscriber that falls behind are
                 # queued, not dropped, up to far more than a test sends.
                 "max_queued_messages 100000"]
        if persistent:
            saved = Path(self.directory.name) / "persistence"
            saved.mkdir()
            saved.chmod(0o777)  # written by the broker's own user
            lines.append(f"persistence_location {saved}/")
        if users:
            passwords = Path(self.directory.name) / "passwords"
            passwords.write_text("")
            for name, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwords), name,
                                password], check=True, capture_output=True)
            passwords.chmod(0o644)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        if tls:
            lines += [f"cafile {tls.path('ca.crt')}",
                      f"certfile {tls.path(tls_server + '.crt')}",
                      f"keyfile {tls.path(tls_server + '.key')}",
                      f"require_certificate {'true' if require_certificate else 'false'}"]
        self.config.write_text("\n".join(lines) + "\n")
        self.log = Path(self.directory.name) / "mosquitto.log"
        self.process = None
        self.start()

    def start(self, deadline=20):
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [self.PROGRAM, "-c", str(self.config)],
                stdout=log, stderr=subprocess.STDOUT)
        end = time.monotonic() + deadline
        while not accepts_connections(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > end:
                raise TimeoutError(f"mosquitto is not listening on {self.port}")
            time.sleep(0.05)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)

    def close(self):
        self.stop()
        self.directory.cleanup()


class Certificates:
    """A test PKI made with openssl in a folder of its own: a CA (ca.crt);
    a server certificate for 127.0.0.1 and localhost (server.crt/.key) and
    one for another host name (other-host.crt/.key), both signed by it; a
    client certificate (client.crt/.key) signed by it; and a second CA
    that signed nothing here (other-ca.crt). Files readable by all (the
    broker drops to its own user)."""

    def __init__(self):
        self.directory = tempfile.TemporaryDirectory(prefix="latestframe-pki-")
        os.chmod(self.directory.name, 0o755)
        self._authority("ca")
        self._authority("other-ca")
        self._signed("server", "127.0.0.1", "IP:127.0.0.1,DNS:localhost")
        self._signed("other-host", "broker.other.invalid",
                     "DNS:broker.other.invalid")
        self._signed("client", "latestframe-test-client", None)
        for path in Path(self.directory.name).iterdir():
            path.chmod(0o644)

    def path(self, name):
        return str(Path(self.directory.name) / name)

    def _openssl(self, *args):
        subprocess.run(["openssl", *args], check=True, capture_output=True,
                       cwd=self.directory.name)

    def _authority(self, name):
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                      "-subj", f"/CN=latestframe test {name}",
                      "-keyout", f"{name}.key", "-out", f"{name}.crt")

    def _signed(self, name, common_name, alt_names):
        self._openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj",
                      f"/CN={common_name}", "-keyout", f"{name}.key",
                      "-out", f"{name}.csr")
        extensions = Path(self.directory.name) / f"{name}.ext"
        extensions.write_text(f"subjectAltName={alt_names}\n" if alt_names
                              else "extendedKeyUsage=clientAuth\n")
        self._openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt",
                      "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
                      "-extfile", f"{name}.ext", "-out", f"{name}.crt")

    def close(self):
        self.directory.cleanup()


def scrape_metrics(port):
    """latestframe-service's /metrics on 127.0.0.1:`port`, as text; "" while
    it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                    timeout=10) as answer:
            return answer.read().decode()
    except OSError:
        return ""


def metric(text, name, **labels):
    """The value of the sample `name` with (at least) `labels` in a
    Prometheus text exposition, or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head == name and not labels:
            return float(value)
        if head.startswith(name + "{"):
            found = dict(part.split("=", 1) for part in
                         head[len(name) + 1:-1].split(",") if part)
            if all(found.get(key) == f'"{wanted}"'
                   for key, wanted in labels.items()):
                return float(value)
    return None
