"""nbgrader configuration for the tfladder course, tuned for TensorFlow and untrusted code.

Every nbgrader command run in this folder reads this file (`tfladder` commands run them here).
Why each line is there: docs/grading.md ("The course's nbgrader config").
"""

import secrets

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.converters import Autograde
from nbgrader.preprocessors import ClearHiddenTests, Execute, GetGrades

from tfladder.grading.execute import JudgedExecute

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

# The kernel computes, the grader judges: every autograde of this course (`nbgrader autograde`,
# formgrader's Autograde button, `tfladder autograde`, `tfladder grade`) runs the student's cells
# in the kernel and every test cell in nbgrader's own process, from the gradebook's copy (hidden
# tests, oracles, expected values and tolerances never enter the student's kernel). Kernels run
# in the sandbox wherever it can start (as root, with bubblewrap); `tfladder grade` adds the tamper
# scan, restoring tampered cells, flags and parallel workers.
c.Autograde.autograde_preprocessors = [
    JudgedExecute if p is Execute else p
    for p in Autograde.class_traits()["autograde_preprocessors"].make_dynamic_default()
]

# nbgrader's own feedback pages (`nbgrader generate_feedback`, formgrader's Generate Feedback
# button) would show the autograded notebook's test cells with their hidden tests: cut them out,
# as the release does. (The tests' outputs are the judge's messages; `tfladder feedback` writes
# pages of its own from them.)
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, ClearHiddenTests]

# The course id also names the course in formgrader and in the exchange.
c.CourseDirectory.course_id = "tfladder"

# Files in source/<assignment>/ that must never be copied into release/ or graded: editor
# checkpoints, caches, anything an instructor builds next to a notebook, and the explanations of
# the reference answers (explanations.md, for `tfladder solutions`).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py", ".*", "explanations.md"]

# Kernels nbgrader starts (autograde, validate, `tfladder check` and `grade`) run with no one to
# look at them: mark them, so that the notebooks' explorations (tfladder.explore) print one line
# instead of drawing widgets and training models. No name is bound in the student's namespace.
c.Execute.extra_arguments = ["--IPKernelApp.exec_lines=__import__('os').environ.__setitem__('TFLADDER_GRADING', '1')"]

# Per-cell limit in seconds. The slowest graded cell (training a small CNN for a few epochs on
# 2 CPU cores) takes well under a minute; a cell past this scores 0 and grading goes on.
c.Execute.timeout = 120

# Starting a kernel includes `import tensorflow` (about 2 s of CPU, far more on a loaded machine).
c.Execute.startup_timeout = 120

# Stock nbgrader skips cells tagged "skip-execution": a student who adds that tag to a test cell
# gets full marks for a test that never ran. Skipping is keyed to a random tag made anew each time
# this file is loaded, so no submission can know it.
c.Execute.skip_cells_with_tag = "tfladder-skip-" + secrets.token_hex(16)

# Any stderr output scores a test cell 0. TensorFlow's C++ logs ("WARNING: All log messages
# before absl::InitializeLog() ..." and lines like "I0000 ... port.cc:153] oneDNN custom
# operations are on") are not the student's fault: drop stderr outputs made of them.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(^|\n)(WARNING: All log messages before absl|[IWE]\d{4} .*\.cc:\d+\])"

# A test cell deleted from a submission is put back from the gradebook and run, instead of being
# flagged for manual grading.
c.OverwriteCells.add_missing_cells = True

# What a student sees in a solution cell of the release.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
