"""The grading seed, and the random generators hidden tests draw their inputs from.

Hidden tests use fresh inputs drawn from a seed chosen when grading (environment variable
TFLADDER_GRADING_SEED), so knowing the test code does not let anyone hard-code the answers.
Local runs use a fixed default so a result can be reproduced.
"""

import os
import zlib

import numpy as np

SEED_ENV = "TFLADDER_GRADING_SEED"
DEFAULT_SEED = 2718


def grading_seed():
    """The grading seed: $TFLADDER_GRADING_SEED, or the fixed default for local runs."""
    value = os.environ.get(SEED_ENV, "")
    if not value:
        return DEFAULT_SEED
    try:
        seed = int(value)
    except ValueError:
        raise ValueError(f"{SEED_ENV} must be a non-negative whole number, not {value!r}") from None
    if seed < 0:
        raise ValueError(f"{SEED_ENV} must be a non-negative whole number, not {seed}")
    return seed


def rng(name):
    """A numpy Generator for the test named `name` (a grade id), from the grading seed."""
    return np.random.default_rng([grading_seed(), zlib.crc32(name.encode("utf-8"))])
