"""Hostile submissions of level 1, one per attack in shared/grading-security.md, with what each must get.

Every case is a student of one batch graded by `tfladder grade` (tests/test_hostile_grading.py).
A case starts from the reference answers (`base="reference"`, 24 autograded points), from the
blank release (`base="release"`, 0 points) or from the honest mistake "forgot the bias" (22 points:
l1_linear_forward_values lost), and then:

- `answers`: solution cells replaced; `{reference}` stands for that cell's reference answer, so
  hostile code can run before or after a correct definition;
- `edit`: a function that tampers with the notebook's cells or metadata;
- `raw`: the bytes submitted instead of a notebook (malformed input); `filename` renames it;
- `files`: extra files submitted next to the notebook.

Expected outcome: `points` (autograded total), `flagged` (must be marked for review), `failed`
(graded as blank with a reason containing this text), `denied` (how many "DENIED" lines the
hostile cell prints: each is one forbidden action that failed; an "ALLOWED" line is a breach).

Every hostile action is bounded in time and size, so the batch is safe to run anywhere: loops end
on their own after a minute, allocations stop at the sandbox's memory limit, forks are reaped.
"""

import copy
import json
from dataclasses import dataclass, field

from nbformat.v4 import new_output

REFERENCE_POINTS = 24
FORGOT_BIAS = {"l1_linear_forward": """
def linear_forward(X, w, b):
    return tf.matmul(tf.convert_to_tensor(X, dtype=tf.float32), w)
"""}
FORGOT_BIAS_POINTS = 22
# Losing the exercise whose solution cell kills the kernel (and the three tests after it).
WITHOUT_TRAIN = REFERENCE_POINTS - 4

# Prints DENIED or ALLOWED for one forbidden action; defined in the hostile cell itself.
ATTEMPT = '''
def _attempt(label, action):
    try:
        action()
    except Exception as error:
        print("DENIED", label, type(error).__name__)
    else:
        print("ALLOWED", label)
'''


@dataclass
class Hostile:
    name: str
    family: str
    about: str
    base: str = "reference"
    answers: dict = field(default_factory=dict)
    edit: object = None
    raw: bytes = None
    filename: str = None
    files: dict = field(default_factory=dict)
    points: int = REFERENCE_POINTS
    flagged: bool = True
    failed: str = None
    denied: int = 0


def after(code, cell="l1_linear_forward"):
    """The reference answer of `cell`, then the hostile code."""
    return {cell: "{reference}\n" + code}


def before(code, cell="l1_linear_forward"):
    return {cell: code + "\n{reference}"}


# -- notebook edits ------------------------------------------------------------------------------
def _tests(nb):
    return [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")
            and not c["metadata"]["nbgrader"].get("solution") and c.cell_type == "code"]


def edit_tests_to_print(nb):
    for cell in _tests(nb):
        cell.source = 'print("all tests passed")'


def delete_tests(nb):
    tests = {id(c) for c in _tests(nb)}
    nb.cells = [c for c in nb.cells if id(c) not in tests]


def raise_points_and_unlock(nb):
    for cell in _tests(nb):
        cell.metadata.nbgrader["points"] = 100
        cell.metadata.nbgrader["locked"] = False


def tests_to_markdown(nb):
    for cell in _tests(nb):
        cell.cell_type = "markdown"
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def duplicate_a_test(nb):
    first = _tests(nb)[0]
    nb.cells.insert(nb.cells.index(first), copy.deepcopy(first))


def tag_tests_skip(nb):
    for cell in _tests(nb):
        cell.metadata["tags"] = ["skip-execution", "raises-exception"]


def prefill_outputs(nb):
    for cell in _tests(nb):
        cell.outputs = [new_output("execute_result", data={"text/plain": str(cell.metadata.nbgrader["points"])},
                                   execution_count=1)]
        cell.execution_count = 1


def case_list(course, grader_port):
    """Every hostile case; `course` is the course folder, `grader_port` a TCP port the grader listens on."""
    return [
        # -- time ---------------------------------------------------------------------------------
        Hostile("t_infinite_loop", "time", "a busy loop after a correct answer; interrupted at the cell time-out",
                answers=after("while True:\n    pass", "l1_sgd_step")),
        Hostile("t_swallows_interrupts", "time",
                "a loop that swallows KeyboardInterrupt: the kernel is given up, later exercises are lost",
                answers=after("import time\n_end = time.time() + 60\nwhile time.time() < _end:\n"
                              "    try:\n        time.sleep(0.01)\n    except KeyboardInterrupt:\n        pass",
                              "l1_train"), points=WITHOUT_TRAIN),
        Hostile("t_sleep_loop", "time", "a sleeping loop after a correct answer",
                answers=after("import time\nfor _ in range(600):\n    time.sleep(0.1)", "l1_train")),
        # -- memory, disk, output -----------------------------------------------------------------
        Hostile("m_huge_allocation", "memory", "one allocation far beyond the memory limit",
                answers=after("_huge = np.ones(10**12)")),
        Hostile("m_slow_growth", "memory", "memory grows 256 MiB at a time until refused",
                answers=after("_chunks = []\ntry:\n    for _ in range(64):\n"
                              "        _chunks.append(np.ones(2**25))\nexcept MemoryError:\n"
                              "    print('DENIED memory')\n_chunks.clear()"), denied=1),
        Hostile("m_threads_allocating", "memory", "four threads allocate until refused",
                answers=after("import threading\n_held = []\n"
                              "def _grow():\n    try:\n        for _ in range(64):\n"
                              "            _held.append(np.ones(2**25))\n    except MemoryError:\n        pass\n"
                              "_threads = [threading.Thread(target=_grow) for _ in range(4)]\n"
                              "[t.start() for t in _threads]; [t.join() for t in _threads]\n"
                              "print('DENIED threads', len(_held) < 4 * 64)\n_held.clear()"), denied=1),
        Hostile("m_fill_scratch", "disk", "writes files in /tmp until the scratch space is full",
                answers=after("import os\n_block = b'x' * 2**20\ntry:\n    for _i in range(1024):\n"
                              "        with open(f'/tmp/fill_{_i // 16}', 'ab') as _f:\n"
                              "            _f.write(_block)\nexcept OSError:\n    print('DENIED disk')"), denied=1),
        Hostile("m_output_flood", "output", "prints 20 MB",
                answers=after("for _i in range(200_000):\n    print('x' * 100)")),
        # -- processes ----------------------------------------------------------------------------
        Hostile("p_fork_bomb", "processes", "forks until refused, then reaps its children",
                answers=after("import os, time\n_kids = []\ntry:\n    for _ in range(2000):\n"
                              "        _pid = os.fork()\n        if _pid == 0:\n"
                              "            time.sleep(2)\n            os._exit(0)\n        _kids.append(_pid)\n"
                              "except OSError:\n    print('DENIED fork', len(_kids))\n"
                              "for _pid in _kids:\n    os.waitpid(_pid, 0)"), denied=1),
        Hostile("p_detached_daemon", "processes", "leaves a detached process behind",
                answers=after("import subprocess\nsubprocess.Popen(['sleep', '300'], start_new_session=True, "
                              "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)")),
        Hostile("p_kill_parent", "processes", "kills its parent process",
                answers=after(ATTEMPT + "import os, signal\n"
                              "_attempt('kill parent', lambda: os.kill(os.getppid(), signal.SIGKILL))"), denied=1),
        Hostile("p_kill_everything", "processes", "signals every process it may (the grader, other kernels)",
                answers=after(ATTEMPT + "import os, signal\n"
                              "_attempt('kill every process', lambda: os.kill(-1, signal.SIGKILL))"), denied=1),
        # -- network ------------------------------------------------------------------------------
        Hostile("n_network", "network", "an outbound connection, a DNS lookup, a port on the grading host",
                answers=after(ATTEMPT + "import socket\n"
                              "_attempt('outbound', lambda: socket.create_connection(('1.1.1.1', 53), timeout=3))\n"
                              "_attempt('dns', lambda: socket.getaddrinfo('pypi.org', 443))\n"
                              f"_attempt('grader port', lambda: socket.create_connection(('127.0.0.1', {grader_port}), "
                              "timeout=3))"), denied=3),
        # -- files --------------------------------------------------------------------------------
        Hostile("f_read_course", "files", "reads source/ and the gradebook by absolute and relative paths",
                answers=after(ATTEMPT + "import os\n"
                              f"_attempt('source absolute', lambda: open('{course}/source/01_low_level_ops/"
                              "01_low_level_ops.ipynb').read())\n"
                              f"_attempt('gradebook absolute', lambda: open('{course}/gradebook.db', 'rb').read())\n"
                              "_attempt('source relative', lambda: open('../source/01_low_level_ops/"
                              "01_low_level_ops.ipynb').read())\n"
                              "_attempt('source two up', lambda: open('../../source/01_low_level_ops/"
                              "01_low_level_ops.ipynb').read())\n"
                              f"_attempt('other students', lambda: os.listdir('{course}/submitted'))"), denied=5),
        Hostile("f_write_outside", "files", "writes the gradebook, startup files, .pth files, the course",
                answers=after(ATTEMPT + "import os, site, sys\n"
                              f"_attempt('gradebook', lambda: open('{course}/gradebook.db', 'ab').write(b'x'))\n"
                              f"_attempt('course', lambda: open('{course}/planted.txt', 'w').write('x'))\n"
                              "_attempt('pth', lambda: open(site.getsitepackages()[0] + '/zz_planted.pth', 'w')"
                              ".write('import os'))\n"
                              "_attempt('startup', lambda: open('/root/.ipython/profile_default/startup/"
                              "00-planted.py', 'w').write('checks = None'))\n"
                              "_attempt('usr', lambda: open('/usr/lib/planted.txt', 'w').write('x'))\n"
                              "_attempt('etc', lambda: open('/etc/passwd', 'a').write('x'))\n"
                              "_attempt('submission copy', lambda: open('/tmp/submission/planted.txt', 'w')"
                              ".write('x'))"), denied=7),
        Hostile("f_shadow_modules", "files", "submits modules that shadow numpy and the kernel launcher",
                answers=after("import os\nprint('FILES', sorted(os.listdir('.')))"),
                files={"numpy.py": "raise SystemExit('shadowed')\n",
                       "ipykernel_launcher.py": "raise SystemExit('shadowed')\n",
                       "sitecustomize.py": "import os; os._exit(3)\n", "planted.pth": "import os; os._exit(4)\n",
                       ".ipython/profile_default/startup/00.py": "checks = None\n",
                       "helper/__init__.py": "x = 1\n", "data.csv": "1,2\n"}),
        # -- test tampering -----------------------------------------------------------------------
        Hostile("x_edit_tests", "tampering", "every test cell replaced by a print", base="release",
                edit=edit_tests_to_print, points=0),
        Hostile("x_delete_tests", "tampering", "every test cell deleted", base="release",
                edit=delete_tests, points=0),
        Hostile("x_points_and_locks", "tampering", "test cells unlocked and worth 100 points each",
                answers=FORGOT_BIAS, edit=raise_points_and_unlock, points=FORGOT_BIAS_POINTS),
        Hostile("x_tests_to_markdown", "tampering", "test cells turned into markdown", base="release",
                edit=tests_to_markdown, points=0),
        Hostile("x_duplicate_ids", "tampering", "a test cell duplicated (two cells with one grade id)",
                base="release", edit=duplicate_a_test, points=0),
        Hostile("x_skip_tags", "tampering", "skip-execution and raises-exception tags on test cells",
                base="release", edit=tag_tests_skip, points=0),
        Hostile("x_prefilled_outputs", "tampering", "test cells submitted with full-mark outputs",
                base="release", edit=prefill_outputs, points=0),
        Hostile("x_patch_checks", "tampering", "a wrong answer, and the check functions patched to pass",
                answers={"l1_linear_forward": FORGOT_BIAS["l1_linear_forward"]
                         + "\nchecks.close = lambda *a, **k: None\nchecks.fail = lambda *a, **k: None"},
                points=FORGOT_BIAS_POINTS),
        Hostile("x_patch_numpy", "tampering", "a wrong answer, and numpy's comparisons patched to agree",
                answers={"l1_linear_forward": FORGOT_BIAS["l1_linear_forward"]
                         + "\nnp.allclose = lambda *a, **k: True\nnp.isclose = lambda a, b, **k: np.ones_like(a, bool)"
                         "\nnp.testing.assert_allclose = lambda *a, **k: None"},
                points=FORGOT_BIAS_POINTS),
        Hostile("x_rebind_checks", "tampering", "a wrong answer, and `checks` rebound to an object that accepts all",
                answers={"l1_linear_forward": FORGOT_BIAS["l1_linear_forward"]
                         + "\nclass _Anything:\n    def __getattr__(self, name):\n"
                         "        return lambda *a, **k: None\nchecks = _Anything()"},
                points=FORGOT_BIAS_POINTS),
        Hostile("x_lying_objects", "tampering", "mse_loss returns an object equal to everything",
                answers={"l1_mse_loss": "class _Liar(float):\n    def __eq__(self, other):\n        return True\n"
                         "    def __array__(self, *a, **k):\n        raise TypeError('no')\n"
                         "def mse_loss(y_true, y_pred):\n    return _Liar(0.0)"},
                points=REFERENCE_POINTS - 4),
        Hostile("x_input_transformer", "tampering", "an input transformer that blanks every later cell",
                base="release", answers={"l1_linear_forward":
                                         "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])"},
                points=0),
        Hostile("x_custom_exception_handler", "tampering", "a custom exception handler that swallows errors",
                base="release", answers={"l1_linear_forward":
                                         "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"},
                points=0),
        Hostile("x_no_tracebacks", "tampering", "traceback display switched off", base="release",
                answers={"l1_linear_forward": "get_ipython().showtraceback = lambda *a, **k: None"}, points=0),
        Hostile("x_display_before_failing", "tampering",
                "answers that display a full-mark number and then fail", base="release",
                answers={"l1_linear_forward": "def linear_forward(X, w, b):\n"
                         "    get_ipython().displayhook(4.0)\n    raise AssertionError('wrong')"},
                points=0),
        Hostile("x_forge_grader_log", "tampering",
                "prints, to the kernel process's own stdout, nbgrader's failure line for honest_reference",
                answers=after("import os, sys\nos.write(sys.stdout.fileno(), b'[AutogradeApp | ERROR] There was "
                              "an error processing assignment: /course/submitted/honest_reference/01_low_level_ops\\n')")),
        Hostile("x_exit", "tampering", "os._exit in the last exercise: earlier points stay",
                answers=before("import os\nos._exit(0)", "l1_train"), points=WITHOUT_TRAIN),
        # -- malformed input ----------------------------------------------------------------------
        Hostile("bad_json", "malformed", "not JSON", raw=b'{"cells": [', points=0, failed="not a valid notebook"),
        Hostile("bad_nbformat", "malformed", "nbformat 3", points=0, failed="nbformat 3",
                raw=json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}).encode()),
        Hostile("bad_utf8", "malformed", "Latin-1 bytes", raw='{"cells": "caf\xe9"}'.encode("latin-1"),
                points=0, failed="not UTF-8"),
        Hostile("bad_empty", "malformed", "a zero-byte file", raw=b"", points=0, failed="is empty"),
        Hostile("bad_missing", "malformed", "no notebook at all, only a text file", raw=None,
                filename="", files={"notes.txt": "I forgot\n"}, points=0, failed="no 01_low_level_ops.ipynb"),
        Hostile("bad_other_assignment", "malformed", "the notebook of level 2", raw="level 2",
                points=0, failed="not a notebook of 01_low_level_ops"),
        Hostile("bad_renamed", "malformed", "the reference answers, renamed", filename="my_solution.ipynb"),
        # -- honest work in the same batch keeps its exact score ----------------------------------
        Hostile("honest_reference", "honest", "the reference answers", flagged=False),
        Hostile("honest_forgot_bias", "honest", "forgot the bias", answers=FORGOT_BIAS,
                points=FORGOT_BIAS_POINTS, flagged=False),
    ]
