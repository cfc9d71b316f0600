"""The curriculum contract (docs/authoring.md, "The solution cell"): assignment folders and solution grade ids.

Graders, fixtures and outside checks rely on these names; a test fails if a notebook drifts.
"""

SOLUTION_IDS = {
    "01_low_level_ops": [
        "l1_linear_forward",
        "l1_mse_loss",
        "l1_tape_gradients",
        "l1_analytic_gradients",
        "l1_sgd_step",
        "l1_train",
        "l1_explain_rebinding",
        "l1_watched_gradients",
        "l1_second_derivative",
    ],
    "02_layers": [
        "l2_dense_forward",
        "l2_param_count",
        "l2_linear_layer",
        "l2_running_sum",
        "l2_mlp_block",
        "l2_stack_forward",
    ],
    "03_keras_models": [
        "l3_build_mlp",
        "l3_two_input_model",
        "l3_compile_and_fit",
        "l3_evaluate",
        "l3_digit_classifier",
        "l3_subclassed_model",
        "l3_save_and_reload",
        "l3_stop_at_loss",
    ],
    "04_custom_training": [
        "l4_train_step",
        "l4_compiled_step",
        "l4_custom_fit",
        "l4_regularized_step",
        "l4_custom_model",
        "l4_four_ways",
        "l4_counting_step",
    ],
    "05_data_pipelines": [
        "l5_make_dataset",
        "l5_standardize",
        "l5_cached_pipeline",
        "l5_num_batches",
        "l5_fit_from_dataset",
        "l5_dataset_loop",
        "l5_tfrecord",
    ],
}

# Written answers, graded by hand in formgrader.
MANUAL_IDS = {"l1_explain_rebinding"}
