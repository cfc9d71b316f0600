"""Stand-ins: correct versions of earlier answers that a test cell swaps in while it runs.

Exercises build on each other (`sgd_step` calls `tape_gradients`, which calls `mse_loss`). So
that a mistake in an earlier exercise is charged once, by that exercise's own tests, the hidden
part of each exercise's values test registers a reference version of its function:

    standins.register(mse_loss=_reference_mse_loss)

and every test cell of a later exercise starts (in its hidden part) with

    standins.isolate(globals(), "linear_forward", "mse_loss")

which puts the references in place of the student's functions until the cell ends (an IPython
`post_run_cell` hook puts the student's functions back, even when the cell fails). A student
running the release sees the visible test use their own functions; the grader isolates.
Calls made from inside a stand-in are not student code: `spies.watch` does not record them.
"""

import contextlib

_registry = {}
_codes = set()


def register(**references):
    """Register reference functions or classes by the name of the student answer they replace."""
    for name, reference in references.items():
        _registry[name] = reference
        _codes.update(_code_objects(reference))


def _code_objects(reference):
    if isinstance(reference, type):
        return [f.__code__ for f in vars(reference).values() if hasattr(f, "__code__")]
    return [reference.__code__]


def codes():
    """Code objects of every registered stand-in (spies skip calls made from inside them)."""
    return _codes


def _swap(namespace, names):
    missing = [n for n in names if n not in _registry]
    if missing:
        raise RuntimeError(
            f"no stand-in registered for {', '.join(missing)}: the hidden test that registers it "
            "did not run (a grading problem, not the student's)."
        )
    absent = object()
    saved = {n: namespace.get(n, absent) for n in names}
    namespace.update({n: _registry[n] for n in names})

    def restore():
        for n, value in saved.items():
            if value is absent:
                namespace.pop(n, None)
            else:
                namespace[n] = value

    return restore


def isolate(namespace, *names):
    """Stand the references in for `names` in `namespace` until the current cell has run."""
    restore = _swap(namespace, names)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is part of the environment
        get_ipython = lambda: None  # noqa: E731
    shell = get_ipython()
    if shell is None:
        raise RuntimeError("standins.isolate() needs a running IPython kernel; use standins.swapped()")

    def after_cell(result=None):
        restore()
        shell.events.unregister("post_run_cell", after_cell)

    shell.events.register("post_run_cell", after_cell)


@contextlib.contextmanager
def swapped(namespace, *names):
    """The same swap as `isolate`, for a `with` block (outside notebooks)."""
    restore = _swap(namespace, names)
    try:
        yield
    finally:
        restore()
