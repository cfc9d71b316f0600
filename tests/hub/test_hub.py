"""A class on the real hub (`tfladder hub`): system accounts log in with PAM, each gets their own
JupyterLab as themselves, an assignment goes from formgrader through nbgrader's exchange to the
students and back, and no student reads what is not theirs.

Everything here goes through the hub's own HTTP address, as a browser would (JupyterHub's login
form, the Assignment List's and formgrader's API calls), or runs as a student's account (what a
student's terminal can do). One hub for the module, with accounts made for it and removed after.
"""

import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import browser
import nbformat
import pytest
import requests
from playwright.sync_api import expect

from tfladder import seeds
from tfladder.course import fixtures, notebooks
from tfladder.grading import on_demand, scores
from tfladder.hub import environment, layout, serve

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
A = "01_low_level_ops"
RUN = secrets.token_hex(2)  # accounts of this run: tfl<run><who>
ASSIGNMENT = {"course_id": "tfladder", "assignment_id": A}  # what the Assignment List sends
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"  # util-linux: a command as another account
PEOPLE = {"teach": "instructor", "alice": "student", "bob": "student", "carol": "student", "erin": "student"}


def account(who):
    return f"tfl{RUN}{who}"


class Person:
    """One account's browser session on the hub: logged in, its JupyterLab started."""

    def __init__(self, base, name, password):
        self.base, self.name, self.password = base, name, password
        self.session = requests.Session()
        self.login = self._login(password)

    def _login(self, password):
        self.session.get(f"{self.base}/hub/login")
        xsrf = self.session.cookies.get("_xsrf", path="/hub/")
        return self.session.post(
            f"{self.base}/hub/login?next=", data={"username": self.name, "password": password, "_xsrf": xsrf}
        )

    def open_lab(self, timeout=240):
        """Waits (as the spawn page does) until the user's JupyterLab answers, then keeps the
        server's XSRF token for API calls."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            page = self.session.get(f"{self.base}/user/{self.name}/lab")
            if page.status_code == 200 and f"/user/{self.name}/lab" in page.url:
                self.session.headers["X-XSRFToken"] = self.session.cookies.get("_xsrf", path=f"/user/{self.name}/")
                return page
            time.sleep(1)
        raise AssertionError(f"{self.name}'s JupyterLab did not start: {page.status_code} {page.url}")

    def url(self, path, user=None):
        return f"{self.base}/user/{user or self.name}/{path.lstrip('/')}"

    def get(self, path, user=None, **kw):
        return self.session.get(self.url(path, user), **kw)

    def post(self, path, user=None, **kw):
        return self.session.post(self.url(path, user), **kw)

    def service_page(self):
        """tfladder's service page, logged in through JupyterHub's OAuth (redirects followed)."""
        return self.session.get(f"{self.base}/services/tfladder/")

    def check(self, path):
        """The Check button's request: POST tfladder/check to the user's own server."""
        return self.post("tfladder/check", data=json.dumps({"path": path}))


def as_user(name, command, cwd=None):
    """`command` run by the account `name`, in a login-like environment (its terminal)."""
    home = Path(f"/home/{name}")
    env = {"HOME": str(home), "PATH": f"{environment.DEFAULT_PREFIX}/env/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run(
        [RUNUSER, "-u", name, "--", *command], cwd=cwd or home, env=env, capture_output=True, text=True
    )


def tfladder(*args, cwd=REPO):
    """The `tfladder` command as root runs it, in the repository (or in the hub's course)."""
    return subprocess.run([sys.executable, "-m", "tfladder", *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def hub():
    """`tfladder users add` for the class, `tfladder hub` on a free loopback port with its
    folders in a fresh /srv/tfladder-hub-*; after the module, the hub stopped and the accounts
    removed with `tfladder users remove`."""
    passwords = {account(who): secrets.token_urlsafe(12) for who in PEOPLE}
    home = Path(tempfile.mkdtemp(prefix="tfladder-hub-", dir="/srv"))
    os.chmod(home, 0o755)
    log = home.parent / f"{home.name}.log"
    process = None
    try:
        for role in ("instructor", "student"):
            roster = home / f"{role}s.csv"
            roster.write_text(
                "".join(f"{account(w)},{passwords[account(w)]}\n" for w, r in PEOPLE.items() if r == role)
            )
            added = tfladder("users", "add", "--role", role, "--passwords", str(roster))
            assert added.returncode == 0, added.stderr
            roster.unlink()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with open(log, "wb") as out:
            process = subprocess.Popen(
                # no place in the checks' queue: a second check at once is "busy" (test_..._busy)
                [
                    sys.executable,
                    "-m",
                    "tfladder",
                    "hub",
                    "--home",
                    str(home),
                    "--port",
                    str(port),
                    "--check-queue",
                    "0",
                ],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        folders = layout.Layout(home, home / "course")
        hub = serve.Hub(folders, folders.state / "jupyterhub_config.py", f"http://127.0.0.1:{port}")
        # the first run builds the users' environment in /opt/tfladder (minutes)
        serve.wait_until_up(hub, process, timeout=1500)
        people = {who: Person(hub.url, account(who), passwords[account(who)]) for who in PEOPLE}
        yield hub, people, log
    finally:
        if process is not None:
            process.terminate()  # `tfladder hub` stops JupyterHub, which stops everyone's server
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        removed = tfladder("users", "remove", *(account(w) for w in PEOPLE))
        shutil.rmtree(home, ignore_errors=True)
        if log.exists():  # kept for a failure's post-mortem
            (REPO / "build" / "test-artifacts").mkdir(parents=True, exist_ok=True)
            shutil.move(log, REPO / "build" / "test-artifacts" / "hub.log")
        assert removed.returncode == 0, removed.stderr


@pytest.fixture(scope="module")
def labs(hub):
    """Everyone's JupyterLab started (the servers start one after the other)."""
    _, people, _ = hub
    return {who: person.open_lab() for who, person in people.items()}


# -- logging in --------------------------------------------------------------------------------
def test_does_each_person_get_their_own_jupyterlab_running_as_their_own_account(hub, labs):
    _, people, _ = hub
    for who, person in people.items():
        assert labs[who].status_code == 200
        owners = subprocess.run(
            ["pgrep", "-u", person.name, "-f", "jupyterhub-singleuser"], capture_output=True, text=True
        ).stdout.split()
        assert owners, f"no JupyterLab runs as {person.name}"


def test_does_users_list_name_every_account_with_its_role(hub):
    listed = tfladder("users", "list")
    assert listed.returncode == 0, listed.stderr
    rows = set(listed.stdout.splitlines())
    assert {f"{account(who)} {role}" for who, role in PEOPLE.items()} <= rows


def test_does_the_hub_warn_when_every_account_could_read_the_repositorys_answers(hub, labs):
    _, _, log = hub
    printed = log.read_text(errors="replace")
    assert "tfladder hub: http://127.0.0.1:" in printed
    assert "/services/tfladder/" in printed  # where instructors grade
    assert ("can read the answers" in printed) == bool(serve.exposed_answers(REPO))


def test_is_a_wrong_password_refused(hub):
    (h, _, _) = hub
    stranger = Person(h.url, account("alice"), "not-the-password")
    assert stranger.login.status_code == 403 or "/hub/login" in stranger.login.url
    assert stranger.session.get(f"{h.url}/user/{account('alice')}/lab").url.startswith(f"{h.url}/hub/login")


def test_is_a_system_account_outside_the_course_groups_refused(hub):
    (h, _, _) = hub
    outsider = f"tfl{RUN}out"
    subprocess.run(["useradd", "--create-home", outsider], check=True)
    try:
        subprocess.run(["chpasswd"], input=f"{outsider}:pw-{RUN}\n", text=True, check=True)
        person = Person(h.url, outsider, f"pw-{RUN}")
        assert f"/user/{outsider}/" not in person.login.url
        assert person.session.get(f"{h.url}/hub/api/user").status_code in (401, 403)
    finally:
        subprocess.run(["userdel", "--remove", outsider], capture_output=True)


def test_does_the_hub_answer_on_loopback_only(hub):
    (h, _, _) = hub
    port = int(h.url.rsplit(":", 1)[1])
    addresses = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    outside = [a for a in addresses if ":" not in a and not a.startswith("127.")]
    assert outside, "this machine has no address but loopback to try"
    with pytest.raises(OSError):
        socket.create_connection((outside[0], port), timeout=3).close()


# -- who gets what -----------------------------------------------------------------------------
def test_does_only_an_instructor_get_formgrader(hub, labs):
    _, people, _ = hub
    assert people["teach"].get("formgrader/api/assignments").status_code == 200
    for who in ("alice", "bob"):
        assert people[who].get("formgrader/api/assignments").status_code == 404
        assert people[who].get("formgrader").status_code == 404


def test_can_a_student_not_open_anyone_elses_jupyterlab_nor_climb_out_of_her_own(hub, labs):
    h, people, _ = hub
    alice = people["alice"]
    for other in ("teach", "bob"):
        api = alice.get("api/contents", user=account(other), allow_redirects=False)
        assert api.status_code == 403, api.status_code
        page = alice.get("lab", user=account(other))
        assert f"/user/{account(other)}/lab" not in page.url or page.status_code == 403
    # her own JupyterLab's file browser, asked for the course or bob's home by climbing up
    for target in (h.layout.course / "source", h.layout.course, Path(f"/home/{account('bob')}")):
        for path in ("../" * 4 + str(target).lstrip("/"), "%2E%2E/" * 4 + str(target).lstrip("/")):
            climbed = alice.get(f"api/contents/{path}")
            assert climbed.status_code in (400, 403, 404), (path, climbed.status_code, climbed.text[:200])


# -- the browsers: Debian's Chromium, through the hub's pages -----------------------------------
@pytest.fixture(scope="module")
def chromium():
    with browser.chromium() as instance:
        yield instance


def log_in(page, base, person):
    """The hub's login form, then the person's JupyterLab."""
    page.goto(f"{base}/hub/login")
    page.fill("#username_input", person.name)
    page.fill("#password_input", person.password)
    page.click("#login_submit")
    expect(page.locator(".jp-LabShell")).to_be_visible(timeout=browser.KERNEL_START)


class InstructorBrowser:
    """The instructor's clicks: formgrader's Manage Assignments, the tfladder service page."""

    def __init__(self, page, base, name):
        self.page, self.base, self.name = page, base, name
        self.shots = browser.Shots(page, "hub-instructor")

    def formgrader(self, column, shot):
        """Presses the assignment's button in a column of Manage Assignments (assign, release,
        collect, release-feedback); returns nbgrader's answer as formgrader shows it."""
        page = self.page
        page.goto(f"{self.base}/user/{self.name}/formgrader/manage_assignments")
        row = page.locator("tr", has=page.locator("td.name a", has_text=A))
        row.locator(f"td.{column} a").click()
        answer = page.locator("#success-modal, #error-modal")
        expect(answer).to_be_visible(timeout=browser.KERNEL_START)
        self.shots.take(shot)
        said = {"success": answer.get_attribute("id") == "success-modal", "shown": answer.inner_text()}
        answer.get_by_role("button", name="Close").last.click()
        return said

    def set_due_date(self, when, shot):
        """Manage Assignments, the assignment's Edit (pencil): its due date, in UTC."""
        page = self.page
        page.goto(f"{self.base}/user/{self.name}/formgrader/manage_assignments")
        row = page.locator("tr", has=page.locator("td.name a", has_text=A))
        row.locator("td.edit a").click()
        page.fill("input.modal-duedate", when)
        page.fill("input.modal-timezone", "UTC")
        self.shots.take(shot)
        page.locator("button.save").click()
        expect(row.locator("td.duedate")).not_to_have_text("None")

    def service(self, what, label, shot, timeout=900_000):
        """Presses a run's button on the tfladder service page and waits for the run to end;
        returns (state, the run's log)."""
        page = self.page
        page.goto(f"{self.base}/services/tfladder/")  # JupyterHub's OAuth, in the browser
        row = page.locator("tr", has=page.locator("td", has_text=A))
        row.get_by_role("button", name=label).click()
        run = page.locator("h3.run", has_text=f"{what} {A}").first
        expect(run.locator(".state")).not_to_have_text("running", timeout=timeout)  # the page reloads itself
        self.shots.take(shot)
        heading = run.inner_text()
        log = re.search(r"log (\S+\.log)\)", heading).group(1)
        return run.locator(".state").inner_text(), Path(log).read_text()


@pytest.fixture(scope="module")
def instructor(hub, labs, chromium):
    """The instructor's browser, logged in; screenshots under build/test-artifacts/browser/hub-instructor/."""
    h, people, _ = hub
    with browser.new_page(chromium) as page:
        log_in(page, h.url, people["teach"])
        yield InstructorBrowser(page, h.url, people["teach"].name)


# -- the exchange ------------------------------------------------------------------------------
def work_in_the_browser(chromium, base, person, answer, submits, shots):
    """A student's part in Chromium: the hub's login form, Nbgrader > Assignment List, Fetch;
    `answer()` saves their answers into the fetched notebook (as their editor would); Submit,
    `submits` times, each one listed before the next. Returns the steps as they went."""
    with browser.new_page(chromium) as page:
        taken = browser.Shots(page, shots)
        who = person.name[len(account("")) :]
        log_in(page, base, person)
        browser.menu(page, "Nbgrader", "Assignment List")
        released = page.locator("#released_assignments_list")
        expect(released).to_contain_text(A)
        released.get_by_role("button", name="Fetch").click()
        fetched = page.locator("#fetched_assignments_list")
        expect(fetched).to_contain_text(A)
        taken.take("fetched")
        answer()
        for n in range(1, submits + 1):
            fetched.get_by_role("button", name="Submit").click()
            deadline = time.monotonic() + browser.PAGE_LOAD / 1000
            while time.monotonic() < deadline:  # the Assignment List lists each submission
                listed = person.get("assignments", params={"course_id": "tfladder"}).json()["value"]
                done = [a for a in listed if a.get("status") == "submitted"]
                if done and len(done[0]["submissions"]) == n:
                    break
                time.sleep(0.5)
            else:
                raise AssertionError(f"{person.name}'s submission {n} is not listed")
            expect(page.locator("#submitted_assignments_list")).to_contain_text(A)
            taken.take(f"submitted_{n}")
        return {f"{who} fetch": {"success": True}, f"{who} submit": {"success": True}}


@pytest.fixture(scope="module")
def term(hub, labs, instructor, chromium):
    """The instructor, in Chromium, generates level 1 in formgrader, gives it a due date already
    past (so that every submission is late) and releases it; alice and bob, in Chromium, fetch it
    from the Assignment List, alice answers with the reference, bob with a known mistake, and
    both submit (bob twice); carol breaks hers (through the Assignment List's HTTP calls); the
    instructor collects, in Chromium."""
    h, people, _ = hub
    bob = people["bob"]
    steps = {}
    steps["generate"] = instructor.formgrader("assign", "generated")
    instructor.set_due_date("2026-12-01T09:00", "due_date")
    steps["release"] = instructor.formgrader("release", "released")
    found = fixtures.load_all(REPO, A)
    source = notebooks.read(REPO / "source" / A / f"{A}.ipynb")
    answers = {"alice": "l1_reference", "bob": "l1_forgot_mean"}
    for who, fixture in answers.items():
        person = people[who]
        steps[f"{who} list"] = person.get("assignments", params={"course_id": "tfladder"}).json()

        def answer(person=person, who=who, fixture=fixture):  # what their editor saves
            fetched = person.get(f"api/contents/{A}/{A}.ipynb").json()["content"]
            answered = fixtures.build(found[fixture], nbformat.from_dict(fetched), source)
            steps[f"{who} answers"] = answered
            saved = person.session.put(
                person.url(f"api/contents/{A}/{A}.ipynb"),
                data=json.dumps({"type": "notebook", "format": "json", "content": answered}),
            )
            assert saved.status_code in (200, 201), saved.text

        submits = 2 if who == "bob" else 1  # bob submits twice
        steps.update(work_in_the_browser(chromium, h.url, person, answer, submits, f"hub-{who}"))
    steps["bob submits again"] = bob.get("assignments", params={"course_id": "tfladder"}).json()
    carol = people["carol"]  # fetches, breaks her notebook (not JSON any more) and submits it
    steps["carol fetch"] = carol.post("assignments/fetch", data=ASSIGNMENT).json()
    broken = carol.session.put(
        carol.url(f"api/contents/{A}/{A}.ipynb"),
        data=json.dumps({"type": "file", "format": "text", "content": '{"cells": [ broken'}),
    )
    assert broken.status_code in (200, 201), broken.text
    steps["carol submit"] = carol.post("assignments/submit", data=ASSIGNMENT).json()
    steps["collect"] = instructor.formgrader("collect", "collected")
    return h, people, steps, answers, found


@pytest.fixture(scope="module")
def feedback(term, instructor, chromium):
    """The instructor, in Chromium, presses Grade on the tfladder service's page (root grades the
    collected submissions in the sandbox) and Make feedback (tfladder's pages), then Release
    Feedback in formgrader; alice fetches hers from the Assignment List in Chromium and opens it,
    the others through the Assignment List's API."""
    h, people, steps, answers, found = term
    steps["grade"] = instructor.service("grade", "Grade (sandboxed)", "graded")
    steps["feedback"] = instructor.service("feedback", "Make feedback", "feedback_made")
    steps["release feedback"] = instructor.formgrader("release-feedback", "feedback_released")
    steps["alice fetch feedback"] = fetch_feedback_in_the_browser(chromium, h.url, people["alice"])
    pages = {}
    for who in (*answers, "carol"):
        if who != "alice":
            steps[f"{who} fetch feedback"] = people[who].post("assignments/fetch_feedback", data=ASSIGNMENT).json()
        pages[who] = [p.read_text() for p in Path(f"/home/{account(who)}/{A}/feedback").glob(f"*/{A}.html")]
    return h, people, steps, answers, found, pages


def fetch_feedback_in_the_browser(chromium, base, person):
    """The student's Assignment List: Fetch Feedback, then the page it fetched, opened."""
    with browser.new_page(chromium) as page:
        shots = browser.Shots(page, "hub-feedback")
        log_in(page, base, person)
        browser.menu(page, "Nbgrader", "Assignment List")
        submitted = page.locator("#submitted_assignments_list")
        expect(submitted).to_contain_text(A)
        submitted.get_by_role("button", name="Fetch Feedback").click()
        expect(submitted).to_contain_text("(view feedback)")
        shots.take("fetched")
        (fetched,) = Path(f"/home/{person.name}/{A}/feedback").glob(f"*/{A}.html")
        page.goto(f"{base}/user/{person.name}/files/{fetched.relative_to(Path('/home') / person.name)}")
        expect(page.locator("h1")).to_contain_text(f"feedback for {person.name}")
        shots.take("her_feedback_page")
        return {"success": True, "shown": page.inner_text("body")}


def test_does_the_release_reach_every_student_through_the_exchange(term):
    _, people, steps, _, _ = term
    assert steps["generate"]["success"] and steps["release"]["success"], steps["release"]
    for who in ("alice", "bob"):
        listed = steps[f"{who} list"]["value"]
        assert [(a["assignment_id"], a["status"]) for a in listed] == [(A, "released")]
        assert steps[f"{who} fetch"]["success"]
        fetched = Path(f"/home/{account(who)}/{A}/{A}.ipynb")
        assert fetched.stat().st_uid == pwd.getpwnam(account(who)).pw_uid


def test_does_the_instructor_collect_each_students_last_submission_into_the_course(term):
    h, _, steps, answers, _ = term
    assert steps["collect"]["success"], steps["collect"]
    for who in answers:
        assert steps[f"{who} submit"]["success"], steps[f"{who} submit"]
        collected = notebooks.read(h.layout.course / "submitted" / account(who) / A / f"{A}.ipynb")
        assert [c.source for c in collected.cells] == [c.source for c in steps[f"{who} answers"].cells]
    (submitted,) = [s for s in steps["bob submits again"]["value"] if s.get("status") == "submitted"]
    times = [s["timestamp"] for s in submitted["submissions"]]
    assert len(set(times)) == 2, "each submission is listed to the student, with its time"


def test_does_formgraders_autograde_refuse_to_run_student_code_outside_the_sandbox(term):
    h, people, *_ = term
    result = people["teach"].post(f"formgrader/api/submission/{A}/{account('alice')}/autograde").json()
    assert not result["success"]
    assert "grades only in the sandbox" in result["error"] + result.get("log", "")
    assert not (h.layout.course / "autograded" / account("alice") / A / f"{A}.ipynb").exists()


def test_does_the_instructors_grade_button_grade_the_submissions_in_the_sandbox_to_exactly_their_points(feedback):
    h, _, steps, answers, found, _ = feedback
    state, printed = steps["grade"]
    assert state == "finished with exit code 1", printed[-3000:]  # 1: a submission failed (carol's)
    assert f"FAILED  {account('carol')}: " in printed, printed[-3000:]
    graded = scores.cell_points(h.layout.course, A, [account(who) for who in (*answers, "carol")])
    assert sum(v for v in graded[account("carol")].values() if isinstance(v, (int, float))) == 0
    for who, fixture in answers.items():
        assert graded[account(who)] == found[fixture].points, who
        report = json.loads((h.layout.course / "autograded" / account(who) / A / "tfladder-run.json").read_text())
        assert report["sandbox"] is True and report["flags"] == [], report


def test_does_a_student_who_submitted_a_broken_notebook_read_why_in_their_feedback(feedback):
    *_, steps, _, _, pages = feedback
    assert steps["carol submit"]["success"], steps["carol submit"]
    (page,) = pages["carol"]
    assert "could not be graded as you submitted it" in page and "graded as the blank release (0 points)" in page
    assert "<b>0 / " in page


def test_can_the_instructor_grade_a_written_answer_in_formgrader_after_root_graded(feedback):
    h, people, *_ = feedback
    teach = people["teach"]
    submissions = teach.get(f"formgrader/api/submitted_notebooks/{A}/{A}").json()
    (alice,) = [s for s in submissions if s["student"] == account("alice")]
    grades = teach.get("formgrader/api/grades", params={"submission_id": alice["id"]}).json()
    (written,) = [g for g in grades if g["name"] == "l1_explain_rebinding"]
    saved = teach.session.put(teach.url(f"formgrader/api/grade/{written['id']}"), data=json.dumps({"manual_score": 2}))
    assert saved.status_code == 200, saved.text[-500:]
    graded = scores.cell_points(h.layout.course, A, [account("alice")])[account("alice")]
    assert graded["l1_explain_rebinding"] == 2


def test_does_each_student_fetch_their_own_feedback_with_their_messages_and_no_hidden_test(feedback):
    h, _, steps, answers, found, pages = feedback
    shown = steps["alice fetch feedback"]["shown"]  # what alice's browser showed of her page
    assert re.search(r"\d+ / \d+ autograded points", shown) and "after the due date" in shown
    assert steps["feedback"][0] == "done", steps["feedback"][1][-2000:]
    assert steps["release feedback"]["success"], steps["release feedback"]
    secret = notebooks.hidden_only_lines(notebooks.read(REPO / "source" / A / f"{A}.ipynb"))
    for who, fixture in answers.items():
        assert steps[f"{who} fetch feedback"]["success"], steps[f"{who} fetch feedback"]
        assert len(pages[who]) == 1, f"{who} fetched {len(pages[who])} feedback pages"
        page = pages[who][0]
        earned = sum(v for v in found[fixture].points.values() if isinstance(v, (int, float)))
        shown = re.search(r"<b>([\d.]+) / ([\d.]+)</b> autograded points", page)
        assert shown and float(shown.group(1)) == earned, (who, shown and shown.group(0))
        for message in found[fixture].messages.values():
            assert message in page, (who, message)
        assert "after the due date (2026-12-01 09:00 UTC)" in page, f"{who}'s late submission is not said"
        assert f"grading seed <b>{layout.term_seed(h.layout)}</b>" in page  # the hub's own, not the default
        assert not [line for line in secret if line in page], f"{who}'s feedback shows hidden test lines"
        others = [account(w) for w in answers if w != who]
        assert not [o for o in others if o in page], f"{who}'s feedback names another student"


# -- hidden-test checks on demand --------------------------------------------------------------
@pytest.fixture(scope="module")
def checked(term):
    """Bob checks the notebook he submitted (a known mistake) with the Check button's request."""
    h, people, steps, answers, found = term
    return h, people, found, people["bob"].check(f"{A}/{A}.ipynb")


def test_does_a_check_give_the_student_their_points_and_messages_on_fresh_inputs_and_no_test_code(checked):
    h, _, found, answer = checked
    assert answer.status_code == 200, answer.text[-2000:]
    body, shown = answer.json(), answer.text
    fixture = found["l1_forgot_mean"]
    assert body["points"] == sum(v for v in fixture.points.values() if isinstance(v, (int, float)))
    for message in fixture.messages.values():
        assert message in shown
    secret = notebooks.hidden_only_lines(notebooks.read(REPO / "source" / A / f"{A}.ipynb"))
    assert not [line for line in secret if line in shown], "a check shows hidden test lines"
    assert body["seed"] != seeds.DEFAULT_SEED  # never the inputs the term is graded on
    assert "9 of your 10 checks of 01_low_level_ops left for this hour" in body["remaining_text"]


def test_is_each_check_recorded_for_the_instructor_and_unreadable_by_students(checked):
    h, people, _, answer = checked
    (record,) = [r for r in on_demand.records(h.layout.course) if r.student == account("bob")]
    assert (record.outcome, record.points, record.seed) == ("graded", answer.json()["points"], answer.json()["seed"])
    done = as_user(account("alice"), ["cat", str(h.layout.course / on_demand.RECORD_FILE)])
    assert done.returncode != 0 and "Permission denied" in done.stderr
    page = people["teach"].service_page()
    assert page.status_code == 200 and "Hidden-test checks" in page.text
    assert re.search(rf"<td>{A}</td><td>1</td><td>1</td>", page.text), page.text[-1500:]
    mine = people["bob"].service_page()
    assert "Your hidden-test checks" in mine.text and "Grade (sandboxed)" not in mine.text


def test_does_the_instructor_report_summarise_the_classs_checks(feedback, checked):
    h, *_ = feedback
    built = tfladder("report", cwd=h.layout.course)
    assert built.returncode == 0, built.stderr[-2000:]
    index = (h.layout.course / "report" / "index.html").read_text()
    assert "Hidden-test checks before the deadline" in index
    assert re.search(rf'<td>{A}</td><td class="num">1</td><td class="num">1</td>', index), index[-2000:]


def test_can_a_student_not_start_a_grading_run(checked):
    h, people, _, _ = checked
    alice = people["alice"]
    runs = set((h.layout.course / "hub-runs").glob("*"))
    page = alice.service_page()
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    token = xsrf.group(1) if xsrf else alice.session.cookies.get("_xsrf", path="/services/tfladder/")
    pressed = alice.session.post(
        f"{h.url}/services/tfladder/", data={"_xsrf": token or "", "what": "grade", "assignment": A}
    )
    assert pressed.status_code == 403
    assert set((h.layout.course / "hub-runs").glob("*")) == runs


def server_environment(name):
    """The environment of a person's running JupyterLab (root reads it from /proc)."""
    (pid,) = subprocess.run(
        ["pgrep", "-u", name, "-f", "jupyterhub-singleuser"], capture_output=True, text=True
    ).stdout.split()
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(p.decode().split("=", 1) for p in pairs if b"=" in p)


def test_can_a_student_get_around_the_limit_by_asking_twice_at_once_or_by_forging_a_token(checked):
    h, people, found, _ = checked
    alice = people["alice"]
    settings = h.layout.course / on_demand.SETTINGS_FILE
    original = settings.read_text()
    settings.write_text(original.replace("per_hour = 10", "per_hour = 1"))
    try:
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: alice.check(f"{A}/{A}.ipynb"), range(2)))
    finally:
        settings.write_text(original)
    assert sorted(a.status_code for a in answers) == [200, 429], [a.text[-300:] for a in answers]
    (graded,) = [a.json() for a in answers if a.status_code == 200]
    reference = found["l1_reference"].points
    assert graded["points"] == sum(v for v in reference.values() if isinstance(v, (int, float)))
    service = server_environment(alice.name)["TFLADDER_CHECK_URL"]  # the service itself, past her server
    for header in ({}, {"Authorization": f"token {secrets.token_hex(16)}"}):
        forged = requests.post(service, data=json.dumps({"assignment": A, "notebook": {"cells": []}}), headers=header)
        assert forged.status_code == 403, forged.text


def test_does_a_student_read_busy_while_another_students_check_runs_and_lose_nothing(checked):
    """The test's hub keeps no place in the queue (--check-queue 0): of two students checking at
    once, one is graded, the other reads that the service is busy, and it is not counted."""
    h, people, _, _ = checked
    bob, alice = people["bob"], people["alice"]
    before = len(on_demand.records(h.layout.course))
    with ThreadPoolExecutor(2) as pool:
        answers = dict(zip(("bob", "alice"), pool.map(lambda p: p.check(f"{A}/{A}.ipynb"), (bob, alice))))
    assert sorted(a.status_code for a in answers.values()) == [200, 503], {w: a.text[-300:] for w, a in answers.items()}
    (busy,) = [a.json()["refused"] for a in answers.values() if a.status_code == 503]
    assert "The check service is busy" in busy and "Nothing was counted" in busy
    added = on_demand.records(h.layout.course)[before:]
    assert sorted(r.outcome for r in added) == ["graded", "refused"]


def test_does_a_student_read_why_when_checks_are_off_closed_or_the_notebook_is_broken(checked):
    h, people, _, _ = checked
    alice, carol = people["alice"], people["carol"]
    settings = h.layout.course / on_demand.SETTINGS_FILE
    original = settings.read_text()
    before = len(on_demand.records(h.layout.course))
    try:
        settings.write_text(f"[{A}]\nopen = false\n")
        off = alice.check(f"{A}/{A}.ipynb")
        assert off.status_code == 403 and "are off" in off.json()["refused"]
        settings.write_text(f"[{A}]\ncloses = 2026-01-01T00:00:00Z\n")
        closed = alice.check(f"{A}/{A}.ipynb")
        assert closed.status_code == 403 and "closed at 2026-01-01 00:00 UTC" in closed.json()["refused"]
    finally:
        settings.write_text(original)
    broken = carol.check(f"{A}/{A}.ipynb")
    assert broken.status_code == 400 and "could not be read as a notebook" in broken.json()["refused"]
    nowhere = alice.check("no/such.ipynb")
    assert nowhere.status_code == 400 and "save it and try again" in nowhere.json()["refused"]
    added = on_demand.records(h.layout.course)[before:]
    assert [(r.student, r.outcome) for r in added] == [(alice.name, "refused")] * 2  # recorded, not counted


# -- what a student's terminal can read --------------------------------------------------------
def test_can_a_student_read_nothing_of_the_course_the_answers_or_anyone_elses_work(term):
    h, *_ = term
    alice = account("alice")
    forbidden = [
        h.layout.course / "source" / A / f"{A}.ipynb",
        h.layout.course / "gradebook.db",
        h.layout.course / "submitted" / account("bob") / A / f"{A}.ipynb",
        h.layout.lib / "tfladder" / "oracles" / "l1.py",
        h.layout.state / "jupyterhub_cookie_secret",
        Path(f"/home/{account('bob')}") / A / f"{A}.ipynb",
    ]
    for path in forbidden:
        assert path.exists(), path
        done = as_user(alice, ["cat", str(path)])
        assert done.returncode != 0 and "Permission denied" in done.stderr, (path, done.stdout[:200])
    inbound = h.layout.exchange / "tfladder" / "inbound"
    listing = as_user(alice, ["ls", str(inbound)])
    assert listing.returncode != 0 and "Permission denied" in listing.stderr


def test_can_a_student_not_move_forge_or_delete_anything_in_the_exchange(term):
    h, *_ = term
    alice, course = account("alice"), h.layout.exchange / "tfladder"
    attempts = [
        ["mv", str(course), str(h.layout.exchange / "moved")],  # then make a course folder of one's own
        ["mkdir", str(course / "outbound" / "02_layers")],  # a forged release
        ["rm", "-rf", str(course / "outbound" / A)],
        ["touch", str(course / "outbound" / A / f"{A}.ipynb")],
        ["ls", str(course / "feedback")],  # the other students' pages
    ]
    for command in attempts:
        done = as_user(alice, command)
        refused = "permission denied" in done.stderr.lower() or "operation not permitted" in done.stderr.lower()
        assert done.returncode != 0 and refused, (command, done.stderr)
    assert (course / "outbound" / A / f"{A}.ipynb").exists()


def test_does_a_students_python_have_the_notebook_library_and_no_oracle(term):
    done = as_user(
        account("alice"),
        ["python", "-c", "import tfladder.checks, tfladder.probe; import tfladder.oracles"],
    )
    assert "No module named 'tfladder.oracles'" in done.stderr, done.stderr[-500:]
    assert "tfladder.checks" not in done.stderr


# -- the same in a browser: Debian's Chromium, through the hub's pages ---------------------------


def test_can_a_student_log_in_fetch_and_submit_in_the_browser(term, chromium):
    """Erin, in Chromium: the hub's login form, her JupyterLab, Nbgrader > Assignment List, Fetch,
    Submit; screenshots of each step."""
    h, people, *_ = term
    erin = people["erin"]
    with browser.new_page(chromium) as page:
        shots = browser.Shots(page, "hub-student")
        page.goto(f"{h.url}/hub/login")
        page.fill("#username_input", erin.name)
        page.fill("#password_input", erin.password)
        shots.take("login")
        page.click("#login_submit")
        expect(page.locator(".jp-LabShell")).to_be_visible(timeout=browser.KERNEL_START)
        assert f"/user/{erin.name}/lab" in page.url
        shots.take("her_jupyterlab")
        menus = page.locator(".lm-MenuBar-itemLabel:text-is('Nbgrader')")
        browser.menu(page, "Nbgrader", "Assignment List")
        released = page.locator("#released_assignments_list")
        expect(released).to_contain_text(A)
        shots.take("assignment_list")
        released.get_by_role("button", name="Fetch").click()
        fetched = page.locator("#fetched_assignments_list")
        expect(fetched).to_contain_text(A)
        shots.take("fetched")
        assert Path(f"/home/{erin.name}/{A}/{A}.ipynb").exists()
        fetched.get_by_role("button", name="Submit").click()
        submitted = page.locator("#submitted_assignments_list")
        expect(submitted).to_contain_text(A)
        shots.take("submitted")
        # no Formgrader entry in her Nbgrader menu
        menus.click()
        expect(page.locator(".lm-Menu-itemLabel:text-is('Formgrader')")).to_have_count(0)
        # and no pop-up asking to fetch Jupyter's news from the internet (the environment's defaults)
        expect(page.get_by_text("notified about official Jupyter news")).to_have_count(0)
        shots.take("no_formgrader")


def test_does_the_check_button_show_a_student_their_points_and_refuse_the_eleventh_check_of_the_hour(term, chromium):
    """Erin, in Chromium, opens the notebook she fetched and presses Check on its toolbar: the
    points and messages come back in a dialog. Her next nine checks go through the same request
    the button makes; her eleventh press within the hour gets the refusal, with the default limit
    of ten. Screenshots of each step."""
    h, people, *_ = term
    erin = people["erin"]
    with browser.new_page(chromium) as page:
        shots = browser.Shots(page, "hub-check")
        log_in(page, h.url, erin)
        page.goto(f"{h.url}/user/{erin.name}/lab/tree/{A}/{A}.ipynb")
        toolbar = page.locator(".jp-NotebookPanel-toolbar")
        check = toolbar.get_by_text("Check", exact=True)
        expect(check).to_be_visible(timeout=browser.KERNEL_START)
        shots.take("notebook_with_check_button")
        check.click()
        dialog = page.locator(".jp-Dialog")
        expect(dialog).to_contain_text("autograded points on fresh hidden inputs", timeout=600_000)
        expect(dialog).to_contain_text("l1_linear_forward")
        expect(dialog).to_contain_text("9 of your 10 checks of 01_low_level_ops left for this hour")
        shots.take("check_result")
        shown = dialog.inner_text()
        secret = notebooks.hidden_only_lines(notebooks.read(REPO / "source" / A / f"{A}.ipynb"))
        assert not [line for line in secret if line in shown], "the check dialog shows hidden test lines"
        dialog.locator(".jp-mod-accept").click()
        expect(dialog).to_have_count(0)
        for n in range(2, 11):
            again = erin.check(f"{A}/{A}.ipynb")
            assert again.status_code == 200, (n, again.text[-500:])
            assert f"{10 - n} of your 10 checks" in again.json()["remaining_text"]
        check.click()
        expect(dialog).to_contain_text("You have used your 10 checks of 01_low_level_ops for this hour")
        expect(dialog).to_contain_text("the next one is possible in")
        shots.take("eleventh_check_refused")
        dialog.locator(".jp-mod-accept").click()
        seeds_drawn = [r.seed for r in on_demand.records(h.layout.course) if r.student == erin.name and r.seed]
        assert len(set(seeds_drawn)) == 10, "each check draws its own hidden inputs"
        assert layout.term_seed(h.layout) not in seeds_drawn
