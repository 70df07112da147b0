"""pytest's setup of the Python tests. pytest finds them by name (test_*.py)
and meson test runs each folder as one session, so a new test file needs
no line in tests/meson.build:

- tests/python/ (meson test python/plugins): the build's plugins from
  Python, through PyGObject, with GST_PLUGIN_PATH at the build's gst/. A
  test whose elements or test camera this build lacks is skipped, saying
  which.
- tests/python/binding/ (meson test python/binding): the `latestframe`
  package as built, in a session of its own without GST_PLUGIN_PATH: the
  extension registers the latestframe element itself, as it must once
  installed (see binding/conftest.py). Not collected from here.

Run by hand: GST_PLUGIN_PATH=<build>/gst python3 -m pytest tests/python

Waits are for events (bus messages, counts reaching a value), bounded by
generous deadlines that only fail a test when the event never comes; no
test asserts how long something took.
"""
import os
from pathlib import Path

import gi
import pytest

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_SAMPLE_DATA = "/usr/share/doc/opencv-doc/examples/data"

# The binding's tests need another environment: their own session.
collect_ignore = ["binding"]

Gst.init(None)


@pytest.fixture(scope="session")
def build_plugins():
    """The directories of GST_PLUGIN_PATH, once it is checked that the
    build's plugins, not installed ones, answer for our elements."""
    path = os.environ.get("GST_PLUGIN_PATH", "")
    build = [part for part in path.split(os.pathsep) if part]
    if not build:
        pytest.fail("GST_PLUGIN_PATH is not set: these tests test the build's "
                    "plugins")
    factory = Gst.ElementFactory.find("latestframe")
    if factory is None:
        pytest.fail(f"no element latestframe (GST_PLUGIN_PATH={path})")
    filename = factory.get_plugin().get_filename()
    if not any(filename.startswith(part) for part in build):
        pytest.fail(f"latestframe comes from {filename}, not the build "
                    f"(GST_PLUGIN_PATH={path})")
    return build


@pytest.fixture(autouse=True)
def _tests_here_test_the_build(request):
    # binding/ has its own setup (and no GST_PLUGIN_PATH).
    if request.path.parent == HERE:
        request.getfixturevalue("build_plugins")


@pytest.fixture
def require_elements():
    """Skips the test unless every element named exists (the OpenCV
    elements are built only with OpenCV)."""
    def require(*names):
        missing = [name for name in names
                   if Gst.ElementFactory.find(name) is None]
        if missing:
            pytest.skip(f"this build has no {', '.join(missing)}")
    return require


@pytest.fixture
def sample_data():
    """OpenCV's sample folder (opencv-doc): LATESTFRAME_SAMPLE_DATA."""
    return Path(os.environ.get("LATESTFRAME_SAMPLE_DATA", DEFAULT_SAMPLE_DATA))


@pytest.fixture
def testcam_program():
    """The RTSP test camera of the build (LATESTFRAME_TESTCAM), or a skip."""
    program = os.environ.get("LATESTFRAME_TESTCAM")
    if not program:
        pytest.skip("no LATESTFRAME_TESTCAM (the build has no RTSP test "
                    "camera)")
    return program


@pytest.fixture
def run_to_eos():
    """Plays a launch line to EOS; returns (pipeline, element messages in
    order). Fails on an error, or when no EOS comes within `deadline_s` (a
    bound for failing, not an expectation). The pipeline is stopped after
    the test."""
    pipelines = []

    def run(launch, deadline_s=120):
        pipeline = Gst.parse_launch(launch)
        pipelines.append(pipeline)
        assert (pipeline.set_state(Gst.State.PLAYING)
                != Gst.StateChangeReturn.FAILURE)
        bus = pipeline.get_bus()
        messages = []
        while True:
            message = bus.timed_pop_filtered(
                deadline_s * Gst.SECOND,
                Gst.MessageType.EOS | Gst.MessageType.ERROR
                | Gst.MessageType.ELEMENT)
            assert message is not None, f"no EOS within {deadline_s} s"
            assert message.type != Gst.MessageType.ERROR, message.parse_error()
            if message.type == Gst.MessageType.EOS:
                return pipeline, messages
            if message.get_structure() is not None:
                messages.append(message.get_structure().copy())

    yield run
    for pipeline in pipelines:
        pipeline.set_state(Gst.State.NULL)
