"""Plain data between a student's kernel and the judge: numbers, strings, arrays, nothing else.

A test asks the kernel to compute something (`tfladder.probe`) and gets back plain data only:
JSON, with every array as the bytes of an `.npy` file read with `allow_pickle=False`. An object
that is not plain data (a model, a dataset, a History) crosses as an `Opaque` description: its
type names and a handle by which later requests of the same test may pass it back. Nothing that
arrives is ever unpickled, evaluated or called.

Kernel side: `encode(value, handles)` turns a result into a wire node (TensorFlow tensors and
variables become arrays), `decode_input(node, handles)` turns a test's input back into numpy.
Judge side: `encode_input(value)` and `decode(node)`, which gives `Array`, `Opaque` and Python's
own scalars, lists, tuples and dicts. numpy is the only dependency; TensorFlow is looked up in
`sys.modules` and never imported here.
"""

import base64
import io
import sys

import numpy as np

MIME = "application/x-tfladder-probe"  # a reply: a JSON string, published as display data
MAX_DEPTH = 8
MAX_ITEMS = 2000  # per list, tuple or dict
MAX_STRING = 20_000  # characters of one string
MAX_ARRAY_BYTES = 256 << 20  # all arrays of one reply together
ARRAY_KINDS = ("tensor", "variable", "ndarray", "npscalar")


class WireError(ValueError):
    """A node that is not well-formed plain data."""


# -- the judge's view of what came back ---------------------------------------------------------
class Array:
    """An array-like result: a TensorFlow tensor or variable, a numpy array or numpy scalar.

    `kind` says which ("tensor", "variable", "ndarray", "npscalar"), `type_name` is the Python type
    it had in the kernel ("EagerTensor", "ResourceVariable", "ndarray", "float32"), `array` holds
    the numbers (read-only), `trainable` is set for variables.
    """

    __slots__ = ("kind", "type_name", "array", "trainable")

    def __init__(self, kind, type_name, array, trainable=None):
        if kind not in ARRAY_KINDS:
            raise WireError(f"unknown array kind {kind!r}")
        self.kind, self.type_name, self.trainable = kind, type_name, trainable
        self.array = array
        self.array.flags.writeable = False

    @property
    def dtype(self):
        return self.array.dtype.name

    @property
    def shape(self):
        return tuple(self.array.shape)

    @property
    def is_tensor(self):
        """True for a TensorFlow tensor or variable (Keras variables included)."""
        return self.kind in ("tensor", "variable")

    def __array__(self, dtype=None, copy=None):
        return np.array(self.array, dtype=dtype) if dtype is not None else np.array(self.array)

    def __len__(self):
        if not self.array.ndim:
            raise TypeError("len() of a scalar")
        return self.array.shape[0]

    def __getitem__(self, index):
        return self.array[index]

    def __repr__(self):
        return f"<{self.type_name} shape={self.shape} dtype={self.dtype}>"


class Opaque:
    """An object that is not plain data, described by its type; `handle` refers to it in the
    kernel for the rest of the test (pass it as an input of a later `probe.run`)."""

    __slots__ = ("type_name", "module", "bases", "handle", "callable", "note")

    def __init__(self, type_name, module="", bases=(), handle=None, callable=False, note=""):
        self.type_name, self.module, self.bases = str(type_name), str(module), tuple(map(str, bases))
        self.handle, self.callable, self.note = handle, bool(callable), str(note)

    def is_a(self, name):
        """True when the object's class, or one of its bases, is called `name` ("Sequential",
        "tf.keras.Model" and "keras.src.models.model.Model" all work for a Keras model)."""
        last = name.rsplit(".", 1)[-1]
        return any(base == name or base.rsplit(".", 1)[-1] == last for base in (self.type_name, *self.bases))

    def __repr__(self):
        return f"<{self.type_name}>"


def type_name(value):
    """The Python type name a value had in the kernel ('EagerTensor', 'int', 'Sequential', ...)."""
    if isinstance(value, (Array, Opaque)):
        return value.type_name
    return type(value).__name__


# -- arrays as .npy bytes ---------------------------------------------------------------------------
def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, np.array(array, order="C", copy=True), allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _from_npy(text):
    try:
        array = np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False)
    except (ValueError, TypeError, OSError) as error:
        raise WireError(f"an array could not be read: {error}") from None
    if array.dtype.kind not in "biufc":
        raise WireError(f"arrays of dtype {array.dtype} are not plain numbers")
    return array


# -- kernel side: results to nodes ------------------------------------------------------------------
class _Budget:
    def __init__(self):
        self.array_bytes = 0


def _qualname(cls):
    return f"{getattr(cls, '__module__', '') or ''}.{getattr(cls, '__qualname__', cls.__name__)}".lstrip(".")


def _opaque(value, handles, note=""):
    cls = type(value)
    handle = None
    if handles is not None:
        handle = len(handles) + 1
        handles[handle] = value
    bases = [_qualname(base) for base in getattr(cls, "__mro__", ())[1:40] if base is not object]
    return {
        "t": "object",
        "type": cls.__qualname__.rsplit("<locals>.", 1)[-1],
        "module": getattr(cls, "__module__", "") or "",
        "bases": bases,
        "handle": handle,
        "callable": callable(value),
        "note": note,
    }


def _array_kind(value):
    """'tensor', 'variable', 'ndarray', 'npscalar' or None, without importing TensorFlow."""
    if isinstance(value, np.ndarray):
        return "ndarray"
    if isinstance(value, np.generic):
        return "npscalar"
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        if isinstance(value, tf.Variable):
            return "variable"
        if isinstance(value, tf.Tensor):
            return "tensor"
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(value, getattr(keras, "Variable", ())):
        return "variable"
    return None


def _encode_array(value, kind, budget, handles):
    try:
        array = np.asarray(value.numpy() if kind in ("tensor", "variable") else value)
    except Exception as error:  # noqa: BLE001 - a symbolic tensor, a deleted variable, ...
        return _opaque(value, handles, note=f"its values could not be read ({type(error).__name__})")
    if array.dtype.kind not in "biufc":
        return _opaque(value, handles, note=f"an array of {array.dtype}, not numbers")
    budget.array_bytes += array.nbytes
    if budget.array_bytes > MAX_ARRAY_BYTES:
        return _opaque(value, handles, note="too large to send")
    node = {"t": "array", "kind": kind, "type": type(value).__name__, "npy": _npy(array)}
    if kind == "variable":
        node["trainable"] = bool(getattr(value, "trainable", True))
    return node


def encode(value, handles=None, *, _depth=0, _budget=None):
    """A result as a wire node; objects that are not plain data get a handle in `handles`."""
    budget = _budget or _Budget()
    kind = type(value)
    if value is None:
        return {"t": "none"}
    if kind is bool:
        return {"t": "bool", "v": value}
    if kind is int:
        return {"t": "int", "v": value} if abs(value) < 10**30 else _opaque(value, handles, note="a huge int")
    if kind is float:
        return {"t": "float", "v": value}
    if kind is str:
        return {"t": "str", "v": value[:MAX_STRING], "cut": len(value) > MAX_STRING}
    array_kind = _array_kind(value)
    if array_kind is not None:
        return _encode_array(value, array_kind, budget, handles)
    if _depth >= MAX_DEPTH:
        return _opaque(value, handles, note="nested too deeply")
    if isinstance(value, (list, tuple)):
        items = [encode(v, handles, _depth=_depth + 1, _budget=budget) for v in list(value)[:MAX_ITEMS]]
        return {
            "t": "tuple" if isinstance(value, tuple) else "list",
            "items": items,
            "type": type(value).__name__,
            "cut": len(value) > MAX_ITEMS,
        }
    if isinstance(value, dict):
        pairs = [
            [encode(k, None, _depth=_depth + 1, _budget=budget), encode(v, handles, _depth=_depth + 1, _budget=budget)]
            for k, v in list(value.items())[:MAX_ITEMS]
        ]
        return {"t": "dict", "items": pairs, "type": type(value).__name__, "cut": len(value) > MAX_ITEMS}
    return _opaque(value, handles)


def decode_input(node, handles):
    """In the kernel: a test's input as numpy arrays and Python values (handles looked up)."""
    t = node.get("t") if isinstance(node, dict) else None
    if t == "handle":
        try:
            return handles[node["id"]]
        except KeyError:
            raise WireError("an object from an earlier request of this test is gone") from None
    if t == "array":
        return np.array(_from_npy(node["npy"]))
    if t in ("list", "tuple"):
        items = [decode_input(v, handles) for v in node["items"]]
        return tuple(items) if t == "tuple" else items
    if t == "dict":
        return {decode_input(k, handles): decode_input(v, handles) for k, v in node["items"]}
    return _scalar(node)


# -- judge side: inputs to nodes, nodes to values ----------------------------------------------------
def encode_input(value, _depth=0):
    """On the judge's side: a test's input (numpy, Python values, results passed back) as a node."""
    if _depth > MAX_DEPTH:
        raise WireError("an input is nested too deeply")
    if isinstance(value, Opaque):
        if value.handle is None:
            raise WireError(f"{value!r} has no handle to pass back")
        return {"t": "handle", "id": value.handle}
    if isinstance(value, Array):
        value = value.array
    if isinstance(value, (np.ndarray, np.generic)):
        if value.dtype.kind not in "biufc":
            raise WireError(f"inputs must be numbers, not arrays of {value.dtype}")
        return {"t": "array", "kind": "ndarray", "type": "ndarray", "npy": _npy(np.asarray(value))}
    if isinstance(value, (list, tuple)):
        return {
            "t": "tuple" if isinstance(value, tuple) else "list",
            "items": [encode_input(v, _depth + 1) for v in value],
        }
    if isinstance(value, dict):
        return {
            "t": "dict",
            "items": [[encode_input(k, _depth + 1), encode_input(v, _depth + 1)] for k, v in value.items()],
        }
    node = encode(value)
    if node["t"] == "object":
        raise WireError(f"inputs must be plain data, not {type(value).__name__}")
    return node


def _scalar(node):
    t = node.get("t") if isinstance(node, dict) else None
    if t == "none":
        return None
    if t in ("bool", "int", "float", "str"):
        value = node.get("v")
        wanted = {"bool": bool, "int": int, "float": float, "str": str}[t]
        if type(value) is not wanted and not (t == "float" and type(value) is int):
            raise WireError(f"a {t} node holds {type(value).__name__}")
        return wanted(value)
    raise WireError(f"not a plain-data node: {str(t)[:40]!r}")


def decode(node, _depth=0):
    """On the judge's side: a node from the kernel as `Array`, `Opaque` or Python values."""
    if _depth > MAX_DEPTH + 2:
        raise WireError("a reply is nested too deeply")
    t = node.get("t") if isinstance(node, dict) else None
    if t == "array":
        kind = node.get("kind")
        trainable = node.get("trainable")
        return Array(
            kind,
            str(node.get("type", kind))[:80],
            _from_npy(node.get("npy", "")),
            trainable=None if trainable is None else bool(trainable),
        )
    if t in ("list", "tuple"):
        items = [decode(v, _depth + 1) for v in node.get("items", [])]
        return tuple(items) if t == "tuple" else items
    if t == "dict":
        found = {}
        for pair in node.get("items", []):
            key = decode(pair[0], _depth + 1)
            if isinstance(key, (list, dict, Array, Opaque)):
                key = repr(key)
            found[key] = decode(pair[1], _depth + 1)
        return found
    if t == "object":
        handle = node.get("handle")
        return Opaque(
            str(node.get("type", "object"))[:120],
            str(node.get("module", ""))[:200],
            [str(b)[:200] for b in node.get("bases", [])[:40]],
            handle if type(handle) is int else None,
            bool(node.get("callable")),
            str(node.get("note", ""))[:200],
        )
    return _scalar(node)
