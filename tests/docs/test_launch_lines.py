"""Every gst-launch-1.0 line in the docs, run for real: README.md and the
Markdown under docs/ (```sh blocks, `\\` continuations joined) and the
`|[ ... ]|` blocks of the SECTION comments in gst/**/*.cpp (one block, one
pipeline). Each line must also keep the placement rule: no videoconvert
before latestframe, which would convert every frame, also the ones
latestframe then drops.

What a test needs is substituted: any rtsp:// URL becomes the bundled test
camera (LATESTFRAME_TESTCAM, started once on a free port), autovideosink
becomes fakesink, v4l2src a live 640x480@30 YUY2 videotestsrc (a webcam's
usual output), mqttpublish's port that of a mosquitto broker started once on
a free port of 127.0.0.1 (and a warning that it cannot reach or lost the
broker fails the line), OpenCV's sample folder LATESTFRAME_SAMPLE_DATA, and `-m` is
added where missing so that the bus can be watched (it only prints).

A line that ends by itself (a file, num-buffers) must reach PLAYING, end
with EOS and exit 0; one still running after FINITE_BOUND_S is stopped once
it has proven it runs, and says so. A live line runs LIVE_S after PLAYING
and is then interrupted with SIGINT, which gst-launch-1.0 1.22 handles
(exit 0, "Interrupt: Stopping pipeline"). Either way no ERROR may appear,
each cv analysis in the line must post at least one element message, and a
`| grep PATTERN` after the line must find its pattern.

Prints each line and how it ran; fails naming the file, the line and the
launch line; fails when it finds no line. Exits non-zero on any failure."""
import concurrent.futures
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SAMPLE_DATA = "/usr/share/doc/opencv-doc/examples/data"
LIVE_S = 2.0            # how long a live line runs once PLAYING
FINITE_BOUND_S = 8.0    # how long a line that ends by itself may take
EVIDENCE_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
# Lines run at once (LATESTFRAME_DOCS_JOBS overrides).
JOBS = int(os.environ.get("LATESTFRAME_DOCS_JOBS", "3"))

# Elements that post an element message named after them for every frame
# they analyse (unless post-messages=false).
ANALYSES = {"cvmotion", "cvfacedetect", "cvpeopledetect", "cvqrdecode"}
CONVERTERS = {"videoconvert", "videoscale", "videoconvertscale"}
WEBCAM = ["videotestsrc", "is-live=true", "!",
          "video/x-raw,format=YUY2,width=640,height=480,framerate=30/1"]
PLAYING = re.compile(r'from element "pipeline\d*" \(state-changed\): '
                     r'GstMessageStateChanged, old-state=\(GstState\)paused, '
                     r'new-state=\(GstState\)playing')
ERROR = re.compile(r"^ERROR|^WARNING: erroneous pipeline|\(error\): "
                   r"|Could not reach the MQTT broker|Lost the MQTT broker")
WARNING = re.compile(r"^WARNING: from element")


class Unrunnable(Exception):
    """A launch line the test cannot turn into a command."""


@dataclass
class LaunchLine:
    path: Path
    line: int
    text: str                      # as written, continuation lines joined
    variables: dict = field(default_factory=dict)  # set earlier in its block

    def where(self):
        return f"{self.path.relative_to(ROOT)}:{self.line}"


# ---- extraction ----

def markdown_lines(path):
    """gst-launch-1.0 lines in the ```sh blocks of a Markdown file; a
    `NAME=value` line in a block sets a variable for the lines after it."""
    found, problems = [], []
    fence = None
    variables = {}
    pending, pending_line = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else (stripped[3:].strip() or "plain")
            variables = {}
            continue
        if fence is None:
            continue
        if fence not in ("sh", "bash", "shell"):
            if "gst-launch-1.0" in raw:
                problems.append(f"{path.relative_to(ROOT)}:{number}: gst-launch-1.0 in a "
                                f"```{fence} block; mark it ```sh so that it is run")
            continue
        if not pending:
            pending_line = number
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        logical, pending = (pending + stripped).strip(), ""
        if not logical or logical.startswith("#"):
            continue
        assignment = re.fullmatch(r"([A-Za-z_]\w*)=(\S+)", logical)
        if assignment:
            variables[assignment.group(1)] = assignment.group(2)
        elif "gst-launch-1.0" in logical:
            found.append(LaunchLine(path, pending_line, logical, dict(variables)))
    return found, problems


def section_lines(path):
    """The |[ ... ]| blocks of the SECTION doc comments of a source file."""
    found, problems = [], []
    in_section = in_block = False
    block, block_line = [], 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        if "/**" in raw:
            in_section = False
        if "SECTION:" in raw:
            in_section = True
        if not in_section:
            continue
        text = re.sub(r"^\s*\*\s?", "", raw).rstrip()
        if text.startswith("|["):
            in_block, block, block_line = True, [], number + 1
            rest = re.sub(r"<!--.*?-->", "", text[2:]).strip()  # a language hint
            if rest:
                block, block_line = [rest], number
        elif text.startswith("]|") and in_block:
            in_block = False
            joined = " ".join(part.strip() for part in block).strip()
            if joined.startswith("gst-launch-1.0"):
                found.append(LaunchLine(path, block_line, joined))
            elif "gst-launch-1.0" in joined:
                problems.append(f"{path.relative_to(ROOT)}:{block_line}: a block that does "
                                "not start with gst-launch-1.0 mentions it")
        elif in_block:
            block.append(text)
        if "*/" in raw:
            in_section = in_block = False
    return found, problems


def extract():
    sources = {"README.md": [ROOT / "README.md"],
               "docs/": sorted((ROOT / "docs").rglob("*.md")),
               "gst/": sorted((ROOT / "gst").rglob("*.cpp"))}
    lines, problems, counts = [], [], {}
    for name, paths in sources.items():
        counts[name] = 0
        for path in paths:
            if not path.is_file():
                problems.append(f"{path.relative_to(ROOT)}: missing")
                continue
            found, trouble = (section_lines if path.suffix == ".cpp" else markdown_lines)(path)
            lines += found
            problems += trouble
            counts[name] += len(found)
    return lines, problems, counts


# ---- from a launch line to a command ----

def split_pipe(text):
    """The command and what follows a `|` outside quotes, if anything."""
    quote = None
    for index, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "|":
            return text[:index].strip(), text[index + 1:].strip()
    return text.strip(), None


def expand(text, variables, sample_data):
    def value(match):
        name = match.group(1) or match.group(2)
        if name not in variables:
            raise Unrunnable(f"uses ${name}, which its block does not set")
        return variables[name]
    text = re.sub(r"\$\{(\w+)\}|\$(\w+)", value, text)
    return text.replace(DEFAULT_SAMPLE_DATA, sample_data)


def element_chains(pipeline):
    """The element names of each chain of `a ! b ! c` in a description; a
    new chain starts at a word that is neither linked nor a property (a
    second source, a pad reference such as `t.`)."""
    chains, chain, linked = [], [], True
    for token in pipeline:
        if token == "!":
            linked = True
        elif linked:
            chain.append("caps" if "/" in token else token.split(",")[0])
            linked = False
        elif "=" not in token:
            chains.append(chain)
            chain = [token]
        # else: a property of the element before
    chains.append(chain)
    return chains


def placement_problem(pipeline):
    for chain in element_chains(pipeline):
        if "latestframe" not in chain:
            continue
        before = chain[:chain.index("latestframe")]
        converters = [name for name in before if name in CONVERTERS]
        if converters:
            return (f"{converters[0]} before latestframe converts every frame, also the ones "
                    "latestframe drops: put latestframe right after the decoder "
                    "(... ! decodebin ! latestframe ! videoconvert ! cvmotion ! ...)")
    return None


@dataclass
class Plan:
    written: list                  # the pipeline description as written
    argv: list
    env: dict
    finite: bool
    analyses: set
    grep: str = None
    notes: list = field(default_factory=list)


def plan(launch, sample_data, camera, broker):
    command, filtered = split_pipe(expand(launch.text, launch.variables, sample_data))
    tokens = shlex.split(command, comments=True)
    env = {}
    while tokens and re.fullmatch(r"[A-Za-z_]\w*=.*", tokens[0]):
        name, value = tokens.pop(0).split("=", 1)
        env[name] = value
    if not tokens or tokens[0] != "gst-launch-1.0":
        raise Unrunnable("not a gst-launch-1.0 command")
    options, pipeline = [], tokens[1:]
    while pipeline and pipeline[0].startswith("-"):
        options.append(pipeline.pop(0))
    if not pipeline:
        raise Unrunnable("no pipeline description")
    grep = None
    if filtered is not None:
        words = shlex.split(filtered)
        if len(words) < 2 or words[0] != "grep" or any(w.startswith("-") for w in words[1:]):
            raise Unrunnable(f"cannot check the output filter '| {filtered}' (only '| grep WORD')")
        grep = words[-1]

    notes = []
    if "-m" not in options and "--messages" not in options:
        options.append("-m")
        notes.append("-m added")
    ran = []
    in_mqttpublish = False
    # Settings an mqttpublish of the line points at its broker with: the
    # test broker's instead (its TLS one, with a user, for tls=true).
    broker_settings = ("port=", "host=", "tls-ca-file=", "username=", "password=")
    for index, token in enumerate(pipeline):
        if token == "!" or ("=" not in token and token != "mqttpublish"):
            in_mqttpublish = False
        if in_mqttpublish and token.startswith(broker_settings):
            continue
        if token == "mqttpublish":
            settings = mqttpublish_settings(pipeline, index)
            if settings.get("tls") == "true":
                port, ca_file, user, password = broker.secure()
                ran += [token, "host=127.0.0.1", f"port={port}", f"tls-ca-file={ca_file}",
                        f"username={user}", f"password={password}"]
                notes.append("mqttpublish tls -> the test TLS broker, its CA and user")
            else:
                ran += [token, "host=127.0.0.1", f"port={broker()}"]
                notes.append("mqttpublish -> the test broker")
            in_mqttpublish = True
            continue
        if token == "autovideosink":
            ran.append("fakesink")
            notes.append("autovideosink -> fakesink")
        elif token == "v4l2src":
            following = pipeline[index + 1] if index + 1 < len(pipeline) else "!"
            if following != "!":
                raise Unrunnable(f"v4l2src with settings ({following}) has no stand-in")
            ran += WEBCAM
            notes.append("v4l2src -> live YUY2 videotestsrc")
        elif "rtsp://" in token:
            ran.append(re.sub(r"rtsp://\S+", camera(), token))
            notes.append("rtsp -> test camera")
        else:
            ran.append(token)
    names = {name for chain in element_chains(pipeline) for name in chain}
    finite = bool(names & {"filesrc", "multifilesrc"}) or any(
        token.startswith("num-buffers=") for token in pipeline)
    silenced = any(token == "post-messages=false" for token in pipeline)
    analyses = set() if silenced else names & ANALYSES
    return Plan(pipeline, ["gst-launch-1.0"] + options + ran, env, finite, analyses, grep,
                notes)


def mqttpublish_settings(pipeline, index):
    """The NAME=VALUE settings of the mqttpublish at pipeline[index]."""
    settings = {}
    for token in pipeline[index + 1:]:
        if token == "!" or "=" not in token:
            break
        name, value = token.split("=", 1)
        settings[name] = value
    return settings


# ---- running ----

class TestCamera:
    """The bundled RTSP test camera, started on first use (by whichever
    line's thread comes first)."""

    def __init__(self, program):
        self.program, self.process, self.url = program, None, None
        self.lock = threading.Lock()

    def __call__(self):
        with self.lock:
            return self.start()

    def start(self):
        if self.url:
            return self.url
        if not self.program:
            raise Unrunnable("an rtsp:// line, and LATESTFRAME_TESTCAM is not set")
        self.process = subprocess.Popen(
            [self.program, "--port=0", "--width=640", "--height=360"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        first = self.process.stdout.readline().strip()
        if not first.startswith("rtsp://"):
            raise Unrunnable(f"the test camera did not start: {first}")
        # Drained, so that its later lines never fill the pipe.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()
        self.url = first
        print(f"test camera: {self.url} (640x360@30)")
        return self.url

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait()


class TestBroker:
    """Debian's mosquitto on a free port of 127.0.0.1, started on first use
    (pipelines/lib/live_servers.py)."""

    def __init__(self):
        self.broker = None
        self.secure_broker = None
        self.certificates = None
        self.lock = threading.Lock()

    def __call__(self):
        with self.lock:
            return self.start()

    def start(self):
        if self.broker is None:
            sys.path.insert(0, str(ROOT / "pipelines" / "lib"))
            from live_servers import MqttBroker
            try:
                self.broker = MqttBroker()
            except FileNotFoundError as missing:
                raise Unrunnable(f"an mqttpublish line: {missing}")
            print(f"test broker: 127.0.0.1:{self.broker.port}")
        return self.broker.port

    def secure(self):
        """A second broker that speaks TLS only and wants a user and
        password: its port, its CA's path, the user and the password."""
        with self.lock:
            if self.secure_broker is None:
                sys.path.insert(0, str(ROOT / "pipelines" / "lib"))
                from live_servers import Certificates, MqttBroker
                try:
                    self.certificates = Certificates()
                    self.secure_broker = MqttBroker(users={"docs": "docs-password"},
                                                    tls=self.certificates)
                except FileNotFoundError as missing:
                    raise Unrunnable(f"an mqttpublish tls line: {missing}")
                print(f"test TLS broker: 127.0.0.1:{self.secure_broker.port}")
            return (self.secure_broker.port, self.certificates.path("ca.crt"), "docs",
                    "docs-password")

    def stop(self):
        if self.broker:
            self.broker.close()
        if self.secure_broker:
            self.secure_broker.close()
            self.certificates.close()


class Run:
    """One gst-launch-1.0, its output read line by line as it comes."""

    def __init__(self, plan, cwd):
        self.plan = plan
        self.output = []
        self.playing_at = None
        self.messages = dict.fromkeys(plan.analyses, 0)
        self.grepped = plan.grep is None
        self.errors = []
        self.eos = self.interrupt_handled = False
        self.changed = threading.Condition()
        self.ended = False
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            plan.argv, cwd=cwd, env={**os.environ, **plan.env},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors="replace")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            line = line.rstrip("\n")
            with self.changed:
                self.output.append(line)
                if self.playing_at is None and PLAYING.search(line):
                    self.playing_at = time.monotonic()
                for name in self.messages:
                    self.messages[name] += f"(element): {name}, " in line
                self.grepped = self.grepped or self.plan.grep in line
                if ERROR.search(line):
                    self.errors.append(line)
                self.eos = self.eos or "Got EOS from element" in line
                self.interrupt_handled = (self.interrupt_handled
                                          or "Interrupt: Stopping pipeline" in line)
                self.changed.notify_all()
        self.process.wait()
        with self.changed:
            self.ended = True
            self.changed.notify_all()

    def missing(self):
        """What the line has not shown yet."""
        missing = [] if self.playing_at else ["PLAYING"]
        missing += [f"a {name} message" for name, count in sorted(self.messages.items())
                    if not count]
        if not self.grepped:
            missing.append(f"'{self.plan.grep}' in the output (the line's | grep)")
        return missing

    def wait(self):
        """Runs the line to its end, or stops it; returns how it ended."""
        with self.changed:
            while not self.ended:
                # An error ends gst-launch-1.0 by itself.
                now = time.monotonic()
                ready = not self.missing()
                if ready and not self.plan.finite and now - self.playing_at >= LIVE_S:
                    break
                if ready and self.plan.finite and now - self.started >= FINITE_BOUND_S:
                    break
                if now - self.started >= EVIDENCE_TIMEOUT_S:
                    break
                self.changed.wait(0.2)
            if self.ended:
                return "ended"
        self.process.send_signal(signal.SIGINT)
        with self.changed:
            self.changed.wait_for(lambda: self.ended, STOP_TIMEOUT_S)
            if self.ended:
                return "interrupted"
        self.process.kill()
        self.process.wait()
        return "killed"


def judge(run, how):
    """Why the run failed, or None."""
    code = run.process.returncode
    if how == "killed":
        return f"did not stop within {STOP_TIMEOUT_S:.0f} s of SIGINT; killed"
    if run.errors:
        return "error: " + run.errors[0]
    missing = run.missing()
    if missing:
        return (f"{how} (exit {code}) after {time.monotonic() - run.started:.1f} s "
                f"without {', '.join(missing)}")
    if code != 0:
        return f"{how} with exit code {code}"
    if how == "ended" and not run.eos:
        return "ended without EOS"
    if how == "interrupted" and not run.interrupt_handled:
        return "stopped without handling the interrupt"
    return None


def summary(run, how):
    seconds = time.monotonic() - run.started
    if how == "ended":
        said = f"ran to EOS in {seconds:.1f} s"
    elif run.plan.finite:
        said = (f"bounded: stopped with SIGINT after {seconds:.1f} s, having reached PLAYING"
                + (" and analysed" if run.plan.analyses else "")
                + " (it would end by itself; its end is not awaited)")
    else:
        said = f"live: interrupted (SIGINT) after {seconds:.1f} s, exit 0"
    counts = [f"{count} {name}" for name, count in sorted(run.messages.items())]
    if counts:
        said += "; messages: " + ", ".join(counts)
    warnings = [line for line in run.output if WARNING.search(line)]
    if warnings:
        said += f"; {len(warnings)} warnings, first: {warnings[0]}"
    return said


def shown(argv):
    return " ".join(word if word == "!" else shlex.quote(word) for word in argv)


def check_plugins():
    """The build's plugins, not installed ones, answer for our elements."""
    Gst.init(None)
    build = os.environ.get("GST_PLUGIN_PATH", "")
    for name in ("latestframe", "cvmotion"):
        factory = Gst.ElementFactory.find(name)
        if factory is None:
            return f"no element {name} (GST_PLUGIN_PATH={build})"
        filename = factory.get_plugin().get_filename()
        if not build or not any(filename.startswith(part) for part in build.split(":") if part):
            return f"{name} comes from {filename}, not the build (GST_PLUGIN_PATH={build})"
    return None


def check_line(launch, sample_data, camera, broker, cwd):
    """Runs one launch line in `cwd`: (its report, 1 if it ran, its failures)."""
    os.makedirs(cwd)
    report, failures = [f"\n{launch.where()}: {launch.text}"], []
    try:
        command = plan(launch, sample_data, camera, broker)
    except Unrunnable as reason:
        failures.append(f"{launch.where()}: {launch.text}\n  cannot run: {reason}")
        report.append(f"  FAIL cannot run: {reason}")
        return "\n".join(report) + "\n", 0, failures
    if command.notes:
        notes = "; ".join(dict.fromkeys(command.notes))
        report.append(f"  ran as: {shown(command.argv)}  ({notes})")
    run = Run(command, cwd)
    how = run.wait()
    reason = judge(run, how)
    if reason:
        tail = "\n".join("    " + line for line in run.output[-15:])
        failures.append(f"{launch.where()}: {launch.text}\n  {reason}")
        report.append(f"  FAIL {reason}\n  last lines of its output:\n{tail}")
    else:
        report.append(f"  ok: {summary(run, how)}")
    rule = placement_problem(command.written)
    if rule:
        failures.append(f"{launch.where()}: {launch.text}\n  placement rule: {rule}")
        report.append(f"  FAIL placement rule: {rule}")
    return "\n".join(report) + "\n", 1, failures


def main():
    sample_data = os.environ.get("LATESTFRAME_SAMPLE_DATA", DEFAULT_SAMPLE_DATA)
    problem = check_plugins()
    if problem:
        print(f"FAIL: {problem}")
        return 1
    lines, failures, counts = extract()
    print("launch lines found: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    for name in ("README.md", "gst/"):
        if counts[name] == 0:
            failures.append(f"no launch line found in {name}: its examples are gone "
                            "or the extraction broke")
    for problem in failures:
        print(f"FAIL {problem}")

    camera = TestCamera(os.environ.get("LATESTFRAME_TESTCAM"))
    broker = TestBroker()
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="latestframe-docs-") as cwd:
            # A few lines at a time: most wait on a live source or a
            # bound, not on the CPU. Each in its own folder (a line may
            # write a file); their reports are printed in the docs' order.
            with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
                results = list(pool.map(
                    lambda numbered: check_line(numbered[1], sample_data, camera, broker,
                                                os.path.join(cwd, str(numbered[0]))),
                    enumerate(lines)))
    finally:
        camera.stop()
        broker.stop()
    ran = 0
    for report, line_ran, line_failures in results:
        print(report, end="")
        ran += line_ran
        failures += line_failures

    print(f"\nran {ran} of {len(lines)} launch lines in {time.monotonic() - started:.1f} s")
    if not lines:
        failures.append("no launch line found at all")
    if failures:
        print(f"\n{len(failures)} failures:")
        for failure in failures:
            print(f"FAIL {failure}")
        return 1
    print("all launch lines ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
