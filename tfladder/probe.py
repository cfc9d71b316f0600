"""How tests run a student's code: a narrow probe into the kernel that returns plain data.

A test cell never touches the student's objects. It asks the kernel to compute something:

    out = probe.run("linear_forward(X, tf.Variable(w), tf.Variable(b))", X=X, w=w, b=b)

The code runs in the student's kernel with the inputs given (numpy arrays and Python values,
bound to the names given) and the student's own names in reach; the value of its last line comes
back as plain data (`tfladder.wire`): arrays, numbers, strings, lists, tuples and dicts, and an
`Opaque` description, with a handle, for any other object. An exception comes back as its type,
its first line and the student's line it came from; `tfladder.checks.student_error` words it.

When a notebook is graded, test cells run in a trusted judge outside the kernel
(`tfladder.grading.judge`) and `probe` sends each request into the student's kernel (`serve`). In a
notebook of your own, the setup cell's `probe = Probe(globals())` answers requests right there.
Both go through `answer()`, so a test sees the same data either way.

A request carries nothing secret: the code to run (building inputs, calling the student's code,
reading results), its inputs, and, while a later exercise's test runs, stand-ins: correct
versions of earlier answers (`Client.isolate`), so that one mistake is charged once.
"""

import base64
import builtins
import contextlib
import io
import json
import linecache
import re
import sys
import time
import traceback
import warnings
import zlib

from tfladder import spies, wire
from tfladder.checks import CheckFailed, fail, student_error
from tfladder.spies import Trace, is_user_file

PROBE_FILE = "<tfladder-probe>"
STANDIN_FILE = "<tfladder-standin {name}>"
MAX_PRINTED = 20_000
MAX_MESSAGE = 300
# An error raised while a tf.function traces: "in user code:", then each frame as `File "...", line
# N, in name *` and its source line, then the error itself on the last line. The frames run
# AutoGraph's converted copy of the student's code (files named __autograph_generated_file...).
AUTOGRAPH = "in user code:"
AUTOGRAPH_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)[^\n]*\n\s*(\S[^\n]*)')
GENERATED = "__autograph_generated_file"
_MISSING = object()

# Objects a request returned, by handle, until the next test begins (kernel side).
_handles: dict = {}
_standin_cache: dict = {}


# -- requests on the wire -----------------------------------------------------------------------------
def pack(request):
    """A request (or reply) as compact ASCII: JSON, zlib, base64."""
    return base64.b64encode(zlib.compress(json.dumps(request).encode(), 3)).decode("ascii")


def unpack(text, limit=512 << 20):
    data = zlib.decompressobj().decompress(base64.b64decode(text, validate=True), limit)
    return json.loads(data)


def request_code(request):
    """The code a judge sends to the kernel to have `request` answered there."""
    return f'__import__("tfladder.probe", fromlist=["serve"]).serve("{pack(request)}")'


# -- the kernel's side ----------------------------------------------------------------------------------
def serve(payload):
    """In the student's kernel: answer a packed request and publish the reply as display data."""
    from IPython import get_ipython
    from IPython.display import publish_display_data

    shell = get_ipython()
    namespace = shell.user_ns if shell is not None else sys.modules["__main__"].__dict__
    try:
        reply = answer(unpack(payload), namespace)
    except Exception as error:  # noqa: BLE001 - a malformed request: say so, in plain data
        reply = {"v": 1, "error": {"type": type(error).__name__, "message": str(error)[:MAX_MESSAGE], "grader": True}}
    publish_display_data({wire.MIME: json.dumps(reply)})


def answer(request, namespace):
    """Run one request against `namespace` (the notebook's globals); the reply as plain data."""
    started = time.perf_counter()
    if request.get("forget"):
        _handles.clear()
    reply: dict = {"v": 1}
    inputs = {str(k): wire.decode_input(v, _handles) for k, v in request.get("inputs", {}).items()}
    standins = _compile_standins(request.get("standins", []))
    body, last = _compile(request["code"])  # the test's own code: an error here is the course's
    saved = {name: namespace.get(name, _MISSING) for name in standins}
    namespace.update(standins)
    printed = io.StringIO()
    try:
        scope = _scope(namespace, inputs)
        counts = {
            label: eval(compile(expr, PROBE_FILE, "eval"), scope)  # noqa: S307
            for label, expr in request.get("count", {}).items()
        }
        with (
            contextlib.redirect_stdout(printed),
            contextlib.redirect_stderr(printed),
            warnings.catch_warnings(record=True),
        ):
            warnings.simplefilter("always")
            if request.get("trace"):
                with spies.watch(count=counts) as seen:
                    value = _run(body, last, scope)
                reply["seen"] = seen.plain()
            else:
                value = _run(body, last, scope)
            reply["value"] = wire.encode(value, _handles)
    except BaseException as error:  # noqa: BLE001 - whatever the student's code raised, as data
        reply.pop("value", None)
        reply["error"] = _error_record(error)
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                namespace.pop(name, None)
            else:
                namespace[name] = value
    reply["stdout"] = printed.getvalue()[-MAX_PRINTED:]
    reply["seconds"] = time.perf_counter() - started
    return reply


def _compile(code):
    """The request's code as (body, last expression or None): the last line's value is the answer."""
    import ast

    tree = ast.parse(code, PROBE_FILE, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = compile(ast.Expression(tree.body.pop().value), PROBE_FILE, "eval")
    return compile(tree, PROBE_FILE, "exec"), last


def _run(body, last, scope):
    exec(body, scope)  # noqa: S102 - the test's own code, in the student's kernel
    return eval(last, scope) if last is not None else None  # noqa: S307


def _scope(namespace, inputs):
    """What the request's code sees: the notebook's names, TensorFlow and numpy, the helpers
    below, and the inputs (which win)."""
    import numpy as np
    import tensorflow as tf

    scope = dict(namespace)
    scope.update(tf=tf, np=np, **HELPERS)
    scope.update(inputs)
    scope["__builtins__"] = builtins
    return scope


def _compile_standins(pairs):
    """{name: object} from [(name, source)]: each stand-in defined in a namespace of its own that
    holds only TensorFlow and numpy (it never sees the student's code)."""
    found = {}
    for name, source in pairs:
        key = (name, source)
        if key not in _standin_cache:
            import numpy as np
            import tensorflow as tf

            scope = {"__builtins__": builtins, "__name__": "__main__", "tf": tf, "np": np}
            exec(compile(source, STANDIN_FILE.format(name=name), "exec"), scope)  # noqa: S102
            _standin_cache[key] = scope[name]
        found[name] = _standin_cache[key]
    return found


def _error_record(error):
    """What the judge may know of an exception: its type, first line, and the student's lines.

    For an error raised while a tf.function traced, the message is the error itself (the last line
    of TensorFlow's "in user code:" report) and the line is the student's own, from that report,
    not AutoGraph's converted copy of it."""
    frames = list(traceback.walk_tb(error.__traceback__))
    mine = [(f, n) for f, n in frames if is_user_file(f.f_code.co_filename) and GENERATED not in f.f_code.co_filename]
    text = str(error).strip()
    record: dict = {"type": type(error).__name__[:100], "message": text.splitlines()[0][:MAX_MESSAGE] if text else ""}
    if text.startswith(AUTOGRAPH):
        last = [line.strip() for line in text.splitlines() if line.strip()][-1]
        prefix = f"{record['type']}: "
        record["message"] = (last[len(prefix) :] if last.startswith(prefix) else last)[:MAX_MESSAGE]
        traced = [m for m in AUTOGRAPH_FRAME.findall(text) if is_user_file(m[0]) and GENERATED not in m[0]]
        if traced:
            _, line, function, source = traced[-1]
            record["where"] = {"function": function[:100], "line": int(line), "text": source.strip()[:200]}
            record["entry"] = _name(mine[0][0]) if mine else function[:100]
            return record
    if isinstance(error, NameError) and frames and frames[-1][0].f_code.co_filename == PROBE_FILE:
        record["missing_name"] = str(getattr(error, "name", "") or "")[:100] or None
    if mine:
        record["entry"] = _name(mine[0][0])
        frame, line = mine[-1]
        text = linecache.getline(frame.f_code.co_filename, line, frame.f_globals).strip()
        record["where"] = {"function": _name(frame), "line": int(line), "text": text[:200]}
        if isinstance(error, NotImplementedError):
            record["not_implemented"] = True
            record["culprit"] = _name(frame)
    elif isinstance(error, NotImplementedError):
        record["not_implemented"] = True
    return record


def _name(frame):
    """'linear_forward', 'Linear.build': a frame's function as the student wrote it."""
    return frame.f_code.co_qualname.rsplit("<locals>.", 1)[-1][:100]


# -- helpers the tests' code may use in the kernel (nothing in them knows an answer) -----------------------
def gradients(fn, *values):
    """Gradients of sum(fn(*variables)) with respect to tf.Variables made from `values`: a list
    with None where no gradient flows; None when fn does not return a tensor."""
    import tensorflow as tf

    variables = [tf.Variable(v) for v in values]
    with tf.GradientTape() as tape:
        result = fn(*variables)
        total = tf.reduce_sum(result) if tf.is_tensor(result) else None
    if total is None:
        return None
    return tape.gradient(total, variables)


def stages(dataset):
    """The stages of a tf.data pipeline, first to last, as plain data: [{"kind": ..., ...}].

    A shuffle stage says its `buffer_size`; `is_input` marks the stage that is the dataset passed
    in as `given` to `stages_from(...)`."""
    from tfladder import spies

    found = []
    for kind, stage in reversed(spies.pipeline(dataset)):
        item = {"kind": kind}
        if kind == "Shuffle":
            try:
                item["buffer_size"] = int(stage._buffer_size)
            except Exception:  # noqa: BLE001
                item["buffer_size"] = None
        found.append(item)
    return found


def contains_stage(dataset, given):
    """True when the pipeline of `dataset` has `given` (a dataset object) as one of its stages."""
    from tfladder import spies

    return any(stage is given for _, stage in spies.pipeline(dataset))


def take(dataset, limit=10_000):
    """Every element of one pass over `dataset` (at most `limit`), as tensors."""
    found = []
    for element in dataset:
        found.append(element)
        if len(found) >= limit:
            break
    return found


def describe(model):
    """A Keras layer or model as plain data: layer kinds, units, activations, weight shapes,
    parameter count, and, once compiled, its optimizer, loss and step count."""
    found = {"type": type(model).__name__, "built": bool(getattr(model, "built", False))}
    layers = getattr(model, "layers", None)
    if layers is not None:
        found["layers"] = [_layer(layer) for layer in layers]
    try:
        found["params"] = int(model.count_params())
    except Exception:  # noqa: BLE001 - not built yet
        found["params"] = None
    found["weights"] = [tuple(int(d) for d in w.shape) for w in getattr(model, "weights", [])]
    found["trainable"] = len(getattr(model, "trainable_weights", []))
    found["non_trainable"] = len(getattr(model, "non_trainable_weights", []))
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        found["optimizer"] = type(optimizer).__name__
        try:
            found["iterations"] = int(optimizer.iterations)
        except Exception:  # noqa: BLE001
            found["iterations"] = None
    loss = getattr(model, "loss", None)
    if loss is not None:
        found["loss"] = str(getattr(loss, "name", None) or getattr(loss, "__name__", None) or loss)
    return found


def _layer(layer):
    activation = getattr(layer, "activation", None)
    return {
        "type": type(layer).__name__,
        "name": str(getattr(layer, "name", "")),
        "units": getattr(layer, "units", None),
        "activation": getattr(activation, "__name__", None) if activation is not None else None,
        "weights": [tuple(int(d) for d in w.shape) for w in getattr(layer, "weights", [])],
    }


HELPERS = {
    "gradients": gradients,
    "stages": stages,
    "contains_stage": contains_stage,
    "take": take,
    "describe": describe,
}


# -- the tests' side ---------------------------------------------------------------------------------------
class Client:
    """What test cells call `probe`: `run`, `trace`, `isolate`, `register_standin`, `printed`.

    Subclasses say how a request reaches the kernel (`_exchange`) and how a trace is weighed
    against the student's source (`_seen`).
    """

    def __init__(self):
        self._standins: dict[str, str] = {}
        self.begin_test()

    def begin_test(self, test_id=None):
        """A new test cell begins: no stand-ins in place, earlier handles forgotten."""
        self._isolated: tuple[str, ...] = ()
        self._forget = True
        self.test_id = test_id
        self.printed = ""

    def register_standin(self, name, source):
        """Keep a correct version of `name` (its source, defining `name` with TensorFlow and numpy
        only) for the tests of later exercises."""
        compile(source, STANDIN_FILE.format(name=name), "exec")
        self._standins[name] = source

    def isolate(self, *names):
        """Until this test cell ends, every request runs with the stand-ins for `names` in place
        of the student's versions (earlier exercises, graded by their own tests)."""
        missing = [n for n in names if n not in self._standins]
        if missing:
            raise RuntimeError(
                f"no stand-in registered for {', '.join(missing)}: the test that registers it "
                "did not run (a grading problem, not the student's)."
            )
        self._isolated = tuple(names)

    def run(self, code, *, name=None, **inputs):
        """Run `code` in the student's kernel with `inputs`; the value of its last line, as plain
        data. An exception in the student's code fails the test with a message that says what
        happened (`name` says what ran: "linear_forward", "fit on your model")."""
        value, _ = self._request(code, name, inputs, trace=False, count=None)
        return value

    def trace(self, code, *, name=None, count=None, **inputs):
        """`run`, recording which APIs the student's code called; returns (value, seen).

        `count` maps labels to expressions naming functions whose calls to count
        ({"student_step": "CustomModel.train_step"}); `seen.count(label)` reports them.
        """
        return self._request(code, name, inputs, trace=True, count=count)

    def _request(self, code, name, inputs, *, trace, count):
        request = {
            "v": 1,
            "code": code,
            "inputs": {k: wire.encode_input(v) for k, v in inputs.items()},
            "trace": trace,
            "count": dict(count or {}),
            "forget": self._forget,
            "standins": [[n, self._standins[n]] for n in self._isolated],
        }
        reply = self._exchange(request)
        self._forget = False
        self.printed = str(reply.get("stdout", ""))[-MAX_PRINTED:]
        error = reply.get("error")
        if error is not None:
            if not isinstance(error, dict):
                error = {"type": "Exception", "message": "the kernel sent an unreadable error"}
            self._failed(error, name)
        try:
            value = wire.decode(reply.get("value", {"t": "none"}))
        except wire.WireError as error:
            fail(f"{name or 'your code'} returned something that is not plain data: {error}")
        if not trace:
            return value, None
        return value, self._seen(Trace.from_plain(reply.get("seen")))

    def _failed(self, error, name):
        if error.get("grader"):
            raise RuntimeError(
                f"the kernel could not answer the test's request: {error.get('type')}: {error.get('message')}"
            )
        raise CheckFailed(student_error(error, name))

    def _exchange(self, request):
        raise NotImplementedError

    def _seen(self, trace):
        raise NotImplementedError


class Probe(Client):
    """The setup cell's `probe`: answers the tests' requests in this very notebook.

    When the notebook is graded, the same test cells run outside it and their requests come in
    through `serve`; here they are answered at once, through the same `answer()`.
    """

    def __init__(self, namespace):
        super().__init__()
        self._namespace = namespace
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython is part of the environment
            return
        shell = get_ipython()
        if shell is not None:
            shell.events.register("pre_run_cell", lambda *args: self.begin_test())

    def _exchange(self, request):
        # Through JSON, as a reply from a kernel would come.
        return json.loads(json.dumps(answer(json.loads(json.dumps(request)), self._namespace)))

    def _seen(self, trace):
        try:
            from tfladder.grading.api_reading import LocalSource, Seen
        except ImportError:
            raise RuntimeError(
                "API-level tests run when your notebook is graded (their code is not part of the notebook library)"
            ) from None
        return Seen(trace, LocalSource(self._namespace), isolated=self._isolated)

    def __repr__(self):
        return "<tfladder probe: tests run your code through probe.run(...)>"
