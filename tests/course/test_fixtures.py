"""Are the fixture submissions well-formed, and do they cover every exercise?"""

import pytest
from conftest import ASSIGNMENTS, REPO, committed_notebook, level_fixtures
from contract import MANUAL_IDS, SOLUTION_IDS

from tfladder.course import fixtures, notebooks, ops

ALL = [(a, name) for a in ASSIGNMENTS for name in fixtures.load_all(REPO, a)]


def _source(assignment):
    return committed_notebook("source", assignment)


@pytest.mark.parametrize("assignment,name", ALL)
def test_does_the_fixture_list_every_graded_cell(assignment, name):
    fixture = level_fixtures(assignment)[name]
    graded = notebooks.graded_points(_source(assignment))
    assert fixture.assignment == assignment
    assert name.startswith(ops.level_prefix(assignment) + "_"), "fixture names start with the level prefix"
    assert set(fixture.points) == set(graded), (
        f"{name} must list exactly the graded cells: missing {sorted(set(graded) - set(fixture.points))}, "
        f"unknown {sorted(set(fixture.points) - set(graded))}"
    )
    for cell, expected in fixture.points.items():
        if expected == fixtures.MANUAL:
            assert cell in MANUAL_IDS, f"only written answers wait for a human, not {cell}"
        else:
            assert 0 <= expected <= graded[cell], f"{cell}: {expected} is outside 0..{graded[cell]:g}"
    for cell in fixture.messages:
        assert fixture.points.get(cell) == 0, f"{name}: a message is expected from {cell}, which should fail"


@pytest.mark.parametrize("assignment,name", ALL)
def test_does_the_fixture_build_into_a_notebook(assignment, name):
    fixture = level_fixtures(assignment)[name]
    release = committed_notebook("release", assignment)
    nb = fixtures.build(fixture, release, _source(assignment))
    by_id = notebooks.cells_by_id(nb)
    for gid, answer in fixture.answers.items():
        assert by_id[gid].source == answer
    stubs = [g for g in notebooks.solution_ids(nb) if "NotImplementedError" in by_id[g].source]
    if fixture.base == "reference":
        assert not stubs, f"{name} still has stubs in {stubs}"
    tests_before = [c.source for c in release.cells if notebooks.is_test(c)]
    assert [c.source for c in nb.cells if notebooks.is_test(c)] == tests_before, "fixtures never touch test cells"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_every_exercise_have_a_reference_a_blank_an_alternative_and_a_mistake(assignment):
    found = fixtures.load_all(REPO, assignment)
    graded = notebooks.graded_points(_source(assignment))
    prefix = ops.level_prefix(assignment)
    assert f"{prefix}_reference" in found and f"{prefix}_blank" in found
    full = {c: "manual" if c in MANUAL_IDS else p for c, p in graded.items()}
    assert found[f"{prefix}_reference"].points == full, "the reference earns every point"
    assert all(v == 0 for v in found[f"{prefix}_blank"].points.values()), "the blank release earns nothing"
    for sid in SOLUTION_IDS[assignment]:
        if sid in MANUAL_IDS:
            continue
        answering = [f for f in found.values() if sid in f.answers]
        alternatives = [f for f in answering if f.points == full]
        mistakes = [f for f in answering if any(f.points[c] == 0 for c in f.points if c.startswith(sid + "_"))]
        assert alternatives, f"{sid} has no alternative correct answer among the fixtures"
        assert mistakes, f"{sid} has no typical-mistake fixture"
        for f in mistakes:
            assert f.messages, f"{f.name} should say which failure message names its mistake"


def test_is_a_broken_fixture_reported_clearly(tmp_path):
    bad = tmp_path / "l1_broken.toml"
    bad.write_text('assignment = "01_low_level_ops"\nbase = "somewhere"\nabout = "x"\n[points]\n')
    with pytest.raises(fixtures.FixtureError, match="base must be one of"):
        fixtures.load(bad)
    bad.write_text("this is not toml = = =")
    with pytest.raises(fixtures.FixtureError, match="cannot read fixture"):
        fixtures.load(bad)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_every_exercise_have_five_mistakes_whose_messages_are_checked(assignment):
    found = fixtures.load_all(REPO, assignment)
    prefix = ops.level_prefix(assignment)
    reference = found[f"{prefix}_reference"].points
    for sid in SOLUTION_IDS[assignment]:
        if sid in MANUAL_IDS:
            continue
        named = [
            f.name
            for f in found.values()
            if f.name not in (f"{prefix}_blank", f"{prefix}_several_mistakes")
            and any(c.startswith(sid + "_") and f.points[c] != reference[c] for c in f.points)
            and any(c.startswith(sid + "_") for c in f.messages)
        ]
        assert len(named) >= 5, f"{sid}: only {len(named)} mistake fixtures check their message: {named}"
