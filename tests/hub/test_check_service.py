"""The hub's check service without the hub: what it answers before a notebook is graded (refusals,
the busy queue, a bad request), and that a student's view of a result holds no test code. A real
check, graded in the sandbox through the real hub and clicked in a browser: tests/hub/test_hub.py."""

import asyncio
import json

import pytest
from conftest import make_course
from tornado.testing import AsyncHTTPTestCase

from tfladder.grading import on_demand, results
from tfladder.hub import service

A = "01_low_level_ops"
NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture
def checks(tmp_path):
    return service.Checks(make_course(tmp_path / "course", [A]), slots=1, waiting=1)


def ask(checks, assignment=A, notebook=NOTEBOOK, student="ann"):
    return asyncio.run(checks.ask(student, assignment, notebook))


def test_is_a_notebook_of_no_assignment_of_the_course_refused_with_where_to_check(checks):
    answer = ask(checks, assignment="Untitled")
    assert answer.status == 404 and "'Untitled' is not an assignment of this course" in answer.body["refused"]


def test_is_something_that_is_not_a_notebook_refused(checks):
    assert ask(checks, notebook=["cells"]).status == 400


def test_are_checks_off_when_the_instructor_says_so_and_is_the_refusal_recorded_but_not_counted(checks):
    (checks.course / on_demand.SETTINGS_FILE).write_text(f"[{A}]\nopen = false\n")
    answer = ask(checks)
    assert answer.status == 403 and "are off" in answer.body["refused"]
    (record,) = on_demand.records(checks.course)
    assert (record.student, record.outcome, record.points) == ("ann", "refused", None)
    assert "10 of your 10 checks" in checks.remaining(on_demand.Settings(), "ann", A)


def test_does_a_mistake_in_checks_toml_turn_checks_off_with_a_message_and_not_a_crash(checks, capsys):
    (checks.course / on_demand.SETTINGS_FILE).write_text("per_hour = lots\n")
    answer = ask(checks)
    assert answer.status == 503 and "checks.toml has a mistake" in answer.body["refused"]
    assert "not valid TOML" in capsys.readouterr().err  # the instructor reads why in the hub's log


def test_is_a_check_refused_as_busy_when_every_slot_and_place_in_the_queue_is_taken(checks):
    checks.under_way = 2  # one running, one waiting
    answer = ask(checks)
    assert answer.status == 503
    assert (
        "busy (2 checks running or waiting)" in answer.body["refused"]
        and "Nothing was counted" in answer.body["refused"]
    )


def test_is_the_eleventh_check_of_the_hour_refused_by_the_service(checks):
    for _ in range(10):
        on_demand.append(
            checks.course,
            on_demand.Record("ann", A, on_demand.now().isoformat(), "graded", points=1.0, max_points=20.0),
        )
    answer = ask(checks)
    assert answer.status == 429 and "used your 10 checks" in answer.body["refused"]
    checks.under_way = 2  # so that bob's check, not refused by the limit, is refused as busy
    assert ask(checks, student="bob").status == 503  # bob's hour is his own


def test_does_a_student_see_points_and_messages_but_not_the_grading_log():
    result = results.NotebookResult(
        assignment=A,
        student="self",
        cells=[
            results.CellResult("l1_mse_loss_values", "l1_mse_loss", 0.0, 2.0, "mse_loss([1, 2], [1, 4]) returned 4.0"),
            results.CellResult("l1_mse_loss_api", "l1_mse_loss", 1.0, 1.0),
        ],
        error="not graded: nbgrader could not grade this submission\nassert np.allclose(hidden_expected, got)",
    )
    view = service.student_view(result, seed=12345)
    assert view["points"] == 1.0 and view["max_points"] == 3.0 and view["seed"] == 12345
    (exercise,) = view["exercises"]
    assert exercise["messages"] == ["values: mse_loss([1, 2], [1, 4]) returned 4.0"]
    assert "hidden_expected" not in json.dumps(view)


class TestTheCheckAPI(AsyncHTTPTestCase):
    """The service's HTTP end, without a hub: no token or a bad request is refused before anything."""

    @pytest.fixture(autouse=True)
    def _course(self, tmp_path, monkeypatch):
        # what JupyterHub gives the service it starts
        monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "a-token-the-hub-would-give")
        monkeypatch.setenv("JUPYTERHUB_CLIENT_ID", "service-tfladder")
        self.course_dir = make_course(tmp_path / "course", [A])

    def get_app(self):
        return service.make_app(self.course_dir)

    def test_is_a_request_without_a_hub_token_refused(self):
        response = self.fetch(service.PREFIX + "api/check", method="POST", body=json.dumps({"assignment": A}))
        assert response.code == 403
        assert "Only the class's students and instructors" in json.loads(response.body)["refused"]
        assert not on_demand.records(self.course_dir)


def test_does_the_service_page_escape_what_students_control(checks):
    hostile = "<script>alert(1)</script>"
    record = on_demand.Record("ann", A, on_demand.now().isoformat(), "refused", reason=hostile)
    mine = service.student_page([record])
    assert hostile not in mine and "&lt;script&gt;" in mine
    on_demand.append(checks.course, record)
    page = service.instructor_page(checks.course, service.Jobs(checks.course), xsrf="")
    assert "<script>" not in page and f"<td>{A}</td><td>0</td><td>0</td>" in page  # refused: counted apart
