"""The built book (_build/html) as a reader sees it, in headless Chromium.

Every page is served from localhost with every other host made unresolvable, so a page
that needs the network (a CDN MathJax, a web font) fails here. Checked per page: no
console errors, math typeset (MathJax output present, no raw ``\\(`` left), every
``<audio>`` loads with a duration, every ``<img>`` loads, tables fit the page; and the
"next" links walk through every chapter of ``_toc.yml``. One full-page screenshot per
page goes to ``_build/screenshots/``. Run after ``make book`` (``make browser-test``);
skipped with a message when the book is not built or no Chromium/chromedriver is
installed (``.ci/browser-deps.sh`` installs them).
"""

from __future__ import annotations

import base64
import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("MLCL_BOOK_HTML", ROOT / "_build" / "html"))
SHOTS = ROOT / "_build" / "screenshots"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
SKIP_DIRS = {"_static", "_sources", "_images", "_sphinx_design_static"}
REDIRECT = re.compile(
    r'<meta http-equiv="refresh" content="0; url=([^"]+)"', re.IGNORECASE
)
# Console messages that break nothing, each for a known reason:
HARMLESS = (
    # browsers ask every site for /favicon.ico; the book has none
    re.compile(r"/favicon\.ico - Failed to load resource"),
)

pytestmark = pytest.mark.browser

# Waits for MathJax (2 or 3) to finish typesetting; at once on a page without it.
MATH_DONE_JS = """
const done = arguments[arguments.length - 1];
const start = Date.now();
const check = () => {
  const mj = window.MathJax;
  if (!mj) { done('none'); }
  else if (mj.Hub && mj.Hub.Queue) { mj.Hub.Queue(() => done('v2')); }
  else if (mj.startup && mj.startup.promise) {
    mj.startup.promise.then(() => done('v3'));
  }
  else if (Date.now() - start > 30000) { done('not loaded'); }
  else { setTimeout(check, 100); }  // configured, still loading (deferred script)
};
check();
"""

# What the reader sees: math sources, typeset output, and any raw TeX left in the text.
MATH_STATE_JS = """
const body = document.body.cloneNode(true);
body.querySelectorAll('script, style, pre, code, textarea').forEach(n => n.remove());
const text = body.textContent;
const raw = ['\\\\(', '\\\\[', '\\\\begin{'].filter(s => text.includes(s));
return {sources: document.querySelectorAll('.math').length,
        typeset: document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML,'
                                           + ' mjx-container').length,
        raw: raw};
"""

# Loads every <audio> element's metadata: [{src, duration, error}] per element.
AUDIO_JS = """
const done = arguments[arguments.length - 1];
const players = Array.from(document.querySelectorAll('audio'));
const one = a => new Promise(resolve => {
  const report = () => resolve({src: (a.currentSrc || '').slice(0, 40),
                                duration: a.duration,
                                error: a.error ? a.error.code : null});
  if (a.readyState >= 1 || a.error) { report(); return; }
  a.addEventListener('loadedmetadata', report, {once: true});
  a.addEventListener('error', report, {once: true});
  setTimeout(report, 15000);
  a.preload = 'metadata'; a.load();
});
Promise.all(players.map(one)).then(done);
"""

# Loads every image (lazy ones too); resolves with [{src, width}] per <img>.
IMAGES_JS = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach(i => { i.loading = 'eager'; });
const one = i => new Promise(resolve => {
  const report = () => resolve({src: i.getAttribute('src').slice(0, 60),
                                width: i.naturalWidth});
  if (i.complete) { report(); return; }
  i.addEventListener('load', report, {once: true});
  i.addEventListener('error', report, {once: true});
  setTimeout(report, 15000);
});
Promise.all(images.map(one)).then(done);
"""

# Tables whose right edge passes the article's: cut off, or scrolled sideways.
WIDE_TABLES_JS = """
const article = document.querySelector('article') || document.body;
const right = article.getBoundingClientRect().right;
return Array.from(article.querySelectorAll('table'))
  .filter(t => t.getBoundingClientRect().right > right + 1)
  .map(t => (t.querySelector('th, td') || t).textContent.trim().slice(0, 40)
            + ' ' + Math.round(t.getBoundingClientRect().right - right)
            + ' px too wide');
"""


def _toc_files(entries: list[dict]) -> list[str]:
    """The files of ``entries`` in reading order, each followed by its sections."""
    files: list[str] = []
    for entry in entries:
        files.append(entry["file"])
        files += _toc_files(entry.get("sections", []))
    return files


def _toc_pages() -> list[str]:
    """The html paths of the root and every chapter (and section) listed in _toc.yml,
    in reading order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + _toc_files(toc.get("chapters", []))
    for part in toc.get("parts", []):
        files += _toc_files(part.get("chapters", []))
    return [f"{Path(f).with_suffix('')}.html" for f in files]


def _site_pages() -> list[str]:
    pages = []
    for path in sorted(SITE.rglob("*.html")):
        rel = path.relative_to(SITE)
        if not SKIP_DIRS & set(rel.parts):
            pages.append(rel.as_posix())
    return pages


def _find_browser() -> tuple[str, str] | None:
    browser = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="module")
def server():
    """The built book over http://localhost (what a reader's browser would load)."""
    if not (SITE / "index.html").is_file():
        pytest.skip(f"no built book at {SITE}: run `make book` first")
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test reports failures itself
        pass


@pytest.fixture(scope="module")
def driver():
    """Headless Chromium that can reach localhost only (every other host is
    unresolvable)."""
    found = _find_browser()
    if found is None:
        pytest.skip(
            "no headless Chromium: install chromium and chromium-driver "
            "(.ci/browser-deps.sh)"
        )
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=found[1])
    browser = webdriver.Chrome(options=options, service=service)
    browser.set_script_timeout(60)
    yield browser
    browser.quit()


def _screenshot(browser, path: Path) -> None:
    """The whole page, not only the first screen (Chrome DevTools protocol)."""
    size = browser.execute_script(
        "window.scrollTo(0, 0); const e = document.documentElement;"
        " return [e.clientWidth, e.scrollHeight];"
    )
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1},
        },
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture(scope="module")
def visits(server, driver) -> dict[str, dict]:
    """Open every page once; what each check needs, keyed by the page's path."""
    pages = _site_pages()
    assert pages, f"{SITE} holds no html pages"
    results = {}
    for page in pages:
        driver.get_log("browser")  # drop the previous page's messages
        if REDIRECT.search((SITE / page).read_text(encoding="utf-8")):
            continue  # index.html: test_redirects_lead_to_built_pages
        driver.get(f"{server}/{page}")
        state = {"math_engine": driver.execute_async_script(MATH_DONE_JS)}
        state["math"] = driver.execute_script(MATH_STATE_JS)
        state["audio"] = driver.execute_async_script(AUDIO_JS)
        state["images"] = driver.execute_async_script(IMAGES_JS)
        state["wide_tables"] = driver.execute_script(WIDE_TABLES_JS)
        state["sideways"] = driver.execute_script(
            "const e = document.documentElement; return e.scrollWidth - e.clientWidth;"
        )
        state["next"] = driver.execute_script(
            "const a = document.querySelector('a.right-next');"
            " return a ? a.href : null;"
        )
        state["console"] = [
            e
            for e in driver.get_log("browser")
            if e["level"] == "SEVERE"
            and not any(h.search(e["message"]) for h in HARMLESS)
        ]
        state["screenshot"] = SHOTS / page.replace("/", "__").replace(".html", ".png")
        _screenshot(driver, state["screenshot"])
        results[page] = state
    return results


def test_every_toc_chapter_is_built():
    if not SITE.is_dir():
        pytest.skip(f"no built book at {SITE}: run `make book` first")
    missing = [p for p in _toc_pages() if not (SITE / p).is_file()]
    assert not missing, f"chapters in _toc.yml without a built page: {missing}"


def test_redirects_lead_to_built_pages():
    if not SITE.is_dir():
        pytest.skip(f"no built book at {SITE}: run `make book` first")
    targets = {}
    for page in _site_pages():
        found = REDIRECT.search((SITE / page).read_text(encoding="utf-8"))
        if found:
            targets[page] = (SITE / page).parent / found.group(1)
    assert "index.html" in targets, "index.html does not lead to the root page"
    assert all(t.is_file() for t in targets.values()), targets


# Attributes that make a browser fetch something as the page loads (links to follow are
# fine: a reader clicks those when online).
FETCHED = re.compile(
    r"<(?:script|img|audio|video|source|iframe|embed)\b[^>]*\ssrc=[\"'](https?:)?//"
    r"|<link\b[^>]*rel=[\"'](?:stylesheet|preload|icon)[^>]*href=[\"'](https?:)?//"
    r"|url\([\"']?(https?:)?//",
    re.IGNORECASE,
)


def test_pages_fetch_nothing_from_the_network():
    """No page loads a script, style, font, image or clip from another host."""
    if not SITE.is_dir():
        pytest.skip(f"no built book at {SITE}: run `make book` first")
    files = [SITE / p for p in _site_pages()] + list((SITE / "_static").rglob("*.css"))
    remote = {}
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        hits = [m.group(0)[:80] for m in FETCHED.finditer(text)]
        if hits:
            remote[str(path.relative_to(SITE))] = hits
    assert not remote, f"resources from the network: {remote}"


def test_no_console_errors(visits):
    errors = {
        p: [e["message"][:300] for e in v["console"]]
        for p, v in visits.items()
        if v["console"]
    }
    assert not errors, f"console errors: {errors}"


def test_math_is_typeset(visits):
    bad = {}
    for page, v in visits.items():
        math = v["math"]
        if math["sources"] and not math["typeset"]:
            bad[page] = (
                f"{math['sources']} math elements, "
                f"no MathJax output ({v['math_engine']})"
            )
        elif math["raw"]:
            bad[page] = f"raw TeX left in the text: {math['raw']}"
    assert not bad, bad
    assert any(v["math"]["typeset"] for v in visits.values()), (
        "no page has typeset math"
    )


def test_audio_loads(visits):
    bad = {
        p: [a for a in v["audio"] if a["error"] is not None or not a["duration"] > 0]
        for p, v in visits.items()
    }
    bad = {p: a for p, a in bad.items() if a}
    assert not bad, f"audio that does not load or has no duration: {bad}"


def test_images_load(visits):
    bad = {
        p: [i["src"] for i in v["images"] if not i["width"]] for p, v in visits.items()
    }
    bad = {p: s for p, s in bad.items() if s}
    assert not bad, f"images that do not load: {bad}"


def test_tables_fit_the_page(visits):
    bad = {p: v["wide_tables"] for p, v in visits.items() if v["wide_tables"]}
    assert not bad, f"tables wider than the page: {bad}"


def test_pages_do_not_scroll_sideways(visits):
    bad = {p: f"{v['sideways']} px" for p, v in visits.items() if v["sideways"] > 0}
    assert not bad, f"pages wider than the window: {bad}"


def test_next_links_reach_every_chapter(server, visits):
    """From the root page, "next" leads through every chapter of _toc.yml in order."""
    order, page = [], _toc_pages()[0]
    while page and page not in order:
        order.append(page)
        link = visits.get(page, {}).get("next")
        page = link.removeprefix(f"{server}/").split("#")[0] if link else None
    assert order == _toc_pages(), f"next-link walk {order} != _toc.yml {_toc_pages()}"


def test_one_screenshot_per_page(visits):
    missing = [p for p, v in visits.items() if not v["screenshot"].stat().st_size]
    assert not missing, f"empty screenshots: {missing}"
