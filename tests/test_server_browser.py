"""End to end: `unspin serve` in a subprocess, the page in real headless Chromium (Debian's `chromium`
and `chromium-driver`, driven by Selenium).  Pastes the example article, checks that the swaps are
highlighted and restored, and saves screenshots in the test's output folder (pytest's tmp_path, or
$UNSPIN_SCREENSHOTS when set).

The browser: .ci/run installs Debian's chromium and chromium-driver when they are missing; where
they are not installed this test skips and says what to install.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("selenium", reason="pip install selenium (in the dev extra)")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PHRASE = "minute management standard"
PHRASE_ORIGINAL = "second administration official"  # the reader's annotation in shared/examples


def _browser() -> tuple[str, str]:
    b = shutil.which("chromium") or shutil.which("chromium-browser")
    d = shutil.which("chromedriver")
    if not b or not d:
        pytest.skip("headless Chromium is not installed: apt-get install chromium chromium-driver "
                    "(Debian; .ci/run does this when it runs as root)")
    return b, d


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    log = tempfile.TemporaryFile()
    # the page as a reader gets it: with the neural tier where it is installed (the suite turns
    # it off for its own in-process checks: conftest's UNSPIN_NO_NEURAL)
    env = {k: v for k, v in os.environ.items() if k != "UNSPIN_NO_NEURAL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "unspin.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).json().get("status") == "ok":
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if proc.poll() is not None or time.time() > deadline:
                log.seek(0)
                pytest.fail(f"unspin serve did not start: {log.read().decode(errors='replace')[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def driver():
    binary, chromedriver = _browser()
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    profile = tempfile.mkdtemp(prefix="unspin-chromium-")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
              f"--user-data-dir={profile}", "--window-size=1280,900"):
        opts.add_argument(a)
    d = webdriver.Chrome(options=opts, service=Service(chromedriver))
    try:
        yield d
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def outdir(tmp_path) -> Path:
    env = os.environ.get("UNSPIN_SCREENSHOTS")
    p = Path(env) if env else tmp_path
    p.mkdir(parents=True, exist_ok=True)
    return p


def _shot(d, path: Path, width: int) -> None:
    d.set_window_size(width, 900)
    d.execute_script("window.scrollTo(0, 0)")
    h = d.execute_script("return document.documentElement.scrollHeight")
    d.set_window_size(width, min(int(h) + 120, 6000))
    time.sleep(0.2)
    d.save_screenshot(str(path))
    print(f"screenshot: {path}")


def _paste_and_check(d, url: str, text: str) -> None:
    d.set_window_size(1280, 900)
    d.get(url + "/")
    box = d.find_element(By.ID, "text")
    # a paste: the whole text lands at once (typing 4 KB key by key would be slow and fire Ctrl+Enter)
    d.execute_script(
        "const t = arguments[0], dt = new DataTransfer(); dt.setData('text/plain', arguments[1]);"
        "t.focus(); t.value = arguments[1];"
        "t.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true}));"
        "t.dispatchEvent(new Event('input', {bubbles: true}));", box, text)
    assert box.get_attribute("value") == text
    d.find_element(By.ID, "go").click()
    WebDriverWait(d, 60).until(
        lambda d: d.find_element(By.ID, "results").is_displayed()
        or "error" in (d.find_element(By.ID, "status").get_attribute("class") or ""))
    status = d.find_element(By.ID, "status")
    assert "error" not in (status.get_attribute("class") or ""), status.text


def _doc_text(d) -> str:
    return d.execute_script("return document.getElementById('doc').textContent")


def test_page_highlights_and_restores_the_example(server, driver, spun_text, outdir):
    d = driver
    report = httpx.post(server + "/v1/check", json={"text": spun_text}, timeout=60).json()
    _paste_and_check(d, server, spun_text)

    # spun view: the input, with one highlighted, labelled button per swap
    assert _doc_text(d) == spun_text
    buttons = d.find_elements(By.CSS_SELECTOR, "#doc button.swap")
    assert [b.text for b in buttons] == [s["spun"] for s in report["swaps"]]
    for b, s in zip(buttons, report["swaps"]):
        label = b.get_attribute("aria-label")
        assert s["spun"] in label and s["original"] in label
    assert len(d.find_elements(By.CSS_SELECTOR, "#scars tbody tr")) == max(1, len(report["scars"]))
    assert d.find_element(By.ID, "verdict-badge").text.lower() == report["verdict"]

    if buttons:  # keyboard focus shows the ranked alternatives; Escape closes them
        d.execute_script("arguments[0].focus()", buttons[0])
        detail = d.find_element(By.ID, "detail")
        WebDriverWait(d, 5).until(lambda _: detail.is_displayed())
        assert report["swaps"][0]["original"] in detail.text
        buttons[0].send_keys(Keys.ESCAPE)
        WebDriverWait(d, 5).until(lambda _: not detail.is_displayed())
    _shot(d, outdir / "example-desktop.png", 1280)

    # restored view: exactly the engine's restored text, each restored word marked
    d.find_element(By.CSS_SELECTOR, "label:has(#view-restored)").click()
    WebDriverWait(d, 5).until(lambda _: _doc_text(d) == report["restored"])
    fixes = d.find_elements(By.CSS_SELECTOR, "#doc ins button.fix")
    assert [f.text for f in fixes] == [s["original"] for s in report["swaps"]]
    _shot(d, outdir / "example-restored-desktop.png", 1280)
    _shot(d, outdir / "example-restored-phone.png", 390)
    assert d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), \
        "the page scrolls sideways at phone width"


def test_minute_management_standard_is_highlighted_and_restored(server, driver, spun_text, outdir):
    if PHRASE not in spun_text:
        pytest.skip("the shared example article is not available here")
    report = httpx.post(server + "/v1/check", json={"text": spun_text}, timeout=60).json()
    start = spun_text.index(PHRASE)
    end = start + len(PHRASE)
    covering = [s for s in report["swaps"] if s["start"] < end and s["end"] > start]
    flagged = "".join(ch for i, ch in enumerate(spun_text[start:end], start)
                      if ch == " " or any(s["start"] <= i < s["end"] for s in covering))
    restored_ok = PHRASE_ORIGINAL in report["restored"]
    if flagged != PHRASE or not restored_ok:
        pytest.xfail(f"the engine does not restore {PHRASE!r} yet: it flags "
                     f"{[(s['spun'], s['original']) for s in covering]} there; restored text has "
                     f"{PHRASE_ORIGINAL!r}: {restored_ok}")

    d = driver
    _paste_and_check(d, server, spun_text)
    d.find_element(By.CSS_SELECTOR, "label:has(#view-spun)").click()
    highlighted = " ".join(b.text for b in d.find_elements(By.CSS_SELECTOR, "#doc button.swap")
                           if spun_text.find(b.text, start - 5) in range(start - 5, end))
    for word in PHRASE.split():
        assert word in highlighted
    d.find_element(By.CSS_SELECTOR, "label:has(#view-restored)").click()
    assert PHRASE_ORIGINAL in _doc_text(d)
    marked = " ".join(f.text for f in d.find_elements(By.CSS_SELECTOR, "#doc ins button.fix"))
    for word in PHRASE_ORIGINAL.split():
        assert word in marked
    _shot(d, outdir / "minute-management-standard.png", 1280)


def test_errors_are_shown(server, driver):
    d = driver
    d.set_window_size(1280, 900)
    d.get(server + "/")
    d.find_element(By.ID, "go").click()
    status = d.find_element(By.ID, "status")
    assert "error" in status.get_attribute("class") and status.get_attribute("role") == "alert"
    box = d.find_element(By.ID, "text")
    d.execute_script("arguments[0].value = arguments[1]", box,
                     "Le président a rencontré le premier ministre pour discuter de la coopération entre "
                     "les deux pays et des questions de défense, selon un communiqué publié vendredi.")
    box.send_keys(Keys.CONTROL, Keys.ENTER)
    WebDriverWait(d, 30).until(lambda _: "English" in status.text)
