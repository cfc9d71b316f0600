"""Assertions whose failures read well for a student.

Every failure raises `CheckFailed` (an AssertionError) with a message that says what was expected,
what arrived, where the largest error is, and, when the answer matches a known mistake, which one.
`call()` runs a student's function with warnings and stray stderr captured, so a harmless warning
never zeroes a test cell, and turns a crash into a sentence.
"""

import contextlib
import io
import linecache
import re
import textwrap
import traceback
import warnings

import numpy as np

from tfladder import seeds
from tfladder.spies import is_user_file

# (rtol, atol) for float32 results against float64 oracles; see shared tf-pitfalls.md.
OP = (1e-5, 1e-6)        # a few ops on small inputs
STEP = (1e-5, 1e-6)      # one training step
EPOCHS = (1e-4, 1e-5)    # several epochs of training

# Known mistakes that show up as an exception, with what to do about them.
EXCEPTION_HINTS = [
    (
        r"(double|float64).*(float|float32)|(float|float32)\b.*(double|float64)",
        "Inputs may arrive as numpy float64 while the variables are float32. Convert them first, "
        "e.g. tf.convert_to_tensor(X, dtype=tf.float32) or tf.cast(X, tf.float32).",
    ),
    (
        r"object has no attribute 'assign(_sub|_add)?'",
        "A name that held a tf.Variable now holds a plain tensor: `w = w - lr * dw` rebinds the "
        "name instead of updating the variable. Update it in place with w.assign_sub(lr * dw).",
    ),
    (
        r"NoneType",
        "Something was None where a tensor was expected. If it is a gradient, the loss does not "
        "depend on that variable through TensorFlow ops recorded by the tape (numpy or .numpy() "
        "inside the tape, or the loss computed outside the `with` block).",
    ),
    (
        r"Incompatible shapes|Matrix size-incompatible|Dimensions must be equal|shapes .* not aligned",
        "The shapes do not fit together: print the .shape of each operand. X is (n, d), w is "
        "(d, 1) and b is (1,).",
    ),
    (
        r"has no attribute 'reset_states'",
        "Keras 3 metrics have reset_state() (no final s).",
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


def _student_line(tb):
    """'line 3: return X @ w' for the innermost frame of student code in a traceback."""
    found = None
    for frame, lineno in traceback.walk_tb(tb):
        if is_user_file(frame.f_code.co_filename):
            found = (frame, lineno)
    if found is None:
        return None, None
    frame, lineno = found
    text = linecache.getline(frame.f_code.co_filename, lineno, frame.f_globals).strip()
    where = f"in {frame.f_code.co_name}, line {lineno}"
    return frame.f_code.co_name, f"{where}: {text}" if text else where


def exception_hint(error):
    """The known-mistake hint for an exception's message, or ''."""
    text = f"{type(error).__name__}: {error}"
    for pattern, hint in EXCEPTION_HINTS:
        if re.search(pattern, text, flags=re.IGNORECASE | re.DOTALL):
            return hint
    return ""


@contextlib.contextmanager
def captured():
    """Capture Python warnings and stray stderr (a stderr line would zero an nbgrader test cell)."""
    sink = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(sink):
        warnings.simplefilter("always")
        yield caught


@contextlib.contextmanager
def printed():
    """Capture what the block prints to stdout; yields a StringIO."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        yield sink


def no_progress_bar(text, who):
    """Fail if `text` (captured stdout) holds a Keras progress bar."""
    if "/step" in text or "\u2501" in text or "ETA:" in text:
        fail(f"{who} printed a Keras progress bar; pass verbose=0 to fit/evaluate/predict in code that "
             "graders and other programs run.")


def call(fn, *args, name=None, **kwargs):
    """Call a student's function; a crash becomes a CheckFailed that says what happened and where."""
    name = name or getattr(fn, "__name__", "your function")
    if not callable(fn):
        fail(f"{name} should be a function, but it is {type(fn).__name__}.")
    with captured():
        try:
            return fn(*args, **kwargs)
        except CheckFailed:
            raise
        except NotImplementedError as error:
            culprit, where = _student_line(error.__traceback__)
            if culprit and culprit not in (getattr(fn, "__name__", None), name):
                message = (
                    f"{name} calls {culprit}, which is not written yet (it still raises "
                    "NotImplementedError)."
                )
            else:
                message = (
                    f"{name} is not written yet: it still raises NotImplementedError. Replace "
                    "`raise NotImplementedError()` with your code."
                )
            raise CheckFailed(message) from None
        except Exception as error:  # the student's code crashed: say how, in their words
            _, where = _student_line(error.__traceback__)
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            lines = [f"{name} raised {type(error).__name__}: {first}".rstrip(": ")]
            if where:
                lines.append(f"  {where}")
            hint = exception_hint(error)
            if hint:
                lines.append(f"Hint: {hint}")
            raise CheckFailed("\n".join(lines)) from None


def defined(namespace, name):
    """The object `name` in the notebook's namespace, or a failure saying it is not defined yet."""
    if name not in namespace:
        fail(
            f"{name} is not defined. Run the cell that defines it; if that cell raises "
            "NotImplementedError, the exercise is not written yet."
        )
    return namespace[name]


def _describe(value):
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    kind = type(value).__name__
    if shape is not None:
        return f"{kind} of shape {tuple(shape)} and dtype {getattr(dtype, 'name', dtype)}"
    return f"{kind} {value!r}"[:120]


NONE_HINT = (
    "If it is a gradient, the tape did not record the computation: compute the loss inside "
    "`with tf.GradientTape() as tape:` with TensorFlow ops, then call tape.gradient after the block."
)


def tensor(value, name, *, dtype="float32"):
    """Fail unless `value` is a TensorFlow tensor (or variable) of the given dtype."""
    import tensorflow as tf

    if value is None:
        fail(f"{name} is None; a tf.Tensor was expected. {NONE_HINT}")
    if isinstance(value, np.ndarray) or np.isscalar(value):
        fail(
            f"{name} returned a numpy value ({_describe(value)}); it should return a tf.Tensor. "
            "Stay in TensorFlow ops (no np.* calls, no .numpy()) so gradients can flow."
        )
    if not tf.is_tensor(value) and not hasattr(value, "numpy"):
        fail(f"{name} should return a tf.Tensor, but returned {_describe(value)}.")
    if dtype is not None:
        check_dtype(value, dtype, name)
    return value


def check_dtype(value, expected, name):
    got = getattr(getattr(value, "dtype", None), "name", str(getattr(value, "dtype", None)))
    if got != expected:
        hint = ""
        if got == "float64" and expected == "float32":
            hint = (" Inputs may arrive as numpy float64: convert them with "
                    "tf.convert_to_tensor(x, dtype=tf.float32) or tf.cast(x, tf.float32).")
        fail(f"{name} should have dtype {expected}, but it is {got}.{hint}")


def shape(value, expected, name):
    """Fail unless `value.shape` equals `expected` (None matches any size)."""
    got = tuple(getattr(value, "shape", np.shape(value)))
    expected = tuple(expected)
    if len(got) == len(expected) and all(e is None or g == e for g, e in zip(got, expected)):
        return
    hint = _shape_hint(got, expected)
    fail(f"{name} should have shape {_fmt_shape(expected)}, but it has shape {_fmt_shape(got)}.{hint}")


def _fmt_shape(s):
    return "()" if len(s) == 0 else "(" + ", ".join("n" if d is None else str(d) for d in s) + (",)" if len(s) == 1 else ")")


def _shape_hint(got, expected):
    if len(expected) == 0 and len(got) > 0:
        return " A scalar was expected: reduce over every axis (tf.reduce_mean(...) with no axis)."
    if len(got) == 2 and got[0] == got[1] and got[0] not in (None, 1) and expected[:1] in ((got[0],), (None,)):
        return (" An (n, n) result means a vector of shape (n,) was broadcast against a column "
                "(n, 1): reshape them to the same shape first.")
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
    try:
        if hasattr(value, "numpy"):
            value = value.numpy()
        return np.asarray(value, dtype=np.float64)
    except Exception:
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


def close(actual, expected, name, *, tol=OP, mistakes=None, note=None, ignore_shape=False):
    """Fail unless `actual` is close to the oracle's `expected`.

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
        shape(got, want.shape, name)
    finite(got, name)
    if np.allclose(got, want, rtol=rtol, atol=atol):
        return
    abs_err = np.abs(got - want)
    rel_err = abs_err / np.maximum(np.abs(want), np.finfo(np.float64).tiny)
    lines = [f"{name} has the wrong value{'s' if want.size > 1 else ''}."]
    if want.ndim == 0:
        lines.append(f"  expected {want.item():.6g}, got {got.item():.6g} "
                     f"(abs error {abs_err.item():.3g}, rel error {rel_err.item():.3g})")
    else:
        index = np.unravel_index(int(np.argmax(abs_err)), abs_err.shape)
        at = tuple(int(i) for i in index)
        lines.append(f"  max abs error {abs_err[index]:.3g} at index {at}: "
                     f"expected {want[index]:.6g}, got {got[index]:.6g}")
        lines.append(f"  max rel error {rel_err.max():.3g}; "
                     f"{int((~np.isclose(got, want, rtol=rtol, atol=atol)).sum())} of {want.size} entries off")
    lines.append(f"  tolerance: rtol {rtol:g}, atol {atol:g}")
    label = matching_mistake(got, mistakes or {}, tol=tol)
    if label:
        lines.append(f"This matches a known mistake: {label}")
    if note:
        lines.append(note)
    fail("\n".join(lines))


def matching_mistake(got, mistakes, *, tol=OP):
    """The description of the first known mistake whose value `got` matches, or None."""
    rtol, atol = max(tol[0], 1e-5), max(tol[1], 1e-6)
    for label, value in mistakes.items():
        value = np.asarray(value, dtype=np.float64)
        if value.shape == got.shape and np.allclose(got, value, rtol=rtol, atol=atol):
            return label
    return None


def gradient_flows(loss_fn, variables, name, *, why):
    """Fail unless d loss_fn() / d v exists for every v in `variables` ({name: variable})."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        result = call(loss_fn, name=name)
        total = tf.reduce_sum(result) if tf.is_tensor(result) else None
    if total is None:
        fail(f"{name} should return a tf.Tensor so TensorFlow can differentiate it; {why}")
    grads = tape.gradient(total, list(variables.values()))
    missing = [label for label, g in zip(variables, grads) if g is None]
    if missing:
        fail(
            f"No gradient flows from {name}'s result back to {', '.join(missing)}: part of the "
            f"computation left TensorFlow (numpy, .numpy(), or a Python float). {why}"
        )


def same_variable(value, original, name):
    """Fail unless `value` is the very Variable object the student was given."""
    that(
        value is original,
        f"{name} is no longer the Variable that was passed in: the name was rebound to a new "
        "object. Update the Variable in place with .assign_sub(...) or .assign(...).",
    )


def scalar_float_list(values, length, name):
    """Fail unless `values` is a list of `length` plain Python floats."""
    that(isinstance(values, list), f"{name} should be a list, but it is {type(values).__name__}.")
    that(len(values) == length, f"{name} should have {length} entries (one per step), but it has {len(values)}.")
    wrong = [type(v).__name__ for v in values if not isinstance(v, float)]
    if wrong:
        fail(f"{name} should hold plain Python floats, but it holds {wrong[0]}. Convert each loss "
             "with float(loss) before appending it.")


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
        fail(f"{name} holds {len(xs)} examples, but the data has {len(X)}: every example should appear "
             "exactly once per epoch.")
    key = lambda a: np.round(np.asarray(a, np.float64).ravel(), 5).tobytes()  # noqa: E731
    pairs = {}
    for row, label in zip(X, y):
        pairs.setdefault(key(row), []).append(key(label))
    for row, label in zip(xs, ys):
        labels = pairs.get(key(row))
        if not labels:
            fail(f"{name} holds a feature row that is not in the data (or appears too often): were the "
                 "features changed, or examples repeated?")
        if key(label) not in labels:
            fail(f"{name} pairs a feature row with the wrong label: shuffle (x, y) pairs together, e.g. "
                 "Dataset.from_tensor_slices((X, y)).shuffle(...), never x and y separately.")
        labels.remove(key(label))
