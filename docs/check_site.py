"""Open the built documentation site in headless Chromium and check it as a reader would.

Run by ``make docs-check`` after ``make docs``::

    python docs/check_site.py [SITE_DIR] [SCREENSHOT_DIR]

The site (default ``docs/_build/html``) is served on a free local port by
``http.server``; Debian's ``chromium`` and ``chromium-driver`` are driven through
Selenium with the driver found on ``PATH`` (nothing is downloaded). Four pages are
checked: the landing page (and its figure), the API page of ``make_decoder``, the
gallery page of the attacks tutorial (at least one figure that loaded,
``naturalWidth > 0``) and a search for ``cross_day_matrix``. Screenshots of the first three go to SCREENSHOT_DIR (default
``docs/_build/screenshots``). Exit status 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socketserver
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

HERE = Path(__file__).resolve().parent
WAIT_S = 60  # generous: the search index loads asynchronously, and CI machines are slow


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def serve(site: Path) -> tuple[socketserver.TCPServer, str]:
    """Serve ``site`` on 127.0.0.1 at a free port, in a daemon thread; return the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = socketserver.TCPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def browser() -> webdriver.Chrome:
    """Headless Chromium through the system's chromedriver (no Selenium Manager download)."""
    driver_path = shutil.which("chromedriver") or "/usr/lib/chromium/chromedriver"
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not Path(driver_path).exists() or binary is None:
        sys.exit("docs-check needs Debian's chromium and chromium-driver "
                 "(apt-get install -y chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000", "--hide-scrollbars"):
        options.add_argument(arg)
    os.environ.setdefault("SE_OFFLINE", "true")
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


def wait_for(condition: Callable[[], object], what: str) -> object:
    """Poll ``condition`` until it returns something truthy, or fail after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT_S} s waiting for {what}")
        time.sleep(0.25)


def check_page(driver: webdriver.Chrome, url: str, title: str, heading: str) -> None:
    """Open ``url`` and check the window title and the page's first heading."""
    driver.get(url)
    wait_for(lambda: driver.execute_script("return document.readyState") == "complete",
             f"{url} to load")
    assert title in driver.title, f"{url}: title {driver.title!r} lacks {title!r}"
    h1 = driver.find_element(By.CSS_SELECTOR, "article h1, main h1").text
    assert heading in h1, f"{url}: first heading {h1!r} lacks {heading!r}"


def loaded_images(driver: webdriver.Chrome) -> list:
    """The figures (``<img>`` elements) of the page's article that the browser decoded."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('article img'))"
        ".filter(i => i.complete && i.naturalWidth > 0);")


def main(site: Path, shots: Path) -> int:
    site, shots = site.resolve(), shots.resolve()
    for page in ("index.html", "api/generated/spikedecode.make_decoder.html",
                 "tutorials/03_attacks_mnist.html", "search.html"):
        if not (site / page).exists():
            print(f"FAIL: {site / page} does not exist; run `make docs` first")
            return 1
    shots.mkdir(parents=True, exist_ok=True)
    server, base = serve(site)
    driver = browser()
    failures = 0

    def step(name: str, fn: Callable[[], str]) -> None:
        nonlocal failures
        try:
            print(f"ok   {name}: {fn()}")
        except Exception as exc:  # report every page, not only the first failure
            failures += 1
            print(f"FAIL {name}: {exc}")

    def landing() -> str:
        check_page(driver, f"{base}/index.html", "spikedecode", "spikedecode")
        figures = wait_for(lambda: loaded_images(driver), "the landing figure to load")
        # the whole page, figure included, in one screenshot
        height = driver.execute_script("return document.documentElement.scrollHeight;")
        driver.set_window_size(1280, min(int(height) + 100, 4000))
        driver.save_screenshot(str(shots / "landing.png"))
        driver.set_window_size(1280, 1000)
        return (f"title, heading and {len(figures)} loaded figure(s); "
                "screenshot landing.png (whole page)")

    def api_page() -> str:
        check_page(driver, f"{base}/api/generated/spikedecode.make_decoder.html",
                   "make_decoder", "make_decoder")
        sig = driver.find_element(By.CSS_SELECTOR, "dt.sig").text
        assert "make_decoder" in sig, f"no make_decoder signature, found {sig!r}"
        driver.save_screenshot(str(shots / "api_make_decoder.png"))
        return "title, heading and signature present; screenshot api_make_decoder.png"

    def gallery_page() -> str:
        check_page(driver, f"{base}/tutorials/03_attacks_mnist.html", "03", "Adversarial")
        driver.execute_script(
            "document.querySelectorAll('article img').forEach(i => i.loading = 'eager');")
        images = wait_for(lambda: loaded_images(driver), "a figure with naturalWidth > 0")
        first = images[0]
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", first)
        time.sleep(0.5)
        driver.save_screenshot(str(shots / "gallery_03_attacks_mnist.png"))
        width = driver.execute_script("return arguments[0].naturalWidth;", first)
        return (f"{len(images)} figure(s) loaded, the first {first.get_attribute('src')} "
                f"{width} px wide; screenshot gallery_03_attacks_mnist.png")

    def search() -> str:
        driver.get(f"{base}/search.html?q=cross_day_matrix")
        links = wait_for(lambda: [a.text for a in driver.find_elements(
            By.CSS_SELECTOR, "#search-results a") if "cross_day_matrix" in a.text],
            "a search result naming cross_day_matrix")
        return f"search returned {links[0]!r}"

    try:
        step("landing page", landing)
        step("API page of make_decoder", api_page)
        step("gallery page of 03_attacks_mnist", gallery_page)
        step("search for cross_day_matrix", search)
    finally:
        driver.quit()
        server.shutdown()
    print(f"screenshots in {shots}")
    return 1 if failures else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(Path(args[0]) if args else HERE / "_build" / "html",
                  Path(args[1]) if len(args) > 1 else HERE / "_build" / "screenshots"))
