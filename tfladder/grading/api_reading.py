"""Which API level a student's code uses, read from the code itself and weighed against the trace.

An API-level test asks the kernel to run the student's function under `spies.watch` and gets the
trace back (`probe.trace`). A kernel can report anything about itself, so the judge also reads
the student's own cells: the definition of the function the test names, and, through the names it
uses, every other definition of the student's it reaches (not the stand-ins of earlier exercises,
which replace those while the test runs). Python reads identifiers after NFKC normalisation, and so
does this reading (`ast` applies it): `ｋｅｒａｓ` is `keras` here too.

`Seen.forbid(kind, who, why)` passes only when neither the trace nor the reading shows that kind
of call; `Seen.require(kind, who, what)` only when both do. Where the two disagree, or the reading
meets code it cannot follow (`getattr` with a computed name, `eval`, `__import__`, `sys.modules`),
the test fails and the submission is flagged: the exercise loses the point either way.
"""

import ast
import inspect
import textwrap
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

from tfladder.checks import fail
from tfladder.course import notebooks
from tfladder.spies import _OPTIMIZER_CLASSES, KINDS, Call, Trace, is_user_file

# What each kind of API use looks like in source: identifiers (names, attributes, imported names).
SOURCE_MARKS = {
    "tape": {"GradientTape"},
    "keras": {"keras"},
    "optimizer": {"optimizers", "apply_gradients", *_OPTIMIZER_CLASSES},
    "fit": {"fit"},
    "sequential": {"Sequential"},
    "dense": {"Dense"},
    "variable": {"Variable"},
    "mean_metric": {"Mean"},
    "assign_sub": {"assign_sub"},
    "numpy": {"np", "numpy"},
}
# Calls whose target the reading cannot know: builtins called by name, and two methods anywhere
# (`model.compile(...)` is Keras, not Python's compile).
DYNAMIC_BUILTINS = {"eval", "exec", "compile", "__import__", "globals", "locals", "vars", "setattr", "delattr"}
DYNAMIC_METHODS = {"import_module", "__getattribute__"}
DYNAMIC_NAMES = {"importlib", "__builtins__", "builtins", "__dict__", "modules", "__globals__", "__code__"}


class Usage:
    """What a reading found for one function: identifiers reached, and code it could not follow."""

    def __init__(self, found: bool, names: Iterable[str] = (), dynamic: Iterable[str] = ()) -> None:
        self.found, self.names, self.dynamic = found, set(names), list(dynamic)

    def uses(self, kind: str) -> bool | None:
        """True or False; None when the reading cannot tell (definition not found, or dynamic code)."""
        if not self.found or self.dynamic:
            return None
        return bool(self.names & SOURCE_MARKS[kind])


_SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.Lambda,
    ast.ClassDef,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)


def _in_scope(nodes: Iterable[ast.AST]) -> Iterable[ast.AST]:
    """Every node of one scope: `nodes` and what they hold, down to (and including, but not into)
    the functions, lambdas, classes and comprehensions nested in them."""
    todo = list(nodes)
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, _SCOPES):
            todo.extend(ast.iter_child_nodes(node))


def _parameters(arguments: ast.arguments) -> set[str]:
    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
    return {a.arg for a in every if a is not None}


def _bound_in(body: Iterable[ast.AST]) -> set[str]:
    """The names a function's body binds in its own scope (Python makes them local throughout)."""
    bound, declared_global = set(), set()
    for node in _in_scope(body):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Global):
            declared_global.update(node.names)
    return bound - declared_global


def _module_loads(statement: ast.AST) -> set[str]:
    """The names a top-level statement reads from the notebook's top level: every name it loads,
    except where a function (or lambda, or comprehension) around the load binds that name itself,
    as a parameter or a local (a local `y` in the student's function is not the notebook's `y`)."""
    found: set[str] = set()

    def visit(nodes: Iterable[ast.AST], bound: frozenset[str]) -> None:
        for node in _in_scope(nodes):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound:
                found.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                # decorators and defaults are read where the function is defined
                visit([*node.decorator_list, *node.args.defaults, *filter(None, node.args.kw_defaults)], bound)
                visit(node.body, bound | _parameters(node.args) | _bound_in(node.body))
            elif isinstance(node, ast.Lambda):
                visit([*node.args.defaults, *filter(None, node.args.kw_defaults)], bound)
                visit([node.body], bound | _parameters(node.args) | _bound_in([node.body]))
            elif isinstance(node, ast.ClassDef):
                visit([*node.decorator_list, *node.bases, *node.keywords, *node.body], bound)
            elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
                visit([node.elt, *node.generators], bound | _targets(node.generators))
            elif isinstance(node, ast.DictComp):
                visit([node.key, node.value, *node.generators], bound | _targets(node.generators))

    visit([statement], frozenset())
    return found


def _targets(generators: list[ast.comprehension]) -> frozenset[str]:
    return frozenset(n.id for g in generators for n in ast.walk(g.target) if isinstance(n, ast.Name))


def _identifiers(node: ast.AST) -> tuple[set[str], list[str], set[str]]:
    """(identifiers, dynamic constructs, top-level names loaded) in one definition."""
    names, dynamic, loads = set(), [], _module_loads(node)
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            names.add(sub.id)
            if sub.id in DYNAMIC_NAMES:
                dynamic.append(sub.id)
        elif isinstance(sub, ast.Attribute):
            names.add(sub.attr)
            if sub.attr in DYNAMIC_NAMES:
                dynamic.append(f".{sub.attr}")
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            module = getattr(sub, "module", None) or ""
            names.update(module.split("."))
            for alias in sub.names:
                names.update(alias.name.split("."))
                if alias.asname:
                    names.add(alias.asname)
        elif isinstance(sub, ast.Call):
            func = sub.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if called in ("getattr", "hasattr"):
                literal = (
                    len(sub.args) >= 2 and isinstance(sub.args[1], ast.Constant) and isinstance(sub.args[1].value, str)
                )
                if literal:
                    # what `literal` checked, for mypy
                    assert isinstance(sub.args[1], ast.Constant) and isinstance(sub.args[1].value, str)
                    names.add(unicodedata.normalize("NFKC", sub.args[1].value))
                else:
                    dynamic.append(f"{called}(...) with a computed name")
            elif (isinstance(func, ast.Name) and called in DYNAMIC_BUILTINS) or called in DYNAMIC_METHODS:
                dynamic.append(f"{called}(...)")
    return names, dynamic, loads


def top_level_definitions(tree: ast.Module) -> dict[str, list[ast.stmt]]:
    """{name: [statement]} for every name a module's top level binds (not inside functions)."""
    found: dict[str, list[ast.stmt]] = {}

    def bind(name: str, statement: ast.stmt) -> None:
        found.setdefault(name, []).append(statement)

    def visit(statements: list[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bind(statement.name, statement)
            elif isinstance(statement, (ast.Import, ast.ImportFrom)):
                for alias in statement.names:
                    bind(alias.asname or alias.name.split(".")[0], statement)
            elif isinstance(
                statement, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)
            ):
                targets = (
                    statement.targets
                    if isinstance(statement, ast.Assign)
                    else [getattr(statement, "target", None)]
                    + [i.optional_vars for i in getattr(statement, "items", [])]
                )
                for target in targets:
                    for sub in ast.walk(target) if target is not None else ():
                        if isinstance(sub, ast.Name):
                            bind(sub.id, statement)
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(statement, field, None)
                if inner and not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    visit(
                        [s for s in inner if isinstance(s, ast.stmt)]
                        + [s for h in inner if isinstance(h, ast.ExceptHandler) for s in h.body]
                    )

    visit(tree.body)
    return found


def parse_cell(source: str) -> ast.Module | None:
    """A notebook cell's AST (IPython's magics turned into Python first), or None."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - then parse it as it is
        pass
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def defined_names(source: str) -> list[str]:
    """The functions and classes a cell's source defines at its top level, in order."""
    tree = parse_cell(source)
    return [n.name for n in (tree.body if tree else []) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]


def _raises_not_implemented(statement: ast.stmt) -> bool:
    if not isinstance(statement, ast.Raise) or statement.exc is None:
        return False
    exc = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def _is_stub(statement: ast.stmt) -> bool:
    """A def whose body (its docstring aside) only raises NotImplementedError, or a class whose
    body raises it: the answer cell as released."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
        body = [s for s in statement.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        return len(body) == 1 and _raises_not_implemented(body[0])
    if isinstance(statement, ast.ClassDef):
        return any(_raises_not_implemented(s) for s in statement.body)
    return False


class Reading:
    """Definitions of the student's names, and what a function reaches through them."""

    def __init__(self, definitions: dict[str, list[ast.stmt]]) -> None:
        self.definitions = definitions  # {name: [AST statement]}

    def is_class(self, name: str) -> bool:
        return any(isinstance(statement, ast.ClassDef) for statement in self.definitions.get(name, []))

    def is_stub(self, name: str) -> bool:
        """True when every definition of `name` is the released stub (and there is one)."""
        found = self.definitions.get(name, [])
        return bool(found) and all(_is_stub(statement) for statement in found)

    def usage(self, who: str, exclude: Collection[str] = ()) -> Usage:
        root = who.split(".")[0]
        if root not in self.definitions:
            return Usage(found=False)
        names, dynamic, seen, todo = set(), [], set(), [root]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            for statement in self.definitions.get(name, []):
                found, odd, loads = _identifiers(statement)
                names |= found
                dynamic += odd
                todo += [n for n in loads if n in self.definitions and n not in exclude and n not in seen]
        return Usage(found=True, names=names, dynamic=dynamic)


def notebook_reading(cells: Iterable[Any], cache: dict[str, dict[str, list[ast.stmt]]] | None = None) -> Reading:
    """A Reading of the cells a student may edit (solution cells and cells of their own).

    `cache` (a dict) keeps each cell's definitions by its source, for a caller that reads the same
    notebook again and again (the judge, once per test)."""
    cache = {} if cache is None else cache
    definitions: dict[str, list[ast.stmt]] = {}
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        meta = notebooks.meta(cell)
        if meta and not meta.get("solution"):
            continue
        source = cell.get("source", "")
        if source not in cache:
            tree = parse_cell(source)
            cache[source] = top_level_definitions(tree) if tree is not None else {}
        for name, statements in cache[source].items():
            definitions.setdefault(name, []).extend(statements)
    return Reading(definitions)


class LocalSource:
    """A Reading of the functions and classes a notebook of your own defined (for `probe.Probe`)."""

    def __init__(self, namespace: Mapping[str, Any]) -> None:
        self.namespace = namespace

    def usage(self, who: str, exclude: Collection[str] = ()) -> Usage:
        definitions, todo = {}, [who.split(".")[0]]
        while todo:
            name = todo.pop()
            if name in definitions or name in exclude:
                continue
            tree = self._tree(self.namespace.get(name))
            if tree is None:
                continue
            definitions[name] = tree.body
            for sub in ast.walk(tree):
                if isinstance(sub, ast.Name) and sub.id in self.namespace and sub.id not in definitions:
                    todo.append(sub.id)
        return Reading(definitions).usage(who, exclude)

    @staticmethod
    def _tree(value: object) -> ast.Module | None:
        if not (inspect.isfunction(value) or inspect.isclass(value)):
            return None
        code = getattr(value, "__code__", None)
        if code is not None and not is_user_file(code.co_filename):
            return None
        try:
            return ast.parse(textwrap.dedent(inspect.getsource(value)))
        except (OSError, TypeError, SyntaxError):
            return None


class Seen:
    """A trace from the kernel and a reading of the student's code, judged together."""

    def __init__(
        self,
        trace: Trace,
        source: Reading | LocalSource,
        *,
        isolated: Iterable[str] = (),
        flag: Callable[[str], None] | None = None,
        test_id: str | None = None,
    ) -> None:
        self.trace, self.source, self.isolated = trace, source, tuple(isolated)
        self._flag, self.test_id = flag, test_id

    @property
    def direct(self) -> list[Call]:
        return self.trace.direct

    def count(self, label: str) -> int:
        """How often a watched method ran (from the trace alone: see the module docstring)."""
        return self.trace.count(label)

    def used(self, kind: str) -> bool:
        return self.trace.used(kind)

    def _evidence(self, kind: str, who: str) -> tuple[bool, bool | None, Usage]:
        traced = self.trace.used(kind)
        usage = self.source.usage(who, exclude=self.isolated)
        return traced, usage.uses(kind), usage

    def _disagree(self, who: str, label: str, traced: bool, read: bool | None, usage: Usage) -> None:
        if read is None:
            why = (
                f"the reading could not follow {', '.join(dict.fromkeys(usage.dynamic))[:200]}"
                if usage.found
                else f"no definition of {who} was found in the student's cells"
            )
        else:
            why = (
                f"the kernel reported {'a' if traced else 'no'} call of {label}, "
                f"the code {'does' if read else 'does not'} use it"
            )
        if self._flag is not None:
            self._flag(f"{self.test_id or who}: the API level of {who} could not be confirmed ({why})")

    def forbid(self, kind: str, who: str, why: str) -> None:
        """Fail if `who` used this kind of API (trace or reading), or if that cannot be told."""
        label = KINDS[kind][1]
        traced, read, usage = self._evidence(kind, who)
        if traced != bool(read) or read is None:
            self._disagree(who, label, traced, read, usage)
        if traced:
            names = ", ".join(dict.fromkeys(str(c) for c in self.trace.calls(kind)[:8]))
            fail(f"{who} used {label} ({names}); {why}")
        if read:
            fail(f"{who} used {label}; {why}")
        if read is None:
            fail(
                f"{who}'s use of {label} could not be read from its code (it computes names of what it "
                f"calls, or calls eval or __import__); {why}"
            )

    def require(self, kind: str, who: str, what: str) -> None:
        """Fail unless both the trace and the reading show `who` using this kind of API."""
        label = KINDS[kind][1]
        traced, read, usage = self._evidence(kind, who)
        if traced != bool(read) or read is None:
            self._disagree(who, label, traced, read, usage)
        if not (traced and read):
            fail(f"{who} should {what}, but it never called {label}.")
