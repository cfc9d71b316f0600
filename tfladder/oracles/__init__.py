"""Independent numpy oracles: every exercise computed in float64 numpy, one module per level.

Each module also has `*_mistakes(...)` functions: the values that well-known mistakes produce on
the same inputs, keyed by a description written for the student. Checks name a mistake when a
student's answer matches one of them.
"""

# (rtol, atol) for float32 results against these float64 oracles (float32 and oneDNN change the
# last bits: docs/authoring.md). They live with the answer key, not in the notebook library: a
# student's kernel never holds them.
OP = (1e-5, 1e-6)  # a few ops on small inputs
STEP = (1e-5, 1e-6)  # one training step
EPOCHS = (1e-4, 1e-5)  # several epochs of training
EXACT = (0.0, 0.0)  # counts
