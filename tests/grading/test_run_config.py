"""Does a grading run configure nbgrader with data read by a checked-in file, not generated code?"""

import json

from traitlets.config.loader import PyFileConfigLoader

from tfladder.grading import grade


def test_is_the_run_config_the_checked_in_file_with_its_settings_beside_it(tmp_path):
    folder = grade._override_config(
        tmp_path / "config", tmp_path / "staged", use_sandbox=False, slot=3, zygote="/z.sock", results=tmp_path / "r"
    )
    assert (folder / "nbgrader_config.py").read_text() == grade.RUN_CONFIG.read_text()
    settings = json.loads((folder / grade.RUN_SETTINGS).read_text())
    assert settings["SandboxKernelManager"] == {"slot": 3, "zygote": "/z.sock"}
    loaded = PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()
    assert loaded.JudgedExecute.sandbox is False and loaded.JudgedExecute.results == str(tmp_path / "r")
    assert loaded.SandboxKernelManager.slot == 3
    assert loaded.CourseDirectory.submitted_directory == str(tmp_path / "staged")


def test_does_a_setting_that_looks_like_code_stay_a_string(tmp_path):
    staged = tmp_path / 'x"); import os; os.system("true'
    folder = grade._override_config(tmp_path / "config", staged, use_sandbox=True, slot=0)
    loaded = PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()
    assert loaded.CourseDirectory.submitted_directory == str(staged)


def test_are_the_options_one_object_with_serial_grading_spelled_out():
    serial = grade.Options(jobs=1, prefork=False)
    assert serial.use_sandbox and serial.students == () and grade.Options().jobs is None
    assert serial != grade.Options()
