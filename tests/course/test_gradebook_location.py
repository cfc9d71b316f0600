"""Does every part of tfladder that reads the gradebook open the one the course's configuration names?"""

from contextlib import closing

from conftest import ASSIGNMENTS, make_course
from nbgrader.api import Gradebook

from tfladder.cli import demo
from tfladder.course import config
from tfladder.grading import scores

A = ASSIGNMENTS[0]


def test_does_a_relative_sqlite_gradebook_mean_the_course_folder_from_anywhere(tmp_path, monkeypatch):
    root = make_course(tmp_path / "course", [A])
    with (root / "nbgrader_config.py").open("a") as file:
        file.write('\nc.CourseDirectory.db_url = "sqlite:///records/grades.db"\n')
    (root / "records").mkdir()
    monkeypatch.chdir(tmp_path)  # not the course folder, where nbgrader's commands run
    wanted = (root / "records" / "grades.db").resolve()
    assert config.gradebook_file(root) == wanted and config.db_url(root) == f"sqlite:///{wanted}"
    with closing(scores.gradebook(root)) as gb:
        gb.add_assignment(A)
        for student in ("pat", *demo.DEMO_CLASS):
            gb.update_or_create_student(student)
    demo.forget_demo_students(root)
    with closing(Gradebook(f"sqlite:///{wanted}")) as gb:
        assert [s.id for s in gb.students] == ["pat"] and [a.name for a in gb.assignments] == [A]
    assert not (root / "gradebook.db").exists() and not (tmp_path / "gradebook.db").exists()


def test_is_nbgraders_default_gradebook_the_one_in_the_course_folder(tmp_path, monkeypatch):
    root = make_course(tmp_path / "course", [A])
    monkeypatch.chdir(tmp_path)
    assert config.gradebook_file(root) == (root / "gradebook.db").resolve()
