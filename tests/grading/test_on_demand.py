"""Hidden-test checks on demand: the instructor's checks.toml, who may check now, the record and its
summary. (The check service that uses them: tests/hub/test_check_service.py; through the real hub
and a browser: tests/hub/test_hub.py.)"""

from datetime import UTC, datetime, timedelta

import pytest

from tfladder import seeds
from tfladder.grading import on_demand

A, B = "01_low_level_ops", "02_layers"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def ran(student, minutes_ago, assignment=A, outcome="graded", points=3.0):
    asked = (NOW - timedelta(minutes=minutes_ago)).isoformat()
    return on_demand.Record(student, assignment, asked, outcome, points=points, max_points=20.0, seed=5)


def test_is_every_assignment_open_with_ten_checks_an_hour_when_the_instructor_wrote_nothing(tmp_path):
    settings = on_demand.read_settings(tmp_path, [A, B])
    assert settings.per_hour == 10
    assert settings.rule(A) == on_demand.Rule(open=True, closes=None)


def test_is_the_eleventh_check_in_an_hour_refused_with_when_the_next_one_is_possible():
    settings = on_demand.Settings()
    past = [ran("ann", m) for m in (50, 40, 30, 20, 10, 9, 8, 7, 6, 5)]
    assert on_demand.refusal(settings, A, "ann", past[:9], NOW) == ""  # the tenth
    why = on_demand.refusal(settings, A, "ann", past, NOW)
    assert "used your 10 checks of 01_low_level_ops for this hour" in why
    assert "in 10 minute(s), at 12:10 UTC" in why  # when the check of 50 minutes ago leaves the hour


def test_do_other_students_assignments_old_checks_and_refusals_not_count():
    settings = on_demand.Settings(per_hour=2)
    past = [ran("bob", 1), ran("ann", 1, assignment=B), ran("ann", 61), ran("ann", 1, outcome="refused")]
    assert on_demand.refusal(settings, A, "ann", past, NOW) == ""


def test_do_checks_still_running_count():
    settings = on_demand.Settings(per_hour=2)
    assert on_demand.refusal(settings, A, "ann", [ran("ann", 3)], NOW, running=0) == ""
    assert "used your 2 checks" in on_demand.refusal(settings, A, "ann", [ran("ann", 3)], NOW, running=1)
    assert "still running" in on_demand.refusal(settings, A, "ann", [], NOW, running=2)


def test_does_the_instructor_turn_checks_off_or_close_them_at_a_time():
    text = f"per_hour = 3\n[{A}]\nopen = false\n[{B}]\nopen = true\ncloses = 2026-12-07T11:59:00Z\n"
    settings = on_demand.parse(text, [A, B])
    assert settings.per_hour == 3
    assert (
        on_demand.refusal(settings, A, "ann", [], NOW)
        == "Checks of 01_low_level_ops are off: your instructor has not opened them."
    )
    assert on_demand.refusal(settings, B, "ann", [], NOW) == "Checks of 02_layers closed at 2026-12-07 11:59 UTC."
    before = on_demand.parse(f'[{B}]\ncloses = "2026-12-07T14:01:00+02:00"\n', [A, B])
    assert before.rule(B).closes == datetime(2026, 12, 7, 12, 1, tzinfo=UTC)  # a time zone is understood
    assert on_demand.refusal(before, B, "ann", [], NOW) == ""  # a minute before it closes


@pytest.mark.parametrize(
    "text, says",
    [
        ("per_hour = ten", "not valid TOML"),
        ("per_hour = -1", "per_hour must be a whole number"),
        ("[01_low_level_op]\nopen = true", "the course has no assignment '01_low_level_op'"),
        ("[01_low_level_ops]\nopen = 'yes'", "open must be true or false"),
        ("[01_low_level_ops]\nclose = 2026-12-20", "unknown setting(s) close"),
        ("[01_low_level_ops]\ncloses = 'Friday'", "is not a time like"),
    ],
)
def test_does_a_mistake_in_checks_toml_say_where_and_what(text, says):
    with pytest.raises(on_demand.SettingsError, match=r".*") as raised:
        on_demand.parse(text, [A, B])
    assert says in str(raised.value)


def test_does_the_default_file_open_every_assignment_and_read_back_as_the_defaults(tmp_path):
    path = on_demand.write_default_settings(tmp_path, [A, B])
    assert on_demand.read_settings(tmp_path, [A, B]) == on_demand.Settings(
        rules={A: on_demand.Rule(), B: on_demand.Rule()}
    )
    path.write_text("per_hour = 1\n")
    on_demand.write_default_settings(tmp_path, [A, B])
    assert path.read_text() == "per_hour = 1\n", "an instructor's file is never overwritten"


def test_is_every_check_recorded_and_read_back_and_a_damaged_line_skipped(tmp_path):
    on_demand.append(tmp_path, ran("ann", 5))
    (tmp_path / on_demand.RECORD_FILE).open("a").write('{"student": "half a line\n')
    on_demand.append(tmp_path, ran("bob", 4, outcome="refused", points=None))
    assert [(r.student, r.outcome) for r in on_demand.records(tmp_path)] == [("ann", "graded"), ("bob", "refused")]


def test_does_the_summary_count_checks_students_best_scores_and_refusals(tmp_path):
    for record in [
        ran("ann", 9, points=4),
        ran("ann", 5, points=10),
        ran("bob", 3, points=6),
        ran("bob", 1, outcome="refused", points=None),
    ]:
        on_demand.append(tmp_path, record)
    (row,) = on_demand.summary(tmp_path)
    assert row["checks"] == 3 and row["students"] == 2 and row["refused"] == 1
    assert row["mean_best"] == "8.0" and row["top"] == "20"


def test_is_a_checks_seed_never_one_the_terms_grading_can_use(monkeypatch):
    monkeypatch.setenv(seeds.SEED_ENV, "77")
    drawn = {on_demand.fresh_seed() for _ in range(200)}
    assert len(drawn) > 190 and not drawn & {77, seeds.DEFAULT_SEED}
    draws = iter([76, seeds.DEFAULT_SEED - 1, 9])  # 77 and the default are drawn again
    monkeypatch.setattr(on_demand.secrets, "randbelow", lambda n: next(draws))
    assert on_demand.fresh_seed() == 10
