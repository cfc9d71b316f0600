"""Is every command shown in README.md, docs/ and CHANGELOG.md run by a test or by `make demo`?

A command is a line of a ```sh block (lines ending in `\\` joined, `# comments` dropped, the
`.venv/bin/` prefix removed). RUN_BY names, for each command, where it runs:

- a test, "tests/test_x.py::test_name": the test must exist and its source must mention the
  command's subcommand (`check` for `tfladder check ...`); for `python -m pytest FILE`, the test
  must be in FILE;
- "make demo": `make demo`'s implementation, tfladder/cli/demo.py, calls the subcommand;
- "parses: bench/x.py": the test below parses the command's flags with the script's own parser;
- "not here: <why>", for what these machines cannot run; the reason names the test that runs the
  command inside it.

Also: every relative link in README.md, docs/ and CHANGELOG.md leads to a file (and heading) that
exists, the README stays a newcomer's page (at most 170 lines), and docs/ holds exactly its pages.
"""

import argparse
import ast
import importlib.util
import re
import shlex
import sys
from functools import cache

import pytest
from conftest import REPO

from tfladder.course import ops

DOC_PAGES = [
    "architecture.md",
    "authoring.md",
    "grading.md",
    "hub.md",
    "security.md",
    "performance.md",
    "testing.md",
]
DOCUMENTS = ["README.md", "CHANGELOG.md", *(f"docs/{page}" for page in DOC_PAGES)]
README_MAX_LINES = 170
MAKEFILE_TEST = "tests/test_docs.py::test_do_the_make_targets_shown_run_what_the_docs_say"
HUB = "tests/hub/test_hub.py::hub"  # the module's hub: `tfladder users add`, `tfladder hub`, `users remove`
HOSTILE = "tests/grading/test_hostile_grading.py::test_does_each_submission_get_exactly_what_it_earned"
GRADE_CLASS = "parses: bench/grade_class.py"
CLUSTER_BATCH = "tests/grading/test_cluster.py::test_was_each_worker_killed_while_its_kernel_ran"
POSTGRES_BATCH = "tests/grading/test_cluster.py::test_did_two_recorders_write_one_postgres_gradebook_at_once"

LMS_EXPORT = "tests/reports/test_lms.py::test_does_the_command_write_the_file_and_say_what_was_left_out"
RUN_BY = {
    # make targets: the Makefile test checks what each runs; make check and make test are the test
    # runs themselves (CI's .ci/run is `make test`), make setup the environment every test runs in.
    "make test": MAKEFILE_TEST,
    "make check": MAKEFILE_TEST,
    "make setup": MAKEFILE_TEST,
    "time .ci/run": MAKEFILE_TEST,  # CI's entry point is `make test`, which that test checks
    "make demo": "tests/cli/test_demo.py::test_does_the_demo_print_a_table_per_assignment",
    "make release": "tests/course/test_release.py::test_is_the_committed_release_what_nbgrader_makes_today",
    "make lab": "tests/cli/test_browser.py::test_does_the_printed_formgrader_address_open_formgrader",
    "make explorations": (
        "tests/course/test_exploration_data.py::test_does_recording_level_2_again_give_the_shipped_run"
    ),
    # a class on the hub: tests/hub/test_hub.py makes the accounts and runs the hub with these
    "make hub": HUB,
    "tfladder users add --role instructor teacher": HUB,
    "tfladder users add alice bob": HUB,
    "tfladder users add --passwords class.csv": HUB,
    "tfladder users list": "tests/hub/test_hub.py::test_does_users_list_name_every_account_with_its_role",
    "tfladder users remove bob": HUB,
    # grades for an LMS: the command on the demo class, with a roster (the Canvas file by lms.write)
    "tfladder export --lms canvas --roster roster.csv": LMS_EXPORT,
    "tfladder export --lms moodle --roster roster.csv --to moodle.csv": LMS_EXPORT,
    # similar submissions: the command on the test class (real submission notebooks of level 1)
    "tfladder similarity 01_low_level_ops": (
        "tests/reports/test_similarity.py::test_does_the_report_show_the_pair_side_by_side_with_everything_escaped"
    ),
    "tfladder similarity 01_low_level_ops --threshold 0.25 --out l1-similarity.html": (
        "tests/reports/test_similarity.py::test_does_the_threshold_choose_what_is_marked"
    ),
    # the tfladder command (a thin layer over the functions these tests call)
    "tfladder check release/01_low_level_ops/01_low_level_ops.ipynb": (
        "tests/reports/test_feedback_pages.py::test_does_check_give_full_marks_to_the_reference"
    ),
    "tfladder grade": (
        "tests/grading/test_grade_command.py::test_does_grade_without_names_grade_every_assignment_with_submissions"
    ),
    "tfladder grade 01_low_level_ops": "tests/grading/test_grading.py::test_does_the_grader_grade_every_fixture",
    "tfladder grade 01_low_level_ops 02_layers": (
        "tests/grading/test_parallel_grading.py::"
        "test_is_an_assignment_that_cannot_be_released_reported_while_the_others_are_graded"
    ),
    "tfladder grade 01_low_level_ops --jobs 1 --no-prefork": (
        "tests/grading/test_parallel_grading.py::test_do_parallel_and_serial_grading_record_the_same_gradebook"
    ),
    "tfladder grade 01_low_level_ops --student alice --student 'team_*'": (
        "tests/grading/test_grade_command.py::test_does_grade_grade_only_the_students_named"
    ),
    "tfladder autograde 01_low_level_ops": (
        "tests/grading/test_grade_command.py::test_does_autograde_grade_trusted_notebooks_and_print_the_table"
    ),
    "tfladder feedback 01_low_level_ops": (
        "tests/reports/test_feedback_pages.py::test_does_feedback_show_scores_answers_messages_and_no_hidden_test"
    ),
    "tfladder report": (
        "tests/reports/test_feedback_pages.py::test_does_the_report_show_plots_common_failures_and_grades"
    ),
    "tfladder solutions": (
        "tests/reports/test_feedback_pages.py::test_do_the_solutions_explain_each_answer_with_outputs_plots_and_no_warning"
    ),
    "python -m tfladder --version": ("tests/test_layout.py::test_does_python_dash_m_tfladder_run_the_command"),
    "export TFLADDER_GRADING_SEED=271828": (
        "tests/library/test_runtime.py::test_is_the_grading_seed_read_from_the_environment"
    ),
    "pip install .venv/tfladder-notebook": (
        "tests/course/test_notebook_lib.py::test_does_pip_install_the_library_for_a_student"
    ),
    "systemd-run --scope -p MemoryMax=6G -p MemorySwapMax=0 -p CPUQuota=180% -p TasksMax=2048 "
    "tfladder grade 01_low_level_ops": (
        "not here: these machines have no systemd; the command inside, tfladder grade 01_low_level_ops, "
        "is run by tests/grading/test_grading.py::test_does_the_grader_grade_every_fixture"
    ),
    # grading on a cluster: tests/conftest.py grades a batch on a cluster started with these commands
    # (tests/external_cluster.py), and the certificates command is tested on its own
    "tfladder certificates ~/cluster-certs": (
        "tests/grading/test_cluster.py::test_does_certificates_write_three_private_files"
    ),
    "dask scheduler --protocol tls --port 8786 --no-dashboard --tls-ca-file ~/cluster-certs/ca.pem "
    "--tls-cert ~/cluster-certs/cert.pem --tls-key ~/cluster-certs/key.pem": CLUSTER_BATCH,
    "dask worker tls://SCHEDULER:8786 --nworkers 2 --nthreads 1 --memory-limit 0 --no-dashboard "
    "--tls-ca-file ~/cluster-certs/ca.pem --tls-cert ~/cluster-certs/cert.pem --tls-key ~/cluster-certs/key.pem "
    "--preload tfladder.grading.node": CLUSTER_BATCH,
    "tfladder grade --scheduler tls://SCHEDULER:8786 --tls-ca-file ~/cluster-certs/ca.pem "
    "--tls-cert ~/cluster-certs/cert.pem --tls-key ~/cluster-certs/key.pem": CLUSTER_BATCH,
    # the same batch's gradebook is on PostgreSQL, made with createdb, recorded by two nbgrader at once
    "createdb gradebook": POSTGRES_BATCH,
    "tfladder grade --recorders 8 --scheduler tls://SCHEDULER:8786 --tls-ca-file ~/cluster-certs/ca.pem "
    "--tls-cert ~/cluster-certs/cert.pem --tls-key ~/cluster-certs/key.pem": POSTGRES_BATCH,
    # pytest
    "python -m pytest -q --basetemp=/tmp/tfladder-pytest/docs tests/test_docs.py": (
        "tests/test_docs.py::test_is_every_command_shown_run_by_a_test"
    ),
    "python -m pytest -q --basetemp=/tmp/tfladder-pytest/hostile tests/grading/test_hostile_grading.py": HOSTILE,
    # bench scripts: too long to run here; their flags are parsed by the scripts' own parsers
    "python bench/notebook_time.py": "parses: bench/notebook_time.py",
    "python bench/notebook_time.py 03_keras_models": "parses: bench/notebook_time.py",
    "python bench/exploration_time.py": "parses: bench/exploration_time.py",
    "python bench/similarity.py": "parses: bench/similarity.py",
    "python bench/similarity.py --assignment 04_custom_training": "parses: bench/similarity.py",
    "python bench/grade_class.py": GRADE_CLASS,
    'python bench/grade_class.py --class-only --memory-sizes ""': GRADE_CLASS,
    'python bench/grade_class.py --compare-with /tmp/before --rounds 2 --memory-sizes ""': GRADE_CLASS,
    "python bench/grade_class.py --judge-only --students 10": GRADE_CLASS,
    "python bench/grade_class.py --compare-with /tmp/before --rounds 2 --students 10": GRADE_CLASS,
    "python bench/cluster_scale.py": "parses: bench/cluster_scale.py",
    "python bench/hub_capacity.py --students 3 --assignment 03_keras_models": "parses: bench/hub_capacity.py",
    "python bench/hub_capacity.py --students 2 --assignment 01_low_level_ops": "parses: bench/hub_capacity.py",
    "python bench/cluster_scale.py --part recorders --recorders 1 2": "parses: bench/cluster_scale.py",
    'python bench/grade_class.py --assignments 03_keras_models --memory-sizes ""': GRADE_CLASS,
}

PROGRAMS = ("tfladder", "make", "pip", "python", "nbgrader", "export")
NODE = re.compile(r"tests/[\w/]+\.py::\w+")


# -- collecting the commands -------------------------------------------------------------------
def drop_comment(line):
    """The line without a `# comment` (a # at the start or after a space, outside quotes)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def normalise(command):
    command = re.sub(r"(^|\s)\.venv/bin/", r"\1", command)
    return " ".join(command.split())


def commands(markdown):
    """Every command of the ```sh blocks in a markdown text, normalised, in order."""
    found = []
    for block in re.findall(r"^[ \t]*```sh[ \t]*\n(.*?)^[ \t]*```", markdown, flags=re.M | re.S):
        joined = re.sub(r"\\\n", " ", block)
        for line in joined.splitlines():
            command = normalise(drop_comment(line))
            if command:
                found.append(command)
    return found


@cache
def shown():
    """{command: [documents that show it]} over every document."""
    where = {}
    for name in DOCUMENTS:
        for command in commands((REPO / name).read_text()):
            where.setdefault(command, []).append(name)
    return where


# -- checking where each runs ----------------------------------------------------------------------
def inner(command):
    """The command a wrapper (systemd-run) runs, or the command itself."""
    words = shlex.split(command)
    start = next((i for i, w in enumerate(words) if w in PROGRAMS), 0)
    return " ".join(shlex.quote(w) for w in words[start:])


def subcommand(command):
    """What a test that runs `command` must mention: its subcommand, the variable it sets, or the
    program itself when it has no subcommand. For pytest: the test files it runs."""
    words = shlex.split(command)
    if words[0] == "export":
        return [words[1].split("=")[0]]
    if words[:3] == ["python", "-m", "pytest"]:
        return [w for w in words[3:] if w.startswith("tests/")]
    if words[:2] == ["python", "-m"]:
        words = words[2:]
    positional = [w for w in words[1:] if not w.startswith("-")]
    return [positional[0] if positional else words[0]]


@cache
def source_of(node):
    """The source of the test function a node id names, or None when there is none."""
    path, _, name = node.partition("::")
    if not (REPO / path).exists():
        return None
    text = (REPO / path).read_text()
    for item in ast.walk(ast.parse(text)):
        if isinstance(item, ast.FunctionDef) and item.name == name.split("[")[0]:
            return ast.get_source_segment(text, item)
    return None


def names_in(path):
    """Every name and attribute a Python file uses (what it calls, among others)."""
    tree = ast.parse((REPO / path).read_text())
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
    }


def node_problems(command, node):
    source = source_of(node)
    if source is None:
        return [f"{command!r}: {node} does not exist"]
    words = subcommand(command)
    if command.startswith("python -m pytest"):
        return [] if node.partition("::")[0] in words else [f"{command!r}: {node} is not in {words}"]
    return [f"{command!r}: {node} never mentions {w!r}" for w in words if w not in source]


def problems(command, where):
    """Why `where` does not show that `command` is run; [] when it does."""
    if where is None:
        return [f"{command!r} is shown but nothing runs it: add it to RUN_BY with the test that does"]
    if where == "make demo":
        calls = names_in("tfladder/cli/demo.py")
        return [f"{command!r}: make demo never calls {w!r}" for w in subcommand(command) if w not in calls]
    if where.startswith("parses: "):
        script = where.removeprefix("parses: ")
        words = shlex.split(command)
        return [] if words[:2] == ["python", script] else [f"{command!r} does not run {script}"]
    if where.startswith("not here: "):
        named = NODE.findall(where)
        if not named:
            return [f"{command!r}: the reason names no test that runs the command inside it"]
        return [p for node in named for p in node_problems(inner(command), node)]
    if NODE.fullmatch(where):
        return node_problems(command, where)
    return [f"{command!r}: {where!r} is neither a test, 'make demo', 'parses: ...' nor 'not here: ...'"]


def test_is_every_command_shown_run_by_a_test():
    found = [p for command in shown() for p in problems(command, RUN_BY.get(command))]
    assert not found, "\n".join(found)


def test_is_every_registered_command_still_shown():
    stale = sorted(set(RUN_BY) - set(shown()))
    assert not stale, f"RUN_BY lists commands no document shows any more: {stale}"


def test_does_the_collector_see_commands_and_only_commands():
    markdown = """Some prose with `make lab` inline, which is not collected.

```sh
.venv/bin/tfladder grade 01_low_level_ops   # sandboxed
# put submissions in submitted/ (a comment line)

systemd-run --scope -p MemoryMax=6G \\
    .venv/bin/tfladder grade 01_low_level_ops
.venv/bin/python bench/grade_class.py --memory-sizes ""   # "quoted" comment
tfladder grade --student 'team_#1'
```

```text
tfladder grade 01_low_level_ops: output, not a command
```

```python
print("not a command either")
```
"""
    assert commands(markdown) == [
        "tfladder grade 01_low_level_ops",
        "systemd-run --scope -p MemoryMax=6G tfladder grade 01_low_level_ops",
        'python bench/grade_class.py --memory-sizes ""',
        "tfladder grade --student 'team_#1'",
    ]


def test_would_an_unrun_command_be_reported():
    assert problems("tfladder frobnicate", RUN_BY.get("tfladder frobnicate"))
    assert problems("tfladder grade", "tests/grading/test_grading.py::test_that_does_not_exist")
    assert problems("tfladder solutions", "tests/cli/test_demo.py::test_does_the_demo_print_a_table_per_assignment")
    assert problems("tfladder solutions", "make demo")  # the demo renders no solutions
    assert not problems("tfladder grade 01_low_level_ops", "make demo")  # the demo grades as grade does
    assert problems("python bench/grade_class.py", "parses: bench/notebook_time.py")
    assert problems("systemd-run --scope tfladder grade", "not here: no systemd")  # names no test
    assert problems("tfladder report", "somewhere")
    assert subcommand("tfladder check release/x.ipynb") == ["check"]
    assert subcommand("python -m tfladder --version") == ["tfladder"]
    assert subcommand("export TFLADDER_GRADING_SEED=1") == ["TFLADDER_GRADING_SEED"]
    assert inner("systemd-run --scope -p MemoryMax=6G tfladder grade a") == "tfladder grade a"


# -- bench scripts: their flags parse ----------------------------------------------------------
class _Parsed(Exception):
    """Raised instead of running a bench once its arguments are parsed."""


def load_script(path):
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the script's imports only: main() is not called
    return module


def parse_bench(command, monkeypatch):
    """The script's own parser's result for the command's arguments; never runs the bench."""
    _, script, *args = shlex.split(command)
    path = REPO / script
    module = load_script(path)
    if "argparse" not in path.read_text():  # bench/notebook_time.py: [ASSIGNMENT ...]
        unknown = [a for a in args if a not in ops.assignments(REPO)]
        assert not unknown, f"{command!r}: {unknown} are not assignments"
        return args
    parsed = {}
    original = argparse.ArgumentParser.parse_args

    def capture(self, argv=None, namespace=None):
        parsed["args"] = original(self, argv, namespace)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(_Parsed):
        module.main(args)
    monkeypatch.undo()
    return parsed["args"]


BENCH = sorted(c for c, where in RUN_BY.items() if where.startswith("parses: "))


@pytest.mark.parametrize("command", BENCH)
def test_do_the_bench_commands_parse(command, monkeypatch):
    args = parse_bench(command, monkeypatch)
    if "--memory-sizes" in command:
        assert args.memory_sizes == ""
    if "--judge-only" in command:
        assert args.judge_only and args.students == 10
    if "--compare-with" in command:
        assert args.compare_with == "/tmp/before" and args.rounds == 2


def test_would_a_wrong_bench_flag_be_caught(monkeypatch):
    with pytest.raises(SystemExit):
        parse_bench("python bench/grade_class.py --no-such-flag", monkeypatch)


# -- make targets ------------------------------------------------------------------------------
def make_rules():
    """{target: recipe lines} of the Makefile (define blocks skipped)."""
    rules, current, in_define = {}, None, False
    for line in (REPO / "Makefile").read_text().splitlines():
        if line.startswith("define "):
            in_define = True
        elif line.startswith("endef"):
            in_define = False
        elif in_define:
            continue
        elif rule := re.match(r"^([^\s:=#]+):(?!=)", line):
            current = rule.group(1)
            rules[current] = []
        elif line.startswith("\t") and current:
            rules[current].append(line.strip())
        elif line.strip() and not line.startswith("#"):
            current = None
    return rules


def test_do_the_make_targets_shown_run_what_the_docs_say():
    rules = make_rules()
    # make check: lint, format, types, then the fast tests
    check = "\n".join(rules["check"])
    assert "ruff check ." in check and "ruff format --check ." in check and "mypy" in check
    assert '$(PYTEST) -m "not slow" -q' in check
    # make test: the same lint, format and types, then every test; CI runs it
    assert rules["test"] == ["ruff check .", "ruff format --check .", "mypy", "$(PYTEST) -q"]
    assert "make test" in (REPO / ".ci/run").read_text()  # CI runs .ci/run
    # make setup: the pinned environment and the notebook library
    setup = rules["$(STAMP)"]
    assert any("pip install --quiet -r requirements.lock" in line for line in setup)
    assert any("pip uninstall --quiet --yes rfc3987-syntax" in line for line in setup)
    assert any("-m tfladder.course.notebook_lib" in line for line in setup)
    assert "setup" in rules
    # make demo, release, lab: the tfladder commands the tests above run
    for target in ("demo", "release", "lab", "hub"):
        assert rules[target] == [f"tfladder {target}"], target


# -- links and pages -------------------------------------------------------------------------------
def slug(heading):
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(text):
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    found, seen = set(), {}
    for heading in re.findall(r"^#{1,6} (.+)$", prose, flags=re.M):
        base = slug(heading)
        found.add(f"{base}-{seen[base]}" if base in seen else base)
        seen[base] = seen.get(base, 0) + 1
    return found


def broken_links(name):
    path = REPO / name
    prose = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S)
    broken = []
    for target in re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", prose):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, fragment = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        if not linked.exists():
            broken.append(f"{name}: {target} (no such file)")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked.read_text()):
            broken.append(f"{name}: {target} (no such heading)")
    return broken


@pytest.mark.parametrize("name", DOCUMENTS)
def test_does_every_relative_link_lead_somewhere(name):
    assert not broken_links(name)


def test_would_a_broken_link_be_caught(tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](missing.md) [nowhere](#no-heading) [web](https://x.org)\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert broken_links("page.md") == ["page.md: missing.md (no such file)", "page.md: #no-heading (no such heading)"]


def test_is_the_readme_a_newcomers_page():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move details to docs/"
    for page in DOC_PAGES:
        assert f"(docs/{page})" in "\n".join(lines), f"README.md does not link docs/{page}"


def test_does_docs_hold_exactly_its_pages():
    assert sorted(p.name for p in (REPO / "docs").iterdir()) == sorted(DOC_PAGES)
