"""Student feedback: one HTML page per student and assignment, with no hidden test code.

The page shows the score per exercise, the student's own code and written answers, the result of
every test with its failure message, and the grading seed that made the hidden inputs. It is
written from the gradebook and the autograded notebook, never from test cell sources, so hidden
tests cannot leak (nbgrader's own feedback shows them: nbgrader issues #917, #1363).
"""

import html
from pathlib import Path

from tfladder.course import notebooks
from tfladder.grading import results

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 960px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; } td, th { padding: 0.25em 0.8em; border-bottom: 1px solid #eee; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; border-radius: 4px; }
pre.message { background: #fff4f4; border-left: 3px solid #c33; }
.ok { color: #1a7f37; } .failed { color: #c33; } .manual { color: #8250df; } .muted { color: #777; }
"""


def _status(cell):
    if cell.points == results.MANUAL:
        return '<span class="manual">waits for a human grader</span>'
    if cell.passed:
        return f'<span class="ok">passed</span> ({cell.points:g}/{cell.max_points:g})'
    return f'<span class="failed">failed</span> ({cell.points:g}/{cell.max_points:g})'


def page(result, graded_nb):
    """The feedback page as an HTML string."""
    e = html.escape
    answers = {}
    if graded_nb is not None:
        for cell in graded_nb.cells:
            if notebooks.is_solution(cell):
                answers[notebooks.grade_id(cell)] = cell.source
    seed = f"Hidden tests used grading seed <b>{result.seed}</b>." if result.seed is not None else ""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{e(result.assignment)}: feedback for {e(result.student)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{e(result.assignment)} &mdash; feedback for {e(result.student)}</h1>",
        f"<p><b>{result.auto_points:g} / {result.auto_max:g}</b> autograded points. {seed}</p>",
    ]
    if result.manual_pending:
        parts.append(
            f"<p class='manual'>{len(result.manual_pending)} written answer(s) still wait for a "
            "human grader; their points are not included yet.</p>"
        )
    if result.error:
        parts.append(f"<pre class='message'>{e(result.error)}</pre>")
    parts.append("<table><tr><th>exercise</th><th>points</th><th>tests</th></tr>")
    for exercise, points, maximum, cells in result.exercises():
        shown = "to be graded" if points == results.MANUAL else f"{points:g} / {maximum:g}"
        marks = ", ".join(
            f"{c.part}: {'✓' if c.passed else ('…' if c.points == results.MANUAL else '✗')}" for c in cells
        )
        parts.append(
            f"<tr><td><a href='#{e(exercise)}'>{e(exercise)}</a></td><td class='num'>{shown}</td>"
            f"<td>{e(marks)}</td></tr>"
        )
    parts.append("</table>")
    for exercise, points, maximum, cells in result.exercises():
        parts.append(f"<h2 id='{e(exercise)}'>{e(exercise)}</h2>")
        answer = answers.get(exercise)
        if answer is not None:
            parts.append("<p class='muted'>Your answer:</p>")
            parts.append(f"<pre>{e(answer)}</pre>")
        for cell in cells:
            parts.append(f"<p>{e(cell.part)} test: {_status(cell)}</p>")
            if cell.message:
                parts.append(f"<pre class='message'>{e(cell.message)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write(course, assignment, student, out_root=None):
    """Write feedback/<student>/<assignment>/<assignment>.html; returns its path."""
    course = Path(course)
    result = results.load(course, assignment, student)
    graded = course / "autograded" / student / assignment / f"{assignment}.ipynb"
    graded_nb = notebooks.read(graded) if graded.exists() else None
    out = Path(out_root or course / "feedback") / student / assignment / f"{assignment}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page(result, graded_nb), encoding="utf-8")
    return out
