"""Do self-check, feedback pages, the report and the solutions work on really graded notebooks,
without ever showing a hidden test?"""

import html
import re
import subprocess
import sys

import pytest
from conftest import ASSIGNMENTS, REPO
from contract import MANUAL_IDS
from nbconvert.filters import markdown2html

from tfladder.course import explanations, fixtures, notebooks
from tfladder.reports import feedback, report, solutions

pytestmark = pytest.mark.slow
LEVEL1 = ASSIGNMENTS[0]
_POINTS = notebooks.graded_points(notebooks.read(REPO / "source" / LEVEL1 / f"{LEVEL1}.ipynb"))
AUTO = sum(p for g, p in _POINTS.items() if g not in MANUAL_IDS)  # level 1's autograded points
ALL = sum(_POINTS.values())  # and with the written answer
FORGOT_MEAN = sum(
    p for p in fixtures.load_all(REPO, LEVEL1)["l1_forgot_mean"].points.values() if isinstance(p, (int, float))
)


def hidden_lines(assignment):
    """Lines of hidden tests that appear nowhere else in the source notebook."""
    return notebooks.hidden_only_lines(notebooks.read(REPO / "source" / assignment / f"{assignment}.ipynb"))


def visible_text(page):
    """What a reader of an HTML page sees: tags (and syntax-highlighting spans) removed, unescaped."""
    page = re.sub(r"</?(td|th|tr|p|div|pre|li|br|h\d|table|ul)\b[^>]*>", " ", page)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.fixture(scope="module")
def level1(graded_fixtures):
    return graded_fixtures(LEVEL1)


def test_does_feedback_show_scores_answers_messages_and_no_hidden_test(level1):
    secret = hidden_lines(LEVEL1)
    assert len(secret) > 50
    for name in ("l1_reference", "l1_forgot_mean", "l1_blank"):
        text = visible_text(feedback.write(level1.root, LEVEL1, name).read_text())
        leaked = [line for line in secret if line in text]
        assert not leaked, f"feedback for {name} shows hidden test lines: {leaked[:3]}"
        assert "grading seed 2718" in text
    forgot = visible_text((level1.root / "feedback" / "l1_forgot_mean" / LEVEL1 / f"{LEVEL1}.html").read_text())
    assert f"{FORGOT_MEAN:g} / {AUTO:g} autograded points" in forgot and "forgot the mean" in forgot
    assert "return tf.reduce_sum(tf.square(tf.reshape(y_pred, (-1,)) - y_true))" in forgot


# What l1_mse_raises_markup's code prints and raises; no page may carry it as markup.
MARKUP = ("<script>alert('feedback')</script>", "<img src=x onerror=alert(1)>", "<script>document.title")


def test_is_markup_from_a_submission_text_in_its_feedback_page_and_the_report(level1, tmp_path):
    raw = feedback.write(level1.root, LEVEL1, "l1_mse_raises_markup", tmp_path / "feedback").read_text()
    assert not [m for m in MARKUP if m in raw]
    assert "&lt;script&gt;alert(&#39;feedback&#39;)&lt;/script&gt;" in raw  # the message, as text
    assert "mse_loss raised ValueError: <script>alert('feedback')</script>" in visible_text(raw)
    # The report shows each exercise's three most common failures; whether this one is among them
    # depends on the class (tests/reports/test_reports.py puts one there and finds it escaped).
    index = report.build(level1.root, tmp_path / "report", show_progress=False).read_text()
    assert "<h2>01_low_level_ops</h2>" in index and not [m for m in MARKUP if m in index]


def test_does_the_report_show_plots_common_failures_and_grades(level1, tmp_path):
    import csv

    import matplotlib.image

    index = report.build(level1.root, tmp_path / "report", show_progress=False)
    page = visible_text(index.read_text())
    assert "l1_mse_loss 2 forgot the mean" in " ".join(page.split())
    assert "rebinds the name" in page
    image = matplotlib.image.imread(tmp_path / "report" / f"{LEVEL1}_points.png")
    assert image.shape[0] > 100 and image.shape[1] > 400
    with open(tmp_path / "report" / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # one row per student and assignment; the baseline course holds every level's fixtures as students
    everyone = {name for a in ASSIGNMENTS for name in fixtures.load_all(REPO, a)}
    assert {r["student_id"] for r in rows if r["assignment"] == LEVEL1} == everyone
    assert not [line for line in hidden_lines(LEVEL1) if line in page]


def _check(path, *extra):
    return subprocess.run(
        [sys.executable, "-m", "tfladder", "check", str(path), *extra], cwd=REPO, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def fixture_notebooks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("student")
    release = notebooks.read(REPO / "release" / LEVEL1 / f"{LEVEL1}.ipynb")
    source = notebooks.read(REPO / "source" / LEVEL1 / f"{LEVEL1}.ipynb")
    paths = {}
    for name in ("l1_reference", "l1_forgot_mean", "l1_blank"):
        path = folder / name / f"{LEVEL1}.ipynb"
        notebooks.write(fixtures.build(fixtures.load_all(REPO, LEVEL1)[name], release, source), path)
        paths[name] = path
    return paths


def test_does_check_give_full_marks_to_the_reference(fixture_notebooks):
    done = _check(fixture_notebooks["l1_reference"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{AUTO:g} / {AUTO:g} autograded points, grading seed 2718" in done.stdout


def test_does_check_name_a_mistake_and_exit_non_zero(fixture_notebooks):
    done = _check(fixture_notebooks["l1_forgot_mean"])
    assert done.returncode == 1
    assert f"{FORGOT_MEAN:g} / {AUTO:g} autograded points" in done.stdout and "forgot the mean" in done.stdout
    assert not [line for line in hidden_lines(LEVEL1) if line in done.stdout + done.stderr]


def test_does_check_score_the_blank_release_zero_without_crashing(fixture_notebooks):
    done = _check(fixture_notebooks["l1_blank"])
    # the blank written answer scores 0 too, so it counts among the autograded points
    assert done.returncode == 1 and f"0 / {ALL:g} autograded points" in done.stdout
    assert "not written yet" in done.stdout and "Traceback" not in done.stderr


def test_does_check_refuse_a_broken_file_clearly(tmp_path):
    broken = tmp_path / f"{LEVEL1}.ipynb"
    broken.write_text('{"cells": [')
    done = _check(broken)
    assert done.returncode == 2 and "is not a readable notebook" in done.stderr and "Traceback" not in done.stderr


def test_do_the_solutions_explain_each_answer_with_outputs_plots_and_no_warning(tmp_path, capfd):
    raw = solutions.render(REPO, LEVEL1, tmp_path).read_text()
    printed = capfd.readouterr()
    assert "WARNING" not in printed.out + printed.err, printed.err
    page = visible_text(raw)
    squeezed = " ".join(page.split())
    assert "data:image/png" in raw and "hidden tests not shown" in page
    assert "w.assign_sub(lr" in page
    found = fixtures.load_all(REPO, LEVEL1)
    answers = "\n".join(a for f in found.values() for a in f.answers.values())  # the answers shown may share a line
    assert not [line for line in hidden_lines(LEVEL1) if line in page and line not in answers]
    assert "<title>Level 1 — Tensors, variables and a manual gradient step: reference solutions</title>" in raw
    assert "Hint 1 of" not in page, "the hint ladders are left out"
    for gid, text in explanations.read(REPO, LEVEL1).items():  # a table of contents, an explanation each
        assert f'href="#{gid}"' in raw and f'id="{gid}"' in raw
        assert " ".join(visible_text(markdown2html(text.split("\n\n")[0])).split())[:80] in squeezed, gid
    mistake = found["l1_forgot_mean"]
    assert f"{mistake.about} (l1_forgot_mean): loses 2 of 4 points (the hidden values test)" in squeezed
    assert "\u201cforgot the mean\u201d" in page
    assert "np.asarray(X, dtype=np.float32)" in page, "an alternative answer the tests accept"
    assert found["l1_several_mistakes"].about not in page, "a fixture with mistakes in several exercises names none"


def test_does_nbgraders_own_feedback_show_no_hidden_test(level1, tmp_path):
    """What formgrader's Generate Feedback button runs: `nbgrader generate_feedback`, with the
    course's config."""
    import shutil

    from tfladder.course import ops

    root = tmp_path / "course"
    shutil.copytree(level1.root, root, ignore=shutil.ignore_patterns("feedback"))
    ops.nbgrader(root, "generate_feedback", LEVEL1, "--force")
    pages = sorted((root / "feedback").glob(f"*/{LEVEL1}/{LEVEL1}.html"))
    assert len(pages) == len(level1.graded)
    secret = hidden_lines(LEVEL1)
    for page in pages:
        student = page.parts[-3]
        graded = notebooks.read(root / "autograded" / student / LEVEL1 / f"{LEVEL1}.ipynb")
        own = "\n".join(c.source for c in graded.cells if notebooks.is_solution(c))  # a student may write a line
        text = visible_text(page.read_text())  # the tests also hold
        assert not [line for line in secret if line in text and line not in own], page
        assert not [m for m in MARKUP if m in page.read_text()], page
    forgot = visible_text((root / "feedback" / "l1_forgot_mean" / LEVEL1 / f"{LEVEL1}.html").read_text())
    assert "forgot the mean" in forgot, "the judge's message is on the page"
