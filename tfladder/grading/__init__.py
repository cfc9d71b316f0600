"""Grading: the kernel computes, the grader judges.

execute (nbgrader's Execute step, replaced: student cells in the kernel, test cells in the judge),
judge (runs a test cell outside the kernel), api_reading (which API level the student's code
uses, read from its source), grade (`tfladder grade`: safe grading of a class), parallel (workers
that execute notebooks ahead of nbgrader), replay (nbgrader taking a worker's execution), tamper
(static scan), restore (a tampered notebook put back in shape), scores and results (what the
gradebook and the run reports say), selfcheck (`tfladder check`), progress.
"""
