"""Time `tfladder similarity` on a generated class, side by side with copydetect's own detector.

    .venv/bin/python bench/similarity.py                       # 1,000 students of 01_low_level_ops
    .venv/bin/python bench/similarity.py --students 300 --assignment 02_layers

Builds a temporary course whose students' answers are generated: for every exercise, an answer
drawn from a pool (the reference, every fixture's answer to it, and for level 1 the similarity
test's hand-written class), its names renamed at random, and zero to three statements a student
might add (a check, a print, a temporary, a cast) put at random places in it, so that most
answers differ as text and after normalising, and almost every pair shares code with many
others, as a class does. Five percent hand in the blank release; `--copies` pairs are planted:
one student's answers with the names changed again.

Then, in one run:
- tfladder: `similarity.compare` and the HTML report, as `tfladder similarity` makes them
  (progress on stderr), and where the planted copies rank;
- copydetect: its own `CopyDetector` over the same code (one file per student, the starter code
  and the reference as boilerplate, its own tokeniser, report not written), every pair compared
  one by one, on the first `--baseline` students (default 200; 1,000 takes many minutes), and
  tfladder on those same students.
It prints the wall times and the ratio at the baseline's size.
"""

import argparse
import ast
import contextlib
import io
import random
import re
import shutil
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tfladder.course import fixtures, notebooks
from tfladder.reports import code_tokens, similarity

ADDED = [
    "{v} = tf.identity({a})",
    'print("{v}", {a})',
    "assert {a} is not None",
    "{v} = tf.cast({a}, tf.float32)",
    "tf.debugging.assert_all_finite(tf.cast({a}, tf.float32), '{v}')",
    "{v} = {n}",
    "{v} = [{a}]",
    "if {a} is None:\n    raise ValueError('{v}')",
    "{v} = tf.shape({a})",
    "{v} = len([{a}]) + {n}",
]


def pool(assignment: str) -> dict[str, list[str]]:
    """Answers to draw from, by exercise."""
    source = notebooks.read(ROOT / "source" / assignment / f"{assignment}.ipynb")
    cells = notebooks.cells_by_id(source)
    release = notebooks.read(ROOT / "release" / assignment / f"{assignment}.ipynb")
    ids = [notebooks.grade_id(c) for c in release.cells if notebooks.is_solution(c) and c.cell_type == "code"]
    answers = {gid: [notebooks.reference_answer(cells[gid])] for gid in ids}
    for fixture in fixtures.load_all(ROOT, assignment).values():
        for gid, text in fixture.answers.items():
            if gid in answers and text not in answers[gid]:
                answers[gid].append(text)
    for path in sorted((ROOT / "tests" / "reports" / "similarity_class").glob("*.toml")):
        for gid, text in tomllib.loads(path.read_text())["answers"].items():
            if gid in answers:
                answers[gid].append(text.strip("\n"))
    return answers


def renamed(code: str, rng: random.Random) -> str:
    """`code` with the names it chooses changed (whole words, outside strings is close enough)."""
    try:
        names, attributes = code_tokens.chosen_names(ast.parse(code))
    except SyntaxError:
        return code
    for name in sorted(names | attributes, key=len, reverse=True):
        new = f"{name.strip('_') or 'v'}_{rng.randrange(10**6)}"
        code = re.sub(rf"\b{re.escape(name)}\b", new, code)
    return code


def with_additions(code: str, rng: random.Random) -> str:
    """`code` with up to three statements added inside its functions."""
    lines = code.split("\n")
    for _ in range(rng.randrange(4)):
        body = [i for i, line in enumerate(lines) if line.startswith("    ") and line.strip()]
        if not body:
            break
        at = rng.choice(body)
        indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
        argument = rng.choice(re.findall(r"\b[a-zA-Z_]\w*\b", lines[at]) or ["0"])
        text = rng.choice(ADDED).format(v=f"t{rng.randrange(1000)}", a=argument, n=rng.randrange(100))
        lines[at:at] = [indent + part for part in text.split("\n")]
    return "\n".join(lines)


def make_class(course: Path, assignment: str, students: int, copies: int, seed: int) -> list[tuple[str, str]]:
    """The generated class in `course`/submitted; returns the planted (original, copy) pairs."""
    rng = random.Random(seed)
    answers = pool(assignment)
    release_dir = ROOT / "release"
    written: dict[str, dict[str, str]] = {}
    for k in range(students - copies):
        name = f"s{k:04d}"
        if rng.random() < 0.05:
            written[name] = {}
        else:
            written[name] = {
                gid: with_additions(renamed(rng.choice(texts), rng), rng) for gid, texts in answers.items()
            }
        fixtures.submit(
            fixtures.Fixture(name, assignment, "", "release", answers=written[name]), course, release_dir=release_dir
        )
    planted = []
    originals = rng.sample([s for s in written if written[s]], copies)
    for k, original in enumerate(originals):
        name = f"copy{k:02d}"
        answer = {gid: renamed(text, rng) for gid, text in written[original].items()}
        fixtures.submit(
            fixtures.Fixture(name, assignment, "", "release", answers=answer), course, release_dir=release_dir
        )
        planted.append((original, name))
    return planted


def copydetect_baseline(course: Path, assignment: str, students: list[str]) -> float:
    """Seconds copydetect's CopyDetector takes over the same code, one file per student."""
    from copydetect import CopyDetector

    layout = similarity.exercises(course, assignment)
    code, _ = similarity.answers(course, assignment, students, layout)
    files = course / "copydetect"
    (files / "students").mkdir(parents=True)
    (files / "boilerplate").mkdir()
    ids = [e.name for cells in layout.values() for e in cells]
    for student in students:
        (files / "students" / f"{student}.py").write_text("\n\n".join(code[student, gid] for gid in ids))
    boiler = [b for cells in layout.values() for e in cells for b in e.boilerplate]
    (files / "boilerplate" / "starter.py").write_text("\n\n".join(boiler))
    start = time.perf_counter()
    detector = CopyDetector(
        test_dirs=[str(files / "students")],
        boilerplate_dirs=[str(files / "boilerplate")],
        extensions=["py"],
        display_t=0.5,
        silent=True,
        autoopen=False,
    )
    detector.run()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--assignment", default="01_low_level_ops")
    parser.add_argument("--copies", type=int, default=5, help="planted copied pairs (default: 5)")
    parser.add_argument("--baseline", type=int, default=200, help="students for the side-by-side run (default: 200)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tfladder-similarity-") as tmp:
        course = Path(tmp)
        shutil.copytree(ROOT / "release", course / "release")
        shutil.copytree(ROOT / "source", course / "source")
        start = time.perf_counter()
        planted = make_class(course, args.assignment, args.students, args.copies, args.seed)
        print(f"generated {args.students} submissions of {args.assignment} in {time.perf_counter() - start:.1f} s")

        start = time.perf_counter()
        result = similarity.compare(course, args.assignment, progress=lambda line: print(f"  {line}", file=sys.stderr))
        similarity.write_report(result, course / "similarity.html")
        whole = time.perf_counter() - start
        ranks = {frozenset((p.a, p.b)): k for k, p in enumerate(result.pairs, 1)}
        found = [ranks.get(frozenset(pair)) for pair in planted]
        print(f"tfladder similarity, {args.students} students: {whole:.1f} s (report included)")
        ranked = sorted(r for r in found if r)
        print(f"  planted copies ranked {ranked}; not among the {len(result.pairs)} listed: {found.count(None)}")
        print(f"  pairs at or above {result.threshold}: {result.over_threshold}")

        few = sorted(result.students)[: args.baseline]
        small = course / "baseline"
        (small / "submitted").mkdir(parents=True)
        for student in few:
            shutil.copytree(course / "submitted" / student, small / "submitted" / student)
        shutil.copytree(course / "release", small / "release")
        shutil.copytree(course / "source", small / "source")
        start = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            similarity.compare(small, args.assignment)
        ours = time.perf_counter() - start
        theirs = copydetect_baseline(small, args.assignment, few)
        print(f"side by side, {len(few)} students: copydetect's CopyDetector {theirs:.1f} s, tfladder {ours:.1f} s")
        print(f"  ratio {theirs / ours:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
