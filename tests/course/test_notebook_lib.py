"""Is the library students' notebooks import free of answers and of grading machinery?"""

import ast
import json
import subprocess
import sys
import sysconfig

import pytest
from conftest import REPO

from tfladder.course import notebook_lib

GRADER_SIDE = (
    "nbformat",
    "nbgrader",
    "nbclient",
    "jupyter_client",
    "tfladder.oracles",
    "tfladder.grading.judge",
    "tfladder.grading.execute",
    "tfladder.grading.grade",
    "tfladder.grading.api_reading",
    "tfladder.course.ops",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return notebook_lib.build(tmp_path_factory.mktemp("lib") / "tfladder-notebook")


def test_does_the_library_hold_only_the_notebook_modules(built):
    files = sorted(str(p.relative_to(built)) for p in built.rglob("*") if p.is_file())
    assert files == sorted(
        [".digest", "pyproject.toml", "tfladder/__init__.py", *(f"tfladder/{m}.py" for m in notebook_lib.MODULES)]
        + [f"tfladder/{p.relative_to(REPO / 'tfladder')}" for p in explore_modules()]
    )
    assert not any("oracle" in f for f in files)


def explore_modules():
    return sorted((REPO / "tfladder" / "explore").glob("*.py"))


def test_do_the_notebook_modules_import_only_each_other_and_outside_packages():
    modules = [REPO / "tfladder" / f"{name}.py" for name in notebook_lib.MODULES] + explore_modules()
    for path in modules:
        name = path.relative_to(REPO)
        tree = ast.parse(path.read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        ours = {m for m in imported if m.startswith("tfladder")}
        allowed = {"tfladder", *(f"tfladder.{m}" for m in notebook_lib.MODULES), "tfladder.grading.api_reading"}
        allowed |= {"tfladder.explore", *(f"tfladder.explore.{p.stem}" for p in explore_modules())}
        assert ours <= allowed, f"{name} imports {sorted(ours - allowed)}"


def test_does_a_python_with_only_the_library_find_no_answer_key(built):
    """A Python that has the environment's packages but not the repository (as a student's, or a
    graded kernel's): the notebook library imports, the oracles and the grader do not."""
    code = f"""
import json, sys
sys.path[:0] = [{str(built)!r}, {sysconfig.get_paths()["purelib"]!r}]
from tfladder import runtime, seeds, data, checks, spies, wire, probe
loaded = sorted(n for n in sys.modules if n.split(".")[0] in ("nbformat", "nbgrader"))
found = {{}}
for name in {list(GRADER_SIDE)!r}:
    try:
        __import__(name)
        found[name] = "imported"
    except ImportError:
        found[name] = "missing"
print(json.dumps({{"file": sys.modules["tfladder"].__file__, "found": found, "loaded": loaded}}))
"""
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True)  # -S: no .pth files
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["file"].startswith(str(built))
    assert all(seen["found"][n] == "missing" for n in GRADER_SIDE if n.startswith("tfladder")), seen["found"]
    assert seen["loaded"] == []


def test_is_the_library_rebuilt_when_a_module_changes(built, monkeypatch):
    marker = (built / notebook_lib.DIGEST).read_text()
    assert notebook_lib.build(built) == built and (built / notebook_lib.DIGEST).read_text() == marker
    original = notebook_lib.files

    def changed():
        found = original()
        found["tfladder/checks.py"] += "\n# changed\n"
        return found

    monkeypatch.setattr(notebook_lib, "files", changed)
    notebook_lib.build(built)
    assert (built / "tfladder" / "checks.py").read_text().endswith("# changed\n")


@pytest.mark.slow
def test_does_pip_install_the_library_for_a_student(built, tmp_path):
    target = tmp_path / "site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(built),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (target / "tfladder").glob("*.py")) == sorted(
        ["__init__.py", *(f"{m}.py" for m in notebook_lib.MODULES)]
    )
    assert sorted(p.name for p in (target / "tfladder" / "explore").glob("*.py")) == [p.name for p in explore_modules()]
