"""Is the synthetic data reproducible, well-shaped and what it claims to be?"""

import numpy as np
import pytest

from tfladder import data


def test_is_linear_data_reproducible_and_shaped():
    a = data.linear_regression(n=50, d=4, seed=3)
    b = data.linear_regression(n=50, d=4, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a.X.shape == (50, 4) and a.y.shape == (50, 1) and a.w.shape == (4, 1) and a.b.shape == (1,)
    assert a.X.dtype == np.float32
    assert data.linear_regression(n=5, seed=3, dtype="float64").X.dtype == np.float64
    assert not np.array_equal(a.X, data.linear_regression(n=50, d=4, seed=4).X)


def test_does_linear_data_follow_its_true_weights():
    d = data.linear_regression(n=5000, d=3, noise=0.1, seed=1, dtype="float64")
    solution, *_ = np.linalg.lstsq(np.hstack([d.X, np.ones((5000, 1))]), d.y, rcond=None)
    assert np.allclose(solution[:3], d.w, atol=0.01) and np.allclose(solution[3], d.b, atol=0.01)


def test_are_patch_digits_mnist_shaped_balanced_and_reproducible():
    X, y = data.patch_digits(200, seed=5)
    assert X.shape == (200, 28, 28, 1) and X.dtype == np.float32
    assert y.shape == (200, 10) and np.all(y.sum(axis=1) == 1)
    assert X.min() >= 0.0 and X.max() <= 1.0
    assert np.all(y.sum(axis=0) == 20)
    X2, y2 = data.patch_digits(200, seed=5)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)


def test_do_patch_digit_classes_look_different():
    X, y = data.patch_digits(1000, seed=0, noise=0.0)
    labels = y.argmax(axis=1)
    means = np.stack([X[labels == k].mean(axis=0) for k in range(10)])
    gaps = [np.abs(means[i] - means[j]).mean() for i in range(10) for j in range(i + 1, 10)]
    assert min(gaps) > 0.01


@pytest.mark.parametrize("call", [lambda: data.linear_regression(n=0), lambda: data.patch_digits(0)])
def test_is_an_empty_request_refused(call):
    with pytest.raises(ValueError, match="need n >= 1"):
        call()
