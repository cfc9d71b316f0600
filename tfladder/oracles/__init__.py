"""Independent numpy oracles: every exercise computed in float64 numpy, one module per level.

Each module also has `*_mistakes(...)` functions: the values that well-known mistakes produce on
the same inputs, keyed by a description written for the student. Checks name a mistake when a
student's answer matches one of them.
"""
