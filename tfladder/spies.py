"""Which APIs a student's code called: GradientTape, Keras, optimizers, `fit`, numpy.

`watch()` records, while it is active, every call made *directly from student code* (code that
does not live in an installed package or in tfladder) and every call of a few watched Keras
methods from anywhere (a Dense layer's `call`, an optimizer's `apply`, `Model.fit`). It uses
`sys.setprofile`, so it sees calls whatever name the student imported them under. The probe
(`tfladder.probe`) runs it in the student's kernel when a test asks `kernel.trace(...)` and sends
the `Trace` back as plain data; the judge weighs it against its own reading of the student's
source (`tfladder.grading.api_reading`), because a kernel can report anything about itself.

Code the tests send (`<tfladder-probe>`) and stand-ins (`<tfladder-standin ...>`) are not
student code: calls made from them are not recorded.
"""

import contextlib
import inspect
import os
import sys
import sysconfig
import threading
from dataclasses import dataclass, field

_LIBRARY_DIRS = tuple(
    sorted(
        {
            os.path.realpath(p) + os.sep
            for p in (
                sysconfig.get_paths()["stdlib"],
                sysconfig.get_paths()["platstdlib"],
                sysconfig.get_paths()["purelib"],
                sysconfig.get_paths()["platlib"],
                os.path.dirname(os.path.abspath(__file__)),
            )
        }
    )
)
_USER_CACHE: dict[str, bool] = {}


def is_user_file(filename):
    """True for code written in a notebook or a test, false for installed libraries and tfladder."""
    known = _USER_CACHE.get(filename)
    if known is None:
        if filename.startswith("<"):
            # "<ipython-input-...>" and "<string>" are user code; "<frozen ...>" is Python itself,
            # "<tfladder-...>" the tests' own code run by the probe.
            known = not filename.startswith(("<frozen", "<tfladder"))
        else:
            real = os.path.realpath(filename)
            known = not real.startswith(_LIBRARY_DIRS)
        _USER_CACHE[filename] = known
    return known


@dataclass(frozen=True)
class Call:
    """One call: what was called (module path and qualified name)."""

    package: str
    name: str

    def __str__(self):
        return f"{self.package}: {self.name}" if self.package else self.name


def _package_of(filename):
    """'keras', 'tensorflow', 'numpy', ... for a library file; '' for anything else."""
    marker = "site-packages" + os.sep
    at = filename.rfind(marker)
    if at < 0:
        return ""
    return filename[at + len(marker) :].split(os.sep, 1)[0].removesuffix(".py")


# What each kind of API use looks like, as predicates on a direct call from student code.
def _is_tape(call):
    return call.package == "tensorflow" and call.name.startswith("GradientTape.")


def _is_keras(call):
    return call.package == "keras"


def _is_optimizer(call):
    return call.package == "keras" and ("Optimizer" in call.name or call.name.split(".")[0] in _OPTIMIZER_CLASSES)


def _is_numpy(call):
    return call.package == "numpy" or call.name.endswith(".numpy") or call.name == "numpy"


_OPTIMIZER_CLASSES = {
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "Nadam",
    "Ftrl",
    "Lion",
    "Lamb",
    "Muon",
    "LossScaleOptimizer",
}


def _named(package, *names):
    return lambda call: call.package == package and call.name in names


KINDS = {
    "tape": (_is_tape, "tf.GradientTape"),
    "keras": (_is_keras, "Keras (tf.keras)"),
    "optimizer": (_is_optimizer, "a Keras optimizer"),
    "numpy": (_is_numpy, "numpy (or .numpy())"),
    "fit": (_named("keras", "TensorFlowTrainer.fit", "Trainer.fit"), "Model.fit"),
    "sequential": (_named("keras", "Sequential.__init__"), "tf.keras.Sequential"),
    "dense": (_named("keras", "Dense.__init__"), "tf.keras.layers.Dense"),
    "variable": (_named("tensorflow", "VariableMetaclass.__call__"), "tf.Variable"),
    "mean_metric": (lambda c: c.package == "keras" and c.name.startswith("Mean."), "tf.keras.metrics.Mean"),
    "assign_sub": (lambda c: c.name.endswith(".assign_sub"), "assign_sub"),
}


@dataclass
class Trace:
    """What happened while `watch()` was active: direct calls from student code, and counts."""

    direct: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)

    def calls(self, kind):
        """Direct calls from student code of one kind (a key of KINDS: 'tape', 'keras', ...)."""
        test, _ = KINDS[kind]
        return [c for c in self.direct if test(c)]

    def used(self, kind):
        return bool(self.calls(kind))

    def count(self, name):
        """How often a watched method ran, from anywhere: 'dense_call', 'dense_build',
        'optimizer_apply', 'fit', 'evaluate', 'compile', 'keras_train_step', or a label passed
        to `watch(count=...)`."""
        return self.counts.get(name, 0)

    def plain(self, limit=500):
        """As JSON-ready data (distinct calls in order, at most `limit`)."""
        calls = list(dict.fromkeys((c.package, c.name) for c in self.direct))[:limit]
        return {"direct": [list(c) for c in calls], "counts": dict(self.counts)}

    @classmethod
    def from_plain(cls, data):
        """A Trace from plain data (what a kernel sent: strings and ints only are kept)."""
        data = data if isinstance(data, dict) else {}
        direct = [
            Call(str(p)[:100], str(n)[:200])
            for p, n in (c for c in data.get("direct", [])[:2000] if isinstance(c, (list, tuple)) and len(c) == 2)
        ]
        counts = {str(k)[:100]: int(v) for k, v in dict(data.get("counts", {})).items() if type(v) is int and v >= 0}
        return cls(direct=direct, counts=counts)


def _watched_codes():
    """Code objects of Keras methods worth counting wherever they are called from."""
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer
    from keras.src.layers.core.dense import Dense
    from keras.src.optimizers.base_optimizer import BaseOptimizer
    from keras.src.trainers.trainer import Trainer

    methods = {
        "keras_train_step": TensorFlowTrainer.train_step,
        "dense_call": Dense.call,
        "dense_build": Dense.build,
        "optimizer_apply": BaseOptimizer.apply,
        "fit": TensorFlowTrainer.fit,
        "evaluate": TensorFlowTrainer.evaluate,
        "compile": Trainer.compile,
    }
    # Keras wraps public methods in a traceback filter: count the function inside the wrapper.
    return {inspect.unwrap(method).__code__: label for label, method in methods.items()}


_WRAPPER_NAMES = {"error_handler", "wrapper", "wrapped", "decorated"}


def _callee(frame):
    """The Call a frame runs; for a decorator's wrapper, the function it wraps."""
    code = frame.f_code
    if code.co_name in _WRAPPER_NAMES:
        inner = frame.f_locals.get("fn") or frame.f_locals.get("func") or frame.f_locals.get("f")
        inner = getattr(inner, "__wrapped__", inner)
        if callable(inner) and hasattr(inner, "__qualname__"):
            module = getattr(inner, "__module__", "") or ""
            return Call(module.split(".", 1)[0], inner.__qualname__)
    return Call(_package_of(code.co_filename), code.co_qualname)


_lock = threading.Lock()


@contextlib.contextmanager
def watch(*, count=None):
    """Record the calls student code makes while the block runs; yields a `Trace`.

    `count` maps labels to functions (a student's method, say) whose runs `Trace.count` reports.
    """
    seen = Trace()
    watched = {code: [label] for code, label in (_watched_codes() if "keras" in sys.modules else {}).items()}
    for label, function in (count or {}).items():
        code = getattr(inspect.unwrap(function), "__code__", None)
        if code is not None:
            watched.setdefault(code, []).append(label)

    def profile(frame, event, arg):
        if event == "call":
            code = frame.f_code
            for label in watched.get(code, ()):
                seen.counts[label] = seen.counts.get(label, 0) + 1
            caller = frame.f_back
            if caller is not None and is_user_file(caller.f_code.co_filename) and not is_user_file(code.co_filename):
                seen.direct.append(_callee(frame))
        elif event == "c_call":
            if is_user_file(frame.f_code.co_filename):
                module = getattr(arg, "__module__", None) or ""
                owner = getattr(arg, "__self__", None)
                if not module and owner is not None:
                    module = type(owner).__module__
                package = module.split(".", 1)[0]
                if package in ("numpy", "tensorflow", "keras"):
                    seen.direct.append(Call(package, getattr(arg, "__qualname__", repr(arg))))

    with _lock:
        previous = sys.getprofile()
        sys.setprofile(profile)
        try:
            yield seen
        finally:
            sys.setprofile(previous)


_STAGES = ("ParallelMap", "Map", "Shuffle", "Batch", "Prefetch", "Cache", "Repeat", "Filter", "TensorSlice", "Range")


def pipeline(dataset):
    """The stages of a tf.data pipeline, last stage first: [(kind, dataset), ...].

    `kind` is "ParallelMap", "Map", "Shuffle", "Batch", "Prefetch", "Cache", ..., read from the
    dataset classes tf.data builds (each stage keeps its input in `_input_dataset`).
    """
    stages: list = []
    while dataset is not None and len(stages) < 100:
        name = type(dataset).__name__
        kind = next((k for k in _STAGES if k in name), name.strip("_").removesuffix("Dataset"))
        stages.append((kind, dataset))
        dataset = getattr(dataset, "_input_dataset", None)
    return stages
