"""Undoing tampering inside a submission's kernel, before every test cell (`tfladder grade` only).

`tfladder.execute.GuardedExecute` runs `record()` in a prologue cell, before any of the student's
code: it keeps the attributes of the modules the tests rely on (the grader's checks, spies, seeds,
stand-ins and oracles, numpy and numpy.testing, math, builtins, the profiler hooks the spies use).
Each test cell then starts with `restore(globals())`, which puts back every kept attribute that
was replaced and rebinds the names test cells use (`checks`, `spies`, `seeds`, `standins`, `np`)
to the real modules. Patching `checks.close`, `np.testing.assert_allclose`, `np.allclose` or a
builtin, or rebinding `checks` to an object that accepts everything, therefore earns nothing.

A kernel can change anything in its own process, so this is a second line only: the static scan
(`tfladder.tamper`) flags every means used here for a human, and the markers and canaries of
`tfladder.execute` catch tests that were skipped, rewritten or silenced.
"""

import builtins
import importlib
import sys

GUARDED_MODULES = ("builtins", "math", "numpy", "numpy.testing", "numpy.linalg", "numpy.random",
                   "tfladder.seeds", "tfladder.spies", "tfladder.checks", "tfladder.standins",
                   "tfladder.oracles.l1", "tfladder.oracles.l2", "tfladder.oracles.l3",
                   "tfladder.oracles.l4", "tfladder.oracles.l5")
# The names test cells use, and the module each must be.
TEST_NAMES = {"checks": "tfladder.checks", "spies": "tfladder.spies", "seeds": "tfladder.seeds",
              "standins": "tfladder.standins", "np": "numpy"}
SYS_HOOKS = ("setprofile", "getprofile", "settrace", "gettrace")
# Swapped by ipykernel itself around every execution (to forward input() to the front end).
VOLATILE = {("builtins", "input")}

_kept = {}
_sys_hooks = {}


def record():
    """Keep the current attributes of every guarded module (run before any student code)."""
    from tfladder import runtime

    runtime.quiet()   # before anything below could import TensorFlow
    for name in GUARDED_MODULES:
        module = importlib.import_module(name)
        _kept[name] = (module, dict(vars(module)))
    _sys_hooks.update({name: getattr(sys, name) for name in SYS_HOOKS})


def restore(namespace):
    """Put back what was kept; returns the names of the attributes that had been changed."""
    changed = []
    for name, (module, attributes) in _kept.items():
        if sys.modules.get(name) is not module:
            sys.modules[name] = module
            changed.append(f"sys.modules[{name!r}]")
        current = vars(module)
        for key, value in attributes.items():
            if current.get(key, _kept) is not value and (name, key) not in VOLATILE:
                changed.append(f"{name}.{key}")
                if module is builtins:
                    current[key] = value
                else:
                    setattr(module, key, value)
    for key, value in _sys_hooks.items():
        if getattr(sys, key) is not value:
            changed.append(f"sys.{key}")
            setattr(sys, key, value)
    for key, module_name in TEST_NAMES.items():
        module = _kept[module_name][0]
        if key in namespace and namespace[key] is not module:
            changed.append(key)
            namespace[key] = module
    return changed
