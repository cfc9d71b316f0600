"""Does the judge read a student's API level from their own code, and weigh it against the trace?"""

import pytest
from nbformat.v4 import new_code_cell

from tfladder import spies
from tfladder.checks import CheckFailed
from tfladder.grading import api_reading


def reading(*sources):
    """The reading of a notebook whose student cells hold `sources` (and a locked setup cell)."""
    setup = new_code_cell("import tensorflow as tf\nimport numpy as np")
    setup.metadata["nbgrader"] = {"grade_id": "setup", "locked": True, "grade": False, "solution": False}
    return api_reading.notebook_reading([setup, *(new_code_cell(s) for s in sources)])


def uses(kind, who, *sources, exclude=()):
    return reading(*sources).usage(who, exclude).uses(kind)


def test_is_keras_seen_through_a_helper_and_an_alias():
    helper = "from tensorflow import keras as K\ndef _loss(a, b):\n    return K.losses.MSE(a, b)"
    student = "def mse_loss(y_true, y_pred):\n    return _loss(y_true, y_pred)"
    assert uses("keras", "mse_loss", helper, student) is True
    assert uses("keras", "mse_loss", "def mse_loss(y, p):\n    return tf.reduce_mean((y - p) ** 2)") is False


def test_are_fullwidth_identifiers_read_as_python_reads_them():
    # Python folds compatibility letters (NFKC): ｋｅｒａｓ is keras
    assert uses("keras", "mse_loss", "def mse_loss(y, p):\n    return tf.ｋｅｒａｓ.losses.MSE(y, p)") is True


def test_does_code_the_reading_cannot_follow_leave_the_question_open():
    dynamic = "def mse_loss(y, p):\n    return getattr(tf, 'ker' + 'as').losses.MSE(y, p)"
    assert uses("keras", "mse_loss", dynamic) is None
    literal = "def mse_loss(y, p):\n    return getattr(tf, 'keras').losses.MSE(y, p)"
    assert uses("keras", "mse_loss", literal) is True
    for trick in ("__import__('tensorflow')", "eval('tf')", "globals()['tf']", "sys.modules['tensorflow']"):
        assert uses("keras", "f", f"def f():\n    return {trick}") is None, trick
    assert uses("keras", "not_defined_anywhere", "x = 1") is None
    keras_compile = "def f(model):\n    model.compile(optimizer='sgd', loss='mse')\n    return model.fit"
    assert uses("fit", "f", keras_compile) is True, "Keras' compile is not Python's"


def test_is_an_earlier_answer_that_is_stood_in_for_not_read():
    tape = "def tape_gradients(X, y, w, b):\n    with tf.GradientTape() as t:\n        pass"
    step = "def sgd_step(X, y, w, b, lr):\n    return tape_gradients(X, y, w, b)"
    assert uses("tape", "sgd_step", tape, step) is True
    assert uses("tape", "sgd_step", tape, step, exclude=("tape_gradients",)) is False


def test_are_magics_and_unparseable_cells_no_obstacle():
    assert (
        uses("fit", "f", "%matplotlib inline\ndef f(m, X, y):\n    return m.fit(X, y)", "this is not python(") is True
    )


class Flags(list):
    pass


def seen(trace_kinds, *sources):
    direct = [spies.Call("keras", "losses.MSE")] if "keras" in trace_kinds else []
    flags = Flags()
    return api_reading.Seen(spies.Trace(direct=direct), reading(*sources), flag=flags.append, test_id="t"), flags


def test_do_trace_and_reading_agreeing_decide_without_a_flag():
    clean = "def f(y, p):\n    return tf.reduce_mean((y - p) ** 2)"
    keras = "def f(y, p):\n    return tf.keras.losses.MSE(y, p)"
    ok, flags = seen(set(), clean)
    ok.forbid("keras", "f", "write it by hand")
    bad, flags2 = seen({"keras"}, keras)
    with pytest.raises(CheckFailed, match=r"^f used Keras \(tf.keras\) \(keras: losses.MSE\); write it by hand"):
        bad.forbid("keras", "f", "write it by hand")
    assert flags == flags2 == []


def test_does_a_kernel_that_hides_its_calls_lose_the_point_and_get_flagged():
    keras = "def f(y, p):\n    return tf.keras.losses.MSE(y, p)"
    liar, flags = seen(set(), keras)  # the trace says no Keras, the code says Keras
    with pytest.raises(CheckFailed, match="f used Keras"):
        liar.forbid("keras", "f", "by hand")
    assert flags and "could not be confirmed" in flags[0]
    claims, flags = seen({"keras"}, "def f(y, p):\n    return y")  # a trace the code cannot explain
    with pytest.raises(CheckFailed):
        claims.forbid("keras", "f", "by hand")
    assert flags
    hidden, flags = seen(set(), "def f(y, p):\n    return getattr(tf, 'ker' + 'as').losses.MSE(y, p)")
    with pytest.raises(CheckFailed, match="could not be read from its code"):
        hidden.forbid("keras", "f", "by hand")
    assert flags


def test_does_require_need_both_the_trace_and_the_code():
    code = "def f():\n    with tf.GradientTape() as t:\n        pass"
    trace_says = api_reading.Seen(
        spies.Trace(direct=[spies.Call("tensorflow", "GradientTape.__enter__")]), reading(code), flag=Flags().append
    )
    trace_says.require("tape", "f", "use a tape")
    code_only, flags = seen(set(), code)
    with pytest.raises(CheckFailed, match="f should use a tape, but it never called tf.GradientTape"):
        code_only.require("tape", "f", "use a tape")
    assert flags


def test_does_a_notebook_run_on_its_own_read_its_functions_too():
    import linecache

    import tensorflow as tf

    cell = "def helper(y, p):\n    return tf.keras.losses.MSE(y, p)\ndef f(y, p):\n    return helper(y, p)\n"
    name = "<ipython-input-7-test>"  # where IPython keeps a cell's source
    linecache.cache[name] = (len(cell), None, cell.splitlines(keepends=True), name)
    namespace = {"tf": tf}
    exec(compile(cell, name, "exec"), namespace)
    source = api_reading.LocalSource(namespace)
    assert source.usage("f").uses("keras") is True
    assert source.usage("f", exclude=("helper",)).uses("keras") is False


def test_is_a_local_name_not_taken_for_the_notebooks_name_of_the_same_spelling():
    """A worked example's top-level `y` holds a Variable; the student's function has a `y` of its
    own (a local, a parameter, a loop or comprehension variable): it reaches no Variable."""
    example = "v = tf.Variable(2.0)\ny = 3.0 * v ** 2\nfs = [v]"
    local = "def f(x):\n    y = x * 2\n    return y"
    parameter = "def f(y):\n    return y * 2"
    comprehension = "def f(fs, x):\n    return [g(x) for g in fs] + [y for y in fs]"
    loop = "def f(fs, x):\n    out = []\n    for y in fs:\n        out.append(y(x))\n    return out"
    inner = "def f(x):\n    def g(y):\n        return y\n    return g(x) + (lambda y: y)(x)"
    for student in (local, parameter, comprehension, loop, inner):
        assert uses("variable", "f", example, student) is False, student
    # ...while a name the function reads from the notebook is followed, even inside a lambda
    assert uses("variable", "f", example, "def f(x):\n    return x * y") is True
    assert uses("variable", "f", example, "def f(x):\n    return (lambda t: t * y)(x)") is True
    assert uses("variable", "f", example, "def f(x):\n    global y\n    y = x\n    return y") is True
