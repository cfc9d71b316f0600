"""Can the judge run every test cell of every level as written, and are the rules able to fail?"""

import copy

import pytest
from conftest import ASSIGNMENTS, REPO

from tfladder.course import authoring, notebooks


def source(assignment):
    return notebooks.read(REPO / "source" / assignment / f"{assignment}.ipynb")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_every_test_cell_keep_to_the_judges_rules(assignment):
    assert authoring.problems(source(assignment)) == []


def with_test(gid, text):
    nb = copy.deepcopy(source("01_low_level_ops"))
    next(c for c in nb.cells if notebooks.grade_id(c) == gid).source = text
    return nb


HIDDEN = "### BEGIN HIDDEN TESTS\n{}\n### END HIDDEN TESTS"


@pytest.mark.parametrize(
    "gid,text,problem",
    [
        ("l1_mse_loss_values", "out = tf.constant(1.0)", "uses tf in the judge's code"),
        ("l1_mse_loss_values", "out = mse_loss(1, 2)", "uses mse_loss in the judge's code"),
        ("l1_mse_loss_values", "out = globals()['mse_loss']", "uses globals in the judge's code"),
        ("l1_mse_loss_values", "print(undefined_thing)", "undefined_thing is not defined in the judge"),
        ("l1_mse_loss_values", "import os", "tests import only tfladder.oracles"),
        ("l1_mse_loss_values", "probe, bias = 1, 2", "binds probe, which the judge provides"),
        ("l1_mse_loss_interface", "from tfladder.oracles import l1", "imports the oracles outside the hidden tests"),
        ("l1_mse_loss_values", "code = 'mse_loss(1, 2)'\nprobe.run(code)", "needs its code as a string literal"),
        ("l1_mse_loss_values", "probe.run('mse_loss(1,')", "does not compile"),
        ("l1_mse_loss_values", HIDDEN.format("probe.run('from tfladder.oracles import l1')"), "mentions 'oracle'"),
        (
            "l1_mse_loss_values",
            "probe.register_standin('mse_loss', 'def mse_loss(a, b):\\n    return 0')",
            "registered outside the hidden tests",
        ),
        (
            "l1_mse_loss_values",
            HIDDEN.format("probe.register_standin('mse_loss', 'def other():\\n    pass')"),
            "does not define mse_loss",
        ),
        ("l1_mse_loss_api", HIDDEN.format("probe.isolate('mse_loss')"), "before every test of l1_mse_loss was judged"),
        ("l1_linear_forward_api", HIDDEN.format("probe.isolate('mse_loss')"), "which no earlier test registered"),
        ("l1_tape_gradients_api", "probe.isolate('linear_forward')", "probe.isolate outside the hidden tests"),
    ],
)
def test_is_each_broken_rule_named(gid, text, problem):
    found = authoring.problems(with_test(gid, text))
    assert any(problem in p and p.startswith(gid) for p in found), found
