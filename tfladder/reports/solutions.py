"""Reference solutions for self-study: a level's instructor notebook, executed, as HTML.

The reference answers keep their code (solution markers removed); hidden tests and hint ladders
are left out. Each reference answer is followed by its explanation (`source/<assignment>/
explanations.md`: why it is written as it is), the answers the fixtures prove also right, and the
mistakes the fixtures prove lose points, with what the tests say about them. The page is titled
after the level and opens with a table of contents.
"""

import copy
import html
import re
from pathlib import Path

from nbconvert import HTMLExporter
from nbformat import NotebookNode
from nbformat.v4 import new_markdown_cell

from tfladder.course import explanations, fixtures, hints, notebooks
from tfladder.course.config import execute

TEST_KINDS = {
    "interface": "the visible interface test",
    "values": "the hidden values test",
    "api": "the hidden API test",
}


def reference_notebook(source_nb: NotebookNode) -> NotebookNode:
    """A copy of the source notebook without solution markers, hidden tests or hint ladders."""
    nb = copy.deepcopy(source_nb)
    nb.cells = [cell for cell in nb.cells if not hints.ladder_of(cell)]
    for cell in nb.cells:
        if notebooks.BEGIN_SOLUTION in cell.source:
            cell.source = notebooks.without_markers(cell.source)
        if notebooks.BEGIN_HIDDEN in cell.source:
            hidden = notebooks.region_lines(cell.source, notebooks.BEGIN_HIDDEN, notebooks.END_HIDDEN)
            kept = [
                line
                for line in cell.source.splitlines()
                if line not in hidden and notebooks.BEGIN_HIDDEN not in line and notebooks.END_HIDDEN not in line
            ]
            cell.source = "\n".join(kept + ["# (hidden tests not shown)"])
    return nb


def title(source_nb: NotebookNode) -> str:
    """The level's title, from the first heading of its notebook."""
    for cell in source_nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            return cell.source.splitlines()[0][2:].strip()
    return "Reference solutions"


def _lost(fixture: fixtures.Fixture, reference: fixtures.Fixture, cells: list[str]) -> float:
    return sum(
        float(reference.points[c]) - float(fixture.points.get(c, 0))
        for c in cells
        if reference.points[c] != fixtures.MANUAL
    )


def _fenced(code: str) -> str:
    return f"```python\n{code.strip()}\n```"


def explanation_markdown(
    gid: str, text: str, found: dict[str, fixtures.Fixture], reference_answer: str, exercises: list[str]
) -> str:
    """The explanation cell of one exercise: why it is written so, the answers the fixtures prove
    also right, and the mistakes they prove lose points (fixtures that lose points here only)."""
    parts = [f"#### Why `{gid}` is written so\n\n{text or '(no explanation yet)'}"]
    reference = next((f for f in found.values() if f.name.endswith("_reference")), None)
    if reference is None:
        return parts[0]
    graded = [c for c, p in reference.points.items() if p != fixtures.MANUAL]
    here = [c for c in graded if notebooks.exercise_of(c, exercises) == gid]
    elsewhere = [c for c in graded if c not in here]
    total = sum(float(reference.points[c]) for c in here)
    accepted, mistakes = [], []
    for fixture in found.values():
        if not here or fixture.name == reference.name or fixture.name.endswith("_blank"):
            continue
        lost = _lost(fixture, reference, here)
        answer = fixture.answers.get(gid)
        about = f"{html.escape(fixture.about)} (`{fixture.name}`)"
        if lost == 0 and answer and answer.strip() != reference_answer.strip():
            accepted.append(f"- {about}:\n\n{_fenced(answer)}")
        elif lost > 0 and _lost(fixture, reference, elsewhere) == 0:
            tests = sorted({TEST_KINDS.get(c.rsplit("_", 1)[-1], c) for c in here if _lost(fixture, reference, [c])})
            line = f"- {about}: loses {lost:g} of {total:g} points ({', '.join(tests)})"
            said = [f"\u201c{html.escape(fixture.messages[c])}\u201d" for c in here if c in fixture.messages]
            mistakes.append(line + ("; the tests say " + ", ".join(said) if said else "") + ".")
    if accepted:
        parts.append("**Also accepted** (answers the tests prove right):\n\n" + "\n".join(accepted))
    if mistakes:
        parts.append("**Mistakes that lose points** (each proven by a fixture):\n\n" + "\n".join(mistakes))
    return "\n\n".join(parts)


def explained_notebook(course: str | Path, assignment: str, source_nb: NotebookNode) -> NotebookNode:
    """The reference notebook with a table of contents and an explanation after each answer."""
    nb = reference_notebook(source_nb)
    exercises = notebooks.solution_ids(source_nb)
    texts = explanations.read(course, assignment)
    found = fixtures.load_all(course, assignment) if fixtures.fixture_dir(course, assignment).is_dir() else {}
    answers = {
        notebooks.grade_id(c): notebooks.reference_answer(c) for c in source_nb.cells if notebooks.is_solution(c)
    }
    contents = []
    cells = []
    heading = None
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("## "):
            heading = cell
        gid = notebooks.grade_id(cell)
        if gid in exercises and heading is not None:
            name = re.sub(r"[`*]", "", heading.source.splitlines()[0][3:]).strip()
            heading.source = f'<a id="{gid}"></a>\n\n{heading.source}'
            contents.append(f"- [{name}](#{gid})")
            heading = None
        cells.append(cell)
        if gid in exercises:
            cells.append(
                new_markdown_cell(explanation_markdown(gid, texts.get(gid, ""), found, answers[gid], exercises))
            )
    if contents:
        cells.insert(1, new_markdown_cell("## Contents\n\n" + "\n".join(contents)))
    nb.cells = cells
    return nb


def render(course: str | Path, assignment: str, out_dir: str | Path) -> Path:
    """Execute the reference of ASSIGNMENT and write OUT_DIR/ASSIGNMENT.html; returns the path."""
    course = Path(course)
    source = course / "source" / assignment / f"{assignment}.ipynb"
    source_nb = notebooks.read(source)
    nb = explained_notebook(course, assignment, source_nb)
    execute(nb, source.parent)  # a static page cannot show widgets: explorations print their line
    body, _ = HTMLExporter().from_notebook_node(
        nb, resources={"metadata": {"name": f"{title(source_nb)}: reference solutions"}}
    )
    out = Path(out_dir) / f"{assignment}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return out
