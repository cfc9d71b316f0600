"""Is the package laid out by role: the notebook library apart, subpackages in layers, no cycles?

docs/architecture.md draws the tree these tests hold the code to.
"""

import ast
import subprocess
import sys

from conftest import REPO

from tfladder.course import notebook_lib

PACKAGE = REPO / "tfladder"
# The instructor's side, lowest layer first: a subpackage may import the notebook library and the
# subpackages before it, never one after it.
LAYERS = ("oracles", "course", "sandbox", "grading", "reports", "hub", "cli")
# The one import from the notebook library into the instructor's side, and why it may stay: in the
# instructor's own kernel (a `source/` notebook run top to bottom, where the whole package is
# installed) the setup cell's `probe` judges API-level tests in place. It is a guarded import inside
# a function; the library built apart has no `api_reading` and says so
# (tests/course/test_notebook_lib.py imports the built library with nothing else of tfladder present).
ALLOWED_UPWARD = {("tfladder.probe", "tfladder.grading.api_reading")}


def module_name(path):
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(name, path, known):
    """Every tfladder module `name` imports, at the top or inside a function."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "tfladder"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            if base.split(".")[0] == "tfladder":
                found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    return found - {name}


def import_graph():
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(graph):
    """Each import cycle once, as a list of modules (Tarjan's strongly connected components)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def role(name):
    """'library' for the notebook library, a layer's name for the instructor's side."""
    parts = name.split(".")
    library = (*notebook_lib.MODULES, *notebook_lib.PACKAGES)
    if len(parts) == 1 or parts[1] in library or parts[1] == "__main__":
        return "library" if len(parts) > 1 and parts[1] in library else "top"
    return parts[1]


def test_does_the_package_have_no_import_cycle():
    assert cycles(import_graph()) == []


def test_would_the_cycle_finder_see_one():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_is_the_top_of_the_package_the_notebook_library_and_the_subpackages_only():
    top_modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert top_modules == {"__init__", "__main__", *notebook_lib.MODULES}
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert subpackages == {*LAYERS, *notebook_lib.PACKAGES}


def test_does_the_notebook_library_import_only_itself():
    for name, targets in import_graph().items():
        if role(name) == "library":
            outside = {t for t in targets if role(t) not in ("library", "top")} - {
                t for (m, t) in ALLOWED_UPWARD if m == name
            }
            assert not outside, f"{name} (notebook library) imports the instructor's side: {sorted(outside)}"


def test_does_each_subpackage_import_only_the_layers_below_it():
    for name, targets in import_graph().items():
        mine = role(name)
        if mine not in LAYERS:
            continue
        for target in targets:
            theirs = role(target)
            if theirs in ("library", "top"):
                continue
            assert LAYERS.index(theirs) <= LAYERS.index(mine), (
                f"{name} ({mine}) imports {target} ({theirs}), a layer above it: {' < '.join(LAYERS)}"
            )


def test_would_an_upward_import_be_caught(tmp_path):
    bad = tmp_path / "course_mod.py"
    bad.write_text("def f():\n    from tfladder.grading import grade\n")
    name = "tfladder.course.course_mod"
    found = imports(name, bad, modules())
    assert found == {"tfladder.grading.grade"}
    assert LAYERS.index(role("tfladder.grading.grade")) > LAYERS.index(role(name))


def test_does_the_notebook_library_import_no_nbformat_or_nbgrader():
    outside = ("nbformat", "nbgrader", "nbclient", "nbconvert", "jupyter_client", "traitlets")
    for name in notebook_lib.MODULES:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m for m in imported if m.split(".")[0] in outside}, f"tfladder/{name}.py"


def test_does_python_dash_m_tfladder_run_the_command():
    done = subprocess.run([sys.executable, "-m", "tfladder", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("tfladder ")
