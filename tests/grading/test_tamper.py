"""Does the static scan flag tampering, does restoring a tampered notebook keep every answer,
and is honest work (right or wrong) left alone?"""

import copy

import pytest
from conftest import ASSIGNMENTS, REPO, committed_notebook, level_fixtures

from tfladder.course import fixtures, notebooks
from tfladder.grading import restore, tamper
from tfladder.sandbox import launcher

HONEST = [(a, f.name) for a in ASSIGNMENTS for f in fixtures.load_all(REPO, a).values()]


def release(assignment):
    return committed_notebook("release", assignment)


def source(assignment):
    return committed_notebook("source", assignment)


@pytest.mark.parametrize("assignment,name", HONEST)
def test_is_every_honest_fixture_left_unflagged(assignment, name):
    fixture = level_fixtures(assignment)[name]
    nb = fixtures.build(fixture, release(assignment), source(assignment))
    assert tamper.scan(nb, release(assignment)) == []


def with_answer(code, gid="l1_linear_forward"):
    nb = copy.deepcopy(release("01_low_level_ops"))
    next(c for c in nb.cells if notebooks.grade_id(c) == gid).source = code
    return nb


@pytest.mark.parametrize(
    "code,label",
    [
        ("get_ipython().input_transformers_post.append(f)", "IPython hooks"),
        ("get_ipython().set_custom_exc((Exception,), h)", "IPython hooks"),
        ("import os\nos._exit(0)", "leaving the process"),
        ("sys.exit()", "leaving the process"),
        ("checks.close = lambda *a, **k: None", "changing the grader's checks"),
        ("np.testing.assert_allclose = print", "changing the grader's checks"),
        ("np.allclose = lambda *a, **k: True", "changing the grader's checks"),
        ("checks = object()", "changing the grader's checks"),
        ("import builtins", "reaching into the interpreter"),
        ("class L(float):\n    def __eq__(self, other):\n        return True", "lie in comparisons"),
        ("import socket", "processes or network"),
        ("import subprocess", "processes or network"),
        ("open('/srv/course/source/01/x.ipynb')", "reading course files"),
        ("open('../gradebook.db')", "reading course files"),
        ("get_ｉｐｙｔｈｏｎ().input_transformers_post.append(f)", "IPython hooks"),
        ("ｃｈｅｃｋｓ.close = print", "changing the grader's checks"),
        ("import ｂｕｉｌｔｉｎｓ", "reaching into the interpreter"),
    ],
)
def test_does_the_scan_name_each_trick(code, label):
    reasons = tamper.scan(with_answer(code), release("01_low_level_ops"))
    assert any(label in r and "l1_linear_forward, line" in r for r in reasons), reasons


def test_is_a_cell_left_as_released_not_the_students_but_an_edited_one_is():
    nb = copy.deepcopy(release("01_low_level_ops"))
    exploration = next(c for c in nb.cells if c.cell_type == "code" and c.get("id", "").startswith("explore-"))
    assert "from tfladder.explore import" in exploration.source
    assert tamper.scan(nb, release("01_low_level_ops")) == []
    exploration.source += "\nfrom tfladder import checks"
    assert any("changing the grader's checks" in r for r in tamper.scan(nb, release("01_low_level_ops")))


def test_does_the_scan_see_edited_metadata_tags_outputs_and_duplicates():
    nb = copy.deepcopy(release("01_low_level_ops"))
    tests = [c for c in nb.cells if notebooks.is_test(c)]
    tests[0].source = "print('ok')"
    tests[1].metadata.nbgrader["points"] = 100
    tests[2].metadata["tags"] = ["skip-execution"]
    tests[3].outputs = [{"output_type": "stream", "name": "stdout", "text": "ok"}]
    nb.cells.append(copy.deepcopy(tests[4]))
    nb.cells.remove(tests[5])
    text = "\n".join(tamper.scan(nb, release("01_low_level_ops")))
    gid = notebooks.grade_id
    assert f"{gid(tests[0])}: a read-only cell was edited" in text
    assert f"{gid(tests[1])}: nbgrader metadata 'points' changed from 2 to 100" in text
    assert f"{gid(tests[2])}: tags added (skip-execution)" in text
    assert f"{gid(tests[3])}: the submitted test cell already holds outputs" in text
    assert f"duplicate grade ids: {gid(tests[4])}" in text
    assert f"{gid(tests[5])}: a read-only cell was deleted" in text


@pytest.mark.parametrize("assignment,name", HONEST)
def test_is_an_honest_notebook_left_as_it_is_by_restoring(assignment, name):
    fixture = level_fixtures(assignment)[name]
    nb = fixtures.build(fixture, release(assignment), source(assignment))
    before = copy.deepcopy(nb)
    assert restore.restore(nb, release(assignment)) == []
    assert notebooks.differences(before, nb) == []


def test_does_restoring_put_tests_back_and_keep_every_answer():
    a = "01_low_level_ops"
    nb = fixtures.build(fixtures.load_all(REPO, a)["l1_reference"], release(a), source(a))
    answers = {notebooks.grade_id(c): c.source for c in nb.cells if notebooks.is_solution(c)}
    tests = [c for c in nb.cells if notebooks.is_test(c)]
    tests[0].metadata.nbgrader.update(grade=False, solution=True, locked=False)  # flags flipped
    tests[1].cell_type = "markdown"  # turned into markdown
    del tests[1]["outputs"], tests[1]["execution_count"]
    tests[2].metadata["tags"] = ["skip-execution"]
    tests[3].source = "print('all passed')"
    nb.cells.remove(tests[4])  # deleted
    nb.cells.append(copy.deepcopy(tests[5]))  # duplicated
    foreign = copy.deepcopy(tests[6])
    foreign.metadata.nbgrader.pop("grade_id")  # nbgrader metadata, no id
    foreign.source = "x = 1"
    nb.cells.append(foreign)
    written = next(c for c in nb.cells if notebooks.grade_id(c) == "l1_explain_rebinding")
    written.cell_type = "code"
    written.metadata.nbgrader["points"] = 50  # an answer cell's metadata
    written.update(outputs=[], execution_count=None)
    reasons = restore.restore(nb, release(a))
    assert _shape(nb) == _shape(release(a))
    assert {notebooks.grade_id(c): c.source for c in nb.cells if notebooks.is_solution(c)} == answers
    assert any("x = 1" == c.source and not notebooks.meta(c) for c in nb.cells), "the student's cell stays, plain"
    text = "\n".join(reasons)
    for gid in (notebooks.grade_id(t) for t in tests[:4]):
        assert f"{gid}: the read-only cell was restored" in text
    assert f"{notebooks.grade_id(tests[4])}: the missing cell was put back" in text
    assert "a second copy of " + notebooks.grade_id(tests[5]) in text and "(no grade id)" in text
    assert "l1_explain_rebinding: the answer cell's type or nbgrader metadata was restored" in text


def _shape(nb):
    """The assignment's cells of `nb`, in order: grade id, type, nbgrader metadata, and the source
    of every cell but the answers."""
    return [
        (notebooks.grade_id(c), c.cell_type, notebooks.meta(c), None if notebooks.is_solution(c) else c.source)
        for c in nb.cells
        if notebooks.grade_id(c)
    ]


def test_are_submitted_code_and_hidden_files_kept_from_the_kernel(tmp_path):
    submitted, staged = tmp_path / "in", tmp_path / "out"
    for name in (
        "01_low_level_ops.ipynb",
        "numpy.py",
        "x.pth",
        "lib.so",
        ".hidden",
        ".ipython/startup/0.py",
        "pkg/__init__.py",
        "data/table.csv",
        "notes.txt",
        "old/other.ipynb",
    ):
        (submitted / name).parent.mkdir(parents=True, exist_ok=True)
        (submitted / name).write_text("x")
    assert launcher.left_out_files(submitted) == [
        ".hidden",
        ".ipython/startup/0.py",
        "lib.so",
        "numpy.py",
        "old/other.ipynb",
        "pkg/__init__.py",
        "x.pth",
    ]
    launcher.copy_allowed_files(submitted, staged)
    assert sorted(str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file()) == [
        "data/table.csv",
        "notes.txt",
    ]


def test_does_the_sandbox_refuse_to_start_without_its_tools_and_say_how(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(launcher.SandboxUnavailable) as error:
        launcher.check_available()
    assert "apt-get install bubblewrap" in str(error.value) and "--unsafe-no-sandbox" in str(error.value)


def test_does_a_failure_line_printed_by_a_kernel_not_fail_another_student(tmp_path):
    # nbgrader's log holds what the kernels it starts print to their own stdout; a student it
    # really failed also has no autograded folder (nbgrader removes it).
    from tfladder.course import ops

    a = "01_low_level_ops"
    (tmp_path / "autograded" / "graded" / a).mkdir(parents=True)
    log = "".join(
        f"[AutogradeApp | ERROR] There was an error processing assignment: {tmp_path}/submitted/{s}/{a}\n"
        for s in ("graded", "broken")
    )
    assert ops.failed_students(tmp_path, a, log) == ["broken"]
