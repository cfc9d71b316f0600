"""tfladder: an autograded course kit that climbs TensorFlow's API levels.

The notebook library, what the course's notebooks import and all a graded kernel gets
(`tfladder.notebook_lib` builds it apart): runtime, seeds, data, checks, spies, wire, probe.
None of it knows an answer.

The instructor's side: oracles (the answer key), judge (test cells run outside the kernel),
api_reading, execute, authoring, restore, tamper, notebooks, fixtures, course, grade, parallel,
zygote, sandbox, kernel_manager, scores, results, selfcheck, solutions, feedback, report,
progress, demo, cli. See README.md, Layout.
"""

__version__ = "0.1.0"
