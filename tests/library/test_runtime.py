"""Do the grading seed, thread settings and stand-ins behave as the notebooks rely on?"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfladder import runtime, seeds


def test_is_the_grading_seed_read_from_the_environment(monkeypatch):
    monkeypatch.delenv(seeds.SEED_ENV, raising=False)
    assert seeds.grading_seed() == seeds.DEFAULT_SEED
    monkeypatch.setenv(seeds.SEED_ENV, "99")
    assert seeds.grading_seed() == 99
    monkeypatch.setenv(seeds.SEED_ENV, "ninety")
    with pytest.raises(ValueError, match="TFLADDER_GRADING_SEED must be a non-negative whole number"):
        seeds.grading_seed()


def test_do_hidden_inputs_change_with_the_seed_and_the_test(monkeypatch):
    monkeypatch.setenv(seeds.SEED_ENV, "1")
    a = seeds.rng("l1_mse_loss_values").normal(size=3)
    assert np.array_equal(a, seeds.rng("l1_mse_loss_values").normal(size=3))
    assert not np.array_equal(a, seeds.rng("l1_mse_loss_api").normal(size=3))
    monkeypatch.setenv(seeds.SEED_ENV, "2")
    assert not np.array_equal(a, seeds.rng("l1_mse_loss_values").normal(size=3))


def test_is_the_thread_count_validated(monkeypatch):
    monkeypatch.setenv(runtime.THREADS_ENV, "1")
    assert runtime.threads() == 1
    monkeypatch.setenv(runtime.THREADS_ENV, "0")
    with pytest.raises(ValueError, match="at least 1"):
        runtime.threads()


def _fresh_python(code):
    """Run `code` in a new Python with one TensorFlow thread and none of this run's TF_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "TFLADDER_"))}
    env[runtime.THREADS_ENV] = "1"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


@pytest.mark.slow  # a fresh Python importing TensorFlow (seconds): make test, not make check
def test_does_a_quiet_kernel_start_with_a_clean_stderr():
    code = (
        "from tfladder import runtime; runtime.quiet()\n"
        "import tensorflow as tf\n"
        "runtime.reproducible(0)\n"
        "print(tf.config.threading.get_intra_op_parallelism_threads(), float(tf.reduce_sum(tf.ones(3))))\n"
    )
    done = _fresh_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "3.0"]
    assert done.stderr == ""


@pytest.mark.slow  # a fresh Python importing TensorFlow (seconds): make test, not make check
def test_does_fit_on_arrays_train_the_same_without_autotuning():
    code = (
        "from tfladder import runtime; runtime.quiet()\n"
        "import json, numpy as np, tensorflow as tf\n"
        "from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter as A\n"
        "runtime.reproducible(0); runtime.reproducible(0)\n"
        "wrapped = A.get_tf_dataset; original = wrapped.__wrapped__\n"
        "X = np.random.default_rng(0).normal(size=(96, 4)).astype('float32'); y = X @ np.ones((4, 1), 'float32')\n"
        "def fit():\n"
        "    tf.keras.utils.set_random_seed(0)\n"
        "    m = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(3, activation='relu'), "
        "tf.keras.layers.Dense(1)])\n"
        "    m.compile(optimizer='adam', loss='mse')\n"
        "    h = m.fit(X, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0).history\n"
        "    return h, [w.tolist() for w in m.get_weights()]\n"
        "off = fit(); A.get_tf_dataset = original; on = fit()\n"
        "options = lambda build: build(A(X, y, batch_size=16, shuffle=True)).options().autotune.enabled\n"
        "print(json.dumps({'same': off == on, 'off': options(wrapped), 'on': options(original) is not False,\n"
        "                  'once': not getattr(original, 'tfladder_autotune_off', False)}))\n"
    )
    done = _fresh_python(code)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"same": True, "off": False, "on": True, "once": True}
