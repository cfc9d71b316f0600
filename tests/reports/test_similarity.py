"""Similar submissions: `tfladder similarity` on a class of real submission notebooks of level 1.

The class (`similarity_class/`): five students who wrote their answers alone (amara, bruno, chen,
dana, eli), one who converges on the reference (gita), the fixtures' alternative answers, a blank
notebook, and felix, who copied dana: every name changed, helpers moved after the functions that
call them, comments added, constants written another way. Nothing here executes a notebook.
"""

import ast
import json
import re
import tomllib
from itertools import combinations
from pathlib import Path

import browser
import numpy as np
import pytest
from conftest import make_course
from playwright.sync_api import expect

from tfladder.cli.main import main
from tfladder.course import fixtures
from tfladder.reports import code_tokens, similarity

ASSIGNMENT = "01_low_level_ops"
CLASS = Path(__file__).parent / "similarity_class"
HONEST = ["amara", "bruno", "chen", "dana", "eli", "gita", "l1_alternative_answers", "l1_blank"]
COPY = ("dana", "felix_copies_dana")


def class_answers():
    """{student: {grade id: code}} of the hand-written class."""
    return {
        path.stem: {k: v.strip("\n") for k, v in tomllib.loads(path.read_text())["answers"].items()}
        for path in sorted(CLASS.glob("*.toml"))
    }


def submit(course, student, answers, base="release"):
    return fixtures.submit(fixtures.Fixture(student, ASSIGNMENT, "", base, answers=answers), course)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = make_course(
        tmp_path_factory.mktemp("similarity"), [ASSIGNMENT, "02_layers"]
    )  # 02: released, nobody submitted
    for student, answers in class_answers().items():
        submit(root, student, answers)
    for name in ("l1_alternative_answers", "l1_blank"):
        fixtures.submit(fixtures.load_all(root, ASSIGNMENT)[name], root)
    return root


@pytest.fixture(scope="module")
def result(course):
    return similarity.compare(course, ASSIGNMENT)


def renamed(code, suffix="_x"):
    """`code` with every name it chooses changed."""
    names, attributes = code_tokens.chosen_names(ast.parse(code))
    for name in sorted(names | attributes, key=len, reverse=True):
        after_dot = "" if name in attributes else r"(?<!\.)"  # tf.shape stays when `shape` is a parameter
        code = re.sub(rf"{after_dot}\b{re.escape(name)}\b", name + suffix, code)
    return code


def test_is_the_copied_pair_ranked_first(result):
    first = result.pairs[0]
    assert {first.a, first.b} == set(COPY), [(p.a, p.b, round(p.similarity, 2)) for p in result.pairs[:3]]
    assert first.similarity >= similarity.THRESHOLD
    assert {s.exercise for s in first.shared} == set(result.exercises)  # every exercise was copied


def test_does_no_honest_pair_reach_the_default_threshold(result):
    assert [(p.a, p.b) for p in result.flagged] == [COPY]
    honest = [p for p in result.pairs if {p.a, p.b} != set(COPY)]
    assert max(p.similarity for p in honest) < similarity.THRESHOLD
    # and the copy stands well apart from the most alike honest pair
    assert result.pairs[0].similarity > 2 * honest[0].similarity


def test_is_every_pair_of_the_class_in_the_histogram(result):
    n = len(HONEST) + 1
    assert result.students == sorted(HONEST + ["felix_copies_dana"])
    assert sum(result.histogram) == n * (n - 1) // 2
    assert sum(result.histogram[int(similarity.THRESHOLD * len(result.histogram)) :]) == 1


def test_does_renaming_names_numbers_strings_and_comments_change_nothing():
    for student, answers in class_answers().items():
        for exercise, code in answers.items():
            disguised = renamed(code)
            disguised = re.sub(r"\b2\.0\b", "2.", disguised)
            disguised = re.sub(r"(?m)^(\s*)(\w.*)$", r"\1# a comment\n\1\2", disguised, count=1)
            assert disguised != code
            assert code_tokens.tokens(disguised).text == code_tokens.tokens(code).text, (student, exercise)


def test_are_the_library_calls_an_answer_makes_kept():
    mean = code_tokens.tokens("def f(d):\n    loss = tf.reduce_mean(tf.square(d))").text
    total = code_tokens.tokens("def f(d):\n    loss = tf.reduce_sum(tf.square(d))").text
    assert mean != total
    assert code_tokens.tokens("def g(delta):\n    error = tf.reduce_mean(tf.square(delta))").text == mean
    # a name the code does not bind (another cell's answer, a global) is not the student's to rename
    assert code_tokens.tokens("y = linear_forward(x)").text != code_tokens.tokens("y = forward(x)").text


def test_does_a_class_answering_like_the_reference_share_nothing(tmp_path):
    """Code equal to the reference counts like starter code: many students converge on it."""
    root = make_course(tmp_path, [ASSIGNMENT])
    found = fixtures.load_all(root, ASSIGNMENT)
    for student in ("ref_a", "ref_b"):
        fixtures.submit(found["l1_reference"], root, student=student)
    for student in ("blank_a", "blank_b"):
        fixtures.submit(found["l1_blank"], root, student=student)
    result = similarity.compare(root, ASSIGNMENT)
    assert result.pairs == []
    assert result.histogram[0] == 6 and sum(result.histogram) == 6


def test_does_the_screening_find_every_pair_copydetect_would(course):
    """Only texts sharing a fingerprint are compared: the same numbers as comparing every pair."""
    layout = similarity.exercises(course, ASSIGNMENT)
    students = sorted(p.name for p in (course / "submitted").iterdir())
    code, _ = similarity.answers(course, ASSIGNMENT, students, layout)
    window = similarity.GUARANTEE_TOKENS - similarity.NOISE_TOKENS + 1
    for exercise in layout[f"{ASSIGNMENT}.ipynb"]:
        texts = [code_tokens.tokens(code[s, exercise.name]).text for s in students]
        boiler = [code_tokens.tokens(b).text for b in exercise.boilerplate]
        found = similarity.compare_exercise(texts, boiler)
        bp = np.unique(np.concatenate([np.array(list(similarity.fingerprint(b, 1).hashes)) for b in boiler]))
        prints = [similarity.fingerprint(t, window, bp) for t in texts]
        for a, b in combinations(range(len(students)), 2):
            _, _, (slices_a, slices_b) = similarity.compare_files(prints[a], prints[b])
            i, j = found.which[a], found.which[b]
            assert found.covered[i, j] == similarity._covered(slices_a), (exercise.name, students[a], students[b])
            assert found.covered[j, i] == similarity._covered(slices_b)


def test_are_the_copied_regions_the_copied_code(result):
    """dana's helper `_residual` and felix's `residuals` are shown as shared, line for line."""
    first = result.pairs[0]
    shared = next(s for s in first.shared if s.exercise == "l1_analytic_gradients")
    dana, felix = (result.code[student, "l1_analytic_gradients"] for student in (first.a, first.b))
    marked_dana = "".join(dana[s:e] for s, e in shared.regions[0])
    marked_felix = "".join(felix[s:e] for s, e in shared.regions[1])
    assert "tf.expand_dims(tf.cast(tf.reshape(y, [-1]), tf.float32), axis=1)" in marked_dana
    assert "tf.expand_dims(tf.cast(tf.reshape(y, [-1]), tf.float32), axis=1)" in marked_felix
    assert "def _residual" in dana and "def residuals" in felix


@pytest.fixture
def run_similarity(monkeypatch, capsys):
    """`tfladder similarity ARGS` in a course, in this process (the command line is a thin layer):
    (exit status, stdout, stderr)."""

    def run(course, *args):
        monkeypatch.chdir(course)
        status = main(["similarity", *args])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_does_the_report_show_the_pair_side_by_side_with_everything_escaped(tmp_path, run_similarity):
    root = make_course(tmp_path, [ASSIGNMENT])
    answers = class_answers()
    for student in ("amara", "bruno", "chen", "dana"):
        submit(root, student, answers[student])
    hostile = dict(answers["felix_copies_dana"])  # what a student controls: their name and code
    hostile["l1_linear_forward"] += '\n\nNOTE = "</pre><script>alert(1)</script>"'
    submit(root, "<b>felix", hostile)
    submit(root, "deep", {"l1_train": "losses = " + "w+" * 50_000 + "b"})  # too deep for Python's parser
    for broken, text in [("broken", "{ not json"), ("no_cells", "{}"), ("v1", '{"nbformat": 1}')]:
        (root / "submitted" / broken / ASSIGNMENT).mkdir(parents=True)
        (root / "submitted" / broken / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_text(text)

    status, out, err = run_similarity(root, ASSIGNMENT)

    assert status == 0, err
    assert "1 pair at or above 0.50 among 9 submissions" in out
    assert re.search(r"0\.\d\d  <b>felix  dana", out)
    for broken in ("broken", "no_cells", "v1"):  # reported, the rest compared
        assert f"{broken}: {ASSIGNMENT}.ipynb cannot be read" in err
    assert "l1_second_derivative: " in err and "(8/8)" in err  # progress
    page = (root / "similarity" / f"{ASSIGNMENT}.html").read_text()
    assert "<script>" not in page and "&lt;/pre&gt;&lt;script&gt;" in page and "<b>felix" not in page
    assert '<a href="#pair-1">&lt;b&gt;felix and dana</a>' in page
    assert page.count("<mark>") > 20 and "<svg" in page
    assert "broken: 01_low_level_ops.ipynb cannot be read" in page


@pytest.mark.slow  # starts Chromium
def test_can_an_instructor_read_the_copied_pair_side_by_side_in_a_browser(course, tmp_path, run_similarity):
    out = tmp_path / "similarity.html"
    status, _, err = run_similarity(course, ASSIGNMENT, "--out", str(out))
    assert status == 0, err
    with browser.chromium() as chromium, browser.new_page(chromium) as page:
        page.goto(out.as_uri())
        shots = browser.Shots(page, "similarity")
        shots.take("report")
        page.get_by_role("link", name="dana and felix_copies_dana").click()
        heading = page.locator("#pair-1")
        expect(heading).to_be_in_viewport()
        left, right = (page.locator(".side").first.locator(":scope > div").nth(k) for k in (0, 1))
        expect(left).to_contain_text("def _as_float32")
        expect(right).to_contain_text("def to_f32")
        box_left, box_right = left.bounding_box(), right.bounding_box()
        assert box_left["x"] + box_left["width"] <= box_right["x"]  # side by side, not one under the other
        assert abs(box_left["y"] - box_right["y"]) < 2
        expect(left.locator("mark").first).to_be_visible()
        expect(right.locator("mark").first).to_be_visible()
        shots.take("side_by_side", heading, block="start")


def test_does_the_threshold_choose_what_is_marked(course, tmp_path, run_similarity):
    out = tmp_path / "l1-similarity.html"
    status, out_text, err = run_similarity(course, ASSIGNMENT, "--threshold", "0.25", "--out", str(out))
    assert status == 0, err
    flagged = re.findall(r"^  (0\.\d\d)  (\S+)  (\S+)$", out_text, re.M)
    assert flagged[0][1:] == COPY and len(flagged) > 1
    assert all(float(value) >= 0.25 for value, _, _ in flagged)
    assert out.read_text().count('class="flagged"') == len(flagged)


@pytest.mark.parametrize(
    "args, message",
    [
        (["99_nothing"], "no assignment '99_nothing' in source/"),
        ([ASSIGNMENT, "--threshold", "1.5"], "--threshold must be above 0 and at most 1"),
        (["02_layers"], "no submissions of 02_layers in submitted/"),
        ([ASSIGNMENT, "--out", "nbgrader_config.py/report.html"], "cannot write the report to"),
    ],
)
def test_is_a_mistaken_command_refused_with_its_reason(course, args, message, run_similarity):
    status, _, err = run_similarity(course, *args)
    assert status == 2 and message in err


def test_is_a_notebook_without_its_solution_cells_compared_as_blank(tmp_path):
    root = make_course(tmp_path, [ASSIGNMENT])
    answers = class_answers()
    submit(root, "dana", answers["dana"])
    path = submit(root, "felix", answers["felix_copies_dana"])
    nb = json.loads(path.read_text())
    nb["cells"] = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("solution") is not True]
    path.write_text(json.dumps(nb))
    result = similarity.compare(root, ASSIGNMENT)
    assert result.pairs == [] and result.code["felix", "l1_train"] == ""


def test_are_the_fingerprints_the_same_in_every_process():
    """copydetect's own hashes are Python's hash(), which changes per process: a class re-run would
    score differently. These are fixed (the values below are what any process computes)."""
    assert similarity.kgram_hashes("def f(x): return x", 8).tolist()[:3] == [
        -7130867197063716330,
        -2953864603943420648,
        3769111480143459043,
    ]
    assert similarity.kgram_hashes("short", 8).tolist() == []
