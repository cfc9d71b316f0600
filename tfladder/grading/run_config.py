"""nbgrader's configuration for one assignment of a `tfladder grade` run: loaded by nbgrader, not imported.

`tfladder.grading.grade` copies this file, as `nbgrader_config.py`, into a Jupyter config folder of
its own (JUPYTER_CONFIG_DIR for that assignment's `nbgrader autograde`) with the run's settings
beside it in `tfladder-run-settings.json`, {section: {trait: value}}: whether the course's
JudgedExecute sandboxes kernels, the workers' results to replay, the sandbox uid slot and zygote,
the staged submissions. nbgrader reads the course's own `nbgrader_config.py` after this one.
The file only reads data; nothing here is written per run.
"""

import json
from pathlib import Path

SETTINGS = "tfladder-run-settings.json"  # grade.RUN_SETTINGS

c = get_config()  # type: ignore[name-defined]  # noqa: F821 (provided by traitlets when it loads this file)
for section, values in json.loads((Path(__file__).parent / SETTINGS).read_text()).items():
    for key, value in values.items():
        setattr(c[section], key, value)
