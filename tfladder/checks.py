"""Assertions whose failures read well for a student, on plain data.

Test cells call a student's code through `probe.run` (`tfladder.probe`), which returns plain data
(`tfladder.wire`: `Array`, `Opaque`, Python scalars, lists, tuples, dicts); the checks here judge
that data with numpy alone, so they run the same in a student's kernel and in the grader's judge.
Every failure raises `CheckFailed` (an AssertionError) with a message that says what was expected,
what arrived, where the largest error is, and, when the answer matches a known mistake, which one.
Tolerances are the test's to choose (`tol=`); the course's live with its oracles.
"""

import re
import textwrap

import numpy as np

from tfladder import seeds
from tfladder.wire import Array, Opaque, type_name

# Known mistakes that show up as an exception, with what to do about them.
EXCEPTION_HINTS = [
    (
        r"Binding inputs to tf.function failed",
        "The input_signature refused these inputs: each TensorSpec must accept any batch size (None as "
        "the first dimension) and the dtype the inputs have (tf.float32).",
    ),
    (
        r"(double|float64).*(float|float32)|(float|float32)\b.*(double|float64)",
        "A float64 (double) value met a float32 one. Inputs may arrive as numpy float64: convert them "
        "first, e.g. tf.convert_to_tensor(X, dtype=tf.float32) or tf.cast(X, tf.float32). And a Variable "
        "made from a numpy array (tf.Variable(np.zeros(...))) is float64 too: make it from tf.zeros(...) "
        "or pass dtype=tf.float32.",
    ),
    (
        r"object has no attribute 'assign(_sub|_add)?'",
        "A name that held a tf.Variable now holds a plain tensor: `w = w - lr * dw` rebinds the "
        "name instead of updating the variable. Update it in place with w.assign_sub(lr * dw).",
    ),
    (
        r"NoneType' and|and 'NoneType'|Attempt to convert a value \(None\)|'NoneType' object has no attribute "
        r"'(assign\w*|numpy|shape)'",
        "Something was None where a tensor was expected. If it is a gradient, the loss does not "
        "depend on that variable through TensorFlow ops recorded by the tape (numpy or .numpy() "
        "inside the tape, or the loss computed outside the `with` block).",
    ),
    (
        r"Incompatible shapes.*\[Op:Mul\]",
        "`*` multiplies elementwise, and these shapes cannot be paired element by element: the matrix "
        "product of X (n, d) and w (d, 1) is tf.matmul(X, w), or X @ w.",
    ),
    (
        r"Inputs have incompatible shapes",
        "A merging layer got inputs of different widths: Add (like Multiply and Average) needs equal "
        "shapes, while Concatenate joins inputs of any widths side by side.",
    ),
    (
        r"Missing data for input .* data dictionary with keys",
        "Keras matches a dict's keys to the names of the model's inputs: name each tf.keras.Input "
        "(tf.keras.Input(shape=(4,), name='a')).",
    ),
    (
        r"Incompatible shapes|Matrix size-incompatible|Dimensions must be equal|shapes .* not aligned",
        "The shapes do not fit together: print the .shape of each operand. X is (n, d), w is (d, 1) and b is (1,).",
    ),
    (
        r"has no attribute 'reset_states'",
        "Keras 3 metrics have reset_state() (no final s).",
    ),
    (
        r"Argument `target` should be .* but received None",
        "A tape was asked for the gradient of None: an earlier tape.gradient gave None because that "
        "tape did not record the computation. A constant x must be watched (tape.watch(x)) inside the "
        "with block, before f(x) runs.",
    ),
    (
        r"Data types don't match",
        "A feature's type in the file and in the parsing spec differ: write floats with "
        "tf.train.FloatList and read them with tf.io.FixedLenFeature(..., tf.float32).",
    ),
    (
        r"Can't parse serialized Example",
        "A FixedLenFeature's shape must match what each example holds: d floats need "
        "tf.io.FixedLenFeature([d], tf.float32), a single float tf.io.FixedLenFeature([], tf.float32).",
    ),
    (
        r"write\(\): incompatible function arguments",
        "A TFRecord file holds bytes: write example.SerializeToString(), not the Example itself.",
    ),
    (
        r"tf.function only supports singleton tf.Variables created on the first call",
        "A tf.Variable made inside a tf.function is made again on every trace. Create it once, outside "
        "the compiled function (in the function that builds it), and only change it inside (assign_add).",
    ),
    (
        r"must have rank \(ndim\) `target.ndim - 1`",
        "The labels are one-hot (one column per class), but the loss is a sparse one, which expects one "
        "class index per row: with one-hot labels use loss='categorical_crossentropy'.",
    ),
    (
        r"`target` and `output` must have the same rank",
        "The labels are class indices (one number per row), but the loss expects one-hot rows: use "
        "loss='sparse_categorical_crossentropy' for indices, or one-hot labels with "
        "loss='categorical_crossentropy'.",
    ),
    (
        r"could not be deserialized properly|Could not locate class",
        "load_model could not rebuild a layer from the file: Keras knows its own layers by name, but a "
        "custom layer such as Scale must be named to it: load_model(path, custom_objects={'Scale': Scale}) "
        "(or register the class with tf.keras.utils.register_keras_serializable()).",
    ),
    (
        r"filename must end in `\.weights\.h5`",
        "save_weights writes the weights alone, into a .weights.h5 file; model.save(path) writes the "
        "whole model (its layers' configuration and its weights) into a .keras file that load_model reads.",
    ),
    (
        r"unexpected keyword argument '(name|trainable|dtype)'",
        "Keras passes arguments such as name= on to the class it builds: accept **kwargs in __init__ "
        "and hand them to super().__init__(**kwargs).",
    ),
    (
        r"is not compatible with provided weight shape",
        "set_weights takes the weights in the order .weights lists them, each with its own shape: a "
        "Dense layer's kernel is (inputs, units), then its bias (units,); a model lists its layers in "
        "the order __init__ created them (create the hidden layers before the output layer).",
    ),
    (
        r"'int' object is not subscriptable",
        "An int arrived where a shape (a tuple) was expected: a layer is built with "
        "layer.build((None, input_dim)), the batch size first, not with layer.build(input_dim).",
    ),
    (
        r"isn't built|is not built|has not been built",
        "A layer makes its weights when it is built: call layer.build((None, input_dim)) (or call it "
        "on a batch) before asking for its weights or counting them.",
    ),
    (
        r"is incompatible with the layer: expected axis -1 of input shape to have value",
        "A layer received inputs of another width than the one it was built for: are the layers "
        "applied in their order, each to the output of the one before?",
    ),
    (
        r"KeyError: 'val_loss'",
        "logs holds 'val_loss' only when fit is given validation data; this exercise watches the "
        "training loss, logs['loss'].",
    ),
    (
        r"'(Symbolic)?Tensor' object has no attribute 'numpy'",
        "Inside Dataset.map (and a tf.function) your function runs as a graph, where tensors have no "
        "values yet: .numpy() and numpy functions cannot be used there. Write it with TensorFlow ops.",
    ),
    (
        r"The dataset length is unknown|The dataset is infinite",
        "len() works only for a dataset whose cardinality is known. Ask ds.cardinality() first: "
        "tf.data.UNKNOWN_CARDINALITY means counting the elements by iterating, "
        "tf.data.INFINITE_CARDINALITY means there is nothing to count (raise ValueError).",
    ),
    (
        r"apply_gradients\(\) takes 2 positional arguments",
        "Keras 3's optimizer.apply_gradients takes one list of (gradient, variable) pairs: "
        "optimizer.apply_gradients(zip(grads, variables)); or call optimizer.apply(grads, variables).",
    ),
    (
        r"No gradients provided for any variable",
        "Every gradient was None: the tape recorded nothing that leads from the variables to the loss. "
        "Call the model and compute the loss inside `with tf.GradientTape() as tape:`, then ask "
        "tape.gradient after the block.",
    ),
    (
        r"Attr 'Toutput_types' of 'OptionalFromValue' Op passed list of length 0",
        "train_step returned nothing; fit needs its metrics' results: return "
        "{m.name: m.result() for m in self.metrics}.",
    ),
    (
        r"non-persistent GradientTape can only be used to compute one set of gradients",
        "A tape answers one tape.gradient call unless it is persistent: open it with "
        "tf.GradientTape(persistent=True) to ask it for several gradients (and del it afterwards).",
    ),
]


class CheckFailed(AssertionError):
    """A check failed; the message is written for the student."""


def fail(message):
    """Raise CheckFailed with a dedented message."""
    raise CheckFailed(textwrap.dedent(message).strip())


def that(condition, message):
    """Fail with `message` unless `condition` holds."""
    if not condition:
        fail(message)


def seed_note():
    return f"(hidden inputs drawn with grading seed {seeds.grading_seed()})"


def exception_hint(text):
    """The known-mistake hint for an exception ('TypeName: message'), or ''."""
    for pattern, hint in EXCEPTION_HINTS:
        if re.search(pattern, text, flags=re.IGNORECASE | re.DOTALL):
            return hint
    return ""


NOT_DEFINED = (
    "{name} is not defined. Run the cell that defines it; if that cell raises "
    "NotImplementedError, the exercise is not written yet."
)


def student_error(error, name=None):
    """The message for an exception raised while a test ran the student's code.

    `error` is the plain record the kernel sends (`tfladder.probe`): the exception's type and
    first lines, the function the test called (`entry`), the student's line where it happened
    (`where`), the student's function that still raises NotImplementedError (`culprit`), or the
    name that is not defined. `name` says what the test was running ("linear_forward", "fit on a
    model holding your Linear layer").
    """
    label = name or error.get("entry") or "your code"
    if error.get("missing_name"):
        return NOT_DEFINED.format(name=error["missing_name"])
    if error.get("not_implemented"):
        culprit = error.get("culprit")
        if culprit and culprit not in (label, error.get("entry")) and not label.startswith(f"{culprit}("):
            return f"{label} calls {culprit}, which is not written yet (it still raises NotImplementedError)."
        return (
            f"{label} is not written yet: it still raises NotImplementedError. Replace "
            "`raise NotImplementedError()` with your code."
        )
    if error.get("type") == "KeyboardInterrupt":
        return f"{label} was interrupted: it ran longer than the time limit of a test."
    kind, message = error.get("type", "Exception"), error.get("message", "")
    lines = [f"{label} raised {kind}: {message}".rstrip(": ")]
    where = error.get("where")
    if where:
        text = f": {where['text']}" if where.get("text") else ""
        lines.append(f"  in {where['function']}, line {where['line']}{text}")
    hint = exception_hint(f"{kind}: {message}")
    if hint:
        lines.append(f"Hint: {hint}")
    return "\n".join(lines)


def no_progress_bar(text, who):
    """Fail if `text` (what the student's code printed) holds a Keras progress bar."""
    if "/step" in text or "\u2501" in text or "ETA:" in text:
        fail(
            f"{who} printed a Keras progress bar; pass verbose=0 to fit/evaluate/predict in code that "
            "graders and other programs run."
        )


def _describe(value):
    if isinstance(value, Array):
        return f"{value.type_name} of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, Opaque):
        return value.type_name
    return f"{type(value).__name__} {value!r}"[:120]


NONE_HINT = (
    "If it is a gradient, the tape did not record the computation: compute the loss inside "
    "`with tf.GradientTape() as tape:` with TensorFlow ops, then call tape.gradient after the block."
)


def tensor(value, name, *, dtype="float32"):
    """Fail unless `value` is a TensorFlow tensor (or variable) of the given dtype."""
    if value is None:
        fail(f"{name} is None; a tf.Tensor was expected. {NONE_HINT}")
    if isinstance(value, Array) and value.kind in ("ndarray", "npscalar") or isinstance(value, (int, float)):
        fail(
            f"{name} returned a numpy value ({_describe(value)}); it should return a tf.Tensor. "
            "Stay in TensorFlow ops (no np.* calls, no .numpy()) so gradients can flow."
        )
    if not (isinstance(value, Array) and value.is_tensor):
        fail(f"{name} should return a tf.Tensor, but returned {_describe(value)}.")
    if dtype is not None:
        check_dtype(value, dtype, name)
    return value


def check_dtype(value, expected, name):
    """Fail unless the array `value` has dtype `expected` ('float32')."""
    got = value.dtype if isinstance(value, Array) else type_name(value)
    if got != expected:
        hint = ""
        if got == "float64" and expected == "float32":
            hint = (
                " Inputs may arrive as numpy float64: convert them with "
                "tf.convert_to_tensor(x, dtype=tf.float32) or tf.cast(x, tf.float32)."
            )
        fail(f"{name} should have dtype {expected}, but it is {got}.{hint}")


def shape(value, expected, name):
    """Fail unless `value.shape` equals `expected` (None matches any size)."""
    got = value.shape if isinstance(value, Array) else tuple(np.shape(value))
    expected = tuple(expected)
    if len(got) == len(expected) and all(e is None or g == e for g, e in zip(got, expected)):
        return
    hint = _shape_hint(got, expected)
    fail(f"{name} should have shape {_fmt_shape(expected)}, but it has shape {_fmt_shape(got)}.{hint}")


def _fmt_shape(s):
    return (
        "()"
        if len(s) == 0
        else "(" + ", ".join("n" if d is None else str(d) for d in s) + (",)" if len(s) == 1 else ")")
    )


def _shape_hint(got, expected):
    if len(expected) == 0 and len(got) > 0:
        return " A scalar was expected: reduce over every axis (tf.reduce_mean(...) with no axis)."
    if len(got) == 2 and got[0] == got[1] and got[0] not in (None, 1) and expected[:1] in ((got[0],), (None,)):
        return (
            " An (n, n) result means a vector of shape (n,) was broadcast against a column "
            "(n, 1): reshape them to the same shape first."
        )
    if len(got) == 2 and len(expected) == 2 and expected[1] == 1 and got[0] == expected[0] and got[1] not in (None, 1):
        return (
            f" A column was expected, but this has {got[1]} columns: did a flat vector (n,) broadcast "
            "against a column (n, 1) on the way? Reshape it to (-1, 1) first."
        )
    if len(expected) == 2 and expected[1] == 1 and len(got) == 1:
        return " A column (n, 1) was expected, but this is a flat vector (n,): reshape with (-1, 1)."
    if len(expected) == 1 and len(got) == 2 and 1 in got:
        return " A flat vector was expected, but this has an extra axis of size 1."
    if len(got) == 2 and len(expected) == 2 and got == expected[::-1]:
        return " The axes are swapped: is something transposed?"
    return ""


def to_numpy(value, name):
    """`value` as a float64 numpy array, or a failure that says what it was."""
    if value is None:
        fail(f"{name} is None; numbers were expected. {NONE_HINT}")
    if isinstance(value, Opaque) or isinstance(value, (str, bytes, dict)):
        fail(f"{name} should be numbers, but it is {_describe(value)}.")
    if isinstance(value, (list, tuple)) and any(isinstance(item, Array) for item in value):
        return np.asarray([to_numpy(item, name) for item in value], dtype=np.float64)  # a list of scalar tensors
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(f"{name} should be numbers, but it is {_describe(value)}.")


def finite(value, name):
    """Fail if `value` holds NaN or Inf."""
    array = to_numpy(value, name)
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0]) if array.ndim else ()
        fail(
            f"{name} contains {int(bad.sum())} NaN/Inf value(s) (first at index {where}). "
            "A learning rate that is too large, a division by zero or a log of zero are usual causes."
        )


def close(actual, expected, name, *, tol, mistakes=None, note=None, ignore_shape=False):
    """Fail unless `actual` is close to the oracle's `expected`, within `tol` = (rtol, atol).

    `mistakes` maps a known mistake's description to the value that mistake would produce; when
    the answer matches one, the message names it. With `ignore_shape`, an answer with the right
    number of entries is compared after reshaping (for value tests whose exercise has a separate
    interface test that already charges for the shape).
    """
    rtol, atol = tol
    got = to_numpy(actual, name)
    want = np.asarray(expected, dtype=np.float64)
    if ignore_shape and got.shape != want.shape and got.size == want.size:
        got = got.reshape(want.shape)
    if got.shape != want.shape:
        label = matching_mistake(got, mistakes or {}, tol=tol)
        if label:
            fail(
                f"{name} should have shape {_fmt_shape(want.shape)}, but it has shape {_fmt_shape(got.shape)}.\n"
                f"This matches a known mistake: {label}" + (f"\n{note}" if note else "")
            )
        shape(got, want.shape, name)
    finite(got, name)
    if np.allclose(got, want, rtol=rtol, atol=atol):
        return
    abs_err = np.abs(got - want)
    rel_err = abs_err / np.maximum(np.abs(want), np.finfo(np.float64).tiny)
    lines = [f"{name} has the wrong value{'s' if want.size > 1 else ''}."]
    if want.ndim == 0:
        lines.append(
            f"  expected {want.item():.6g}, got {got.item():.6g} "
            f"(abs error {abs_err.item():.3g}, rel error {rel_err.item():.3g})"
        )
    else:
        index = np.unravel_index(int(np.argmax(abs_err)), abs_err.shape)
        at = tuple(int(i) for i in index)
        lines.append(
            f"  max abs error {abs_err[index]:.3g} at index {at}: expected {want[index]:.6g}, got {got[index]:.6g}"
        )
        lines.append(
            f"  max rel error {rel_err.max():.3g}; "
            f"{int((~np.isclose(got, want, rtol=rtol, atol=atol)).sum())} of {want.size} entries off"
        )
    lines.append(f"  tolerance: rtol {rtol:g}, atol {atol:g}")
    label = matching_mistake(got, mistakes or {}, tol=tol)
    if label:
        lines.append(f"This matches a known mistake: {label}")
    if note:
        lines.append(note)
    fail("\n".join(lines))


def matching_mistake(got, mistakes, *, tol):
    """The description of the first known mistake whose value `got` matches, or None."""
    rtol, atol = max(tol[0], 1e-5), max(tol[1], 1e-6)
    for label, value in mistakes.items():
        value = np.asarray(value, dtype=np.float64)
        if value.shape == got.shape and np.allclose(got, value, rtol=rtol, atol=atol):
            return label
    return None


def gradients_reach(gradients, names, who, *, why):
    """Fail unless every gradient exists: `gradients` is what the kernel's `gradients(...)` helper
    returned for the variables called `names` (None where no gradient flowed)."""
    if gradients is None:
        fail(f"{who} should return a tf.Tensor so TensorFlow can differentiate it; {why}")
    missing = [label for label, g in zip(names, gradients) if g is None]
    if missing:
        fail(
            f"No gradient flows from {who}'s result back to {', '.join(missing)}: part of the "
            f"computation left TensorFlow (numpy, .numpy(), or a Python float). {why}"
        )


UNWATCHED = (
    "x is a constant (a tf.Tensor, not a tf.Variable), and a tape records operations on a constant "
    "only if it watches it: call tape.watch(x) inside the with block, before computing f(x)."
)


def gradient_list(grads, count, x_shape, who, *, independent=()):
    """Fail unless `grads` is a list of `count` float32 tensors of `x_shape`, one gradient per
    function; the functions at the indices `independent` do not depend on x: zeros, not None."""
    if isinstance(grads, Array) and grads.is_tensor:
        fail(
            f"{who} returned one tensor, not a list of {count} gradients. tape.gradient(list_of_results, x) "
            "adds the results' gradients up: call tape.gradient once per function (a persistent tape allows it)."
        )
    that(
        isinstance(grads, (list, tuple)),
        f"{who} should return a list with one gradient per function, but returned {_describe(grads)}.",
    )
    that(len(grads) == count, f"{who} should return {count} gradients (one per function), but returned {len(grads)}.")
    missing = [i for i, g in enumerate(grads) if g is None]
    dependent = [i for i in range(count) if i not in independent]
    if missing and set(dependent) <= set(missing):
        fail(f"Every gradient {who} returned for a function of x is None. {UNWATCHED}")
    if [i for i in missing if i in dependent]:
        first = next(i for i in missing if i in dependent)
        fail(
            f"The gradient of fs[{first}] is None although it depends on x: compute every f(x) inside "
            "the tape's with block, after tape.watch(x)."
        )
    if missing:
        fail(
            f"The gradient of fs[{missing[0]}], which does not depend on x, is None; the exercise asks for zeros "
            "of x's shape: pass unconnected_gradients=tf.UnconnectedGradients.ZERO to tape.gradient (or use "
            "tf.zeros_like(x) in place of None)."
        )
    for i, g in enumerate(grads):
        tensor(g, f"the gradient of fs[{i}]")
        shape(g, x_shape, f"the gradient of fs[{i}] (x's shape)")
    if dependent and not any(np.any(to_numpy(grads[i], f"the gradient of fs[{i}]")) for i in dependent):
        fail(
            f"Every gradient {who} returned is zero, even for functions that depend on x. {UNWATCHED} "
            "(Asked for zeros where nothing is connected, the tape answers zeros for what it never recorded.)"
        )
    return list(grads)


def counted_calls(calls, expected, traces, name):
    """Fail unless the counter `calls` holds `expected` after that many calls of a tf.function
    that traced `traces` times (None: not known)."""
    got = to_numpy(calls, name)
    that(got.shape == (), f"{name} should be a single number (a scalar Variable), not of shape {got.shape}.")
    if got == expected:
        return
    if got == 0:
        fail(
            f"{name} is still 0 after {expected} calls of step: step must increment it on every call with a "
            "TensorFlow op inside the tf.function (calls.assign_add(1))."
        )
    traced = f", which traced {traces} times" if traces else ""
    fail(
        f"{name} holds {float(got):g} after {expected} calls of step{traced}. Python code inside a tf.function runs "
        "only while it traces, so a Python counter counts traces, not calls: increment the Variable with a "
        "TensorFlow op (calls.assign_add(1)) inside step."
    )


def tfrecord_examples(examples, X, y, name):
    """Fail unless `examples` (each [floats of "x", floats of "y"] as the test's own reader found
    them, None for a missing feature) are the rows of X and entries of y, in order."""
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64).reshape(-1)
    that(isinstance(examples, list), f"{name} could not be read as TFRecord examples.")
    if not examples:
        fail(
            f"{name} holds no examples. Close the writer when done (with tf.io.TFRecordWriter(path) as "
            "writer: ...), so that what it wrote reaches the file."
        )
    that(len(examples) == len(X), f"{name} holds {len(examples)} examples; the data has {len(X)} rows, one each.")
    for feature, width in (("x", X.shape[1]), ("y", 1)):
        column = 0 if feature == "x" else 1
        missing = [i for i, example in enumerate(examples) if example[column] is None]
        that(not missing, f'the examples in {name} have no feature "{feature}" (the names are "x" and "y").')
        empty = [i for i, example in enumerate(examples) if not example[column]]
        that(
            not empty,
            f'feature "{feature}" in {name} holds no floats: write it as a float list, '
            f"tf.train.Feature(float_list=tf.train.FloatList(value=...)), not int64 or bytes.",
        )
        sizes = {len(example[column]) for example in examples}
        that(
            sizes == {width},
            f'feature "{feature}" in {name} should hold {width} float{"s" if width > 1 else ""} per example, '
            f"not {sorted(sizes)}.",
        )
    got_x = np.array([example[0] for example in examples], np.float64)
    got_y = np.array([example[1][0] for example in examples], np.float64)
    _same_rows(got_x, got_y, X, y, name, "write the rows in the order they come")


def pairs_in_order(pairs, X, y, name):
    """Fail unless `pairs`, the (x, y) elements a dataset gave, are the rows of X and entries of y,
    in order, x of shape (d,) and y of shape ()."""
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64).reshape(-1)
    that(isinstance(pairs, list), f"{name} should give (x, y) elements, not {_describe(pairs)}.")
    that(len(pairs) == len(X), f"{name} gave {len(pairs)} elements; the file holds {len(X)} examples.")
    for pair in pairs[:1]:
        x_first, y_first = returns(pair, ("x", "y"), f"each element of {name}")
        tensor(x_first, f"x of the elements of {name}")
        shape(x_first, (X.shape[1],), f"x of the elements of {name}")
        tensor(y_first, f"y of the elements of {name}")
        shape(y_first, (), f"y of the elements of {name}")
    got_x = np.array([to_numpy(x, "x") for x, _ in pairs], np.float64)
    got_y = np.array([to_numpy(label, "y") for _, label in pairs], np.float64).reshape(-1)
    _same_rows(got_x, got_y, X, y, name, "do not shuffle when reading")


def _same_rows(got_x, got_y, X, y, name, order_hint):
    if got_x.shape == X.shape and np.allclose(got_x, X, rtol=1e-6, atol=1e-6) and np.allclose(got_y, y, atol=1e-6):
        return
    key = [tuple(row) + (label,) for row, label in zip(np.round(X, 5), np.round(y, 5))]
    found = [tuple(row) + (label,) for row, label in zip(np.round(got_x, 5), np.round(got_y, 5))]
    if got_x.shape == X.shape and sorted(found) == sorted(key):
        fail(f"{name} holds every example, but not in the file's order: {order_hint}.")
    if got_x.shape == X.shape and np.allclose(got_x, X, atol=1e-6):
        fail(f"{name}: the x values are right, the y values are not (each example's label is y[i]).")
    fail(f"{name}: the values differ from the data written (x is the row's floats, y its label).")


def derivatives(result, x_shape, who):
    """Fail unless `result` is (dy, d2y), two float32 tensors of `x_shape`; return them."""
    dy, d2y = returns(result, ("dy", "d2y"), who)
    that(
        dy is not None,
        f"dy is None. {UNWATCHED} (With nested tapes, the inner tape must watch x and compute y = f(x).)",
    )
    that(
        d2y is not None,
        "d2y is None: the outer tape recorded nothing that leads from x to dy. The outer tape must watch x "
        "too, and dy = inner.gradient(y, x) must be computed inside the outer tape's with block (after the "
        "inner block closes), so that the outer tape can differentiate it.",
    )
    for value, name in ((dy, "dy"), (d2y, "d2y")):
        tensor(value, name)
        shape(value, x_shape, f"{name} (x's shape)")
    return dy, d2y


def scalar_float_list(values, length, name):
    """Fail unless `values` is a list of `length` plain Python floats."""
    that(isinstance(values, list), f"{name} should be a list, but it is {type_name(values)}.")
    that(len(values) == length, f"{name} should have {length} entries (one per step), but it has {len(values)}.")
    wrong = [type_name(v) for v in values if type(v) is not float]
    if wrong:
        fail(
            f"{name} should hold plain Python floats, but it holds {wrong[0]}. Convert each loss "
            "with float(loss) before appending it."
        )


def instance(value, kind, what):
    """Fail unless `value` is an object of class `kind` (or a subclass: "Sequential", "Model",
    "History", "Dataset"); `what` says what it should be ("build_mlp should return a Sequential")."""
    if not (isinstance(value, Opaque) and value.is_a(kind)):
        fail(f"{what}, not {type_name(value)}.")
    return value


def returns(result, names, who):
    """Fail unless `result` is a tuple or list of len(names) values; return it as a tuple."""
    wanted = f"({', '.join(names)})"
    if not isinstance(result, (tuple, list)):
        fail(f"{who} should return {len(names)} values {wanted}, but returned {_describe(result)}.")
    if len(result) != len(names):
        fail(f"{who} should return {len(names)} values {wanted}, but returned {len(result)}.")
    return tuple(result)


def paired_permutation(xs, ys, X, y, name):
    """Fail unless the rows (xs[i], ys[i]) are the rows (X[j], y[j]) in some order, each once."""
    xs, ys = to_numpy(xs, name), to_numpy(ys, name)
    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    if len(xs) != len(X):
        fail(
            f"{name} holds {len(xs)} examples, but the data has {len(X)}: every example should appear "
            "exactly once per epoch."
        )
    key = lambda a: np.round(np.asarray(a, np.float64).ravel(), 5).tobytes()  # noqa: E731
    pairs: dict[bytes, list[bytes]] = {}
    for row, label in zip(X, y):
        pairs.setdefault(key(row), []).append(key(label))
    for row, label in zip(xs, ys):
        labels = pairs.get(key(row), [])
        if not labels:
            fail(
                f"{name} holds a feature row that is not in the data (or appears too often): were the "
                "features changed, or examples repeated?"
            )
        if key(label) not in labels:
            fail(
                f"{name} pairs a feature row with the wrong label: shuffle (x, y) pairs together, e.g. "
                "Dataset.from_tensor_slices((X, y)).shuffle(...), never x and y separately."
            )
        labels.remove(key(label))


def dropout_applied(out, kept, rate, shift, name):
    """Fail unless `out` is a dropout of `kept` at `rate` followed by an output layer that adds
    `shift` (an identity kernel): every value either dropped (`shift`) or kept and scaled by
    1 / (1 - rate) (`kept / (1 - rate) + shift`), and some of each."""
    out, kept = to_numpy(out, name), np.asarray(kept, np.float64)
    if out.shape != kept.shape:
        fail(f"{name} has shape {_fmt_shape(out.shape)}; {_fmt_shape(kept.shape)} was expected.")
    near = lambda a, b: np.isclose(a, b, rtol=1e-4, atol=1e-5)  # noqa: E731
    live = np.abs(kept) > 1e-3  # a value that is 0 anyway shows nothing
    is_kept, is_dropped = near(out, kept / (1 - rate) + shift), near(out, shift)
    if np.all(near(out, kept + shift)):
        fail(
            f"{name} with training=True dropped nothing: the Dropout layer must be active while "
            "training. Pass the flag on: self.dropout(h, training=training)."
        )
    if np.all(is_kept | is_dropped) and np.any(is_dropped & live):
        return
    if np.all(near(out, (kept + shift) / (1 - rate)) | near(out, 0.0)):
        fail(
            f"{name}: with training=True the dropped values are 0 where the output layer's bias "
            "should still be added: the dropout is applied after the output layer. Apply it to the "
            "last hidden output (to the input when there is no hidden layer), before the output layer."
        )
    if np.all(near(out, kept / rate + shift) | is_dropped):
        fail(
            f"{name}: the values kept are scaled by 1/{rate:g}, as if the rate were {1 - rate:g}: "
            "Dropout(rate) drops a fraction `rate` of the values, so pass it dropout itself."
        )
    fail(
        f"{name} with training=True: the values are neither dropped nor kept as Dropout({rate:g}) keeps "
        "them (scaled by 1/(1 - rate)): apply one Dropout(dropout) to the last hidden output "
        "(to the input when there is no hidden layer), and nothing else that is random."
    )


def keras_file(entries, name):
    """Fail unless `entries` (the sorted names in the zip at a path, True for a file that is no
    zip, False for nothing there) is a model saved in Keras's native .keras format."""
    if entries is False:
        fail(
            f"{name} does not exist: nothing was saved at the path given. Save the model there "
            "with model.save(path), then load it from that same path."
        )
    if entries is True:
        fail(
            f"{name} is not a .keras file (a zip holding the model's configuration and weights): save "
            "the whole model with model.save(path); save_weights writes the weights alone, which "
            "cannot be loaded without the code that builds the model."
        )
    missing = [part for part in ("config.json", "model.weights.h5") if part not in entries]
    that(
        not missing,
        f"{name} lacks {' and '.join(missing)}: save the whole model with model.save(path), in the "
        "native .keras format.",
    )


def stopped_at(result, losses, threshold, epochs, name):
    """Fail unless a fit with StopAtLoss(threshold) over `epochs` epochs, whose epoch losses are
    `losses` (the oracle's), stopped where the first loss below `threshold` is, and said so:
    `result` is (stopped_epoch, epochs run)."""
    epochs_run(result, losses, threshold, epochs, name)
    stopped_epoch(result, losses, threshold, name)


def _first_below(losses, threshold):
    expected = next((epoch for epoch, loss in enumerate(losses) if loss < threshold), None)
    where = (
        f"epoch {expected}'s loss {losses[expected]:.4g} is the first below {threshold:.4g}"
        if expected is not None
        else f"every loss stays above {threshold:.4g} (the lowest is {min(losses):.4g})"
    )
    return expected, where


def epochs_run(result, losses, threshold, epochs, name):
    """The number-of-epochs half of `stopped_at`."""
    stopped, ran = result
    expected, where = _first_below(losses, threshold)
    if stopped == "missing":
        fail(f"{name}: the callback has no attribute stopped_epoch; set self.stopped_epoch = None in __init__.")
    want_ran = epochs if expected is None else expected + 1
    if ran == want_ran:
        return
    if expected is not None and ran == epochs:
        detail = (
            "but training ran all its epochs although stopped_epoch was set: set self.model.stop_training "
            "= True (on the model, not on the callback)"
            if stopped is not None
            else "but training ran all its epochs: in on_epoch_end, set self.model.stop_training = True "
            "once logs['loss'] < threshold"
        )
    elif expected is not None and ran == want_ran + 1:
        detail = "but training stopped one epoch late: compare the loss in on_epoch_end, with <"
    elif ran < want_ran and losses[ran - 1] >= threshold:
        detail = (
            f"but training stopped after epoch {ran - 1}, whose loss {losses[ran - 1]:.4g} is not below "
            "the threshold: stop when logs['loss'] < threshold, compared in on_epoch_end (where it is the "
            "whole epoch's loss), not after each batch"
        )
    else:
        detail = f"but training ran {ran} epochs"
    fail(f"{name}: {where}, so training should run {want_ran} epoch{'s' if want_ran != 1 else ''}, {detail}.")


def stopped_epoch(result, losses, threshold, name):
    """The stopped_epoch half of `stopped_at`."""
    stopped, _ = result
    expected, where = _first_below(losses, threshold)
    if stopped == expected:
        return
    if expected is not None and stopped == expected + 1:
        fail(
            f"{name}: stopped_epoch is {stopped}; it should be {expected}, the 0-based index "
            "on_epoch_end receives as `epoch` (do not add 1)."
        )
    if expected is None:
        fail(f"{name}: {where}, so training never stopped and stopped_epoch should stay None, not {stopped!r}.")
    fail(
        f"{name}: {where}, so stopped_epoch should be {expected}, the `epoch` that on_epoch_end receives "
        f"(not a batch's index), not {stopped!r}."
    )
