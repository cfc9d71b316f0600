"""The hub's configuration, read without starting it: what each role's JupyterLab gets, where the
hub listens, which names make accounts. (tests/hub/test_hub.py runs the real hub.)"""

import json
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from traitlets.config import Config

from tfladder import seeds
from tfladder.cli import main
from tfladder.grading import on_demand
from tfladder.hub import accounts, environment, hub_config, layout, serve


class Spawner:
    def __init__(self, name):
        self.user = type("User", (), {"name": name})()
        self.environment = {"PATH": "/opt/tfladder/env/bin:/usr/bin:/bin"}
        self.notebook_dir = ""
        self.cmd = []


def configured(tmp_path, **kw):
    settings = hub_config.Settings(
        home=str(tmp_path), course=str(tmp_path / "course"), env_bin="/opt/tfladder/env/bin", proxy="chp", **kw
    )
    (tmp_path / "state").mkdir(exist_ok=True)
    path = hub_config.write(settings)
    c = Config()
    code = path.read_text()
    exec(compile(code, str(path), "exec"), {"get_config": lambda: c})  # the file the hub runs, as it runs it
    return c


def test_does_the_hub_listen_on_loopback_only_unless_told(tmp_path):
    c = configured(tmp_path)
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8000"
    assert c.JupyterHub.hub_ip == "127.0.0.1"
    assert c.ConfigurableHTTPProxy.api_url.startswith("http://127.0.0.1:")
    assert configured(tmp_path, ip="0.0.0.0", port=80).JupyterHub.bind_url == "http://0.0.0.0:80"


def test_does_the_hub_let_in_the_two_groups_only_with_their_system_passwords(tmp_path):
    c = configured(tmp_path)
    assert c.JupyterHub.authenticator_class == "pam"
    assert c.PAMAuthenticator.allowed_groups == {accounts.STUDENTS, accounts.INSTRUCTORS}


def test_does_no_users_server_inherit_the_hubs_environment(tmp_path):
    c = configured(tmp_path)
    assert c.Spawner.env_keep == ["LANG", "LC_ALL"]
    assert c.Spawner.environment["PATH"].startswith("/opt/tfladder/env/bin:")


@pytest.mark.parametrize("role", ["student", "instructor"])
def test_does_each_role_get_its_own_configuration_and_folder(tmp_path, monkeypatch, role):
    c = configured(tmp_path)
    monkeypatch.setattr(accounts, "role_of", lambda name: role)
    spawner = Spawner("someone")
    c.Spawner.pre_spawn_hook(spawner)
    assert spawner.environment["JUPYTER_CONFIG_PATH"] == str(tmp_path / "jupyter" / role)
    assert spawner.cmd[-1] == "/opt/tfladder/env/bin/jupyterhub-singleuser"
    assert f"umask {hub_config.UMASK[role]}" in spawner.cmd[2]
    if role == "student":
        assert spawner.notebook_dir == "~" and "PYTHONPATH" not in spawner.environment
    else:
        assert spawner.notebook_dir == str(tmp_path / "course")
        assert spawner.environment["PYTHONPATH"] == str(tmp_path / "lib")


def test_is_a_server_refused_to_someone_who_left_both_groups(tmp_path, monkeypatch):
    c = configured(tmp_path)
    monkeypatch.setattr(accounts, "role_of", lambda name: None)
    with pytest.raises(RuntimeError, match="neither"):
        c.Spawner.pre_spawn_hook(Spawner("gone"))


def test_does_a_student_get_neither_formgrader_nor_the_course_tools(tmp_path):
    folders = layout.Layout(tmp_path, tmp_path / "course")
    folder = layout.write_jupyter_config(folders, "student")
    server = json.loads((folder / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["jpserver_extensions"]["nbgrader.server_extensions.formgrader"] is False
    lab = json.loads((folder / "labconfig" / "page_config.json").read_text())
    assert lab["disabledExtensions"]["@jupyter/nbgrader:formgrader"] is True
    nbgrader = (folder / "nbgrader_config.py").read_text()
    assert "c.CourseDirectory.course_id = 'tfladder'" in nbgrader
    assert str(tmp_path / "exchange") in nbgrader and "CourseDirectory.root" not in nbgrader


def test_does_an_instructors_formgrader_use_the_course_and_grade_only_in_the_sandbox(tmp_path):
    folders = layout.Layout(tmp_path, tmp_path / "course")
    folder = layout.write_jupyter_config(folders, "instructor")
    nbgrader = (folder / "nbgrader_config.py").read_text()
    assert f"load_subconfig({str(tmp_path / 'course' / 'nbgrader_config.py')!r})" in nbgrader
    assert "c.JudgedExecute.sandbox = True" in nbgrader
    assert "c.CourseDirectory.groupshared = True" in nbgrader
    lab = json.loads((folder / "labconfig" / "page_config.json").read_text())
    assert lab["disabledExtensions"] == {}


@pytest.mark.parametrize("name", ["Alice", "1alice", "al ice", "alice;rm", "a" * 40, "", "../root"])
def test_is_an_unusable_account_name_refused_before_anything_is_made(name):
    with pytest.raises(accounts.AccountError, match="usable account name"):
        accounts.add(name, "student", "secret")


@pytest.mark.parametrize("password", ["", "two\nlines", "with:colon"])
def test_is_an_unusable_password_refused(password):
    with pytest.raises(accounts.AccountError, match="password"):
        accounts.add("alice", "student", password)


def test_is_root_refused_as_a_hub_account():
    with pytest.raises(accounts.AccountError, match="system account"):
        accounts.add("root", "student", "secret")


def test_is_a_folder_under_a_private_one_not_readable_by_all():
    top = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        top.chmod(0o755)
        (top / "open").mkdir(mode=0o755)
        (top / "closed" / "inside").mkdir(parents=True)
        (top / "closed").chmod(0o700)
        (top / "closed" / "inside").chmod(0o755)
        assert environment.readable_by_all(top / "open")
        assert not environment.readable_by_all(top / "closed" / "inside")
    finally:
        shutil.rmtree(top)


def test_does_the_hub_point_out_answers_every_account_could_read():
    repo = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        (repo / "source").mkdir(mode=0o755)
        (repo / "tests" / "fixtures").mkdir(parents=True, mode=0o755)
        repo.chmod(0o755)
        assert serve.exposed_answers(repo) == [str(repo / "source"), str(repo / "tests" / "fixtures")]
        repo.chmod(0o750)
        assert serve.exposed_answers(repo) == []
    finally:
        shutil.rmtree(repo)


def test_does_users_add_refuse_a_bad_name_in_words(capsys):
    assert main.main(["users", "add", "Not-A-Name"]) == 2
    assert "not a usable account name" in capsys.readouterr().err


def test_does_the_hub_say_it_needs_root(monkeypatch, capsys):
    monkeypatch.setattr(serve.os, "geteuid", lambda: 1000)
    assert main.main(["hub", "--home", "/nonexistent"]) == 2
    assert "the hub runs as root" in capsys.readouterr().err


def test_is_the_exchange_made_by_root_with_the_modes_nbgrader_gives_a_shared_course(tmp_path):
    folders = layout.Layout(tmp_path, tmp_path / "course")
    layout.make_exchange(folders, instructors=4321)
    assert stat.S_IMODE(folders.exchange.stat().st_mode) == 0o1777
    course = folders.exchange / "tfladder"
    modes = {name: stat.S_IMODE((course / name).stat().st_mode) for name in ("", "outbound", "inbound", "feedback")}
    assert modes == {"": 0o2775, "outbound": 0o2775, "inbound": 0o2773, "feedback": 0o2771}
    assert {(course / name).stat().st_gid for name in modes} == {4321}
    assert {(course / name).stat().st_uid for name in modes} == {0}


def test_does_the_users_environment_start_jupyterlab_without_the_news_pop_up(tmp_path):
    path = environment.write_lab_defaults(tmp_path / "env")
    assert path == tmp_path / "env" / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert json.loads(path.read_text())["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false"}


def test_does_users_add_say_when_the_passwords_file_cannot_be_read(tmp_path, capsys):
    assert main.main(["users", "add", "--passwords", str(tmp_path / "missing.csv")]) == 2
    assert "cannot read the passwords file" in capsys.readouterr().err


def test_does_the_hub_run_tfladders_service_as_root_on_loopback_with_the_course(tmp_path):
    c = configured(tmp_path, service_port=8123, check_slots=2, check_queue=3)
    (svc,) = c.JupyterHub.services
    assert svc["name"] == "tfladder" and svc["url"] == "http://127.0.0.1:8123"
    assert "user" not in svc  # JupyterHub runs it as itself: root, which the sandbox needs
    assert svc["command"][1:] == [
        "-m",
        "tfladder.hub.service",
        "--course",
        str(tmp_path / "course"),
        "--port",
        "8123",
        "--slots",
        "2",
        "--waiting",
        "3",
    ]
    assert c.JupyterHub.extra_user_scopes == {"access:services!service=tfladder"}
    assert c.Spawner.environment["TFLADDER_CHECK_URL"] == "http://127.0.0.1:8123/services/tfladder/api/check"


@pytest.mark.parametrize("role", ["student", "instructor"])
def test_does_every_roles_jupyterlab_load_the_check_buttons_relay(tmp_path, role):
    folder = layout.write_jupyter_config(layout.Layout(tmp_path, tmp_path / "course"), role)
    server = json.loads((folder / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["jpserver_extensions"][layout.CHECK_RELAY] is True


def test_is_the_check_button_installed_where_every_account_can_read_it(tmp_path):
    env = tmp_path / "env"
    (env / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    environment.install_check_button(env)
    relay = env / "lib" / "python3.11" / "site-packages" / "tfladder_lab_check.py"
    button = env / "share" / "jupyter" / "labextensions" / "@tfladder" / "check"
    built = json.loads((button / "package.json").read_text())["jupyterlab"]["_build"]
    for path in (relay, button / "package.json", button / built["load"]):
        assert path.stat().st_mode & 0o444 == 0o444, path
    assert "import tfladder" not in relay.read_text()  # a student's environment has no tfladder.hub


def test_does_the_term_grade_with_a_secret_seed_of_its_own_that_checks_never_draw(tmp_path, monkeypatch):
    c = configured(tmp_path)
    folders = layout.Layout(tmp_path, tmp_path / "course")
    seed = layout.term_seed(folders)
    assert (folders.state / "grading_seed").stat().st_mode & 0o777 == 0o600
    assert seed != seeds.DEFAULT_SEED and layout.term_seed(folders) == seed  # drawn once, then kept
    (svc,) = c.JupyterHub.services
    assert svc["environment"][seeds.SEED_ENV] == str(seed)
    monkeypatch.setenv(seeds.SEED_ENV, str(seed))  # the service's environment
    monkeypatch.setattr(on_demand.secrets, "randbelow", lambda n, drawn=[seed - 1, 41]: drawn.pop(0))
    assert on_demand.fresh_seed() == 42
