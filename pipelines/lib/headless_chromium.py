"""Debian's chromium, headless, driven through chromium-driver by
python3-selenium: how the project opens the service's page (GET /) in a
real browser. Used by tests/service/test_service_page.py and by the
service bench's --page rows; put pipelines/lib on sys.path first.

    driver = launch(width=1280, height=1000)   # raises Unavailable
    driver.get(url) ... driver.quit()
"""
import shutil


class Unavailable(RuntimeError):
    """chromium, chromium-driver or python3-selenium is missing."""


def missing():
    """What is missing to launch the browser (a sentence to show), or
    None when nothing is."""
    try:
        import selenium.webdriver  # noqa: F401
    except ImportError:
        return "no python3-selenium (apt-get install python3-selenium)"
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        return "no chromium or chromium-driver (apt-get install chromium chromium-driver)"
    return None


def launch(width=1280, height=1000, logs=None):
    """A new headless chromium with a window of `width` x `height` CSS
    pixels, no network of its own (no sync, updates or background
    requests), no sandbox (it runs as root in the suite). `logs`: Chrome's
    goog:loggingPrefs, e.g. {"performance": "ALL", "browser": "ALL"} to
    read every request the page made. The caller quits it."""
    reason = missing()
    if reason:
        raise Unavailable(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox",
                     "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},{height}", "--no-first-run",
                     "--disable-background-networking",
                     "--disable-component-update", "--disable-sync"):
        options.add_argument(argument)
    if logs:
        options.set_capability("goog:loggingPrefs", logs)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")),
                            options=options)
