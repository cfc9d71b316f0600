"""Do the self-check, feedback and report say the right things without showing hidden tests?

The fast tests here build results by hand; test_feedback_pages.py grades real notebooks.
"""

import io

import pytest

from tfladder.grading import results
from tfladder.grading.progress import Progress
from tfladder.reports import feedback, report


def _result():
    r = results.NotebookResult(assignment="01_low_level_ops", student="ada", seed=99)
    r.cells = [
        results.CellResult("l1_mse_loss_interface", "l1_mse_loss", 1.0, 1.0),
        results.CellResult(
            "l1_mse_loss_values",
            "l1_mse_loss",
            0.0,
            2.0,
            "mse_loss has the wrong value.\nThis matches a known mistake: forgot the mean",
        ),
        results.CellResult("l1_explain_rebinding", "l1_explain_rebinding", results.MANUAL, 2.0),
    ]
    return r


def test_does_the_text_report_give_points_parts_and_messages():
    text = results.text_report(_result())
    assert "1 / 3 autograded points, grading seed 99; 1 written answer(s) wait" in text
    assert "l1_mse_loss" in text and "interface ok" in text and "values FAILED" in text
    assert "forgot the mean" in text


def test_does_a_feedback_page_show_score_answer_message_and_seed():
    import nbformat

    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_code_cell("def mse_loss(y_true, y_pred):\n    return tf.reduce_sum(y_pred)")
    answer.metadata["nbgrader"] = {"grade_id": "l1_mse_loss", "solution": True, "grade": False}
    nb.cells.append(answer)
    page = feedback.page(_result(), nb)
    assert "<b>1 / 3</b> autograded points" in page and "grading seed <b>99</b>" in page
    assert "return tf.reduce_sum(y_pred)" in page and "forgot the mean" in page
    assert "waits for a human grader" in page


HOSTILE = "<script>alert(1)</script>"


def test_is_student_controlled_text_escaped_in_a_feedback_page():
    import nbformat

    r = _result()
    r.student = f"eve{HOSTILE}"
    r.error = f"could not read {HOSTILE}"
    r.cells[1].message = f"mse_loss raised ValueError: {HOSTILE}"
    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_code_cell(f"print('{HOSTILE}')")
    answer.metadata["nbgrader"] = {"grade_id": "l1_mse_loss", "solution": True, "grade": False}
    nb.cells.append(answer)
    page = feedback.page(r, nb, [f"{HOSTILE}.ipynb is not a notebook"])
    assert "<script" not in page
    # title, heading, why it was not graded, error, answer, message
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 6


def test_does_a_feedback_page_say_why_a_submission_was_not_graded_as_submitted():
    reason = "01_low_level_ops.ipynb is not a notebook; graded as the blank release (0 points)"
    page = feedback.page(_result(), None, [reason])
    assert f"could not be graded as you submitted it: {reason}." in page
    assert "could not be graded" not in feedback.page(_result(), None)


def test_is_student_controlled_text_escaped_in_the_report(tmp_path, monkeypatch):
    from pathlib import Path

    r = _result()
    r.student = f"eve{HOSTILE}"
    r.cells[1].message = f"mse_loss raised ValueError: {HOSTILE}"
    flagged = results.NotebookResult(assignment="01_low_level_ops", student=f"mallory{HOSTILE}", seed=99)
    flagged.error = f"not a notebook: {HOSTILE}"
    monkeypatch.setattr(report.ops, "export", lambda course, path: Path(path))
    monkeypatch.setattr(report.ops, "assignments", lambda course: ["01_low_level_ops"])
    monkeypatch.setattr(report, "graded_students", lambda course, a: [r.student, flagged.student])
    monkeypatch.setattr(report.results, "load", lambda course, a, s: r if s == r.student else flagged)
    monkeypatch.setattr(report, "flagged_in_gradebook", lambda course, a: [r.student])
    monkeypatch.setattr(report, "grader_reasons", lambda course, a, s: [f"tampered: {HOSTILE}"])
    page = report.build(tmp_path, tmp_path / "report", show_progress=False).read_text()
    assert "<script" not in page
    # the common failure (numbers blanked: alert(#)), and two students to review with their reasons
    assert page.count("&lt;script&gt;alert(") == 5


def test_are_equal_mistakes_counted_together_in_the_report():
    a = report.common_message("dw has the wrong values.\n  max abs error 0.52 at index (3, 0)")
    b = report.common_message("dw has the wrong values.\n  max abs error 1.7 at index (0, 0)")
    assert a == b == "dw has the wrong values."
    assert report.common_message("expected 0.4, got 1e-05") == "expected #, got #"


def test_does_the_progress_bar_count_to_the_end():
    out = io.StringIO()
    bar = Progress(3, "grading", stream=out)
    for student in ("a", "b", "c"):
        bar.advance(student)
    bar.done()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("grading [") and lines[0].endswith("0/3")
    assert lines[-1].endswith("3/3 c") and "#" * 24 in lines[-1]


def test_is_a_named_mistake_the_gist_of_a_message():
    message = "mse_loss has the wrong value.\n  expected 1, got 9\nThis matches a known mistake: forgot the mean"
    assert report.common_message(message) == "forgot the mean"


def test_does_the_solutions_notebook_keep_answers_and_drop_hidden_tests():
    from conftest import ASSIGNMENTS, REPO

    from tfladder.course import notebooks
    from tfladder.reports import solutions

    for assignment in ASSIGNMENTS:
        source = notebooks.read(REPO / "source" / assignment / f"{assignment}.ipynb")
        reference = solutions.reference_notebook(source)
        text = "\n".join(c.source for c in reference.cells)
        hidden = notebooks.hidden_only_lines(source)
        assert len(hidden) > 30
        assert not [line for line in hidden if line in text]
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN" not in text
        for cell in source.cells:
            if notebooks.is_solution(cell) and cell.cell_type == "code":
                assert notebooks.reference_answer(cell) in text


# nbgrader's add_submission for an assignment with no notebook recorded yet: SQLAlchemy's autoflush warns
@pytest.mark.slow  # makes a gradebook with nbgrader's migrations (over a second): make test, not make check
@pytest.mark.filterwarnings("ignore:Object of type <SubmittedAssignment> not in session")
def test_does_a_late_submission_read_how_late_it_came_on_its_feedback_page(tmp_path):
    from datetime import datetime

    from conftest import make_course

    from tfladder.grading import scores

    course = make_course(tmp_path / "course", ["01_low_level_ops"])
    with scores.gradebook(course) as gb:
        gb.update_or_create_assignment("01_low_level_ops", duedate=datetime(2026, 12, 6, 23, 0))
        for student, handed_in in (("ada", datetime(2026, 12, 7, 0, 35)), ("bo", datetime(2026, 12, 6, 22, 0))):
            gb.update_or_create_student(student)
            gb.add_submission("01_low_level_ops", student, timestamp=handed_in)
    late = feedback.lateness(course, "01_low_level_ops", "ada")
    assert late == "You submitted 1 h 35 min after the due date (2026-12-06 23:00 UTC)."
    assert late in feedback.page(_result(), None, late=late)
    assert feedback.lateness(course, "01_low_level_ops", "bo") == ""  # on time
    assert feedback.lateness(course, "01_low_level_ops", "cy") == ""  # no submission recorded


@pytest.mark.parametrize(
    "text, says",
    [
        ("id,email\na,a@x\n", "the first column must be student_id"),
        ("student_id,Name,ID\na,A,1\n", "a Canvas roster has the columns"),
        (
            "student_id,Student,ID,SIS User ID,SIS Login ID,Section\na,A,1,S1,a@x,A\na,B,2,S2,b@x,A\n",
            "line 3: a is already on line 2",
        ),
        ("student_id,Student,ID,SIS User ID,SIS Login ID,Section\n,A,1,S1,a@x,A\n", "line 2: no student_id"),
        ("student_id,Student,ID,SIS User ID,SIS Login ID,Section\na,A,1\n", "line 2: 6 columns expected"),
    ],
)
def test_does_a_mistake_in_the_roster_say_which_line_and_what(tmp_path, text, says):
    from tfladder.reports import lms

    (tmp_path / "roster.csv").write_text(text)
    with pytest.raises(lms.RosterError) as raised:
        lms.read_roster(tmp_path / "roster.csv", "canvas")
    assert says in str(raised.value)


def test_does_a_moodle_roster_need_one_identifier_moodle_maps_on(tmp_path):
    from tfladder.reports import lms

    (tmp_path / "roster.csv").write_text("student_id,matrikel\na,1\n")
    with pytest.raises(lms.RosterError, match="one of email, username, idnumber"):
        lms.read_roster(tmp_path / "roster.csv", "moodle")
    (tmp_path / "roster.csv").write_text("student_id,username\na,ada\n")
    assert lms.read_roster(tmp_path / "roster.csv", "moodle") == {"a": {"username": "ada"}}
