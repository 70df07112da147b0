"""latestframe-service's page (GET /) in a real browser: Debian's headless
chromium driven through chromium-driver by python3-selenium, against the
service binary, four RTSP test cameras and mosquitto, with the fixtures of
test_service_live.py.

Run by meson test service/page (tests/service/meson.build), or by hand as
test_service_live.py says. Leaves page-*.png beside it in the build
directory (LATESTFRAME_TEST_ARTIFACTS), or in the working directory.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_service_live import (CAMERA_ARGS, ROOT, RtspCamera,  # noqa: E402,F401
                               broker, cameras, program, services, wait_for,
                               workdir, write_config)
from test_service_snapshots import camera_list, get  # noqa: E402
import headless_chromium  # noqa: E402  (pipelines/lib, on the path above)

CAMERA_IDS = [f"door-{n}" for n in range(4)]
ARTIFACTS = Path(os.environ.get("LATESTFRAME_TEST_ARTIFACTS", "."))


class Browser:
    """Headless chromium on one page, keeping the URL of every request the
    page made (Network.requestWillBeSent of Chrome's performance log)."""

    def __init__(self):
        try:
            self.driver = headless_chromium.launch(
                1280, 1000, logs={"performance": "ALL", "browser": "ALL"})
        except headless_chromium.Unavailable as reason:
            # Skipped by hand without a browser; in CI (CI=true), whose
            # setup installs one (tests/run.sh), a missing browser fails.
            if os.environ.get("CI") == "true":
                pytest.fail(str(reason))
            pytest.skip(str(reason))
        self.requests = []

    def script(self, code, *args):
        return self.driver.execute_script(code, *args)

    def requested(self):
        """Every URL the page asked for so far."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])
        return self.requests

    def complaints(self):
        """The console's script errors and Content-Security-Policy
        refusals (a request the policy blocked never reaches the
        performance log)."""
        return [entry["message"] for entry in self.driver.get_log("browser")
                if "Content Security Policy" in entry["message"]
                or "Uncaught" in entry["message"]]

    def screenshot(self, name):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        self.driver.save_screenshot(str(path))
        print(f"screenshot: {path.resolve()}")
        return path

    def close(self):
        self.driver.quit()


# What the page shows of each tile, read in one script.
TILES = """
return [...document.querySelectorAll(arguments[0] + ' .tile')].map(tile => ({
  id: tile.dataset.camera,
  state: tile.dataset.state,
  trouble: tile.classList.contains('trouble'),
  border: getComputedStyle(tile).borderTopColor,
  image_width: tile.querySelector('img').naturalWidth,
  shown_width: tile.querySelector('img').clientWidth,
  source: tile.querySelector('img').currentSrc,
  fps: tile.querySelector('[data-field=fps]').textContent,
  age: tile.querySelector('[data-field=age]').textContent,
  dropped: tile.querySelector('[data-field=dropped]').textContent,
  memory: tile.querySelector('[data-field=memory]').textContent,
}));
"""


def tiles(browser, where="#grid"):
    return {tile["id"]: tile for tile in browser.script(TILES, where)}


@pytest.fixture
def four_cameras(broker, cameras, services, workdir):
    """A service with four streaming cameras; yields (service, their
    RtspCameras)."""
    servers = cameras(4)
    config = workdir / "cameras.yaml"
    write_config(config, broker.port, zip(CAMERA_IDS, (s.url for s in servers)))
    service = services(config)

    def streaming():
        listed = camera_list(service)
        return listed is not None and all(
            camera["state"] == "streaming" and camera["frames"]["analysed"] > 0
            for camera in listed["cameras"])

    wait_for(streaming, 60, lambda: f"4 cameras streaming: "
             f"{camera_list(service)} {service.log[-10:]}")
    return service, servers


@pytest.fixture
def browser():
    opened = Browser()
    yield opened
    opened.close()


def figures_shown(tile):
    """A tile showing a thumbnail and every figure, its rates from two
    polls."""
    return (tile["image_width"] > 0 and tile["state"] == "streaming"
            and "received" in tile["fps"] and "–" not in tile["fps"]
            and tile["age"].endswith(" ms") and tile["dropped"].isdigit()
            and "held" in tile["memory"] and "in flight" in tile["memory"])


# The page shows every camera with a loaded thumbnail and its figures;
# a killed camera turns its tile red and "reconnecting" within 5 s and
# back to streaming once it restarts; a click shows one camera alone at
# full size and another returns to the grid; and the page asks for
# nothing outside the service.
def test_page_shows_every_camera(four_cameras, browser):
    service, servers = four_cameras
    origin = f"http://127.0.0.1:{service.metrics_port}"
    status, headers, _ = get(service.metrics_port, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    browser.driver.get(origin + "/")

    wait_for(lambda: len(tiles(browser)) == 4
             and all(figures_shown(t) for t in tiles(browser).values()), 30,
             lambda: f"4 tiles with images and figures: {tiles(browser)}")
    shown = tiles(browser)
    assert list(shown) == CAMERA_IDS
    for tile in shown.values():
        assert not tile["trouble"], tile
        # 10 frames/s from each camera.
        received = float(tile["fps"].split()[0])
        assert 5 <= received <= 15, tile
    healthy_border = shown[CAMERA_IDS[0]]["border"]
    browser.screenshot("page-grid.png")

    # Each thumbnail asked for again about once a second: more than once
    # in 5 s (a loaded suite slows the service's answers), and never in a
    # pile (one at a time, a second apart).
    def thumbnail_requests():
        return sum(url.startswith(f"{origin}/cameras/{CAMERA_IDS[3]}/latest.jpg"
                                  "?boxes=1&width=")
                   for url in browser.requested())
    before = thumbnail_requests()
    time.sleep(5)
    asked = thumbnail_requests() - before
    assert 2 <= asked <= 6, f"{asked} thumbnails of {CAMERA_IDS[3]} in 5 s"

    # A camera lost: within 5 s its tile says so, in red.
    lost = CAMERA_IDS[0]
    servers[0].kill()
    killed = time.monotonic()
    wait_for(lambda: tiles(browser)[lost]["state"] == "reconnecting", 5,
             lambda: f"{lost} reconnecting: {tiles(browser)[lost]}")
    print(f"{lost} shown reconnecting {time.monotonic() - killed:.1f} s "
          "after its camera was killed")
    now = tiles(browser)
    assert now[lost]["trouble"] and now[lost]["border"] != healthy_border, now[lost]
    assert not any(now[other]["trouble"] for other in CAMERA_IDS[1:]), now
    browser.screenshot("page-camera-lost.png")
    servers[0].start(servers[0].port())
    wait_for(lambda: tiles(browser)[lost]["state"] == "streaming"
             and not tiles(browser)[lost]["trouble"], 60,
             lambda: f"{lost} streaming again: {tiles(browser)[lost]}")

    # A click: that camera alone, its full-size snapshot (no width=), shown
    # larger than in the grid; another click: the grid again.
    chosen = CAMERA_IDS[1]
    grid_width = tiles(browser)[chosen]["shown_width"]
    browser.requested()
    asked_from = len(browser.requests)
    browser.driver.find_element(
        "css selector", f'#grid .tile[data-camera="{chosen}"]').click()
    full_size = f"{origin}/cameras/{chosen}/latest.jpg?boxes=1"
    wait_for(lambda: full_size in browser.requested()[asked_from:], 5,
             f"a request for {full_size}")
    alone = tiles(browser, "#single")
    assert list(alone) == [chosen]
    assert browser.script("return document.getElementById('grid').hidden")
    wait_for(lambda: tiles(browser, "#single")[chosen]["image_width"] > 0, 5,
             "the full-size snapshot loaded")
    assert tiles(browser, "#single")[chosen]["shown_width"] > grid_width
    browser.screenshot("page-one-camera.png")
    browser.driver.find_element(
        "css selector", f'#single .tile[data-camera="{chosen}"]').click()
    assert list(tiles(browser)) == CAMERA_IDS
    assert not tiles(browser, "#single")

    # Every request went to the service (or to the page's own blob:
    # snapshots), and none was refused or failed in a script.
    requested = browser.requested()
    outside = [url for url in requested
               if not (url.startswith(origin + "/")
                       or url.startswith(f"blob:{origin}/"))]
    assert not outside, outside
    assert f"{origin}/api/cameras" in requested
    assert not browser.complaints()


# A camera whose frames arrive older than its max-age is in trouble though
# it streams: the page says so in red (from the age p95 over max-age, or
# from more frames dropped for age than analysed), beside a healthy
# camera.
def test_page_marks_frames_older_than_max_age(broker, cameras, services,
                                              workdir, browser):
    servers = cameras(2)
    config = workdir / "cameras.yaml"
    # 1 ms: no frame over RTSP is that young by the camera's clock.
    write_config(config, broker.port,
                 [("too-old", servers[0].url, {"max-age": "1ms"}),
                  ("fine", servers[1].url)])
    service = services(config)
    wait_for(lambda: camera_list(service) is not None, 30,
             "the service's HTTP server answering")
    browser.driver.get(f"http://127.0.0.1:{service.metrics_port}/")
    reason = ("return document.querySelector("
              "'.tile[data-camera=\"too-old\"] .error').textContent")
    wait_for(lambda: "max-age 1 ms" in browser.script(reason), 30,
             lambda: f"too-old marked: {tiles(browser)} "
             f"{camera_list(service)}")
    shown = tiles(browser)
    assert shown["too-old"]["trouble"] and shown["too-old"]["state"] == "streaming"
    wait_for(lambda: figures_shown(tiles(browser)["fine"]), 30,
             lambda: f"fine shown: {tiles(browser)}")
    assert not tiles(browser)["fine"]["trouble"]
    listed = {c["id"]: c for c in camera_list(service)["cameras"]}
    assert listed["too-old"]["max_age_ms"] == 1
    assert listed["too-old"]["age_ms"]["p95"] > 1 or (
        listed["too-old"]["frames"]["dropped_by_reason"]["age"] > 0)
    print(f"too-old: {browser.script(reason)}")


# The demo (pipelines/service-demo.sh) prints its page's URL, and the page
# shows the demo's cameras: the screenshot in docs/service.md is this
# test's page-demo.png.
def test_page_of_the_demo(browser):
    demo = subprocess.Popen(
        [sys.executable, str(ROOT / "pipelines" / "service_demo.py"),
         "--service", program("LATESTFRAME_SERVICE"),
         "--testcam", program("LATESTFRAME_TESTCAM"), "--seconds", "40"],
        stdout=subprocess.PIPE, text=True)
    try:
        url = None
        for line in demo.stdout:
            if line.startswith("the page: "):
                url = line.split()[2]
                break
        assert url and url.startswith("http://127.0.0.1:"), url
        port = int(url.split(":")[2].rstrip("/"))
        wait_for(lambda: get(port, "/api/cameras")[0] == 200, 30,
                 "the demo's service answering")
        browser.driver.get(url)
        wait_for(lambda: len(tiles(browser)) == 3
                 and all(figures_shown(t) for t in tiles(browser).values()),
                 30, lambda: f"the demo's 3 cameras shown: {tiles(browser)}")
        # On a loaded machine cvpeopledetect may make a camera's age
        # exceed the demo's max-age: the page says so, rightly. The
        # picture waits a while for the start's slow frames to age out.
        deadline = time.monotonic() + 15
        while (any(t["trouble"] for t in tiles(browser).values())
               and time.monotonic() < deadline):
            time.sleep(1)
        for tile in tiles(browser).values():
            print(f"{tile['id']}: {tile['state']}, age p95 {tile['age']}, "
                  f"{tile['fps']}" + (", in trouble" if tile["trouble"] else ""))
        browser.screenshot("page-demo.png")
    finally:
        # As Ctrl-C: the demo stops its service, camera and broker.
        demo.send_signal(signal.SIGINT)
        demo.communicate(timeout=60)
