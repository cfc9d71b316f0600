"""tfladder: an autograded course kit that climbs TensorFlow's API levels.

Two audiences, two sets of rules (docs/architecture.md draws the tree):

- the notebook library, at the top of the package: runtime, seeds, data, checks, spies, wire,
  probe. It is what the course's notebooks import and all a graded kernel gets
  (`tfladder.course.notebook_lib` builds it apart). None of it knows an answer, and none of it
  imports the instructor's side, nbformat or nbgrader (tests/test_layout.py);
- the instructor's side, in subpackages named for their jobs: oracles (the answer key), course
  (the course on disk and nbgrader's commands), sandbox (where a graded kernel runs), grading
  (the kernel computes, the grader judges), reports (feedback, report, solutions), cli (the
  `tfladder` command, `python -m tfladder`).
"""

__version__ = "0.1.0"
