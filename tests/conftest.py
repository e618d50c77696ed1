"""Shared fixtures: the repository root, the built site served on loopback, a headless browser."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def find_chromium() -> str | None:
    """Debian's chromium (never a browser downloaded by playwright, which fails offline).

    ``PPNOTES_CHROMIUM`` overrides the search: a path to use that browser, or ``none`` to act
    as if none were installed (to see what a machine without Chromium reports).
    """
    override = os.environ.get("PPNOTES_CHROMIUM", "").strip()
    if override.lower() == "none":
        return None
    if override:
        return override if os.access(override, os.X_OK) else None
    for path in CHROMIUM_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("chromium")


NO_CHROMIUM = "Chromium not found (Debian: apt-get install chromium)"
#: Why browser tests were skipped in this run (printed as the last line of pytest's output).
SKIPPED_BROWSER: list[str] = []


def _missing(reason: str):
    """Fail in CI (a missing browser or site must not pass silently); skip loudly locally:
    :func:`pytest_unconfigure` repeats the reason as the last line of the output."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    if reason not in SKIPPED_BROWSER:
        SKIPPED_BROWSER.append(reason)
    pytest.skip(reason)


def pytest_unconfigure(config):
    """After pytest's own summary line: say loudly that the site was not checked."""
    if not SKIPPED_BROWSER:
        return
    reasons = list(SKIPPED_BROWSER)
    if find_chromium() is None and NO_CHROMIUM not in reasons:  # the site may be missing too
        reasons.append(NO_CHROMIUM)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    for reason in reasons:
        line = f"BROWSER TESTS SKIPPED: {reason}; the site was not checked"
        if reporter is not None:
            reporter.write_line(line, red=True, bold=True)
        else:
            print(line)


@pytest.fixture(scope="session")
def site_url():
    """Serve _build/html on 127.0.0.1 for the session and return its base URL."""
    if not (SITE / "index.html").exists():
        _missing("no built site in _build/html: run 'make book' first")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by playwright."""
    chromium = find_chromium()
    if chromium is None:
        _missing(NO_CHROMIUM)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=chromium,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield b
        b.close()
