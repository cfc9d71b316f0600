"""Level 2 oracles: Dense layers, parameter counts, running sums and small MLPs in float64 numpy."""

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import numpy.typing as npt

ACTIVATIONS: dict[str | None, Callable[[np.ndarray], np.ndarray]] = {
    None: lambda z: z,
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
}


def activate(z: npt.ArrayLike, activation: str | None) -> np.ndarray:
    """Apply an activation given by name (None or "linear" for none)."""
    try:
        return ACTIVATIONS[activation](np.asarray(z, dtype=np.float64))
    except KeyError:
        raise ValueError(f"no oracle for activation {activation!r}") from None


def dense_forward(
    x: npt.ArrayLike, kernel: npt.ArrayLike, bias: npt.ArrayLike, activation: str | None = None
) -> np.ndarray:
    """activation(x @ kernel + bias) for x (n, d), kernel (d, units), bias (units,)."""
    x = np.asarray(x, dtype=np.float64)
    z = x @ np.asarray(kernel, dtype=np.float64) + np.asarray(bias, dtype=np.float64).reshape(1, -1)
    return activate(z, activation)


def dense_forward_mistakes(
    x: npt.ArrayLike, kernel: npt.ArrayLike, bias: npt.ArrayLike, activation: str | None = None
) -> dict[str, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    bias = np.asarray(bias, dtype=np.float64).reshape(1, -1)
    found = {
        "the bias was not applied: set both weights with layer.set_weights([kernel, bias])": activate(
            x @ kernel, activation
        ),
    }
    if activation not in (None, "linear"):
        found["the activation was not applied: pass activation=activation to Dense"] = x @ kernel + bias
    return found


def dense_param_count(input_dim: int, units: int, use_bias: bool = True) -> int:
    """Trainable parameters of Dense(units) on input_dim features."""
    return input_dim * units + (units if use_bias else 0)


def dense_param_count_mistakes(input_dim: int, units: int, use_bias: bool = True) -> dict[str, int]:
    return {
        "the bias was counted although use_bias=False: pass use_bias to Dense": input_dim * units + units,
        "the bias was left out although use_bias=True": input_dim * units,
        "counted the weight tensors (a kernel and a bias), not the numbers in them: count_params() "
        "counts the numbers": 2 if use_bias else 1,
    }


def running_totals(batches: Iterable[npt.ArrayLike]) -> list[np.ndarray]:
    """The totals a RunningSum returns after each batch: cumulative column sums."""
    totals, total = [], None
    for batch in batches:
        s = np.asarray(batch, dtype=np.float64).sum(axis=0)
        total = s if total is None else total + s
        totals.append(total.copy())
    return totals


def running_totals_mistakes(batches: Iterable[npt.ArrayLike]) -> dict[str, list[np.ndarray]]:
    """Known mistakes, each as the list of totals it would return."""
    arrays = [np.asarray(b, dtype=np.float64) for b in batches]
    right = running_totals(arrays)
    return {
        "the state does not persist: each call returned only its own batch's column sums": [
            b.sum(axis=0) for b in arrays
        ],
        "the column means were added instead of the column sums": running_totals(
            [b.mean(axis=0, keepdims=True) for b in arrays]
        ),
        "call returned the variable itself, so every value returned earlier changed with later "
        "calls: return a copy (tf.identity(self.total) or tf.convert_to_tensor(self.total))": [right[-1]] * len(arrays),
    }


def mlp_forward(x: npt.ArrayLike, weights: Iterable[npt.ArrayLike]) -> np.ndarray:
    """Linear -> relu -> Linear -> relu -> Linear with weights [k1, b1, k2, b2, k3, b3]."""
    h = np.asarray(x, dtype=np.float64)
    k1, b1, k2, b2, k3, b3 = (np.asarray(w, dtype=np.float64) for w in weights)
    h = np.maximum(h @ k1 + b1, 0.0)
    h = np.maximum(h @ k2 + b2, 0.0)
    return h @ k3 + b3


def mlp_forward_mistakes(x: npt.ArrayLike, weights: Iterable[npt.ArrayLike]) -> dict[str, np.ndarray]:
    h = np.asarray(x, dtype=np.float64)
    k1, b1, k2, b2, k3, b3 = (np.asarray(w, dtype=np.float64) for w in weights)
    return {
        "relu is missing between the Linear layers": ((h @ k1 + b1) @ k2 + b2) @ k3 + b3,
        "relu was applied after the last Linear layer too; the block's output is linear": np.maximum(
            mlp_forward(x, weights), 0.0
        ),
    }


def stack_forward(
    x: npt.ArrayLike, layer_weights: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]], activations: Sequence[str | None]
) -> np.ndarray:
    """Apply dense layers in order: layer_weights [(kernel, bias), ...] with their activations."""
    h = np.asarray(x, dtype=np.float64)
    for (kernel, bias), activation in zip(layer_weights, activations):
        h = dense_forward(h, kernel, bias, activation)
    return h


def stack_forward_mistakes(
    x: npt.ArrayLike, layer_weights: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]], activations: Sequence[str | None]
) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    first = dense_forward(x, *layer_weights[0], activations[0])
    found["only the first layer was applied: loop over all the layers, feeding each one's output to the next"] = first
    last = (
        dense_forward(x, *layer_weights[-1], activations[-1])
        if np.shape(layer_weights[-1][0])[0] == np.shape(x)[1]
        else None
    )
    if last is not None:
        found["only the last layer's output on x was returned: feed each layer's output to the next"] = last
    return found
