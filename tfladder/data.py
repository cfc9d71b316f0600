"""Synthetic data, generated from a seed, so nothing is ever downloaded.

- `linear_regression`: X, y from known weights plus noise (levels 1, 2, 4, 5).
- `patch_digits`: 28x28 grey images of the digits 0-9 drawn as seven-segment "patches", with
  random size, position, stroke width, brightness and noise; a stand-in for MNIST (level 3).
"""

from typing import NamedTuple

import numpy as np


class LinearData(NamedTuple):
    X: np.ndarray  # (n, d)
    y: np.ndarray  # (n, 1)
    w: np.ndarray  # (d, 1) true weights
    b: np.ndarray  # (1,) true bias


def linear_regression(n=200, d=3, *, noise=0.1, seed=0, dtype="float32", w=None, b=None):
    """Data from y = X @ w + b + noise with X ~ N(0, 1); true weights drawn unless given."""
    if n < 1 or d < 1:
        raise ValueError(f"need n >= 1 and d >= 1, got n={n}, d={d}")
    rng = np.random.default_rng(seed)
    w = rng.uniform(-2.0, 2.0, size=(d, 1)) if w is None else np.asarray(w, np.float64).reshape(d, 1)
    b = rng.uniform(-1.0, 1.0, size=(1,)) if b is None else np.asarray(b, np.float64).reshape(1)
    X = rng.normal(size=(n, d))
    y = X @ w + b + noise * rng.normal(size=(n, 1))
    return LinearData(X.astype(dtype), y.astype(dtype), w.astype(dtype), b.astype(dtype))


# Seven segments: a (top), b (top right), c (bottom right), d (bottom), e (bottom left),
# f (top left), g (middle).
SEGMENTS = {
    0: "abcdef",
    1: "bc",
    2: "abdeg",
    3: "abcdg",
    4: "bcfg",
    5: "acdfg",
    6: "acdefg",
    7: "abc",
    8: "abcdefg",
    9: "abcdfg",
}
IMAGE_SIZE = 28
NUM_CLASSES = 10


def _draw(segments, top, left, height, width, thick, brightness):
    image = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.float64)
    mid = top + height // 2
    bottom = top + height
    right = left + width
    boxes = {
        "a": (top, top + thick, left, right),
        "g": (mid - thick // 2, mid - thick // 2 + thick, left, right),
        "d": (bottom - thick, bottom, left, right),
        "f": (top, mid + 1, left, left + thick),
        "e": (mid, bottom, left, left + thick),
        "b": (top, mid + 1, right - thick, right),
        "c": (mid, bottom, right - thick, right),
    }
    for s in segments:
        r0, r1, c0, c1 = boxes[s]
        image[r0:r1, c0:c1] = brightness
    return image


def patch_digits(n=2000, *, seed=0, noise=0.1):
    """n images (n, 28, 28, 1) float32 in [0, 1] and one-hot labels (n, 10) float32.

    Classes are balanced and shuffled. Every image has its own size, stroke width, brightness,
    a shift of up to 2 pixels from the centre, and pixel noise, so a model must learn shapes, not
    pixels. The level 3 CNN reaches about 0.99 validation accuracy on 2,000 of them in 3 epochs.
    """
    if n < 1:
        raise ValueError(f"need n >= 1, got {n}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % NUM_CLASSES)
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float64)
    for i, label in enumerate(labels):
        height = int(rng.integers(17, 21))
        width = int(rng.integers(10, 14))
        thick = int(rng.integers(3, 5))
        top = (IMAGE_SIZE - height) // 2 + int(rng.integers(-2, 3))
        left = (IMAGE_SIZE - width) // 2 + int(rng.integers(-2, 3))
        top = min(max(top, 1), IMAGE_SIZE - 1 - height)
        left = min(max(left, 1), IMAGE_SIZE - 1 - width)
        brightness = rng.uniform(0.7, 1.0)
        images[i] = _draw(SEGMENTS[int(label)], top, left, height, width, thick, brightness)
    images += noise * rng.normal(size=images.shape)
    images = np.clip(images, 0.0, 1.0)
    one_hot = np.eye(NUM_CLASSES)[labels]
    return images[..., None].astype("float32"), one_hot.astype("float32")
