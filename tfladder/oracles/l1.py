"""Level 1 oracles: linear regression by hand, in float64 numpy."""

import numpy as np
import numpy.typing as npt


def _col(y: npt.ArrayLike) -> np.ndarray:
    return np.asarray(y, dtype=np.float64).reshape(-1, 1)


def linear_forward(X: npt.ArrayLike, w: npt.ArrayLike, b: npt.ArrayLike) -> np.ndarray:
    """X @ w + b as an (n, 1) array."""
    X = np.asarray(X, dtype=np.float64)
    return X @ np.asarray(w, dtype=np.float64).reshape(-1, 1) + np.asarray(b, dtype=np.float64).reshape(1, 1)


def linear_forward_mistakes(X: npt.ArrayLike, w: npt.ArrayLike, b: npt.ArrayLike) -> dict[str, np.ndarray]:
    X, w, b = np.asarray(X, np.float64), np.asarray(w, np.float64), np.asarray(b, np.float64)
    return {
        "forgot the bias: the result is X @ w without + b": X @ w,
        "subtracted the bias instead of adding it": X @ w - b.reshape(1, 1),
    }


def mse_loss(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Mean of squared errors over all n examples, y_true as (n,) or (n, 1)."""
    return float(np.mean((_col(y_pred) - _col(y_true)) ** 2))


def mse_loss_mistakes(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> dict[str, float]:
    r = _col(y_pred) - _col(y_true)
    flat = np.asarray(y_true, dtype=np.float64).reshape(-1)
    return {
        "y_true of shape (n,) was broadcast against y_pred of shape (n, 1) into an (n, n) "
        "matrix before the mean: reshape y_true to (n, 1) (or y_pred to (n,)) first": float(
            np.mean((_col(y_pred) - flat[None, :]) ** 2)
        ),
        "forgot the mean: the squared errors are summed instead of averaged": float(np.sum(r**2)),
        "halved the loss (mean(r**2) / 2, as in some textbooks); Keras' MSE has no 1/2": float(np.mean(r**2) / 2),
        "took a square root: this is the RMSE, not the MSE": float(np.sqrt(np.mean(r**2))),
        "used absolute errors (MAE) instead of squared errors": float(np.mean(np.abs(r))),
    }


def gradients(X: npt.ArrayLike, y: npt.ArrayLike, w: npt.ArrayLike, b: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(dw, db) of the MSE: dw = (2/n) X^T r with shape (d, 1), db = 2 mean(r) with shape (1,)."""
    X = np.asarray(X, dtype=np.float64)
    r = linear_forward(X, w, b) - _col(y)
    n = X.shape[0]
    return (2.0 / n) * X.T @ r, np.array([2.0 * np.mean(r)])


def gradients_mistakes(
    X: npt.ArrayLike, y: npt.ArrayLike, w: npt.ArrayLike, b: npt.ArrayLike
) -> dict[str, dict[str, np.ndarray]]:
    dw, db = gradients(X, y, w, b)
    n = np.asarray(X).shape[0]
    return {
        "dw": {
            "missing the factor 2 of the squared error's derivative": dw / 2,
            "the sign is flipped: r is y - y_hat here, use r = y_hat - y": -dw,
            "forgot to divide by n (summed instead of averaged)": dw * n / 1.0,
        },
        "db": {
            "missing the factor 2 of the squared error's derivative": db / 2,
            "the sign is flipped: r is y - y_hat here, use r = y_hat - y": -db,
            "forgot to divide by n (summed instead of averaged)": db * n,
        },
    }


def sgd_step(
    X: npt.ArrayLike, y: npt.ArrayLike, w: npt.ArrayLike, b: npt.ArrayLike, lr: float
) -> tuple[float, np.ndarray, np.ndarray]:
    """(loss before the step, new w, new b) for one full-batch SGD step."""
    loss = mse_loss(y, linear_forward(X, w, b))
    dw, db = gradients(X, y, w, b)
    w = np.asarray(w, dtype=np.float64).reshape(-1, 1)
    b = np.asarray(b, dtype=np.float64).reshape(1)
    return loss, w - lr * dw, b - lr * db


def sgd_step_mistakes(
    X: npt.ArrayLike, y: npt.ArrayLike, w: npt.ArrayLike, b: npt.ArrayLike, lr: float
) -> dict[str, dict[str, float | np.ndarray]]:
    loss, w_new, b_new = sgd_step(X, y, w, b, lr)
    w0 = np.asarray(w, dtype=np.float64).reshape(-1, 1)
    b0 = np.asarray(b, dtype=np.float64).reshape(1)
    return {
        "loss": {
            "returned the loss after the update; return the loss computed before it": mse_loss(
                y, linear_forward(X, w_new, b_new)
            ),
        },
        "w": {
            "the variables did not change: `w = w - lr * dw` rebinds the name to a new tensor and "
            "leaves the Variable untouched; use w.assign_sub(lr * dw)": w0,
            "stepped uphill: the update must subtract lr * gradient": 2 * w0 - w_new,
            "the step is not scaled by the learning rate: subtract lr * dw, not dw": w0 - (w0 - w_new) / lr,
        },
        "b": {
            "the variables did not change: `b = b - lr * db` rebinds the name to a new tensor and "
            "leaves the Variable untouched; use b.assign_sub(lr * db)": b0,
            "stepped uphill: the update must subtract lr * gradient": 2 * b0 - b_new,
            "the step is not scaled by the learning rate: subtract lr * db, not db": b0 - (b0 - b_new) / lr,
        },
    }


def train_linear_regression(
    X: npt.ArrayLike, y: npt.ArrayLike, lr: float = 0.1, steps: int = 100
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """(w, b, losses) after `steps` full-batch SGD steps from zeros; losses[i] is before step i."""
    X = np.asarray(X, dtype=np.float64)
    w = np.zeros((X.shape[1], 1))
    b = np.zeros(1)
    losses = []
    for _ in range(steps):
        loss, w, b = sgd_step(X, y, w, b, lr)
        losses.append(loss)
    return w, b, losses


def train_mistakes(X: npt.ArrayLike, y: npt.ArrayLike, lr: float = 0.1, steps: int = 100) -> dict[str, list[float]]:
    _, _, losses = train_linear_regression(X, y, lr, steps + 1)
    return {
        "recorded the loss after each step instead of before it (losses[0] must be the loss at zero weights)": losses[
            1:
        ],
    }


# -- the tape, further: watched constants, several gradients, derivatives of derivatives ----------
# The functions the tests hand to the student's code, by the name the tests use for them; each
# gradient with respect to t, in float64. (The tests send the same functions as TensorFlow code.)
def _sech2(t: np.ndarray) -> np.ndarray:
    return 1.0 / np.cosh(t) ** 2


def watched_gradients(x: npt.ArrayLike, a: float) -> list[np.ndarray]:
    """Gradients, with respect to x, of sum(x * x), a * sum(sin x), sum(exp(a x)), mean(x) and the
    constant a (which does not depend on x: zeros), each with x's shape."""
    x = np.asarray(x, dtype=np.float64)
    return [2.0 * x, a * np.cos(x), a * np.exp(a * x), np.full_like(x, 1.0 / x.size), np.zeros_like(x)]


def watched_gradients_summed(x: npt.ArrayLike, a: float) -> np.ndarray:
    """What tape.gradient(list_of_results, x) gives: the gradients of the results added up."""
    return np.sum(watched_gradients(x, a), axis=0)


SECOND_DERIVATIVE_FUNCTIONS = ("cube", "sin", "x_tanh", "exp_a")


def second_derivative(name: str, x: npt.ArrayLike, a: float) -> tuple[np.ndarray, np.ndarray]:
    """(f'(x), f''(x)) elementwise for the function called `name`: x**3, sin x, x tanh x, exp(a x)."""
    t = np.asarray(x, dtype=np.float64)
    if name == "cube":
        return 3.0 * t**2, 6.0 * t
    if name == "sin":
        return np.cos(t), -np.sin(t)
    if name == "x_tanh":
        return np.tanh(t) + t * _sech2(t), 2.0 * _sech2(t) - 2.0 * t * _sech2(t) * np.tanh(t)
    if name == "exp_a":
        return a * np.exp(a * t), a * a * np.exp(a * t)
    raise ValueError(f"no function {name!r}")


def function_value(name: str, x: npt.ArrayLike, a: float) -> np.ndarray:
    t = np.asarray(x, dtype=np.float64)
    return {"cube": t**3, "sin": np.sin(t), "x_tanh": t * np.tanh(t), "exp_a": np.exp(a * t)}[name]


def second_derivative_mistakes(name: str, x: npt.ArrayLike, a: float) -> dict[str, dict[str, np.ndarray]]:
    """{"dy": {...}, "d2y": {...}}: what known mistakes return for each, on the same inputs."""
    dy, d2y = second_derivative(name, x, a)
    y = function_value(name, x, a)
    return {
        "dy": {
            "returned f(x) itself as dy: dy is the gradient of f(x), inner.gradient(y, x)": y,
            "returned the second derivative as dy: (dy, d2y) is the order": d2y,
        },
        "d2y": {
            "d2y is the first derivative again: the outer tape must differentiate dy, not y": dy,
            "returned f(x) as d2y": y,
        },
    }
