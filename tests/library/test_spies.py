"""Do the spies see which API level a student's code used, whatever the import name?"""

import numpy as np
import tensorflow as tf
from tensorflow import GradientTape as Tape

from tfladder import probe, spies


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


def test_are_calls_from_the_tests_code_and_from_stand_ins_not_charged_to_the_student():
    notebook = {"tf": tf, "np": np, "grad": lambda: None}
    exec("def student():\n    return grad()   # an earlier exercise, stood in for while this test runs\n", notebook)
    k = probe.Probe(notebook)
    k.register_standin(
        "grad",
        "def grad():\n    v = tf.Variable(2.0)\n    with tf.GradientTape() as tape:\n"
        "        y = v * v\n    return tape.gradient(y, v)\n",
    )
    k.isolate("grad")
    value, seen = k.trace("with tf.GradientTape() as tape:\n    pass\nstudent()")
    assert float(value.array) == 4.0, "the stand-in ran"
    assert not seen.trace.used("tape"), "neither the test's own tape nor the stand-in's is the student's"
    assert notebook["grad"]() is None, "the student's own grad is back once the request is answered"


def test_does_a_trace_travel_as_plain_data_and_back():
    with spies.watch() as seen:
        tf.keras.layers.Dense(2)(tf.ones((1, 3)))
    again = spies.Trace.from_plain(seen.plain())
    assert again.count("dense_call") == seen.count("dense_call") == 1 and again.used("keras")
    assert spies.Trace.from_plain(
        {"direct": [["keras", 1], "junk", ["a", "b", "c"]], "counts": {"x": "9"}}
    ).plain() == {"direct": [["keras", "1"]], "counts": {}}
