"""Does `make lab` open the course safely, and do the browser tests fail clearly without a browser?"""

import os

import pytest
from playwright.sync_api import sync_playwright

import browser
from tfladder import lab


def options(server):
    return dict(arg.split("=", 1) for arg in server.command()[2:] if "=" in arg)


def test_does_the_lab_listen_on_loopback_only_with_a_fresh_token(tmp_path):
    first, second = lab.new(tmp_path, port=8899), lab.new(tmp_path, port=8899)
    found = options(first)
    assert found["--ServerApp.ip"] == "127.0.0.1"
    assert found["--ServerApp.port"] == "8899" and found["--ServerApp.port_retries"] == "0"
    assert found["--IdentityProvider.token"] == first.token and len(first.token) >= 32
    assert first.token != second.token, "every `make lab` gets its own token"


def test_do_students_land_in_release_and_instructors_get_formgrader(tmp_path):
    server = lab.new(tmp_path, port=8899, token="t")
    assert options(server)["--LabApp.default_url"] == "/lab/tree/release"
    assert options(server)["--ServerApp.root_dir"] == str(tmp_path.resolve())
    text = lab.banner(server)
    assert "http://127.0.0.1:8899/lab/tree/release?token=t" in text
    assert "http://127.0.0.1:8899/formgrader?token=t" in text


def test_is_root_allowed_only_when_running_as_root(tmp_path):
    allowed = "--ServerApp.allow_root=True" in lab.new(tmp_path).command()
    assert allowed == (os.geteuid() == 0)


def test_does_a_missing_chromium_fail_with_the_fix(tmp_path):
    with sync_playwright() as playwright:
        with pytest.raises(browser.BrowserUnavailable, match="apt-get install chromium"):
            browser.launch(playwright, executable=tmp_path / "no-chromium")


def test_does_a_chromium_that_cannot_start_fail_with_the_fix(tmp_path):
    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 1\n")
    broken.chmod(0o755)
    with sync_playwright() as playwright:
        with pytest.raises(browser.BrowserUnavailable, match="did not start") as raised:
            browser.launch(playwright, executable=broken)
    assert "apt-get install chromium" in str(raised.value)
