"""Quiet, reproducible start of a notebook kernel.

Call `quiet()` before TensorFlow is imported and `reproducible()` right after:

    from tfladder import runtime
    runtime.quiet()
    import tensorflow as tf
    runtime.reproducible(seed=0)
"""

import logging
import os
import sys
import warnings

# Set before TensorFlow is imported: no C++ log lines on stderr (a stderr line zeroes an nbgrader
# test cell). Only defaults: a value already in the environment wins, so graders and tests can
# switch oneDNN on to prove scores do not depend on it.
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "KERAS_BACKEND": "tensorflow",
}

THREADS_ENV = "TFLADDER_THREADS"
# Set in a kernel forked from `tfladder.sandbox.zygote`, which imported TensorFlow after quiet(): the
# import already happened the quiet way, so there is nothing to warn about.
PREIMPORTED_ENV = "TFLADDER_TF_PREIMPORTED"


def quiet():
    """Silence TensorFlow's start-up logs; must run before `import tensorflow`."""
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    if "tensorflow" in sys.modules and os.environ.get(PREIMPORTED_ENV) != "1":
        warnings.warn(
            "tfladder.runtime.quiet() ran after TensorFlow was imported; restart the kernel "
            "and run the setup cell first to keep TensorFlow's logs off stderr.",
            stacklevel=2,
        )


def threads():
    """Threads TensorFlow may use: $TFLADDER_THREADS, else at most 2."""
    value = os.environ.get(THREADS_ENV, "")
    if value:
        try:
            count = int(value)
        except ValueError:
            raise ValueError(f"{THREADS_ENV} must be a whole number, not {value!r}") from None
        if count < 1:
            raise ValueError(f"{THREADS_ENV} must be at least 1, not {count}")
        return count
    return max(1, min(2, os.cpu_count() or 1))


def reproducible(seed=0):
    """Seed Python, NumPy, TensorFlow and Keras, fix thread counts (and stop Keras's input pipeline
    for arrays from retuning its own), and mute Python-side logs."""
    import tensorflow as tf

    count = threads()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(count)
        tf.config.threading.set_inter_op_parallelism_threads(count)
    except RuntimeError:
        # TensorFlow already ran an op in this process; thread counts can no longer change.
        pass
    _array_input_without_autotuning()
    tf.keras.utils.set_random_seed(int(seed))
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    return seed


def _array_input_without_autotuning():
    """Turn tf.data's autotuning off in the input pipeline Keras builds for `fit(X, y)` on arrays.

    The pipeline (a parallel map and `prefetch(AUTOTUNE)`) is retuned while it runs, and with the
    thread counts fixed that tuning mostly waits: two kernels fitting the level 3 CNN side by side
    on 2 cores left a core idle for a fifth of the time. Without it, the same batches arrive in the
    same order, so every loss and weight is the same; only the waiting goes (see the README,
    "Measured"). Pipelines a student builds with `tf.data` are untouched. Keras 3 has no option for
    this, so its adapter's `get_tf_dataset` is wrapped, once; `tests/library/test_runtime.py` fails if a
    Keras upgrade moves it.
    """
    import tensorflow as tf

    try:
        from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter
    except ImportError:
        return
    build = getattr(ArrayDataAdapter, "get_tf_dataset", None)
    if build is None or getattr(build, "tfladder_autotune_off", False):
        return

    def get_tf_dataset(self):
        options = tf.data.Options()
        options.autotune.enabled = False
        return build(self).with_options(options)

    get_tf_dataset.tfladder_autotune_off = True  # type: ignore[attr-defined]  # a marker: applied once
    get_tf_dataset.__wrapped__ = build  # type: ignore[attr-defined]  # the original, as functools does
    ArrayDataAdapter.get_tf_dataset = get_tf_dataset
