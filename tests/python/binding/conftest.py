"""The `latestframe` package as built (PYTHONPATH at the build's
src/capture/python), in a session of its own (meson test python/binding).

No GST_PLUGIN_PATH: the extension registers the latestframe element itself,
as it must once installed into a virtual environment. meson test also gives
GStreamer a system plugin path that holds only the system plugins these
tests use, so that an installed latestframe plugin (which would win) cannot
stand in for the extension's element either; test_capture.py checks that
the element a capture uses is the extension's.
"""
import os

import pytest


def pytest_configure(config):
    for name in ("GST_PLUGIN_PATH", "GST_PLUGIN_PATH_1_0"):
        if os.environ.get(name):
            raise pytest.UsageError(
                f"{name} is set: the binding's tests run without it, since the "
                "extension must register the latestframe element itself")
