"""Do scores stay the same with oneDNN on or off, with one or two threads, and on new inputs?

The baseline is the session's grading of every fixture (oneDNN off, two threads, the default
grading seed). Each variant grades the same fixtures again in its own temporary course with one
setting changed; two variants run side by side to use both cores.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import ASSIGNMENTS, BASELINE_ENV, grade_fixtures, make_course

pytestmark = pytest.mark.slow

VARIANTS = {
    "oneDNN on": {"TF_ENABLE_ONEDNN_OPTS": "1"},
    "one thread": {"TFLADDER_THREADS": "1"},
    "another grading seed": {"TFLADDER_GRADING_SEED": "424242"},
}


@pytest.fixture(scope="module")
def variant_scores(tmp_path_factory):
    jobs = [(label, a) for label in VARIANTS for a in ASSIGNMENTS]

    def run(job):
        label, assignment = job
        root = make_course(tmp_path_factory.mktemp("variant"), [assignment])
        graded, _ = grade_fixtures(root, assignment, env={**BASELINE_ENV, **VARIANTS[label]})
        return job, {name: g.points for name, g in graded.items()}

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, jobs))


@pytest.mark.parametrize("label", list(VARIANTS))
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_are_scores_unchanged(graded_fixtures, variant_scores, assignment, label):
    baseline = {name: g.points for name, g in graded_fixtures(assignment)[0].items()}
    variant = variant_scores[(label, assignment)]
    changed = {
        f"{name}/{cell}": (points, (variant[name] or {}).get(cell))
        for name, cells in baseline.items()
        for cell, points in (cells or {}).items()
        if (variant[name] or {}).get(cell) != points
    }
    assert not changed, f"with {label}, these cells scored differently (baseline, variant): {changed}"
