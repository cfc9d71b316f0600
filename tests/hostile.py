"""Hostile submissions, one or more per attack family of docs/security.md, with what each must get.

Every case is a student of one batch graded by `tfladder grade` (tests/grading/test_hostile_grading.py).
Most are level 1; the families that attack the judge (harvesting answers, patching what checks,
input transformers, failure messages that carry the tests out) have a case on every level. A case
starts from the reference answers (`base="reference"`), from the blank release (`base="release"`,
0 points) or from an honest mistake (`answers` of a fixture, `points` its total), and then:

- `answers`: solution cells replaced; `{reference}` stands for that cell's reference answer, so
  hostile code can run before or after a correct definition;
- `cells`: cells of the student's own, [(after grade id, source)];
- `edit`: a function that tampers with the notebook's cells or metadata;
- `raw`: the bytes submitted instead of a notebook (malformed input); `filename` renames it;
- `files`: extra files submitted next to the notebook.

Expected outcome: `points` (autograded total), `flagged` (must be marked for review), `failed`
(graded as blank with a reason containing this text), `denied` (how many "DENIED" lines the
hostile cells print: each is one forbidden action that failed; an "ALLOWED" line is a breach).

Every hostile action is bounded in time and size, so the batch is safe to run anywhere: loops end
on their own after a minute, allocations stop at the sandbox's memory limit, forks are reaped.
"""

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from nbformat.v4 import new_code_cell, new_output

from tfladder.course import fixtures, notebook_lib, notebooks
from tfladder.grading import judge

REPO = Path(__file__).resolve().parents[1]
A = "01_low_level_ops"
LEVELS = ("01_low_level_ops", "02_layers", "03_keras_models", "04_custom_training", "05_data_pipelines")
FORGOT_BIAS = {
    "l1_linear_forward": """
def linear_forward(X, w, b):
    return tf.matmul(tf.convert_to_tensor(X, dtype=tf.float32), w)
"""
}


def fixture(name):
    """A fixture of any level, by name (`l2_dense_no_activation`)."""
    level = next(a for a in LEVELS if name.startswith(f"l{int(a[:2])}_"))
    return fixtures.load(REPO / "tests" / "fixtures" / level / f"{name}.toml")


def total(found):
    return sum(v for v in found.points.values() if isinstance(v, (int, float)))


_REFERENCE = fixture("l1_reference").points  # every graded cell's points, in notebook order
REFERENCE_POINTS = sum(p for p in _REFERENCE.values() if isinstance(p, int))
FORGOT_BIAS_POINTS = REFERENCE_POINTS - 2  # l1_linear_forward_values
# A kernel killed in l1_train's solution cell: what the test cells before it earned (the cells
# after it, in notebook order, get nothing from a dead kernel).
_BEFORE_TRAIN = list(_REFERENCE)[: list(_REFERENCE).index("l1_train_interface")]
WITHOUT_TRAIN = sum(p for cell, p in _REFERENCE.items() if cell in _BEFORE_TRAIN and isinstance(p, int))


# Per level: an honest mistake in one exercise (the answer the harvesting cases fall back on), that
# exercise, the points its tests are worth, and whether its API test reads the student's code
# (then code the reading cannot follow also costs the API point).
MISTAKES = {
    "01_low_level_ops": ("l1_forgot_bias", "l1_linear_forward", "linear_forward", True),
    "02_layers": ("l2_dense_no_activation", "l2_dense_forward", "dense_forward", True),
    "03_keras_models": ("l3_mlp_no_hidden_activation", "l3_build_mlp", "build_mlp", False),
    "04_custom_training": ("l4_step_loss_after", "l4_train_step", "train_step", True),
    "05_data_pipelines": ("l5_standardize_no_std", "l5_standardize", "standardize", False),
}


# Prints DENIED or ALLOWED for one forbidden action; defined in the hostile cell itself.
ATTEMPT = """
def _attempt(label, action):
    try:
        action()
    except Exception as error:
        print("DENIED", label, type(error).__name__)
    else:
        print("ALLOWED", label)
"""


@dataclass
class Hostile:
    name: str
    family: str
    about: str
    base: str = "reference"
    answers: dict = field(default_factory=dict)
    cells: list = field(default_factory=list)
    edit: object = None
    raw: bytes = None
    filename: str = None
    files: dict = field(default_factory=dict)
    points: int = REFERENCE_POINTS
    flagged: bool = True
    failed: str = None
    denied: int = 0
    assignment: str = A


# What the memory cases read before they grow: the kernel's address space in use (VmSize, what
# RLIMIT_AS counts) and its resident memory (VmRSS), a ceiling half a GiB under the limit (16 GiB
# when there is none, so that a kernel without one says ALLOWED instead of taking the machine), and
# `_chunk()`: 256 MiB written to (np.ones) until the kernel holds more than half its limit, which
# the grader flags, then 256 MiB only reserved (np.empty), which RLIMIT_AS counts all the same:
# three memory cases grading at once beside the fixtures must not push the machine to its own OOM.
# The writes are to ordinary pages: numpy asks for transparent huge pages for large arrays, and on
# these virtual machines (THP defrag=madvise, memory given back to the host) the kernel compacts
# memory for each one: 3 GiB took 20 s instead of 2, over the 60 s cell time-out on a busy CI
# machine (stop 33). The case tests the limit, not how fast the machine finds huge pages.
MEMORY_USED = (
    "import resource\n"
    "np._core.multiarray._set_madvise_hugepage(False)\n"
    "def _used(field='VmSize'):\n    with open('/proc/self/status') as _f:\n"
    "        return next(int(_l.split()[1]) * 1024 for _l in _f if _l.startswith(field))\n"
    "_limit = resource.getrlimit(resource.RLIMIT_AS)[0]\n"
    "_ceiling = 2**34 if _limit == resource.RLIM_INFINITY else _limit - 2**29\n"
    "def _chunk():\n"
    "    return np.ones(2**25) if _used('VmRSS') < _ceiling // 2 + 2**29 else np.empty(2**25)\n"
)


def after(code, cell="l1_linear_forward"):
    """The reference answer of `cell`, then the hostile code."""
    return {cell: "{reference}\n" + code}


def before(code, cell="l1_linear_forward"):
    return {cell: code + "\n{reference}"}


# -- notebook edits ------------------------------------------------------------------------------
def _tests(nb):
    return [
        c
        for c in nb.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade")
        and not c["metadata"]["nbgrader"].get("solution")
        and c.cell_type == "code"
    ]


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
        cell.outputs = [
            new_output("execute_result", data={"text/plain": str(cell.metadata.nbgrader["points"])}, execution_count=1)
        ]
        cell.execution_count = 1


# -- attacks on the judge: harvesting, patching, transformers, exfiltration (every level) ---------
HARVEST = """
{fallback}
_fallback = {name}


def _harvest(name):
    \"\"\"Anything in reach that computes `name` correctly: the answer key, a reference left behind.\"\"\"
    import gc
    import importlib

    for module in ("tfladder.oracles", "tfladder.oracles.l1", "tfladder.oracles.l2", "tfladder.oracles.l3",
                   "tfladder.oracles.l4", "tfladder.oracles.l5", "tfladder.standins", "tfladder.grading.judge"):
        try:
            found = getattr(importlib.import_module(module), name, None)
        except Exception:
            continue
        if callable(found):
            return found
    for key in ("oracle", "standins", "_registry", "_reference_" + name):
        found = globals().get(key)
        if callable(getattr(found, name, None)):
            return getattr(found, name)
    for obj in gc.get_objects():
        if (callable(obj) and getattr(obj, "__module__", None) == "__main__" and obj is not _fallback
                and obj is not {name} and getattr(obj, "__name__", "") in (name, "_reference_" + name)):
            return obj
    return None


def {name}(*args, **kwargs):
    found = _harvest("{name}")
    return (found or _fallback)(*args, **kwargs)
"""

# In a cell of the student's own: everything the old in-kernel guard put back, patched. None of it
# is the judge's any more, so none of it may change a point.
GUARD = """
import builtins
import sys

import numpy

numpy.allclose = lambda *a, **k: True
numpy.isclose = lambda a, b, *x, **k: numpy.ones(numpy.shape(a), bool)
numpy.testing.assert_allclose = lambda *a, **k: None
for _name in ("numpy._core.numeric", "numpy.core.numeric"):
    if sys.modules.get(_name) is not None:
        sys.modules[_name].isclose = numpy.isclose
import tfladder.checks
import tfladder.data
import tfladder.spies

tfladder.checks.close = lambda *a, **k: None
tfladder.checks.fail = lambda *a, **k: None
tfladder.checks.tensor.__kwdefaults__ = {"dtype": None}
tfladder.spies.KINDS.clear()
tfladder.data.linear_regression = lambda *a, **k: None
checks = type("Anything", (), {"__getattr__": lambda self, name: (lambda *a, **k: None)})()
_real_import = builtins.__import__


def __import__(name, *args, **kwargs):          # shadows the builtin in the notebook's globals
    return _real_import(name, *args, **kwargs)


__builtins__ = dict(vars(builtins), round=lambda *a, **k: 0.0)
"""

EXFILTRATE = """
class CheckFailed(AssertionError):
    pass


def {name}(*args, **kwargs):
    \"\"\"Fails with everything it can read that looks like the grader's tests.\"\"\"
    import gc

    keys = ("HIDDEN", "oracle", "checks.close", "register_standin", "mistake", "expected", "probe.run")
    found = [v for obj in gc.get_objects() if isinstance(obj, dict)
             for v in list(obj.values()) if isinstance(v, str) and any(k in v for k in keys)]
    found += [str(cell) for cell in get_ipython().user_ns.get("In", [])]
    raise CheckFailed(" | ".join(found).replace("\\n", " / ")[:200000])
"""

FORGE = """
# Answers every request of the tests itself: a float32 tensor of shape (3, 1), no error, no API use.
import base64
import io
import json

import numpy


def _forge(lines):
    text = "".join(lines)
    if "tfladder.probe" not in text or ".serve(" not in text:
        return lines
    buffer = io.BytesIO()
    numpy.save(buffer, numpy.zeros((3, 1), "float32"))
    value = {{"t": "array", "kind": "tensor", "type": "EagerTensor", "npy": base64.b64encode(buffer.getvalue()).decode()}}
    reply = json.dumps({{"v": 1, "value": value, "seen": {{"direct": [], "counts": {{}}}}, "stdout": ""}})
    return [f"from IPython.display import publish_display_data as _p\\n_p({{{{'application/x-tfladder-probe': {{reply!r}}}}}})\\n"]


{ipython}().input_transformers_post.append(_forge)
"""

KEEP_MARKERS = """
def _keep_markers(lines):
    # keeps marker lines and what names the grader, drops everything in between
    return [line for line in lines if "###" in line or "tfladder" in line] or ["pass\\n"]


get_ipython().input_transformers_post.append(_keep_markers)
"""


def _level_cases(level):
    """The four attacks on the judge, on one level."""
    mistake, answer_id, name, reads_code = MISTAKES[level]
    found = fixture(mistake)
    prefix = f"l{int(level[:2])}"
    reference = total(fixture(f"{prefix}_reference"))
    own = sum(
        v
        for cell, v in fixture(f"{prefix}_reference").points.items()
        if cell.startswith(answer_id + "_") and isinstance(v, (int, float))
    )
    fallback = found.answers[answer_id]
    return [
        Hostile(
            f"{prefix}_harvest",
            "harvesting",
            f"{name} falls back on an honest mistake unless it can find the answer key or a reference",
            assignment=level,
            answers={answer_id: HARVEST.format(fallback=fallback, name=name)},
            points=total(found) - (1 if reads_code else 0),
        ),
        Hostile(
            f"{prefix}_guard",
            "guard",
            "an honest mistake, then numpy's comparisons and internals, the notebook library's checks, "
            "spies and data, __import__ and __builtins__ patched in a cell of its own",
            assignment=level,
            answers={answer_id: fallback},
            cells=[(answer_id, GUARD)],
            points=total(found),
        ),
        Hostile(
            f"{prefix}_exfiltrate",
            "feedback",
            f"{name} fails with everything it can read that looks like the tests, to carry them into feedback",
            assignment=level,
            answers={answer_id: EXFILTRATE.format(name=name)},
            points=reference - own,
        ),
        Hostile(
            f"{prefix}_forge_replies",
            "transformer",
            "the blank release and an input transformer that answers every request of the tests itself",
            assignment=level,
            base="release",
            cells=[("setup", FORGE.format(ipython="get_ipython"))],
            points=0,
        ),
        Hostile(
            f"honest_{prefix}_reference",
            "honest",
            "the reference answers",
            assignment=level,
            points=reference,
            flagged=False,
        ),
    ]


# -- a submission that searches everything it can reach, during grading (level 1) ------------------
def _digest(line):
    return hashlib.sha256(line.strip().encode()).hexdigest()[:16]


COURSE_TOKENS = (
    "mistake",
    "oracle",
    "linear_forward",
    "mse_loss",
    "gradients",
    "sgd_step",
    "train_",
    "_col(",
    "dense_",
    "mlp_",
    "running_",
    "stack_",
    "fit_linear",
    "two_input",
    "custom_fit",
    "one_step",
    "standardize",
    "batch_sizes",
    "unweighted",
    "iterations",
    "CNN_",
    "evaluate_",
)


def search_secrets():
    """{digest: what} of the lines a graded kernel of level 1 must never hold (`secret_table`)."""
    return {_digest(line): what for line, what in secret_table().items()}


def secret_table():
    """{line: what} of the lines a graded kernel of level 1 must never hold: the judge's own lines
    of the hidden tests ("hidden"), the answer key's distinctive lines ("oracle"), and each
    stand-in's lines ("standin <exercise>", which may appear once that exercise was judged).
    Lines that are public anyway (the release, the notebook library, the searcher's own cells)
    are left out."""
    import ast

    source = notebooks.read(REPO / "source" / A / f"{A}.ipynb")
    release = notebooks.read(REPO / "release" / A / f"{A}.ipynb")
    solutions = notebooks.solution_ids(source)
    public = {line.strip() for c in release.cells for line in c.source.splitlines()}
    public |= {line.strip() for text in notebook_lib.files().values() for line in text.splitlines()}
    public |= {line.strip() for text in [SEARCHER, *SEARCHED_ANSWERS.values()] for line in text.splitlines()}
    secrets = {}
    tests = [c for c in source.cells if notebooks.is_test(c)]
    for line in judge.secret_lines(c.source for c in tests):
        secrets[line] = "hidden"
    for path in sorted((REPO / "tfladder" / "oracles").glob("*.py")):
        for line in path.read_text().splitlines():
            text = line.strip()
            if len(text) >= 20 and not text.startswith("#") and any(t in text for t in COURSE_TOKENS):
                secrets.setdefault(text, "oracle")
    for cell in tests:
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "register_standin":
                exercise = notebooks.exercise_of(notebooks.grade_id(cell), solutions)
                for line in node.args[1].value.splitlines():
                    if len(line.strip()) >= 16:
                        secrets.setdefault(line.strip(), f"standin {exercise}")
    return {line: what for line, what in secrets.items() if line not in public}


SEARCHER = """
import gc, hashlib, json, linecache, os, sys
_SECRETS = set(json.loads(SECRET_DIGESTS))      # digests of lines the grader keeps to itself
_LENGTHS = set(json.loads(SECRET_LENGTHS))       # their lengths, to hash only lines that could match
_FOUND, _DONE = [], []
_LIBRARY = tuple(sorted({sys.prefix, sys.base_prefix, os.path.dirname(os.__file__)}))


def _look(text, where, phase, seen):
    for line in str(text).splitlines():
        line = line.strip()
        if len(line) in _LENGTHS and line not in seen:
            seen.add(line)
            digest = hashlib.sha256(line.encode()).hexdigest()[:16]
            if digest in _SECRETS:
                _FOUND.append([digest, where, phase])


def _strings():
    \"\"\"Every string reachable from what gc tracks: container items, code constants, source of code
    that is not the Python installation's.\"\"\"
    found, files = set(), set()
    for obj in gc.get_objects():
        if isinstance(obj, dict):
            found.update(v for v in list(obj.values()) if isinstance(v, str) and len(v) >= 16)
            found.update(k for k in list(obj) if isinstance(k, str) and len(k) >= 16)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            found.update(v for v in list(obj) if isinstance(v, str) and len(v) >= 16)
        elif type(obj).__name__ == "function":
            code = obj.__code__
            found.update(c for c in code.co_consts if isinstance(c, str) and len(c) >= 16)
            if not code.co_filename.startswith(_LIBRARY):
                files.add(code.co_filename)
    for name in files:
        found.add("".join(linecache.getlines(name)))
    return found


def _files(top, phase, seen):
    for folder, subfolders, names in os.walk(top):
        for name in names:
            path = os.path.join(folder, name)
            try:
                if os.path.getsize(path) < 4_000_000:
                    with open(path, errors="replace") as f:
                        _look(f.read(), path, phase, seen)
            except OSError:
                pass


def _search(phase):
    \"\"\"Everything in reach: In, the notebook's names, everything gc tracks, the modules, files.\"\"\"
    if phase in _DONE:
        return
    _DONE.append(phase)
    seen = set()
    namespace = get_ipython().user_ns
    for cell in namespace.get("In", []):
        _look(cell, "In", phase, seen)
    for key, value in list(namespace.items()):
        _look(key, "names", phase, seen)
        if isinstance(value, str):
            _look(value, "names", phase, seen)
    for text in _strings():
        _look(text, "gc", phase, seen)
    for name, module in list(sys.modules.items()):
        if "oracle" in name or "standin" in name or "judge" in name:
            _FOUND.append(["module", name, phase])
        path = getattr(module, "__file__", None) or ""
        if name.startswith("tfladder") and os.path.exists(path):
            with open(path) as f:
                _look(f.read(), path, phase, seen)
    for top in ("/tmp", "/opt", os.path.expanduser("~")):
        _files(top, phase, seen)
    for name in os.listdir(sys.prefix):
        if os.path.isfile(os.path.join(sys.prefix, name)):
            with open(os.path.join(sys.prefix, name), errors="replace") as f:
                _look(f.read(), name, phase, seen)
    for folder in sys.path:
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if "tfladder" in name or "editable" in name or name.endswith(".pth"):
                    path = os.path.join(folder, name)
                    if os.path.isdir(path):
                        _files(path, phase, seen)
                    else:
                        with open(path, errors="replace") as f:
                            _look(f.read(), path, phase, seen)
    for name in ("environ", "cmdline", "mountinfo"):
        try:
            with open(f"/proc/self/{name}", errors="replace") as f:
                _look(f.read().replace("\\\\0", "\\\\n"), name, phase, seen)
        except OSError:         # environ: not readable once the kernel dropped to its uid
            pass


def _searching(name):
    \"\"\"Wrap the answer `name`: it searches everything, the first time a test calls it.\"\"\"
    answer = globals()[name]

    def searching(*args, **kwargs):
        _search(name)
        return answer(*args, **kwargs)

    globals()[name] = searching


_search("start")
"""


def searcher_cell():
    secrets = search_secrets()
    lengths = sorted({len(line) for line in secret_table()})
    return SEARCHER.replace("SECRET_DIGESTS", repr(json.dumps(sorted(secrets)))).replace(
        "SECRET_LENGTHS", repr(json.dumps(lengths))
    )


# The alternative answers (not the stand-ins' words), each searching when first called.
SEARCHED_ANSWERS = {
    gid: answer + f"\n_searching({func!r})"
    for gid, func, answer in [
        (
            "l1_linear_forward",
            "linear_forward",
            "def linear_forward(X, w, b):\n    return tf.cast(X, tf.float32) @ w + b",
        ),
        (
            "l1_mse_loss",
            "mse_loss",
            "def mse_loss(y_true, y_pred):\n    diff = tf.reshape(y_pred, [-1]) - tf.reshape(tf.cast(y_true, tf.float32), [-1])\n"
            "    return tf.reduce_sum(diff * diff) / tf.cast(tf.size(diff), tf.float32)",
        ),
        (
            "l1_tape_gradients",
            "tape_gradients",
            "def tape_gradients(X, y, w, b):\n    with tf.GradientTape(persistent=True) as g:\n"
            "        loss = mse_loss(y, linear_forward(X, w, b))\n    return loss, g.gradient(loss, w), g.gradient(loss, b)",
        ),
        (
            "l1_analytic_gradients",
            "analytic_gradients",
            "def analytic_gradients(X, y, w, b):\n    X = tf.cast(X, tf.float32)\n"
            "    r = linear_forward(X, w, b) - tf.reshape(tf.cast(y, tf.float32), [-1, 1])\n"
            "    count = tf.cast(tf.shape(r)[0], tf.float32)\n"
            "    return 2.0 * tf.transpose(X) @ r / count, 2.0 * tf.reduce_sum(r, axis=0) / count",
        ),
        (
            "l1_sgd_step",
            "sgd_step",
            "def sgd_step(X, y, w, b, lr):\n    loss, dw, db = tape_gradients(X, y, w, b)\n"
            "    w.assign(w - lr * dw)\n    b.assign(b - lr * db)\n    return loss",
        ),
        (
            "l1_train",
            "train_linear_regression",
            "def train_linear_regression(X, y, lr=0.1, steps=100):\n    X = tf.cast(X, tf.float32)\n"
            "    w, b = tf.Variable(tf.zeros([X.shape[1], 1])), tf.Variable(tf.zeros([1]))\n"
            "    return w, b, [float(sgd_step(X, y, w, b, lr)) for _ in range(steps)]",
        ),
    ]
}

# Learns what it can of the grader through its own descriptors, and tries to use them.
CHANNELS = (
    ATTEMPT
    + """
import os, sys
for fd in (1, 2):
    print("LEARNED", os.readlink(f"/proc/self/fd/{fd}"))
    _attempt(f"move the offset of descriptor {fd}", lambda: os.lseek(fd, 2**40, os.SEEK_SET))
_attempt("write to PID 1's output", lambda: open("/proc/1/fd/1", "w").write("x"))
print("LEARNED", sys.path, sys.prefix, os.getcwd(), dict(os.environ))
"""
)


def flip_test_flags(nb):
    for cell in _tests(nb):
        cell.metadata.nbgrader.update(grade=False, solution=True, locked=False)


def add_foreign_nbgrader_cell(nb):
    cell = new_code_cell("print('a cell of my own')")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 5, "schema_version": 3}
    nb.cells.insert(3, cell)


def case_list(course, grader_port):
    """Every hostile case; `course` is the course folder, `grader_port` a TCP port the grader listens on."""
    return [
        # -- time ---------------------------------------------------------------------------------
        Hostile(
            "t_infinite_loop",
            "time",
            "a busy loop after a correct answer; interrupted at the cell time-out",
            answers=after("while True:\n    pass", "l1_sgd_step"),
        ),
        Hostile(
            "t_swallows_interrupts",
            "time",
            "a loop that swallows KeyboardInterrupt: the kernel is given up, later exercises are lost",
            answers=after(
                "import time\n_end = time.time() + 300\nwhile time.time() < _end:\n"
                "    try:\n        time.sleep(0.01)\n    except KeyboardInterrupt:\n        pass",
                "l1_train",
            ),
            points=WITHOUT_TRAIN,
        ),
        Hostile(
            "t_sleep_loop",
            "time",
            "a sleeping loop after a correct answer",
            answers=after("import time\nfor _ in range(3000):\n    time.sleep(0.1)", "l1_train"),
        ),
        # -- memory, disk, output -----------------------------------------------------------------
        Hostile(
            "m_huge_allocation",
            "memory",
            "one allocation far beyond the memory limit",
            answers=after("_huge = np.ones(10**12)"),
        ),
        # The memory cases grow to within half a GiB of the kernel's address-space limit, then ask
        # for more than is left: the refusal is certain, and it leaves room for the kernel's own
        # threads (its output thread, zmq's). Growing until the very last MiB is refused made one
        # of those fail instead, now and then: the cell's output was lost, or the kernel aborted.
        # The verdict is printed by the next exercise's cell, after the memory is given back.
        Hostile(
            "m_slow_growth",
            "memory",
            "memory grows 256 MiB at a time until a request past the limit is refused",
            answers={
                **after(
                    MEMORY_USED + "_chunks, _refused = [], False\ntry:\n"
                    "    while _used() + 2**28 < _ceiling:\n        _chunks.append(_chunk())\n"
                    "    _chunks.append(np.empty(2**28))\nexcept MemoryError:\n    _refused = True\n"
                    "_grown = len(_chunks)\n_chunks.clear()"
                ),
                **after("print('DENIED memory' if _refused else 'ALLOWED memory', _grown)", cell="l1_mse_loss"),
            },
            denied=1,
        ),
        Hostile(
            "m_threads_allocating",
            "memory",
            "four threads share the growth, then each asks for more than is left",
            answers={
                **after(
                    MEMORY_USED + "import threading\n_lock, _held, _refused = threading.Lock(), [], []\n"
                    "def _grow():\n    while True:\n        with _lock:\n"
                    "            if _used() + 2**28 >= _ceiling:\n                break\n"
                    "            _held.append(_chunk())\n"
                    "    try:\n        _held.append(np.empty(2**28))\n    except MemoryError:\n"
                    "        _refused.append(True)\n"
                    "_threads = [threading.Thread(target=_grow) for _ in range(4)]\n"
                    "[t.start() for t in _threads]; [t.join() for t in _threads]\n"
                    "_grown = len(_held)\n_held.clear()"
                ),
                **after(
                    "print('DENIED threads' if len(_refused) == 4 else 'ALLOWED threads', _grown)", cell="l1_mse_loss"
                ),
            },
            denied=1,
        ),
        Hostile(
            "m_fill_scratch",
            "disk",
            "writes files in /tmp until the scratch space is full",
            answers=after(
                "import os\n_block = b'x' * 2**20\ntry:\n    for _i in range(1024):\n"
                "        with open(f'/tmp/fill_{_i // 16}', 'ab') as _f:\n"
                "            _f.write(_block)\nexcept OSError:\n    print('DENIED disk')"
            ),
            denied=1,
        ),
        Hostile(
            "m_output_flood", "output", "prints 20 MB", answers=after("for _i in range(200_000):\n    print('x' * 100)")
        ),
        # -- processes ----------------------------------------------------------------------------
        Hostile(
            "p_fork_bomb",
            "processes",
            "forks until refused, then reaps its children",
            answers=after(
                "import os, time\n_kids = []\ntry:\n    for _ in range(2000):\n"
                "        _pid = os.fork()\n        if _pid == 0:\n"
                "            time.sleep(2)\n            os._exit(0)\n        _kids.append(_pid)\n"
                "except OSError:\n    print('DENIED fork', len(_kids))\n"
                "for _pid in _kids:\n    os.waitpid(_pid, 0)"
            ),
            denied=1,
        ),
        Hostile(
            "p_detached_daemon",
            "processes",
            "leaves a detached process behind",
            answers=after(
                "import subprocess\nsubprocess.Popen(['sleep', '300'], start_new_session=True, "
                "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)"
            ),
        ),
        Hostile(
            "p_kill_parent",
            "processes",
            "kills its parent process",
            answers=after(
                ATTEMPT + "import os, signal\n_attempt('kill parent', lambda: os.kill(os.getppid(), signal.SIGKILL))"
            ),
            denied=1,
        ),
        Hostile(
            "p_kill_everything",
            "processes",
            "signals every process it may (the grader, other kernels)",
            answers=after(
                ATTEMPT + "import os, signal\n_attempt('kill every process', lambda: os.kill(-1, signal.SIGKILL))"
            ),
            denied=1,
        ),
        # -- network ------------------------------------------------------------------------------
        Hostile(
            "n_network",
            "network",
            "an outbound connection, a DNS lookup, a port on the grading host",
            answers=after(
                ATTEMPT + "import socket\n"
                "_attempt('outbound', lambda: socket.create_connection(('1.1.1.1', 53), timeout=3))\n"
                "_attempt('dns', lambda: socket.getaddrinfo('pypi.org', 443))\n"
                f"_attempt('grader port', lambda: socket.create_connection(('127.0.0.1', {grader_port}), "
                "timeout=3))"
            ),
            denied=3,
        ),
        Hostile(
            "n_scan_loopback",
            "network",
            "looks for a port on loopback that is not its own: a grading cluster's scheduler or workers, the grader",
            answers=after(
                ATTEMPT + "import os, socket\n"
                "def _own_ports():\n"
                "    # listening sockets of the processes it can see (the kernel's own ports)\n"
                "    inodes = set()\n"
                "    for pid in filter(str.isdigit, os.listdir('/proc')):\n"
                "        try:\n"
                "            fds = os.listdir(f'/proc/{pid}/fd')\n"
                "        except OSError:\n"
                "            continue\n"
                "        for fd in fds:\n"
                "            try:\n"
                "                target = os.readlink(f'/proc/{pid}/fd/{fd}')\n"
                "            except OSError:\n"
                "                continue\n"
                "            if target.startswith('socket:['):\n"
                "                inodes.add(target[8:-1])\n"
                "    ports = set()\n"
                "    for table in ('/proc/self/net/tcp', '/proc/self/net/tcp6'):\n"
                "        try:\n"
                "            lines = open(table).read().splitlines()[1:]\n"
                "        except OSError:\n"
                "            continue\n"
                "        for line in lines:\n"
                "            fields = line.split()\n"
                "            if fields[3] == '0A' and fields[9] in inodes:\n"
                "                ports.add(int(fields[1].split(':')[1], 16))\n"
                "    return ports\n"
                "def _scan():\n"
                "    own = _own_ports()\n"
                "    found = []\n"
                "    for port in range(1, 65536):\n"
                "        s = socket.socket()\n"
                "        s.settimeout(0.05)\n"
                "        try:\n"
                "            # (a connection to itself, when the port is the one it connects from, is no one's)\n"
                "            if s.connect_ex(('127.0.0.1', port)) == 0 and s.getsockname() != s.getpeername():\n"
                "                found.append(port)\n"
                "        finally:\n"
                "            s.close()\n"
                "    foreign = sorted(set(found) - own - _own_ports())\n"
                "    if not foreign:\n"
                "        raise ConnectionRefusedError('no port but its own listens on loopback')\n"
                "    print('FOUND', foreign[:20])\n"
                "_attempt('a listening port on loopback not its own', _scan)"
            ),
            denied=1,
        ),
        # -- files --------------------------------------------------------------------------------
        Hostile(
            "f_read_course",
            "files",
            "reads source/ and the gradebook by absolute and relative paths",
            answers=after(
                ATTEMPT + "import os\n"
                f"_attempt('source absolute', lambda: open('{course}/source/01_low_level_ops/"
                "01_low_level_ops.ipynb').read())\n"
                f"_attempt('gradebook absolute', lambda: open('{course}/gradebook.db', 'rb').read())\n"
                "_attempt('source relative', lambda: open('../source/01_low_level_ops/"
                "01_low_level_ops.ipynb').read())\n"
                "_attempt('source two up', lambda: open('../../source/01_low_level_ops/"
                "01_low_level_ops.ipynb').read())\n"
                f"_attempt('other students', lambda: os.listdir('{course}/submitted'))"
            ),
            denied=5,
        ),
        Hostile(
            "f_write_outside",
            "files",
            "writes the gradebook, startup files, .pth files, the course",
            answers=after(
                ATTEMPT + "import os, site, sys\n"
                f"_attempt('gradebook', lambda: open('{course}/gradebook.db', 'ab').write(b'x'))\n"
                f"_attempt('course', lambda: open('{course}/planted.txt', 'w').write('x'))\n"
                "_attempt('pth', lambda: open(site.getsitepackages()[0] + '/zz_planted.pth', 'w')"
                ".write('import os'))\n"
                "_attempt('startup', lambda: open('/root/.ipython/profile_default/startup/"
                "00-planted.py', 'w').write('checks = None'))\n"
                "_attempt('usr', lambda: open('/usr/lib/planted.txt', 'w').write('x'))\n"
                "_attempt('etc', lambda: open('/etc/passwd', 'a').write('x'))\n"
                "_attempt('submission copy', lambda: open('/tmp/submission/planted.txt', 'w')"
                ".write('x'))"
            ),
            denied=7,
        ),
        Hostile(
            "f_shadow_modules",
            "files",
            "submits modules that shadow numpy and the kernel launcher",
            answers=after("import os\nprint('FILES', sorted(os.listdir('.')))"),
            files={
                "numpy.py": "raise SystemExit('shadowed')\n",
                "ipykernel_launcher.py": "raise SystemExit('shadowed')\n",
                "sitecustomize.py": "import os; os._exit(3)\n",
                "planted.pth": "import os; os._exit(4)\n",
                ".ipython/profile_default/startup/00.py": "checks = None\n",
                "helper/__init__.py": "x = 1\n",
                "data.csv": "1,2\n",
            },
        ),
        # -- test tampering -----------------------------------------------------------------------
        Hostile(
            "x_edit_tests",
            "tampering",
            "every test cell replaced by a print",
            base="release",
            edit=edit_tests_to_print,
            points=0,
        ),
        Hostile("x_delete_tests", "tampering", "every test cell deleted", base="release", edit=delete_tests, points=0),
        Hostile(
            "x_points_and_locks",
            "tampering",
            "test cells unlocked and worth 100 points each",
            answers=FORGOT_BIAS,
            edit=raise_points_and_unlock,
            points=FORGOT_BIAS_POINTS,
        ),
        Hostile(
            "x_tests_to_markdown",
            "tampering",
            "test cells turned into markdown",
            base="release",
            edit=tests_to_markdown,
            points=0,
        ),
        Hostile(
            "x_duplicate_ids",
            "tampering",
            "a test cell duplicated (two cells with one grade id)",
            base="release",
            edit=duplicate_a_test,
            points=0,
        ),
        Hostile(
            "x_skip_tags",
            "tampering",
            "skip-execution and raises-exception tags on test cells",
            base="release",
            edit=tag_tests_skip,
            points=0,
        ),
        Hostile(
            "x_prefilled_outputs",
            "tampering",
            "test cells submitted with full-mark outputs",
            base="release",
            edit=prefill_outputs,
            points=0,
        ),
        Hostile(
            "x_patch_checks",
            "tampering",
            "a wrong answer, and the check functions patched to pass",
            answers={
                "l1_linear_forward": FORGOT_BIAS["l1_linear_forward"]
                + "\nchecks.close = lambda *a, **k: None\nchecks.fail = lambda *a, **k: None"
            },
            points=FORGOT_BIAS_POINTS,
        ),
        Hostile(
            "x_patch_numpy",
            "tampering",
            "a wrong answer, and numpy's comparisons patched to agree",
            answers={
                "l1_linear_forward": FORGOT_BIAS["l1_linear_forward"]
                + "\nnp.allclose = lambda *a, **k: True\nnp.isclose = lambda a, b, **k: np.ones_like(a, bool)"
                "\nnp.testing.assert_allclose = lambda *a, **k: None"
            },
            points=FORGOT_BIAS_POINTS,
        ),
        Hostile(
            "x_rebind_checks",
            "tampering",
            "a wrong answer, and `checks` rebound to an object that accepts all",
            answers={
                "l1_linear_forward": FORGOT_BIAS["l1_linear_forward"]
                + "\nclass _Anything:\n    def __getattr__(self, name):\n"
                "        return lambda *a, **k: None\nchecks = _Anything()"
            },
            points=FORGOT_BIAS_POINTS,
        ),
        Hostile(
            "x_lying_objects",
            "tampering",
            "mse_loss returns an object equal to everything",
            answers={
                "l1_mse_loss": "class _Liar(float):\n    def __eq__(self, other):\n        return True\n"
                "    def __array__(self, *a, **k):\n        raise TypeError('no')\n"
                "def mse_loss(y_true, y_pred):\n    return _Liar(0.0)"
            },
            points=REFERENCE_POINTS - 4,
        ),
        Hostile(
            "x_input_transformer",
            "tampering",
            "an input transformer that blanks every later cell",
            base="release",
            answers={"l1_linear_forward": "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])"},
            points=0,
        ),
        Hostile(
            "x_custom_exception_handler",
            "tampering",
            "a custom exception handler that swallows errors",
            base="release",
            answers={"l1_linear_forward": "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"},
            points=0,
        ),
        Hostile(
            "x_no_tracebacks",
            "tampering",
            "traceback display switched off",
            base="release",
            answers={"l1_linear_forward": "get_ipython().showtraceback = lambda *a, **k: None"},
            points=0,
        ),
        Hostile(
            "x_display_before_failing",
            "tampering",
            "answers that display a full-mark number and then fail",
            base="release",
            answers={
                "l1_linear_forward": "def linear_forward(X, w, b):\n"
                "    get_ipython().displayhook(4.0)\n    raise AssertionError('wrong')"
            },
            points=0,
        ),
        Hostile(
            "x_forge_grader_log",
            "tampering",
            "prints, to the kernel process's own stdout, nbgrader's failure line for honest_reference",
            answers=after(
                "import os, sys\nos.write(sys.stdout.fileno(), b'[AutogradeApp | ERROR] There was "
                "an error processing assignment: /course/submitted/honest_reference/01_low_level_ops\\n')"
            ),
        ),
        Hostile(
            "x_exit",
            "tampering",
            "os._exit in the last exercise: earlier points stay",
            answers=before("import os\nos._exit(0)", "l1_train"),
            points=WITHOUT_TRAIN,
        ),
        # -- malformed input ----------------------------------------------------------------------
        Hostile("bad_json", "malformed", "not JSON", raw=b'{"cells": [', points=0, failed="not a valid notebook"),
        Hostile(
            "bad_nbformat",
            "malformed",
            "nbformat 3",
            points=0,
            failed="nbformat 3",
            raw=json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}).encode(),
        ),
        Hostile(
            "bad_utf8",
            "malformed",
            "Latin-1 bytes",
            raw='{"cells": "caf\xe9"}'.encode("latin-1"),
            points=0,
            failed="not UTF-8",
        ),
        Hostile("bad_empty", "malformed", "a zero-byte file", raw=b"", points=0, failed="is empty"),
        Hostile(
            "bad_missing",
            "malformed",
            "no notebook at all, only a text file",
            raw=None,
            filename="",
            files={"notes.txt": "I forgot\n"},
            points=0,
            failed="no 01_low_level_ops.ipynb",
        ),
        Hostile(
            "bad_other_assignment",
            "malformed",
            "the notebook of level 2",
            raw="level 2",
            points=0,
            failed="not a notebook of 01_low_level_ops",
        ),
        Hostile("bad_renamed", "malformed", "the reference answers, renamed", filename="my_solution.ipynb"),
        # -- tampered cells: restored, and nothing honest is lost --------------------------------
        Hostile(
            "x_flags_flipped_honest",
            "tampering",
            "an honest notebook whose test cells say they are answers",
            answers=FORGOT_BIAS,
            edit=flip_test_flags,
            points=FORGOT_BIAS_POINTS,
        ),
        Hostile(
            "x_tests_markdown_honest",
            "tampering",
            "an honest notebook whose test cells became markdown",
            answers=FORGOT_BIAS,
            edit=tests_to_markdown,
            points=FORGOT_BIAS_POINTS,
        ),
        Hostile(
            "x_foreign_nbgrader_cell",
            "tampering",
            "an honest notebook with a cell of nbgrader metadata and no id",
            answers=FORGOT_BIAS,
            edit=add_foreign_nbgrader_cell,
            points=FORGOT_BIAS_POINTS,
        ),
        # -- input transformers that see every request of the tests --------------------------------
        Hostile(
            "x_transformer_keeps_markers",
            "transformer",
            "an input transformer keeps marker lines and lines naming tfladder, drops the rest",
            base="release",
            cells=[("setup", KEEP_MARKERS)],
            points=0,
        ),
        Hostile(
            "x_transformer_fullwidth",
            "transformer",
            "the forging transformer, registered through get_ｉｐｙｔｈｏｎ (fullwidth letters)",
            base="release",
            cells=[("setup", FORGE.format(ipython="get_ｉｐｙｔｈｏｎ"))],
            points=0,
        ),
        # -- what a kernel can reach while it is graded ----------------------------------------------
        Hostile(
            "x_searcher",
            "harvesting",
            "searches In, its names, every object gc tracks, the modules and the files it can read, "
            "at the start, in every exercise and at the end, for any line the grader keeps to itself",
            answers=SEARCHED_ANSWERS,
            cells=[
                ("setup", searcher_cell()),
                (None, '_search("end")\nprint("SEARCH", json.dumps({"found": _FOUND, "phases": _DONE}))'),
            ],
        ),
        Hostile(
            "c_channels",
            "channels",
            "learns what it can through its descriptors and moves their offsets",
            answers=after(CHANNELS),
            denied=3,
            flagged=False,
        ),
        # -- honest work in the same batch keeps its exact score ----------------------------------
        Hostile("honest_reference", "honest", "the reference answers", flagged=False),
        Hostile(
            "honest_forgot_bias",
            "honest",
            "forgot the bias",
            answers=FORGOT_BIAS,
            points=FORGOT_BIAS_POINTS,
            flagged=False,
        ),
        # -- the attacks on the judge, on every level --------------------------------------------
        *[case for level in LEVELS for case in _level_cases(level) if case.name != "honest_l1_reference"],
    ]
