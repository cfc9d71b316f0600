"""Do the spies see which API level a student's code used, whatever the import name?"""

import numpy as np
import tensorflow as tf

from tfladder import spies, standins
from tensorflow import GradientTape as Tape


def test_is_a_tape_seen_under_any_name():
    v = tf.Variable(2.0)

    def student():
        with Tape() as tape:
            y = v * v
        return tape.gradient(y, v)

    with spies.watch() as seen:
        student()
    assert seen.used("tape") and not seen.used("keras")


def test_are_keras_optimizers_and_losses_seen():
    v = tf.Variable([1.0])

    def student():
        loss = tf.keras.losses.MSE(tf.constant([[0.0]]), tf.reshape(v, (1, 1)))
        tf.keras.optimizers.SGD(0.1).apply([tf.ones(1)], [v])
        return loss

    with spies.watch() as seen:
        student()
    assert seen.used("keras") and seen.used("optimizer") and seen.count("optimizer_apply") == 1


def test_is_numpy_use_seen():
    v = tf.Variable([1.0, 2.0])

    def student():
        return np.sum(v.numpy())

    with spies.watch() as seen:
        student()
    assert seen.used("numpy")


def test_is_a_dense_layer_call_counted_even_inside_keras():
    layer = tf.keras.layers.Dense(2)
    with spies.watch() as seen:
        layer(tf.ones((1, 3)))
        layer(tf.ones((1, 3)))
    assert seen.count("dense_call") == 2


def test_are_calls_from_inside_a_stand_in_not_charged_to_the_student():
    v = tf.Variable(2.0)

    def _reference_grad():
        with tf.GradientTape() as tape:
            y = v * v
        return tape.gradient(y, v)

    standins.register(spy_test_grad=_reference_grad)

    def student():
        return _reference_grad()

    with spies.watch() as seen:
        student()
    assert not seen.used("tape")


def test_do_require_and_forbid_explain_themselves():
    import pytest
    from tfladder.checks import CheckFailed

    with spies.watch() as seen:
        tf.keras.optimizers.SGD(0.1)
    with pytest.raises(CheckFailed, match="sgd_step used a Keras optimizer .*SGD.__init__.*; write it by hand"):
        seen.forbid("optimizer", "sgd_step", "write it by hand")
    with pytest.raises(CheckFailed, match="tape_gradients should use a tape, but it never called tf.GradientTape"):
        seen.require("tape", "tape_gradients", "use a tape")
