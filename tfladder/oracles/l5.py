"""Level 5 oracles: what a tf.data pipeline over (X, y) must yield, in float64 numpy."""

import numpy as np


def batch_sizes(n, batch_size, drop_remainder=False):
    """Sizes of the batches of n examples."""
    full, rest = divmod(n, batch_size)
    return [batch_size] * full + ([rest] if rest and not drop_remainder else [])


def standardize(X, mean, std):
    return (np.asarray(X, np.float64) - np.asarray(mean, np.float64)) / np.asarray(std, np.float64)


def standardize_mistakes(X, mean, std):
    X = np.asarray(X, np.float64)
    return {
        "the features were divided by std before subtracting the mean: use (x - mean) / std": X / np.asarray(std)
        - np.asarray(mean),
        "only the mean was subtracted; divide by std too": X - np.asarray(mean),
    }


def unweighted_mean(values):
    return float(np.mean(np.asarray(values, np.float64)))


def unweighted_mean_mistakes(values, sizes):
    values, sizes = np.asarray(values, np.float64), np.asarray(sizes, np.float64)
    return {
        "the batch losses were weighted by batch size; this exercise asks for the unweighted mean "
        "of the losses step_fn returned": float(np.sum(values * sizes) / np.sum(sizes)),
        "the last batch was left out": float(np.mean(values[:-1])),
    }
