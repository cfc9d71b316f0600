"""Which submissions does `tfladder grade --resume` take as recorded already?

Recorded: the report in autograded/ names this very submission and this release. A student who
submits again, a release that changed, a report that is missing or unreadable: not recorded.
(tests/grading/test_grade_command.py runs `--resume` through the command line, and
tests/grading/test_cluster.py after a run that lost its scheduler.)
"""

import json

from tfladder.grading import resume

A = "01_low_level_ops"


def _course(tmp_path, students=("pat", "sam")):
    course = tmp_path / "course"
    (course / "release" / A).mkdir(parents=True)
    (course / "release" / A / f"{A}.ipynb").write_text('{"cells": []}')
    for student in students:
        (course / "submitted" / student / A).mkdir(parents=True)
        (course / "submitted" / student / A / f"{A}.ipynb").write_text(f'{{"by": "{student}"}}')
    return course


def _record(course, student):
    report = course / "autograded" / student / A / resume.REPORT
    report.parent.mkdir(parents=True, exist_ok=True)
    said = {
        "submission": resume.submission_fingerprint(course / "submitted" / student / A),
        "release": resume.release_fingerprint(course, A),
    }
    report.write_text(json.dumps(said))
    return report


def test_is_only_a_submission_with_a_matching_report_recorded(tmp_path):
    course = _course(tmp_path)
    _record(course, "pat")
    assert resume.unrecorded(course, A, ["pat", "sam"]) == ["sam"]


def test_is_a_submission_made_again_not_recorded(tmp_path):
    course = _course(tmp_path)
    _record(course, "pat")
    (course / "submitted" / "pat" / A / "data.csv").write_text("1,2\n")  # a file more
    assert resume.unrecorded(course, A, ["pat"]) == ["pat"]
    _record(course, "pat")
    (course / "submitted" / "pat" / A / f"{A}.ipynb").write_text('{"by": "pat", "again": 1}')
    assert resume.unrecorded(course, A, ["pat"]) == ["pat"]


def test_is_nothing_recorded_against_a_release_that_changed(tmp_path):
    course = _course(tmp_path)
    _record(course, "pat"), _record(course, "sam")
    (course / "release" / A / f"{A}.ipynb").write_text('{"cells": [1]}')
    assert resume.unrecorded(course, A, ["pat", "sam"]) == ["pat", "sam"]


def test_is_a_report_that_is_unreadable_or_from_before_fingerprints_not_a_record(tmp_path):
    course = _course(tmp_path)
    _record(course, "pat").write_text("{not json")
    _record(course, "sam").write_text(json.dumps({"failed": [], "flags": []}))
    assert resume.unrecorded(course, A, ["pat", "sam"]) == ["pat", "sam"]
