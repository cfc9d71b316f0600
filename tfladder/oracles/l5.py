"""Level 5 oracles: what a tf.data pipeline over (X, y) must yield, in float64 numpy."""

import numpy as np
import numpy.typing as npt


def batch_sizes(n: int, batch_size: int, drop_remainder: bool = False) -> list[int]:
    """Sizes of the batches of n examples."""
    full, rest = divmod(n, batch_size)
    return [batch_size] * full + ([rest] if rest and not drop_remainder else [])


def standardize(X: npt.ArrayLike, mean: npt.ArrayLike, std: npt.ArrayLike) -> np.ndarray:
    return (np.asarray(X, np.float64) - np.asarray(mean, np.float64)) / np.asarray(std, np.float64)


def standardize_mistakes(X: npt.ArrayLike, mean: npt.ArrayLike, std: npt.ArrayLike) -> dict[str, np.ndarray]:
    X = np.asarray(X, np.float64)
    return {
        "the features were divided by std before subtracting the mean: use (x - mean) / std": X / np.asarray(std)
        - np.asarray(mean),
        "only the mean was subtracted; divide by std too": X - np.asarray(mean),
    }


def unweighted_mean(values: npt.ArrayLike) -> float:
    return float(np.mean(np.asarray(values, np.float64)))


def unweighted_mean_mistakes(values: npt.ArrayLike, sizes: npt.ArrayLike) -> dict[str, float]:
    values, sizes = np.asarray(values, np.float64), np.asarray(sizes, np.float64)
    return {
        "the batch losses were weighted by batch size; this exercise asks for the unweighted mean "
        "of the losses step_fn returned": float(np.sum(values * sizes) / np.sum(sizes)),
        "the last batch was left out": float(np.mean(values[:-1])),
        "the losses were summed instead of averaged": float(np.sum(values)),
    }
