"""Level 3 oracles: Sequential and functional models, mini-batch SGD as fit runs it, evaluate."""

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from tfladder.oracles import l1
from tfladder.oracles.l2 import activate, dense_forward

# The seed notebook's CNN: Conv2D(32, 3) -> MaxPool -> Conv2D(64, 3) -> MaxPool -> Flatten
# -> Dropout -> Dense(10, softmax) on 28x28x1 inputs.
CNN_PARAMS = 32 * (3 * 3 * 1 + 1) + 64 * (3 * 3 * 32 + 1) + 10 * (5 * 5 * 64 + 1)
CNN_LAYERS = ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"]


def mlp_param_count(input_dim: int, hidden_units: Sequence[int], output_dim: int) -> int:
    widths = [input_dim, *hidden_units, output_dim]
    return sum(a * b + b for a, b in zip(widths, widths[1:]))


def mlp_forward(
    x: npt.ArrayLike, layer_weights: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]], activation: str | None = "relu"
) -> np.ndarray:
    """Hidden Dense layers with `activation`, then a linear output layer; weights [(k, b), ...]."""
    h = np.asarray(x, dtype=np.float64)
    for kernel, bias in layer_weights[:-1]:
        h = dense_forward(h, kernel, bias, activation)
    return dense_forward(h, *layer_weights[-1])


def mlp_forward_mistakes(
    x: npt.ArrayLike, layer_weights: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]], activation: str | None = "relu"
) -> dict[str, np.ndarray]:
    h = np.asarray(x, dtype=np.float64)
    found: dict[str, np.ndarray] = {}
    if len(layer_weights) > 1:
        linear = h
        for kernel, bias in layer_weights:
            linear = dense_forward(linear, kernel, bias)
        found["the hidden layers have no activation: pass activation=activation to each hidden Dense"] = linear
    found["the output layer has the activation too; it must be linear"] = activate(
        mlp_forward(x, layer_weights, activation), activation
    )
    if len(layer_weights) > 1 and activation != "relu":
        found["the hidden layers use relu whatever activation is asked for: pass activation=activation"] = mlp_forward(
            x, layer_weights, "relu"
        )
    return found


def two_input_forward(
    a: npt.ArrayLike, b: npt.ArrayLike, k1: npt.ArrayLike, b1: npt.ArrayLike, k2: npt.ArrayLike, b2: npt.ArrayLike
) -> np.ndarray:
    """Dense(1)(relu(Dense(8)(concat([a, b]))))."""
    h = np.concatenate([np.asarray(a, np.float64), np.asarray(b, np.float64)], axis=1)
    return dense_forward(dense_forward(h, k1, b1, "relu"), k2, b2)


def two_input_forward_mistakes(
    a: npt.ArrayLike, b: npt.ArrayLike, k1: npt.ArrayLike, b1: npt.ArrayLike, k2: npt.ArrayLike, b2: npt.ArrayLike
) -> dict[str, np.ndarray]:
    swapped = np.concatenate([np.asarray(b, np.float64), np.asarray(a, np.float64)], axis=1)
    h = np.concatenate([np.asarray(a, np.float64), np.asarray(b, np.float64)], axis=1)
    return {
        "the inputs are concatenated as [b, a]; the order must be [a, b]": dense_forward(
            dense_forward(swapped, k1, b1, "relu"), k2, b2
        ),
        "relu is missing after Dense(8)": dense_forward(dense_forward(h, k1, b1), k2, b2),
    }


def fit_linear(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    kernel: npt.ArrayLike,
    bias: npt.ArrayLike,
    *,
    lr: float,
    epochs: int,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """(kernel, bias, epoch losses) after fit with SGD(lr), MSE, shuffle=False on a Dense(1) model.

    Batches are taken in order; the last may be partial. Each epoch's loss is what Keras reports:
    the mean of the pre-update batch losses weighted by batch size.
    """
    X = np.asarray(X, np.float64)
    y = np.asarray(y, np.float64).reshape(-1, 1)
    w = np.asarray(kernel, np.float64).reshape(-1, 1)
    b = np.asarray(bias, np.float64).reshape(1)
    losses = []
    for _ in range(epochs):
        total = 0.0
        for start in range(0, len(X), batch_size):
            xb, yb = X[start : start + batch_size], y[start : start + batch_size]
            total += l1.mse_loss(yb, l1.linear_forward(xb, w, b)) * len(xb)
            dw, db = l1.gradients(xb, yb, w, b)
            w, b = w - lr * dw, b - lr * db
        losses.append(total / len(X))
    return w, b, losses


def fit_linear_mistakes(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    kernel: npt.ArrayLike,
    bias: npt.ArrayLike,
    *,
    lr: float,
    epochs: int,
    batch_size: int,
) -> dict[str, np.ndarray]:
    """Known mistakes in compile_and_fit, each as the final kernel it would produce."""
    found = {
        "the learning rate was not passed to SGD (its default is 0.01)": fit_linear(
            X, y, kernel, bias, lr=0.01, epochs=epochs, batch_size=batch_size
        )[0],
        "batch_size was not passed to fit (its default is 32)": fit_linear(
            X, y, kernel, bias, lr=lr, epochs=epochs, batch_size=32
        )[0],
        "epochs was not passed to fit (its default is 1)": fit_linear(
            X, y, kernel, bias, lr=lr, epochs=1, batch_size=batch_size
        )[0],
    }
    return found


def iterations(n: int, epochs: int, batch_size: int) -> int:
    """Optimizer steps fit takes: one per batch, the last batch possibly partial."""
    return epochs * math.ceil(n / batch_size)


def evaluate_linear(X: npt.ArrayLike, y: npt.ArrayLike, kernel: npt.ArrayLike, bias: npt.ArrayLike) -> dict[str, float]:
    """{'loss': MSE, 'mae': MAE} of a Dense(1) model compiled with loss='mse', metrics=['mae']."""
    pred = l1.linear_forward(X, kernel, bias)
    r = pred - np.asarray(y, np.float64).reshape(-1, 1)
    return {"loss": float(np.mean(r**2)), "mae": float(np.mean(np.abs(r)))}


def accuracy(probabilities: npt.ArrayLike, one_hot: npt.ArrayLike) -> float:
    """The fraction of rows whose most probable class is the true class (labels one-hot)."""
    predicted = np.argmax(np.asarray(probabilities, np.float64), axis=1)
    return float(np.mean(predicted == np.argmax(np.asarray(one_hot), axis=1)))


def mlp_hidden(x: npt.ArrayLike, layer_weights: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]]) -> np.ndarray:
    """The last hidden output of an MLP with relu hidden layers [(k, b), ...]; `x` itself if none."""
    h = np.asarray(x, dtype=np.float64)
    for kernel, bias in layer_weights:
        h = dense_forward(h, kernel, bias, "relu")
    return h


def scaled_mlp_forward(x: npt.ArrayLike, weights: Sequence[npt.ArrayLike]) -> np.ndarray:
    """Dense(h, relu) -> Scale (one factor per feature) -> Dense(k); weights [k1, b1, factor, k2, b2]."""
    k1, b1, factor, k2, b2 = weights
    hidden = dense_forward(np.asarray(x, np.float64), k1, b1, "relu") * np.asarray(factor, np.float64)
    return dense_forward(hidden, k2, b2)


def stop_epoch(losses: Sequence[float], threshold: float) -> int | None:
    """The 0-based index of the first epoch whose loss is below `threshold`, or None."""
    return next((epoch for epoch, loss in enumerate(losses) if loss < threshold), None)


def threshold_stopping_at(losses: Sequence[float], epoch: int, *, margin: float = 0.01) -> float | None:
    """A threshold that the loss of `epoch` is below and every earlier epoch's is above, each by a
    relative `margin` (room for oneDNN's and thread counts' last bits), or None if there is none."""
    before = min(losses[:epoch]) if epoch else float("inf")
    low, high = losses[epoch] * (1 + margin), before * (1 - margin)
    if not low < high:
        return None
    return float(np.sqrt(low * high)) if np.isfinite(high) else float(2 * low)
