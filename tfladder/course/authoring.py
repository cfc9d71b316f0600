"""Can the judge run a source notebook's tests as written? (`make check` asks it of every level.)

A test cell runs in the judge (`tfladder.grading.judge`), which has numpy, `checks`, `seeds`, `data`,
the oracles and `probe`, and no TensorFlow and none of the student's objects; in a notebook run
on its own it runs in the kernel. Both only work when the cell keeps to these rules:

- student code is reached only through `probe.run("...")` / `probe.trace("...")`, whose code is
  a string literal that compiles; the judge's own code uses no `tf`, no student name, no
  `globals()`, `spies` or `standins`, no name it did not define or import, and never rebinds a
  name the judge provides (`probe`, `checks`, ...);
- the answer key (`from tfladder.oracles import ...`), stand-ins (`probe.register_standin`) and
  `probe.isolate` appear only between the hidden-test markers;
- no code string sent to the kernel mentions the oracles or the checks;
- a stand-in is registered once, by its exercise's own tests, defines the name it stands in for,
  and is used (`probe.isolate`) only by tests of a later exercise, after every test of its own.
"""

import ast
import builtins
from typing import Any, TypeGuard

from tfladder.course import notebooks

JUDGE_NAMES = {"np", "checks", "seeds", "data", "probe"}
FORBIDDEN = {
    "tf",
    "tensorflow",
    "spies",
    "standins",
    "globals",
    "locals",
    "vars",
    "eval",
    "exec",
    "__import__",
    "get_ipython",
    "compile",
    "open",
}
SENDS = ("run", "trace")
SECRET_WORDS = ("oracle", "checks.", "tfladder")


def _hidden_lines(source: str) -> set[int]:
    """Line numbers (1-based) inside the hidden-test markers."""
    inside, found = False, set()
    for number, line in enumerate(source.splitlines(), start=1):
        if notebooks.BEGIN_HIDDEN in line:
            inside = True
        elif notebooks.END_HIDDEN in line:
            inside = False
        elif inside:
            found.add(number)
    return found


def _probe_call(node: ast.AST, *methods: str) -> TypeGuard[ast.Call]:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in methods
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "probe"
    )


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _bound(tree: ast.AST) -> set[str]:
    """Names a cell binds at any depth (assignments, loops, defs, imports, comprehensions, excepts)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            found.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
            found.update(a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)) if hasattr(
                node, "args"
            ) else None
        elif isinstance(node, ast.Lambda):
            found.update(a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.add(node.name)
    return found


def _student_names(source_nb: Any) -> set[str]:
    names: set[str] = set()
    for cell in source_nb.cells:
        if notebooks.is_solution(cell) and cell.cell_type == "code":
            try:
                tree = ast.parse(notebooks.reference_answer(cell))
            except SyntaxError:
                continue
            names.update(n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)))
    return names


def problems(source_nb: Any) -> list[str]:
    """Every way the notebook's test cells break the rules above, as sentences; [] when none."""
    found = []
    student = _student_names(source_nb)
    solutions = notebooks.solution_ids(source_nb)
    tests = [c for c in source_nb.cells if notebooks.is_test(c)]
    order = [notebooks.grade_id(c) for c in tests]
    exercise = {gid: notebooks.exercise_of(gid, solutions) or gid for gid in order}
    known = set(JUDGE_NAMES) | set(dir(builtins))
    registered: dict[str | None, str] = {}  # stand-in name -> grade id of the test that registers it
    name: str | None
    for position, cell in enumerate(tests):
        gid = order[position]
        try:
            tree = ast.parse(cell.source)
        except SyntaxError as error:
            found.append(f"{gid}: does not parse ({error.msg}, line {error.lineno})")
            continue
        hidden = _hidden_lines(cell.source)
        defined = known | _bound(tree)
        for name in sorted(_bound(tree) & JUDGE_NAMES):
            found.append(f"{gid}: binds {name}, which the judge provides to every test (pick another name)")
        for node in ast.walk(tree):
            line = getattr(node, "lineno", 0)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                if node.id in FORBIDDEN or node.id in student:
                    found.append(
                        f"{gid}, line {line}: uses {node.id} in the judge's code; reach the student's "
                        'code and TensorFlow only inside probe.run("...")'
                    )
                elif node.id not in defined:
                    found.append(
                        f"{gid}, line {line}: {node.id} is not defined in the judge (only "
                        f"{', '.join(sorted(JUDGE_NAMES))}, builtins and names the tests define)"
                    )
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                if not (module or "").startswith("tfladder.oracles"):
                    found.append(f"{gid}, line {line}: imports {module}; tests import only tfladder.oracles")
                elif line not in hidden:
                    found.append(f"{gid}, line {line}: imports the oracles outside the hidden tests")
            elif _probe_call(node, *SENDS):
                assert isinstance(node.func, ast.Attribute)  # as _probe_call found
                code = _literal(node.args[0]) if node.args else None
                if code is None:
                    found.append(f"{gid}, line {line}: probe.{node.func.attr} needs its code as a string literal")
                    continue
                try:
                    compile(code, f"<{gid}>", "exec")
                except SyntaxError as error:
                    found.append(f"{gid}, line {line}: the code sent to the kernel does not compile ({error.msg})")
                secret = [w for w in SECRET_WORDS if w in code]
                if secret:
                    found.append(
                        f"{gid}, line {line}: the code sent to the kernel mentions {secret[0]!r}, "
                        "which only the judge may hold"
                    )
            elif _probe_call(node, "register_standin"):
                name = _literal(node.args[0]) if node.args else None
                source = _literal(node.args[1]) if len(node.args) > 1 else None
                if line not in hidden:
                    found.append(f"{gid}, line {line}: a stand-in registered outside the hidden tests")
                if name is None or source is None:
                    found.append(f"{gid}, line {line}: register_standin needs a name and source as string literals")
                    continue
                try:
                    defines = {n.name for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
                except SyntaxError:
                    defines = set()
                if name not in defines:
                    found.append(f"{gid}, line {line}: the stand-in for {name} does not define {name}")
                if name in registered:
                    found.append(f"{gid}, line {line}: a second stand-in for {name}")
                if exercise.get(gid) != notebooks.exercise_of(name, solutions) and name not in student:
                    found.append(f"{gid}, line {line}: {name} is not an answer of this notebook")
                registered[name] = gid
            elif _probe_call(node, "isolate"):
                if line not in hidden:
                    found.append(f"{gid}, line {line}: probe.isolate outside the hidden tests")
                for arg in node.args:
                    name = _literal(arg)
                    owner = registered.get(name)
                    if owner is None:
                        found.append(f"{gid}, line {line}: isolates {name!r}, which no earlier test registered")
                        continue
                    mine = exercise[owner]
                    if mine == exercise[gid] or any(exercise[g] == mine for g in order[position:]):
                        found.append(f"{gid}, line {line}: isolates {name} before every test of {mine} was judged")
        known |= _bound(tree)
    return found
