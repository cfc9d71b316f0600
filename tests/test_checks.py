"""Do failed checks tell a student what went wrong, in their words?"""

import warnings

import numpy as np
import pytest
import tensorflow as tf

from tfladder import checks
from tfladder.checks import CheckFailed
from tfladder.oracles import l1 as oracle


def test_does_a_not_yet_written_function_say_so():
    def linear_forward(X, w, b):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="linear_forward is not written yet"):
        checks.call(linear_forward, 1, 2, 3)


def test_does_a_wrapped_call_still_name_the_unwritten_function():
    def linear_forward(X, w, b):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="^linear_forward is not written yet"):
        checks.call(lambda: linear_forward(1, 2, 3), name="linear_forward")


def test_does_a_function_whose_helper_is_unwritten_name_the_helper():
    def mse_loss(y_true, y_pred):
        raise NotImplementedError()

    def tape_gradients(X, y, w, b):
        return mse_loss(y, X)

    with pytest.raises(CheckFailed, match="tape_gradients calls mse_loss, which is not written yet"):
        checks.call(tape_gradients, 1, 2, 3, 4)


def test_does_a_float64_crash_come_with_the_cast_hint_and_the_students_line():
    def linear_forward(X, w, b):
        return tf.matmul(X, w) + b

    w = tf.Variable(tf.ones((2, 1)))
    with pytest.raises(CheckFailed) as failure:
        checks.call(linear_forward, np.ones((3, 2)), w, tf.Variable([0.0]))
    text = str(failure.value)
    assert "linear_forward raised InvalidArgumentError" in text
    assert "tf.convert_to_tensor(X, dtype=tf.float32)" in text
    assert "return tf.matmul(X, w) + b" in text


def test_does_rebinding_a_variable_get_its_hint():
    def sgd_step(w):
        w = w - 1.0
        w.assign_sub(1.0)

    with pytest.raises(CheckFailed, match="rebinds the name"):
        checks.call(sgd_step, tf.Variable(1.0))


def test_are_warnings_and_stderr_kept_out_of_the_cell(capfd):
    def noisy():
        warnings.warn("harmless", UserWarning)
        import sys
        print("to stderr", file=sys.stderr)
        return 3

    assert checks.call(noisy) == 3
    assert capfd.readouterr().err == ""


def test_does_a_wrong_value_name_the_matching_mistake_and_the_largest_error():
    y_true = np.array([1.0, 2.0, 3.0])
    y_pred = np.array([[1.5], [2.0], [2.0]])
    broadcast = list(oracle.mse_loss_mistakes(y_true, y_pred).values())[0]
    with pytest.raises(CheckFailed) as failure:
        checks.close(broadcast, oracle.mse_loss(y_true, y_pred), "mse_loss",
                     mistakes=oracle.mse_loss_mistakes(y_true, y_pred))
    text = str(failure.value)
    assert "expected 0.416667, got 0.75" in text and "broadcast" in text


def test_does_an_array_error_say_where():
    want = np.zeros((3, 2))
    got = want.copy()
    got[2, 1] = 0.5
    with pytest.raises(CheckFailed, match=r"max abs error 0.5 at index \(2, 1\)"):
        checks.close(got, want, "dw")


def test_is_a_close_answer_accepted_within_float32_rounding():
    want = np.linspace(-3, 3, 12).reshape(4, 3)
    checks.close(tf.constant(want, tf.float32), want, "x")


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
        checks.tensor(np.ones(3), "linear_forward")
    with pytest.raises(CheckFailed, match="dtype float32, but it is float64"):
        checks.tensor(tf.constant([1.0], tf.float64), "linear_forward")
    with pytest.raises(CheckFailed, match="the tape did not record"):
        checks.tensor(None, "dw")


def test_does_gradient_flow_catch_a_detour_through_numpy():
    w = tf.Variable([[1.0], [2.0]])
    checks.gradient_flows(lambda: tf.ones((1, 2)) @ w, {"w": w}, "good", why="")
    with pytest.raises(CheckFailed, match="No gradient flows from bad's result back to w"):
        checks.gradient_flows(lambda: tf.constant(np.ones((1, 2)) @ w.numpy()), {"w": w}, "bad", why="")


def test_are_returned_tuples_and_loss_lists_checked():
    with pytest.raises(CheckFailed, match="should return 3 values"):
        checks.returns((1, 2), ("loss", "dw", "db"), "tape_gradients")
    with pytest.raises(CheckFailed, match="plain Python floats"):
        checks.scalar_float_list([tf.constant(1.0)], 1, "losses")
    with pytest.raises(CheckFailed, match="should have 2 entries"):
        checks.scalar_float_list([1.0], 2, "losses")
