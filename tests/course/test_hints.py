"""Does every code exercise have a hint ladder that gives no answer away, and every exercise an
explanation that stays out of the release?"""

import re

import pytest
from conftest import ASSIGNMENTS, REPO
from contract import MANUAL_IDS

from tfladder.course import explanations, hints, notebooks

# Reference lines shorter than this (after squeezing spaces) are not an answer: `return loss`.
SHORTEST_ANSWER_LINE = 12


def _nb(kind, assignment):
    return notebooks.read(REPO / kind / assignment / f"{assignment}.ipynb")


def _squeeze(text):
    return re.sub(r"\s+", " ", text).strip()


def code_exercises(assignment):
    return [gid for gid in notebooks.solution_ids(_nb("source", assignment)) if gid not in MANUAL_IDS]


def leaked_lines(ladder, reference, starter):
    """Lines of the reference answer that a hint holds (the starter code the release shows aside)."""
    shown = {_squeeze(line) for line in starter.splitlines()}
    text = _squeeze(" ".join(h.text for h in ladder))
    return [
        line
        for line in map(_squeeze, reference.splitlines())
        if len(line) >= SHORTEST_ANSWER_LINE and line not in shown and line in text
    ]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_every_code_exercise_have_two_or_three_hints_just_before_it(assignment):
    nb = _nb("source", assignment)
    ladders = hints.ladders(nb)
    assert sorted(ladders) == sorted(code_exercises(assignment))
    for gid, ladder in ladders.items():
        assert 2 <= len(ladder) <= 3 and all(h.title and h.text for h in ladder), gid
        at = next(i for i, c in enumerate(nb.cells) if notebooks.grade_id(c) == gid)
        assert hints.ladder_of(nb.cells[at - 1]) == gid, f"{gid}: the ladder is not just before the solution"
        assert nb.cells[at - 1].id == hints.cell_id(gid)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_the_release_show_the_same_ladders(assignment):
    assert hints.ladders(_nb("release", assignment)) == hints.ladders(_nb("source", assignment))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_no_hint_hold_a_line_of_the_reference_answer(assignment):
    source, release = _nb("source", assignment), _nb("release", assignment)
    starters = {notebooks.grade_id(c): c.source for c in release.cells if notebooks.grade_id(c)}
    for cell in source.cells:
        gid = notebooks.grade_id(cell)
        ladder = hints.ladders(source).get(gid)
        if ladder:
            reference = "\n".join(notebooks.region_lines(cell.source, notebooks.BEGIN_SOLUTION, notebooks.END_SOLUTION))
            assert not leaked_lines(ladder, reference, starters[gid]), gid


def test_can_the_leak_check_find_an_answer_line():
    reference = "X = tf.convert_to_tensor(X, dtype=tf.float32)\nreturn out"
    ladder = [
        hints.Hint("the idea", "Convert first."),
        hints.Hint("a skeleton", "```python\nX  =  tf.convert_to_tensor(X, dtype=tf.float32)\nreturn out\n```"),
    ]
    assert leaked_lines(ladder, reference, starter="def f(X):") == ["X = tf.convert_to_tensor(X, dtype=tf.float32)"]
    assert leaked_lines(ladder, reference, starter="X = tf.convert_to_tensor(X, dtype=tf.float32)") == []


def test_do_render_and_parse_agree():
    ladder = [hints.Hint("the idea", "One *line*."), hints.Hint("the API", "`tf.matmul`\n\nand more.")]
    text = hints.render(ladder)
    assert hints.parse(text) == ladder
    assert text.count("<details>") == text.count("</details>") == 2
    assert text.index("Hint 2 of 2") > text.index("One *line*."), "hint 2 folds inside hint 1"
    with pytest.raises(ValueError):
        hints.render(ladder[:1])


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_every_exercise_have_an_explanation(assignment):
    found = explanations.read(REPO, assignment)
    assert list(found) == notebooks.solution_ids(_nb("source", assignment))
    assert all(len(text.split()) >= 25 for text in found.values()), "an explanation says why, in a few sentences"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_no_explanation_reach_the_release(assignment):
    assert not (REPO / "release" / assignment / explanations.FILE).exists()
    released = _squeeze(" ".join(c.source for c in _nb("release", assignment).cells))
    for gid, text in explanations.read(REPO, assignment).items():
        for paragraph in text.split("\n\n"):
            assert _squeeze(paragraph)[:80] not in released, f"{gid}'s explanation is in release/{assignment}"
