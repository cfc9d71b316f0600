"""Are the numpy oracles right, checked against independent computations?"""

import numpy as np
import pytest

from tfladder.oracles import l1


@pytest.fixture
def case():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(9, 3))
    y = rng.normal(size=(9, 1))
    return X, y, rng.normal(size=(3, 1)), rng.normal(size=(1,))


def _numeric_gradient(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        g[i] = (f(up) - f(down)) / (2 * eps)
    return g


def test_does_the_closed_form_gradient_match_finite_differences(case):
    X, y, w, b = case
    dw, db = l1.gradients(X, y, w, b)
    assert np.allclose(dw, _numeric_gradient(lambda w_: l1.mse_loss(y, l1.linear_forward(X, w_, b)), w), atol=1e-6)
    assert np.allclose(db, _numeric_gradient(lambda b_: l1.mse_loss(y, l1.linear_forward(X, w, b_)), b), atol=1e-6)
    assert dw.shape == (3, 1) and db.shape == (1,)


def test_does_mse_treat_flat_and_column_targets_alike(case):
    X, y, w, b = case
    y_hat = l1.linear_forward(X, w, b)
    assert l1.mse_loss(y.ravel(), y_hat) == pytest.approx(l1.mse_loss(y, y_hat))
    assert l1.mse_loss(y, y_hat) == pytest.approx(np.mean((y_hat - y) ** 2))


def test_does_every_known_mistake_differ_from_the_right_answer(case):
    X, y, w, b = case
    y_hat = l1.linear_forward(X, w, b)
    right = l1.mse_loss(y.ravel(), y_hat)
    for label, wrong in l1.mse_loss_mistakes(y.ravel(), y_hat).items():
        assert not np.isclose(wrong, right), label
    dw, db = l1.gradients(X, y, w, b)
    mistakes = l1.gradients_mistakes(X, y, w, b)
    for label, wrong in mistakes["dw"].items():
        assert not np.allclose(wrong, dw), label
    step = l1.sgd_step_mistakes(X, y, w, b, 0.1)
    _, w_new, _ = l1.sgd_step(X, y, w, b, 0.1)
    for label, wrong in step["w"].items():
        assert not np.allclose(wrong, w_new), label


def test_does_training_reach_the_least_squares_solution(case):
    X, y, _, _ = case
    w, b, losses = l1.train_linear_regression(X, y, lr=0.1, steps=2000)
    solution, *_ = np.linalg.lstsq(np.hstack([X, np.ones((9, 1))]), y, rcond=None)
    assert np.allclose(w, solution[:3], atol=1e-6) and np.allclose(b, solution[3], atol=1e-6)
    assert losses[0] == pytest.approx(np.mean(y**2)) and losses[-1] < losses[0]


@pytest.mark.parametrize("shape", [(5,), (3, 4)])
def test_do_the_watched_gradients_match_finite_differences(shape):
    rng = np.random.default_rng(1)
    x, a = rng.normal(size=shape), 1.3
    functions = [
        lambda t: np.sum(t * t),
        lambda t: a * np.sum(np.sin(t)),
        lambda t: np.sum(np.exp(a * t)),
        lambda t: np.mean(t),
        lambda t: a,
    ]
    got = l1.watched_gradients(x, a)
    assert len(got) == len(functions)
    for f, gradient in zip(functions, got):
        assert gradient.shape == x.shape
        assert np.allclose(gradient, _numeric_gradient(f, x), atol=1e-6)
    assert np.allclose(l1.watched_gradients_summed(x, a), sum(got))


@pytest.mark.parametrize("name", l1.SECOND_DERIVATIVE_FUNCTIONS)
def test_do_the_second_derivatives_match_finite_differences(name):
    x, a, eps = np.linspace(-1.5, 1.5, 7), 0.8, 1e-4
    dy, d2y = l1.second_derivative(name, x, a)

    def f(t):
        return l1.function_value(name, t, a)

    assert np.allclose(dy, (f(x + eps) - f(x - eps)) / (2 * eps), atol=1e-6)
    assert np.allclose(d2y, (f(x + eps) - 2 * f(x) + f(x - eps)) / eps**2, atol=1e-5)
    for part, mistakes in l1.second_derivative_mistakes(name, x, a).items():
        right = dy if part == "dy" else d2y
        for label, wrong in mistakes.items():
            assert not np.allclose(wrong, right), (name, label)


def test_does_the_chosen_threshold_stop_at_its_epoch_with_room_on_both_sides():
    from tfladder.oracles import l3

    losses = [5.0, 3.0, 2.9, 1.0, 1.0, 0.5]
    assert l3.stop_epoch(losses, l3.threshold_stopping_at(losses, 1)) == 1
    assert l3.stop_epoch(losses, l3.threshold_stopping_at(losses, 3)) == 3
    assert l3.threshold_stopping_at(losses, 2, margin=0.05) is None  # 2.9 is within 5% of 3.0
    assert l3.threshold_stopping_at(losses, 4) is None  # epoch 3 is as low
    assert l3.stop_epoch(losses, 0.1) is None


def test_does_the_scaled_mlp_oracle_compute_what_keras_does():
    import tensorflow as tf

    from tfladder.oracles import l3

    class Scale(tf.keras.layers.Layer):
        def build(self, input_shape):
            self.factor = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, inputs):
            return inputs * self.factor

    rng = np.random.default_rng(1)
    weights = [rng.normal(size=s).astype("float32") for s in [(3, 4), (4,), (4,), (4, 2), (2,)]]
    dense = tf.keras.layers.Dense
    model = tf.keras.Sequential([tf.keras.Input((3,)), dense(4, activation="relu"), Scale(), dense(2)])
    model.set_weights(weights)
    x = rng.normal(size=(5, 3)).astype("float32")
    np.testing.assert_allclose(model(x).numpy(), l3.scaled_mlp_forward(x, weights), rtol=1e-5, atol=1e-5)
