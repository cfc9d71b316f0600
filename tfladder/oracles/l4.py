"""Level 4 oracles: training steps, custom loops and one SGD step four ways, for a Dense(1) model
trained with SGD on the mean squared error (float64 numpy)."""

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from tfladder.oracles import l1, l3


def _batches(X: npt.ArrayLike, y: npt.ArrayLike, batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    X = np.asarray(X, np.float64)
    y = np.asarray(y, np.float64).reshape(-1, 1)
    return [(X[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(X), batch_size)]


def steps(
    batches: Iterable[tuple[npt.ArrayLike, npt.ArrayLike]], kernel: npt.ArrayLike, bias: npt.ArrayLike, lr: float
) -> tuple[list[float], np.ndarray, np.ndarray]:
    """Pre-update losses and final (kernel, bias) after one SGD step per (x, y) batch, in order."""
    w = np.asarray(kernel, np.float64).reshape(-1, 1)
    b = np.asarray(bias, np.float64).reshape(1)
    losses = []
    for x, y in batches:
        loss, w, b = l1.sgd_step(x, y, w, b, lr)
        losses.append(loss)
    return losses, w, b


def step_mistakes(
    x: npt.ArrayLike, y: npt.ArrayLike, kernel: npt.ArrayLike, bias: npt.ArrayLike, lr: float
) -> dict[str, float]:
    """Known train-step mistakes, as the loss each would return."""
    _, w, b = l1.sgd_step(x, y, kernel, bias, lr)
    return {
        "returned the loss after the update; return the loss computed before it": l1.mse_loss(
            y, l1.linear_forward(x, w, b)
        )
    }


def custom_fit(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    kernel: npt.ArrayLike,
    bias: npt.ArrayLike,
    *,
    lr: float,
    epochs: int,
    batch_size: int,
) -> dict[str, list[float] | npt.ArrayLike]:
    """{'losses': per-epoch unweighted mean of pre-update batch losses, 'kernel', 'bias'}."""
    batches = _batches(X, y, batch_size)
    w, b, result = kernel, bias, []
    for _ in range(epochs):
        losses, w, b = steps(batches, w, b, lr)
        result.append(float(np.mean(losses)))
    return {"losses": result, "kernel": w, "bias": b}


def custom_fit_mistakes(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    kernel: npt.ArrayLike,
    bias: npt.ArrayLike,
    *,
    lr: float,
    epochs: int,
    batch_size: int,
) -> dict[str, list[float]]:
    """Known custom_fit mistakes, as the per-epoch list each would return."""
    batches = _batches(X, y, batch_size)
    sizes = np.array([len(xb) for xb, _ in batches], dtype=np.float64)
    w, b, every, weighted = kernel, bias, [], []
    for _ in range(epochs):
        losses, w, b = steps(batches, w, b, lr)
        every.extend(losses)
        weighted.append(float(np.sum(np.array(losses) * sizes) / sizes.sum()))
    per_epoch = len(batches)
    return {
        "the metric was not reset between epochs: call mean.reset_state() at the start of each epoch": [
            float(np.mean(every[: per_epoch * (e + 1)])) for e in range(epochs)
        ],
        "the batch losses were weighted by batch size (as fit does); this exercise asks for the "
        "unweighted mean of the batch losses (tf.keras.metrics.Mean over one value per batch)": weighted,
        "each epoch's last batch loss was recorded, not the mean over the epoch's batches": [
            every[per_epoch * (e + 1) - 1] for e in range(epochs)
        ],
    }


def regularized_step(
    x: npt.ArrayLike, y: npt.ArrayLike, kernel: npt.ArrayLike, bias: npt.ArrayLike, lr: float, l2: float
) -> tuple[float, np.ndarray, np.ndarray]:
    """(total loss, kernel, bias) for one SGD step on MSE + l2 * sum(kernel ** 2), before the update."""
    w = np.asarray(kernel, np.float64).reshape(-1, 1)
    b = np.asarray(bias, np.float64).reshape(1)
    data_loss = l1.mse_loss(y, l1.linear_forward(x, w, b))
    dw, db = l1.gradients(x, y, w, b)
    dw = dw + 2 * l2 * w
    return data_loss + l2 * float(np.sum(w**2)), w - lr * dw, b - lr * db


def regularized_step_mistakes(
    x: npt.ArrayLike, y: npt.ArrayLike, kernel: npt.ArrayLike, bias: npt.ArrayLike, lr: float, l2: float
) -> dict[str, dict[str, float | np.ndarray]]:
    loss, w_plain, b_plain = l1.sgd_step(x, y, kernel, bias, lr)
    return {
        "loss": {"the penalty in model.losses was not added to the loss": loss},
        "kernel": {
            "the penalty was added to the returned loss but not differentiated: add "
            "model.losses inside the GradientTape": w_plain
        },
    }


def one_step(X: npt.ArrayLike, y: npt.ArrayLike, kernel: npt.ArrayLike, bias: npt.ArrayLike, lr: float) -> np.ndarray:
    """The kernel after one full-batch SGD step on MSE."""
    return l1.sgd_step(X, y, kernel, bias, lr)[1]


def one_step_mistakes(
    X: npt.ArrayLike, y: npt.ArrayLike, kernel: npt.ArrayLike, bias: npt.ArrayLike, lr: float
) -> dict[str, np.ndarray]:
    w = np.asarray(kernel, np.float64).reshape(-1, 1)
    return {
        "fit used its default batch_size of 32, so it took more than one step: pass batch_size=len(X)": l3.fit_linear(
            X, y, kernel, bias, lr=lr, epochs=1, batch_size=32
        )[0],
        "the learning rate was not used (SGD's default is 0.01)": one_step(X, y, kernel, bias, 0.01),
        "the weights did not move: the update was not applied to the variables": w,
    }
