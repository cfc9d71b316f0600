"""Do students and instructors get what the README promises, in a real browser?

`make lab`'s JupyterLab (with the nbgrader extension) runs on a temporary course; headless Chromium,
driven by Playwright, does what a student and an instructor would do. Screenshots of every step go
to build/test-artifacts/browser/<journey>/. If Chromium cannot start, the tests fail and say why.
"""

import html
import re
from contextlib import closing

import browser
import pytest
from browser import KERNEL_START, PAGE_LOAD, Shots
from conftest import ASSIGNMENTS, REPO, copy_course, make_course
from playwright.sync_api import expect

from tfladder.cli import demo, lab
from tfladder.course import notebooks
from tfladder.grading import scores

pytestmark = pytest.mark.slow

LEVEL1 = "01_low_level_ops"
# level 1's points, written answer included, as formgrader shows them ("24 / 34")
LEVEL1_POINTS = sum(notebooks.graded_points(notebooks.read(REPO / "source" / LEVEL1 / f"{LEVEL1}.ipynb")).values())
ANSWER = (
    "def linear_forward(X, w, b):\n    X = tf.convert_to_tensor(X, dtype=tf.float32)\n    return tf.matmul(X, w) + b\n"
)


@pytest.fixture(scope="module")
def chromium():
    with browser.chromium() as instance:
        yield instance


# Playwright's assertions wait 5 s by default: too little for a page (formgrader's, a notebook)
# that renders while the machine is busy grading. Actions already wait PAGE_LOAD.
expect.set_options(timeout=PAGE_LOAD)


@pytest.fixture
def page(chromium):
    with browser.new_page(chromium, PAGE_LOAD) as page:
        yield page


@pytest.fixture(scope="module")
def student_lab(tmp_path_factory):
    """A course as the student gets it (release/ only matters), every level, with `make lab`'s server on it."""
    root = make_course(tmp_path_factory.mktemp("student") / "course")
    with browser.running_lab(root, tmp_path_factory.mktemp("student-jupyter")) as server:
        yield server


@pytest.fixture(scope="module")
def instructor_lab(tmp_path_factory, demo_course):
    """The course after `make demo` (five assignments, the demo class graded; a copy of the
    session's demo course), with `make lab`."""
    root = copy_course(demo_course[0], tmp_path_factory.mktemp("instructor") / "course")
    with browser.running_lab(root, tmp_path_factory.mktemp("instructor-jupyter")) as server:
        yield server


def test_is_the_lab_on_loopback_only_and_behind_its_token(student_lab):
    status, _ = browser.get(student_lab.url("/api/contents").split("?")[0])
    assert status == 403, "the server answered without its token"
    assert browser.get(student_lab.url("/api/contents"))[0] == 200
    listening = [
        line.split()[1]
        for line in open("/proc/net/tcp").read().splitlines()[1:]
        if line.split()[3] == "0A" and line.split()[1].endswith(f":{student_lab.port:04X}")
    ]
    assert listening == ["0100007F:%04X" % student_lab.port], f"listening on {listening}, not only 127.0.0.1"


def test_can_a_student_run_answer_and_validate_level_1(student_lab, page):
    shots = Shots(page, "student")

    # `make lab` lands in release/, where the assignments are
    page.goto(student_lab.url())
    listing = page.locator(".jp-DirListing-content")
    expect(listing).to_contain_text(LEVEL1, timeout=PAGE_LOAD)
    expect(page.locator(".jp-BreadCrumbs")).to_contain_text("release")
    shots.take("lands_in_release")

    # open the notebook from the file browser, as a student would
    page.locator(".jp-DirListing-item", has_text=LEVEL1).dblclick()
    page.locator(".jp-DirListing-item", has_text=f"{LEVEL1}.ipynb").dblclick()
    expect(browser.kernel_status(page)).to_contain_text("Idle", timeout=KERNEL_START)
    shots.take("notebook_open")

    # Run All: the setup cell runs, and the first visible test says the exercise is not written yet
    browser.menu(page, "Run", "Run All Cells")
    browser.wait_until_run(page)
    setup = browser.code_cell(page, "# Setup: run this cell first.")
    assert any("TensorFlow 2.21" in text for text in browser.outputs(setup))
    test = browser.code_cell(page, "# Interface (visible): a float32 tensor of shape (n, 1)")
    shown = "\n".join(browser.outputs(test))
    assert "linear_forward is not written yet: it still raises NotImplementedError" in shown, shown
    shots.take("run_all_not_implemented", focus=test.locator(".jp-OutputArea-output").last, block="end")

    # stuck? the hints just above the answer cell unfold one at a time
    ladder = page.locator(".jp-MarkdownCell", has=page.locator("summary", has_text="Hint 1 of")).first
    ladder.scroll_into_view_if_needed()
    expect(ladder.locator("summary", has_text="Hint 2 of")).to_be_hidden()
    ladder.locator("summary", has_text="Hint 1 of").click()
    expect(ladder.locator("details").first).to_have_attribute("open", "")
    expect(ladder.locator("summary", has_text="Hint 2 of")).to_be_visible()
    expect(ladder.locator("summary", has_text="Hint 3 of")).to_be_hidden()
    shots.take("hint_1_open", focus=ladder)
    ladder.locator("summary", has_text="Hint 2 of").click()
    expect(ladder.locator("details details").first).to_have_attribute("open", "")
    shots.take("hint_2_open", focus=ladder)

    # write a correct answer, run it and its visible test: the test passes
    answer = browser.code_cell(page, "def linear_forward(X, w, b):")
    browser.replace_source(page, answer, ANSWER)
    page.keyboard.press("Shift+Enter")  # run the answer; the test cell below is selected
    page.keyboard.press("Shift+Enter")  # run the visible test
    browser.wait_until_run(page)
    assert browser.outputs(test) == ["linear_forward: interface OK\n"]
    expect(test.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]:"))  # it ran
    shots.take("visible_test_passes", focus=test)

    # save, and nbgrader's Validate button: exercise 1 passes, the first failure is exercise 2
    page.keyboard.press("Control+S")
    expect(page.locator(".jp-mod-current.jp-mod-dirty")).to_have_count(0)
    saved = notebooks.read(student_lab.root / "release" / LEVEL1 / f"{LEVEL1}.ipynb")
    assert any(c.source.rstrip("\n") == ANSWER.rstrip("\n") for c in saved.cells)
    page.locator(".jp-Toolbar-item", has_text="Validate").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Validation Results", timeout=KERNEL_START)
    expect(dialog).to_contain_text("mse_loss is not written yet")
    assert "linear_forward is not written yet" not in dialog.inner_text()
    shots.take("validate_result")
    dialog.get_by_role("button", name="Ok").click()


def run_cell(page, cell):
    """Run one cell as a student would: click into it, Shift+Enter, wait until the kernel is idle."""
    cell.scroll_into_view_if_needed()
    cell.locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")
    browser.wait_until_run(page)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_does_moving_a_levels_exploration_slider_redraw_its_plot(student_lab, page, assignment):
    """Only the setup cell has run, as for a student who has written nothing yet: the exploration
    shows the shipped reference run, and moving its first slider redraws the plot at once."""
    shots = Shots(page, f"explore_{assignment}")
    # `reset`: this notebook alone, not the tabs an earlier test left open in the workspace
    page.goto(student_lab.url(f"/lab/tree/release/{assignment}/{assignment}.ipynb") + "&reset")
    expect(browser.kernel_status(page)).to_contain_text("Idle", timeout=KERNEL_START)
    run_cell(page, browser.code_cell(page, "# Setup: run this cell first."))
    released = notebooks.read(student_lab.root / "release" / assignment / f"{assignment}.ipynb")
    first = next(c for c in released.cells if c.cell_type == "code" and c.get("id", "").startswith("explore-"))
    cell = browser.code_cell(page, first.source.strip().splitlines()[-1])
    run_cell(page, cell)
    expect(cell).to_contain_text("Reference run")
    plot = cell.locator(".widget-output img").first
    expect(plot).to_be_visible()
    before = plot.get_attribute("src")
    shots.take("before", focus=cell)
    cell.locator(".widget-slider .noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    expect(plot).not_to_have_attribute("src", before)
    shots.take("after_moving_the_slider", focus=cell)


def total(root, assignment, student):
    with closing(scores.gradebook(root)) as gb:
        return gb.find_submission(assignment, student).score


def test_can_an_instructor_see_the_class_and_grade_a_written_answer(instructor_lab, page):
    root = instructor_lab.root
    shots = Shots(page, "instructor")
    before = total(root, LEVEL1, "demo_perfect")

    # formgrader from the Nbgrader menu: the five assignments, each with the demo class's 3 submissions
    page.goto(instructor_lab.url("/lab"))
    expect(page.locator(".jp-LabShell")).to_be_visible(timeout=PAGE_LOAD)
    browser.menu(page, "Nbgrader", "Formgrader")
    formgrader = page.frame_locator("iframe[src*='formgrader']")
    for assignment in ASSIGNMENTS:
        row = formgrader.locator("tr", has_text=assignment)
        expect(row).to_contain_text("draft")
        expect(row.locator(f"a[href='/formgrader/manage_submissions/{assignment}']")).to_have_text("3")
    shots.take("formgrader_assignments")

    # the demo class's scores for level 1
    formgrader.locator(f"a[href='/formgrader/manage_submissions/{LEVEL1}']").click()
    for student in demo.DEMO_CLASS:
        expect(formgrader.locator("tr", has_text=student)).to_be_visible()
    perfect = formgrader.locator("tr", has_text="demo_perfect")
    expect(perfect).to_contain_text("Reference, Demo")  # demo students have names
    expect(perfect).to_contain_text(f"{before:g} / {LEVEL1_POINTS:g}")
    expect(perfect).to_contain_text("needs manual grading")
    shots.take("level1_submissions")

    # Manual Grading > level 1 > its notebook > demo_perfect: the written answer, scored by hand
    formgrader.get_by_role("link", name="Manual Grading").click()
    formgrader.get_by_role("link", name=LEVEL1).click()
    formgrader.get_by_role("link", name=LEVEL1).click()
    expect(formgrader.get_by_role("link", name="Submission #3")).to_be_visible()
    formgrader.get_by_role("button", name="Show All Names").click()
    formgrader.get_by_role("link", name="Reference, Demo").click()  # demo_perfect's name
    written = formgrader.locator("input.score[id='l1_explain_rebinding']")
    expect(written).to_be_visible()
    expect(formgrader.locator("body")).to_contain_text("does not change the Variable")
    # formgrader binds each score box to its grade once the grades arrive (and then marks this one
    # as waiting for a manual grade): a score typed before that is overwritten and never saved
    expect(written).to_have_class(re.compile(r"\bneeds_manual_grade\b"), timeout=PAGE_LOAD)
    written.fill("2")
    written.press("Enter")
    shots.take("written_answer_scored", focus=written)

    # the gradebook's total went up by the 2 points, and formgrader shows it
    for _ in range(150):  # formgrader saves the score in the background: up to 30 s on a busy machine
        if total(root, LEVEL1, "demo_perfect") == before + 2:
            break
        page.wait_for_timeout(200)
    assert total(root, LEVEL1, "demo_perfect") == before + 2
    formgrader.get_by_role("link", name="Manual Grading").first.click()  # the breadcrumb
    formgrader.get_by_role("link", name="Manage Assignments").click()
    formgrader.locator(f"a[href='/formgrader/manage_submissions/{LEVEL1}']").click()
    perfect = formgrader.locator("tr", has_text="demo_perfect")
    expect(perfect).to_contain_text(f"{before + 2:g} / {LEVEL1_POINTS:g}")
    expect(perfect).to_contain_text("graded")
    shots.take("total_changed")


def test_does_the_printed_formgrader_address_open_formgrader(instructor_lab, page):
    page.goto(instructor_lab.url(lab.FORMGRADER_PAGE))  # the instructors' address `make lab` prints
    expect(page.locator("body")).to_contain_text("Manage Assignments")
    page.click(f"a[href='/formgrader/manage_submissions/{LEVEL1}']")
    expect(page.locator("tr", has_text="demo_typical")).to_contain_text("needs manual grading")
    Shots(page, "instructor-direct").take("formgrader_by_address")


def test_do_formgraders_autograde_and_feedback_buttons_judge_outside_the_kernel(instructor_lab, page):
    """Formgrader's own buttons run the course's config: Autograde through the judge, in the
    sandbox (the server runs as root here); Generate Feedback without the hidden tests."""
    import json

    root = instructor_lab.root
    shots = Shots(page, "instructor-buttons")
    before = scores.cell_points(root, LEVEL1, ["demo_typical"])["demo_typical"]
    report = root / "autograded" / "demo_typical" / LEVEL1 / "tfladder-run.json"
    report.unlink(missing_ok=True)
    page.goto(instructor_lab.url(lab.FORMGRADER_PAGE))
    page.click(f"a[href='/formgrader/manage_submissions/{LEVEL1}']")
    row = page.locator("tr", has_text="demo_typical")
    row.locator("td.autograde a").click()
    expect(page.locator(".modal-dialog")).to_contain_text("Successfully autograded", timeout=KERNEL_START * 4)
    shots.take("autograded_by_the_button")
    page.locator(".modal-dialog button", has_text="OK").click()
    expect(page.locator(".modal-dialog")).to_have_count(0)
    run = json.loads(report.read_text())
    assert run["sandbox"] is True and run["judge"]["requests"] > 0 and run["flags"] == []
    assert scores.cell_points(root, LEVEL1, ["demo_typical"])["demo_typical"] == before

    row = page.locator("tr", has_text="demo_typical")
    row.locator("td.generate-feedback a").click()
    expect(page.locator(".modal-dialog")).to_contain_text("Successfully generated feedback", timeout=KERNEL_START)
    shots.take("feedback_by_the_button")
    page.locator(".modal-dialog button", has_text="OK").click()
    source = notebooks.read(root / "source" / LEVEL1 / f"{LEVEL1}.ipynb")
    secret = notebooks.hidden_only_lines(source)
    graded = notebooks.read(root / "autograded" / "demo_typical" / LEVEL1 / f"{LEVEL1}.ipynb")
    own = "\n".join(c.source for c in graded.cells if notebooks.is_solution(c))
    page_html = (root / "feedback" / "demo_typical" / LEVEL1 / f"{LEVEL1}.html").read_text()
    text = html.unescape(re.sub(r"<[^>]+>", "", page_html))
    assert "demo_typical" in text or LEVEL1 in text
    assert not [line for line in secret if line in text and line not in own]
