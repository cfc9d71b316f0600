"""The curriculum contract (shared/curriculum.md): assignment folders and solution grade ids.

Graders, fixtures and outside checks rely on these names; a test fails if a notebook drifts.
"""

SOLUTION_IDS = {
    "01_low_level_ops": [
        "l1_linear_forward", "l1_mse_loss", "l1_tape_gradients", "l1_analytic_gradients",
        "l1_sgd_step", "l1_train", "l1_explain_rebinding",
    ],
}

# Written answers, graded by hand in formgrader.
MANUAL_IDS = {"l1_explain_rebinding"}
