"""Is every command documented, and does the command line fail clearly outside a course?"""

import subprocess
import sys

import pytest

from tfladder.cli import main

COMMANDS = [
    "release",
    "autograde",
    "grade",
    "certificates",
    "check",
    "solutions",
    "feedback",
    "report",
    "similarity",
    "export",
    "demo",
    "lab",
    "hub",
    "users",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_does_every_command_have_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as done:
        main.main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "Example:" in text and f"tfladder {command}" in text


def test_are_all_commands_listed():
    parser = main.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)


def test_does_running_outside_a_course_say_where_to_run(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tfladder", "release"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2
    assert "is not inside a tfladder course" in done.stderr and "Traceback" not in done.stderr
