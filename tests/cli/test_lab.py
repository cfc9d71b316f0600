"""Does `make lab` open the course safely, give students' notebooks the notebook library only, and do
the browser tests fail clearly without a browser?"""

import json
import os

import browser
import pytest
from playwright.sync_api import sync_playwright

from tfladder.cli import lab
from tfladder.course import notebook_lib


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


def run_in_lab_kernel(server, cwd, code):
    """Start the kernel `make lab` would start for a notebook in `cwd`, run `code`, return stdout."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager(kernel_dirs=[str(lab.kernels_folder(server) / "kernels")])
    manager = KernelManager(kernel_name="python3", kernel_spec_manager=specs)
    manager.start_kernel(cwd=str(cwd))
    try:
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        printed = []
        reply = client.execute_interactive(
            code,
            timeout=60,
            output_hook=lambda m: printed.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None,
        )
        assert reply["content"]["status"] == "ok", reply["content"]
        client.stop_channels()
        return "".join(printed)
    finally:
        manager.shutdown_kernel(now=True)


WHICH_TFLADDER = (
    "import importlib.util, tfladder\n"
    "from tfladder import checks, data, runtime, seeds, spies\n"
    "from tfladder.probe import Probe\n"
    "print(tfladder.__file__)\n"
    "print('oracles', importlib.util.find_spec('tfladder.oracles') is not None)\n"
)


@pytest.mark.slow
def test_do_lab_kernels_give_students_the_notebook_library_and_the_instructor_the_package(tmp_path):
    server = lab.new(tmp_path, token="t")
    student, copy, instructor = (
        tmp_path / "release" / "01_low_level_ops",
        tmp_path / "elsewhere",
        tmp_path / "source" / "01_low_level_ops",
    )
    for folder in (student, copy, instructor):
        folder.mkdir(parents=True)
    library = str(notebook_lib.build())
    for folder in (student, copy):
        printed = run_in_lab_kernel(server, folder, WHICH_TFLADDER).split("\n")
        assert printed[0].startswith(library + os.sep), printed
        assert printed[1] == "oracles False", f"a student's kernel in {folder.name} finds the answer key"
    printed = run_in_lab_kernel(server, instructor, WHICH_TFLADDER).split("\n")
    assert not printed[0].startswith(library), printed
    assert printed[1] == "oracles True", "the instructor's notebooks need the oracles"


def test_does_the_lab_serve_its_own_python3_kernel(tmp_path):
    server = lab.new(tmp_path, token="t")
    spec = json.loads((lab.kernels_folder(server) / "kernels" / "python3" / "kernel.json").read_text())
    assert spec["argv"][1:4] == [
        "{resource_dir}/launch.py",
        str(tmp_path.resolve() / "source"),
        str(notebook_lib.build()),
    ]
