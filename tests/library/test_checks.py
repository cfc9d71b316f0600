"""Do failed checks tell a student what went wrong, in their words?

Tests run a student's code through the probe (`probe.run`) and judge plain data; here a
`probe.Kernel` answers over a namespace that holds the "student's" functions, exactly as the
setup cell's does in a notebook.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfladder import checks, probe, wire
from tfladder.checks import CheckFailed
from tfladder.oracles import OP
from tfladder.oracles import l1 as oracle


def kernel(**student):
    """The kernel of a notebook whose cells defined `student`'s names."""
    return probe.Probe({"tf": tf, "np": np, **student})


def test_does_a_not_yet_written_function_say_so():
    def linear_forward(X, w, b):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="^linear_forward is not written yet"):
        kernel(linear_forward=linear_forward).run("linear_forward(1, 2, 3)")


def test_does_a_name_given_by_the_test_lead_the_message():
    def linear_forward(X, w, b):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="^linear_forward is not written yet"):
        kernel(linear_forward=linear_forward).run("(lambda: linear_forward(1, 2, 3))()", name="linear_forward")


def test_does_a_function_whose_helper_is_unwritten_name_the_helper():
    def mse_loss(y_true, y_pred):
        raise NotImplementedError()

    def tape_gradients(X, y, w, b):
        return mse_loss(y, X)

    with pytest.raises(CheckFailed, match="tape_gradients calls mse_loss, which is not written yet"):
        kernel(mse_loss=mse_loss, tape_gradients=tape_gradients).run("tape_gradients(1, 2, 3, 4)")


def test_does_a_missing_definition_say_which_cell_to_run():
    with pytest.raises(CheckFailed, match="^Linear is not defined. Run the cell that defines it"):
        kernel().run("Linear(3)")


def test_does_a_float64_crash_come_with_the_cast_hint_and_the_students_line():
    def linear_forward(X, w, b):
        return tf.matmul(X, w) + b

    with pytest.raises(CheckFailed) as failure:
        kernel(linear_forward=linear_forward).run(
            "linear_forward(X, tf.Variable(tf.ones((2, 1))), tf.Variable([0.0]))", X=np.ones((3, 2))
        )
    text = str(failure.value)
    assert "linear_forward raised InvalidArgumentError" in text
    assert "tf.convert_to_tensor(X, dtype=tf.float32)" in text
    assert "return tf.matmul(X, w) + b" in text


def test_does_rebinding_a_variable_get_its_hint():
    def sgd_step(w):
        w = w - 1.0
        w.assign_sub(1.0)

    with pytest.raises(CheckFailed, match="rebinds the name"):
        kernel(sgd_step=sgd_step).run("sgd_step(tf.Variable(1.0))")


def test_are_warnings_and_prints_kept_out_of_the_cell_and_reported(capfd):
    def noisy():
        import sys
        import warnings

        warnings.warn("harmless", UserWarning, stacklevel=2)
        print("to stderr", file=sys.stderr)
        print("to stdout")
        return 3

    k = kernel(noisy=noisy)
    assert k.run("noisy()") == 3
    assert capfd.readouterr() == ("", "")
    assert "to stdout" in k.printed and "to stderr" in k.printed


def test_does_what_comes_back_keep_its_kind():
    k = kernel()
    got = k.run(
        "(tf.constant([[1.0]]), tf.Variable([2.0]), np.float32(3), np.ones(2), 4.0, 5, [True], "
        "{'a': None}, tf.keras.layers.Dense(1))"
    )
    tensor, variable, scalar, array, number, count, flags, mapping, layer = got
    assert (tensor.kind, tensor.dtype, tensor.shape, tensor.type_name) == ("tensor", "float32", (1, 1), "EagerTensor")
    assert variable.kind == "variable" and variable.trainable is True
    assert (scalar.kind, array.kind) == ("npscalar", "ndarray")
    assert type(number) is float and type(count) is int and flags == [True] and mapping == {"a": None}
    assert isinstance(layer, wire.Opaque) and layer.is_a("Dense") and layer.is_a("tf.keras.layers.Layer")
    assert k.run("len(layer.weights)", layer=layer) == 0, "a handle brings the object back in the same test"


def test_does_a_wrong_value_name_the_matching_mistake_and_the_largest_error():
    y_true = np.array([1.0, 2.0, 3.0])
    y_pred = np.array([[1.5], [2.0], [2.0]])
    broadcast = list(oracle.mse_loss_mistakes(y_true, y_pred).values())[0]
    with pytest.raises(CheckFailed) as failure:
        checks.close(
            broadcast,
            oracle.mse_loss(y_true, y_pred),
            "mse_loss",
            tol=OP,
            mistakes=oracle.mse_loss_mistakes(y_true, y_pred),
        )
    text = str(failure.value)
    assert "expected 0.416667, got 0.75" in text and "broadcast" in text


def test_does_an_array_error_say_where():
    want = np.zeros((3, 2))
    got = want.copy()
    got[2, 1] = 0.5
    with pytest.raises(CheckFailed, match=r"max abs error 0.5 at index \(2, 1\)"):
        checks.close(got, want, "dw", tol=OP)


def test_is_a_close_answer_accepted_within_float32_rounding():
    want = np.linspace(-3, 3, 12).reshape(4, 3)
    checks.close(kernel().run("tf.constant(want, tf.float32)", want=want), want, "x", tol=OP)


@pytest.mark.parametrize(
    "got,expected,hint",
    [
        (np.zeros((4, 4)), (4, 1), "broadcast"),
        (np.zeros(4), (4, 1), "flat vector"),
        (np.zeros((4, 1)), (), "scalar"),
        (np.zeros((1, 3)), (3, 1), "transposed"),
    ],
)
def test_do_shape_mistakes_get_hints(got, expected, hint):
    with pytest.raises(CheckFailed, match=hint):
        checks.shape(got, expected, "result")


def test_are_nan_and_numpy_results_refused_with_reasons():
    with pytest.raises(CheckFailed, match="NaN/Inf"):
        checks.finite(np.array([1.0, np.nan]), "loss")
    with pytest.raises(CheckFailed, match="returned a numpy value"):
        checks.tensor(kernel().run("np.ones(3)"), "linear_forward")
    with pytest.raises(CheckFailed, match="dtype float32, but it is float64"):
        checks.tensor(kernel().run("tf.constant([1.0], tf.float64)"), "linear_forward")
    with pytest.raises(CheckFailed, match="should be numbers, but it is Dense"):
        checks.to_numpy(kernel().run("tf.keras.layers.Dense(1)"), "the result")
    with pytest.raises(CheckFailed, match="the tape did not record"):
        checks.tensor(None, "dw")


def test_does_gradient_flow_catch_a_detour_through_numpy():
    def good(w):
        return tf.ones((1, 2)) @ w

    def bad(w):
        return tf.constant(np.ones((1, 2)) @ w.numpy())

    k, w = kernel(good=good, bad=bad), np.array([[1.0], [2.0]], "float32")
    checks.gradients_reach(k.run("gradients(good, w)", w=w), ["w"], "good", why="")
    with pytest.raises(CheckFailed, match="No gradient flows from bad's result back to w"):
        checks.gradients_reach(k.run("gradients(bad, w)", w=w), ["w"], "bad", why="")
    with pytest.raises(CheckFailed, match="should return a tf.Tensor so TensorFlow can differentiate it"):
        checks.gradients_reach(k.run("gradients(lambda w: 3.0, w)", w=w), ["w"], "constant", why="")


def test_are_returned_tuples_and_loss_lists_checked():
    with pytest.raises(CheckFailed, match="should return 3 values"):
        checks.returns((1, 2), ("loss", "dw", "db"), "tape_gradients")
    with pytest.raises(CheckFailed, match="plain Python floats, but it holds EagerTensor"):
        checks.scalar_float_list(kernel().run("[tf.constant(1.0)]"), 1, "losses")
    with pytest.raises(CheckFailed, match="should have 2 entries"):
        checks.scalar_float_list([1.0], 2, "losses")


def test_is_the_none_gradient_hint_given_only_where_a_gradient_may_be_none():
    assert "tape" in checks.exception_hint("TypeError: unsupported operand type(s) for *: 'float' and 'NoneType'")
    assert "tape" in checks.exception_hint("AttributeError: 'NoneType' object has no attribute 'numpy'")
    assert checks.exception_hint("TypeError: 'NoneType' object is not callable") == ""
    assert checks.exception_hint("AttributeError: 'NoneType' object has no attribute 'history'") == ""


def test_does_an_object_check_name_what_arrived():
    got = kernel().run("tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])")
    assert checks.instance(got, "Sequential", "build_mlp should return a Sequential") is got
    checks.instance(got, "Model", "a Model")  # a base class counts
    with pytest.raises(CheckFailed, match="^build_mlp should return a Sequential, not NoneType.$"):
        checks.instance(None, "Sequential", "build_mlp should return a Sequential")
    with pytest.raises(CheckFailed, match="not Dense"):
        checks.instance(kernel().run("tf.keras.layers.Dense(1)"), "Sequential", "a Sequential")


WATCHED_FS = "[lambda t: tf.reduce_sum(t * t), lambda t: tf.reduce_sum(3.0 * t), lambda t: tf.constant(7.0)]"


def _watched(student):
    return kernel(watched_gradients=student).run(
        f"watched_gradients({WATCHED_FS}, tf.constant(x))", x=np.array([1.0, -2.0], dtype="float32")
    )


@pytest.mark.parametrize(
    "zeros, message",
    [(False, "Every gradient watched_gradients returned for a function of x is None"), (True, "is zero")],
)
def test_does_an_unwatched_constant_get_the_watch_hint_whether_none_or_zeros(zeros, message):
    def watched_gradients(fs, x):  # never calls tape.watch(x)
        with tf.GradientTape(persistent=True) as tape:
            results = [f(x) for f in fs]
        extra = {"unconnected_gradients": tf.UnconnectedGradients.ZERO} if zeros else {}
        return [tape.gradient(y, x, **extra) for y in results]

    with pytest.raises(CheckFailed, match=f"{message}.*call tape.watch\\(x\\)"):
        checks.gradient_list(_watched(watched_gradients), 3, (2,), "watched_gradients", independent=[2])


def test_does_a_none_for_a_function_of_x_say_to_compute_it_inside_the_tape():
    def watched_gradients(fs, x):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            first = fs[0](x)
        rest = [f(x) for f in fs[1:]]  # computed after the block: not recorded
        return [tape.gradient(y, x) for y in [first, *rest]]

    with pytest.raises(CheckFailed, match=r"fs\[1\] is None although it depends on x"):
        checks.gradient_list(_watched(watched_gradients), 3, (2,), "watched_gradients", independent=[2])


def test_are_nested_tape_mistakes_told_apart():
    x = np.array([0.5, 2.0], dtype="float32")
    unwatched_by_the_outer_tape = kernel().run(
        """
t = tf.constant(t)
with tf.GradientTape() as outer:            # never watches t
    with tf.GradientTape() as inner:
        inner.watch(t)
        y = t ** 3
    dy = inner.gradient(y, t)
(dy, outer.gradient(dy, t))
""",
        t=x,
    )
    with pytest.raises(CheckFailed, match="d2y is None: the outer tape recorded nothing"):
        checks.derivatives(unwatched_by_the_outer_tape, (2,), "second_derivative")
    with pytest.raises(CheckFailed, match="should return 2 values"):
        checks.derivatives(kernel().run("tf.constant(t)", t=x), (2,), "second_derivative")
    dy, d2y = checks.derivatives(kernel().run("(tf.constant(t), 2 * tf.constant(t))", t=x), (2,), "second_derivative")
    assert np.allclose(checks.to_numpy(dy, "dy"), x) and np.allclose(checks.to_numpy(d2y, "d2y"), 2 * x)


def test_does_an_error_inside_a_tf_function_show_the_error_and_the_students_own_line(tmp_path):
    """A notebook cell's code lives in a file IPython writes, so AutoGraph converts it and wraps a
    tracing error in its "in user code:" report; the message is the error and the line the student's."""
    cell = tmp_path / "cell_7.py"
    cell.write_text(
        "def make_step():\n"
        "    holder = {}\n"
        "    @tf.function\n"
        "    def step(x):\n"
        "        holder['calls'] = tf.Variable(0, dtype=tf.int64)\n"
        "        holder['calls'].assign_add(1)\n"
        "        return x * 2.0\n"
        "    step(tf.ones((1,)))\n"
        "    return step\n"
    )
    namespace = {"tf": tf, "np": np}
    exec(compile(cell.read_text(), str(cell), "exec"), namespace)  # as IPython runs a notebook cell
    with pytest.raises(CheckFailed) as failed:
        kernel(make_step=namespace["make_step"]).run("make_step()(tf.ones((2,)))")
    message = str(failed.value)
    assert message.startswith("make_step raised ValueError: tf.function only supports singleton tf.Variables")
    assert "in step, line 5: holder['calls'] = tf.Variable(0, dtype=tf.int64)" in message  # not AutoGraph's copy
    assert "ag__" not in message and "in user code" not in message
    assert "Create it once, outside the compiled function" in message


def test_does_a_call_counter_say_whether_it_counted_traces_or_nothing():
    made = kernel().run(
        """
calls = tf.Variable(0, dtype=tf.int64)
traces = []
@tf.function
def step(x):
    traces.append(1)               # Python: runs while tracing only
    calls.assign(len(traces))      # the trace count, baked into each graph
    return x
for n in (1, 2, 3):
    step(tf.ones((n,)))
calls, tf.Variable(0, dtype=tf.int64)
"""
    )
    counted_traces, never_counted = made
    checks.counted_calls(counted_traces, 3, 3, "calls")  # three calls, three traces: cannot tell, and right
    with pytest.raises(CheckFailed, match="calls holds 3 after 4 calls of step, which traced 3 times.*counts traces"):
        checks.counted_calls(counted_traces, 4, 3, "calls")
    with pytest.raises(CheckFailed, match=r"calls is still 0 after 2 calls.*calls.assign_add\(1\)"):
        checks.counted_calls(never_counted, 2, None, "calls")


# What a model with an identity output kernel and a bias of `shift` returns in training, for a
# hidden output `kept`, a dropout at `rate` and a mask of kept values.
DROPOUTS = {
    "right": (lambda kept, rate, shift, mask: np.where(mask, kept / (1 - rate) + shift, shift), None),
    "never active": (lambda kept, rate, shift, mask: kept + shift, "dropped nothing"),
    "after the output layer": (
        lambda kept, rate, shift, mask: np.where(mask, (kept + shift) / (1 - rate), 0.0),
        "applied after the output layer",
    ),
    "1 - rate": (
        lambda kept, rate, shift, mask: np.where(mask, kept / rate + shift, shift),
        "as if the rate were 0.75",
    ),
    "something else": (
        lambda kept, rate, shift, mask: np.where(mask, 3 * kept + shift, shift),
        "neither dropped nor kept",
    ),
}


@pytest.mark.parametrize("how", list(DROPOUTS))
def test_does_a_dropout_check_tell_where_the_dropout_went_wrong(how):
    rng = np.random.default_rng(0)
    kept, rate, shift = rng.uniform(0.5, 2.0, size=(8, 4)), 0.25, 0.5
    outputs, message = DROPOUTS[how]
    mask = rng.uniform(size=kept.shape) >= rate
    out = wire.decode(wire.encode(tf.constant(outputs(kept, rate, shift, mask), tf.float32), {}))
    if message is None:
        checks.dropout_applied(out, kept, rate, shift, "model(x, training=True)")
    else:
        with pytest.raises(CheckFailed, match=message):
            checks.dropout_applied(out, kept, rate, shift, "model(x, training=True)")


@pytest.mark.parametrize(
    "result, message",
    [
        ((2, 3), None),
        ((None, 12), "ran all its epochs: in on_epoch_end, set self.model.stop_training"),
        ((11, 12), "although stopped_epoch was set.*on the model, not on the callback"),
        ((3, 3), "should be 2, the 0-based index.*do not add 1"),
        ((0, 1), "stopped after epoch 0, whose loss 4 is not below"),
        ((3, 4), "one epoch late"),
        (("missing", 3), "self.stopped_epoch = None in __init__"),
        ((1, 3), "not a batch's index"),
    ],
)
def test_does_a_stopping_callback_get_told_what_it_did(result, message):
    losses = [4.0, 2.0, 1.0, 0.5, 0.25] + [0.2] * 7
    if message is None:
        checks.stopped_at(result, losses, 1.5, 12, "fit with StopAtLoss(1.5)")
    else:
        with pytest.raises(CheckFailed, match=message):
            checks.stopped_at(result, losses, 1.5, 12, "fit with StopAtLoss(1.5)")


@pytest.mark.parametrize(
    "entries, message",
    [
        (["config.json", "metadata.json", "model.weights.h5"], None),
        (False, "nothing was saved at the path given"),
        (True, "not a .keras file"),
        (["model.weights.h5"], "lacks config.json"),
    ],
)
def test_does_a_saved_file_check_say_what_the_path_holds(entries, message):
    if message is None:
        checks.keras_file(entries, "the file at path")
    else:
        with pytest.raises(CheckFailed, match=message):
            checks.keras_file(entries, "the file at path")
