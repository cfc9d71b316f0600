"""Helpers for the browser tests: a JupyterLab server on a temporary course, Debian's Chromium
driven by Playwright, and numbered screenshots kept as test artefacts."""

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tfladder.cli import lab

CHROMIUM = Path(os.environ.get("TFLADDER_CHROMIUM", "/usr/bin/chromium"))
# Headless, as root, on a machine whose only network is loopback: no sandbox (root), and no
# background connections (they are refused here, many at a time, and slow the start).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = (
    Path(os.environ.get("TFLADDER_ARTIFACTS", Path(__file__).resolve().parents[1] / "build" / "test-artifacts"))
    / "browser"
)
VIEWPORT = {"width": 1400, "height": 900}
KERNEL_START = 120_000  # ms: a kernel's start, TensorFlow's import and a notebook's run on 2 cores
PAGE_LOAD = 60_000


class BrowserUnavailable(RuntimeError):
    """Chromium or Playwright is missing or cannot start; the message says how to fix it."""


def launch(playwright, executable=CHROMIUM):
    """Debian's Chromium, headless, through Playwright; BrowserUnavailable with a fix if it fails."""
    fix = (
        "The browser tests need Debian's Chromium and Playwright's Python client: run `make test` "
        "as root (it runs `apt-get install chromium`), or `sudo apt-get install chromium`; "
        "Playwright comes from requirements.lock."
    )
    if not Path(executable).exists():
        raise BrowserUnavailable(f"Chromium is not installed at {executable}. {fix}")
    try:
        return playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
    except Exception as error:  # Playwright raises its own Error with the browser's log
        raise BrowserUnavailable(f"Chromium at {executable} did not start: {error}\n{fix}") from error


@contextmanager
def chromium():
    """Debian's Chromium for a test module (its fixture); the test fails, never skips, with the fix
    when the browser cannot start."""
    with sync_playwright() as playwright:
        try:
            instance = launch(playwright)
        except BrowserUnavailable as error:
            pytest.fail(str(error), pytrace=False)
        try:
            yield instance
        finally:
            instance.close()


def free_port():
    with socket.socket() as s:
        s.bind((lab.LOOPBACK, 0))
        return s.getsockname()[1]


def jupyter_dirs(scratch):
    """Environment that keeps the user's own Jupyter settings, workspaces and runtime files out."""
    scratch = Path(scratch)
    settings = scratch / "lab-settings"
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text('{"fetchNews": "false"}\n')  # no "get notified about Jupyter news?" pop-up
    env = {
        "JUPYTER_CONFIG_DIR": scratch / "config",
        "JUPYTER_RUNTIME_DIR": scratch / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": settings,
        "JUPYTERLAB_WORKSPACES_DIR": scratch / "workspaces",
        "IPYTHONDIR": scratch / "ipython",
    }
    return {k: str(v) for k, v in env.items()}


def get(url):
    """(status, body) of a GET, without raising on 4xx/5xx."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except urllib.error.URLError as error:  # nothing listening (yet)
        return None, str(error.reason)


@contextmanager
def running_lab(root, scratch):
    """`make lab`'s server on the course at `root`, on a free loopback port; stopped afterwards."""
    server = lab.new(root, port=free_port())
    log_path = Path(scratch) / "jupyter.log"
    with open(log_path, "w") as log:
        process = lab.start(server, log=log, env=jupyter_dirs(scratch))
        try:
            deadline = time.monotonic() + 60
            while get(server.url("/api/status"))[0] != 200:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start; its log:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.3)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def new_page(chromium, timeout=PAGE_LOAD):
    """A page in a browser context of its own (its own cookies: one person), closed after."""
    context = chromium.new_context(viewport=VIEWPORT)
    context.set_default_timeout(timeout)
    try:
        yield context.new_page()
    finally:
        context.close()


class Shots:
    """Numbered screenshots of one journey: build/test-artifacts/browser/<journey>/NN_<step>.png."""

    def __init__(self, page, journey):
        self.page = page
        self.folder = SCREENSHOTS / journey
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.count = 0

    def take(self, step, focus=None, block="center"):
        """Screenshot the page, first scrolling `focus` (a locator) into view and letting it render.

        `block` is where `focus` lands: "center", or "end" to show the last lines of a long output.
        """
        if focus is not None:
            # JupyterLab renders scrolled-in cells lazily, and a long output moves what is below
            # it once drawn: scroll, let it render, scroll again to where it now is.
            for _ in range(2):
                focus.evaluate("(element, block) => element.scrollIntoView({block})", block)
                self.page.wait_for_timeout(500)
        self.count += 1
        path = self.folder / f"{self.count:02d}_{step}.png"
        self.page.screenshot(path=str(path))
        return path


def menu(page, top, item):
    """Click JupyterLab's menu bar `top`, then its entry `item`."""
    page.click(f".lm-MenuBar-itemLabel:text-is('{top}')")
    page.click(f".lm-Menu-itemLabel:text-is('{item}')")


def kernel_status(page):
    return page.locator(".jp-StatusBar-TextItem", has_text="Python 3 (ipykernel)")


def wait_until_run(page):
    """Wait until no cell is queued or running ([*]) and the kernel is idle."""
    expect(page.locator(".jp-InputPrompt", has_text="[*]")).to_have_count(0, timeout=KERNEL_START)
    expect(kernel_status(page)).to_contain_text("Idle", timeout=KERNEL_START)


def code_cell(page, first_line):
    """The notebook's code cell whose source contains `first_line`."""
    return page.locator(".jp-CodeCell", has=page.locator(".cm-content", has_text=first_line))


def replace_source(page, cell, text):
    """Put `text` into a cell's editor as a student would paste it (no auto-indent, no brackets)."""
    cell.scroll_into_view_if_needed()
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)


def outputs(cell):
    """The text of every output of a cell (also when JupyterLab has scrolled it out of view)."""
    return [o.text_content() for o in cell.locator(".jp-OutputArea-output").all()]
