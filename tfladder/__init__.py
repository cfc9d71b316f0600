"""tfladder: an autograded course kit that climbs TensorFlow's API levels.

Modules, one job each (none of them imports TensorFlow at import time except those that check
TensorFlow values):

- runtime   quiet, reproducible start of a notebook kernel
- seeds     the grading seed and the random generators hidden tests draw from
- data      synthetic data: linear regression, 28x28 "patch digits"
- oracles   independent numpy implementations of every exercise, and of its known mistakes
- checks    assertions whose failures read well for a student
- spies     which APIs a student's code called (GradientTape, Keras, optimizers, fit, numpy)
- notebooks reading and writing nbgrader notebooks (grade ids, solution regions)
- fixtures  fixture submissions: a release plus replaced answers plus expected points
- course    nbgrader operations on a course directory: release, autograde, export
- scores    points per student and exercise from the gradebook, as a table
- demo      the `make demo` pipeline
- cli       the `tfladder` command line
"""

__version__ = "0.1.0"
