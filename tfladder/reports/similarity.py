"""Which submissions of an assignment are suspiciously alike: every pair of students compared on the
code they wrote, exercise by exercise, with copydetect's winnowing and comparison (Schleimer,
Wilkerson and Aiken's fingerprints, as MOSS uses them), on k-gram hashes that are the same in every
process (`fingerprint`).

What is compared is each solution cell's code (`code_tokens.tokens`: names the student chose,
numbers and strings made alike, comments and layout gone). What every student shares is taken out
first, as copydetect's boilerplate: the released starter code of the cell and the reference
solution, since many students converge on it. Written answers are not compared.

A pair's similarity is the share of both students' own code (tokens left after the boilerplate)
that the other has too: the tokens covered by shared fingerprints, on both sides, over all tokens
on both sides, summed over the exercises. It never judges; it points a human at the pairs worth
reading.

Speed: every student pair of an exercise is not compared one by one (500,000 pairs for 1,000
students). Students whose code is the same after normalising are compared once; only the distinct
answers that share at least one fingerprint (found with one matrix product) go through
copydetect's `compare_files`; the rest are 0.
"""

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from copydetect import compare_files
from copydetect.utils import get_token_coverage, winnow

from tfladder.course import notebooks, ops
from tfladder.reports.code_tokens import Tokens, tokens

NOISE_TOKENS = 8  # the shortest run of tokens that counts as shared (copydetect's noise threshold)
GUARANTEE_TOKENS = 10  # a run this long is always found (copydetect's guarantee threshold)
THRESHOLD = 0.5  # pairs at or above it are marked worth reading
LISTED = 200  # pairs the report lists at most, the most alike first
SIDE_BY_SIDE = 50  # of which it shows this many side by side


class SimilarityError(ValueError):
    """The comparison cannot start (no such assignment, no release); the message says why."""


@dataclass
class Exercise:
    """One solution cell: its grade id, and the code every student starts from or converges on."""

    name: str
    boilerplate: list[str]  # the released starter code and the reference solution


@dataclass
class Shared:
    """What two students share in one exercise: regions of each one's code (character ranges; found
    only for the SIDE_BY_SIDE pairs the report shows, empty for the others)."""

    exercise: str
    similarity: float
    tokens: int  # shared tokens, both sides
    regions: tuple[list[tuple[int, int]], list[tuple[int, int]]]


@dataclass
class Pair:
    a: str
    b: str
    similarity: float
    shared: list[Shared] = field(default_factory=list)


@dataclass
class Result:
    assignment: str
    students: list[str]
    exercises: list[str]
    threshold: float
    pairs: list[Pair]  # the most alike first: those at or above the threshold, at least `top`, at most LISTED
    over_threshold: int  # pairs at or above the threshold, listed or not
    per_exercise: dict[str, list[Pair]]  # the most alike pairs of each exercise alone
    histogram: list[int]  # pairs per similarity bin of width 1/len(histogram)
    code: dict[tuple[str, str], str]  # (student, exercise) -> the code compared
    problems: list[str] = field(default_factory=list)  # submissions left out, and why

    @property
    def flagged(self) -> list[Pair]:
        return [p for p in self.pairs if p.similarity >= self.threshold]


def exercises(course: Path, assignment: str) -> dict[str, list[Exercise]]:
    """The code solution cells of each notebook of `assignment`, from release/ and source/."""
    release = course / "release" / assignment
    if not release.is_dir():
        raise SimilarityError(f"no release/{assignment}: run `tfladder release {assignment}` first")
    found: dict[str, list[Exercise]] = {}
    for path in notebooks.notebook_paths(release):
        released = notebooks.read(path)
        source_path = course / "source" / assignment / path.name
        reference = notebooks.cells_by_id(notebooks.read(source_path)) if source_path.is_file() else {}
        found[path.name] = [
            Exercise(
                name=gid,
                boilerplate=[cell.source] + ([notebooks.reference_answer(reference[gid])] if gid in reference else []),
            )
            for cell in released.cells
            if notebooks.is_solution(cell) and cell.cell_type == "code"
            for gid in [notebooks.grade_id(cell)]
        ]
    return found


def submitted_sources(path: Path) -> dict[str, str]:
    """Grade id -> source of each cell of the notebook a student submitted, read as untrusted
    JSON (nbformat's reader stops at the first oddity); ValueError says why it cannot be read."""
    if not path.is_file():
        raise ValueError("is not in the submission")
    try:
        nb = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot be read ({type(error).__name__})") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise ValueError("cannot be read (not a notebook: no list of cells)")
    found: dict[str, str] = {}
    for cell in cells:
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
        gid = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
        source = cell.get("source", "") if isinstance(cell, dict) else None
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if isinstance(gid, str) and isinstance(source, str):
            found.setdefault(gid, source)
    return found


def answers(
    course: Path, assignment: str, students: Sequence[str], layout: dict[str, list[Exercise]]
) -> tuple[dict[tuple[str, str], str], list[str]]:
    """(code by (student, exercise), problems): each student's solution cells, found by grade id."""
    code: dict[tuple[str, str], str] = {}
    problems: list[str] = []
    for student in students:
        for name, cells in layout.items():
            path = course / "submitted" / student / assignment / name
            try:
                by_id = submitted_sources(path)
            except ValueError as error:  # reported; the rest of the class is still compared
                problems.append(f"{student}: {name} {error}; compared as blank")
                by_id = {}
            for exercise in cells:
                code[student, exercise.name] = by_id.get(exercise.name, "")
    return code, problems


@dataclass
class Fingerprint:
    """A text's winnowed fingerprints: what copydetect's `compare_files` reads of its own
    `CodeFingerprint`. Made here because `CodeFingerprint` hashes k-grams with Python's `hash()`,
    which changes with every process, and with it which fingerprints winnowing keeps: the same
    class would score a little differently at every run."""

    filtered_code: str
    k: int
    hashes: set[int]
    hash_idx: dict[int, list[int]]  # fingerprint -> its positions (in tokens)
    token_coverage: int  # tokens inside a kept fingerprint
    offsets: np.ndarray  # empty: compare_files gives token positions, Tokens.region maps them


def kgram_hashes(text: str, k: int) -> np.ndarray:
    """A hash of every k characters of `text` (a polynomial hash modulo 2**64, the same everywhere)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    count = len(codes) - k + 1
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    hashed = np.zeros(count, dtype=np.uint64)
    for t in range(k):
        hashed = hashed * np.uint64(1_000_003) + codes[t : t + count]
    return hashed.view(np.int64)


def fingerprint(text: str, window: int, boilerplate: np.ndarray | None = None) -> Fingerprint:
    """`text`'s fingerprints, winnowed by copydetect with `window`, those in `boilerplate` left out."""
    hashes, positions = winnow(kgram_hashes(text, NOISE_TOKENS), window, remove_duplicates=False)
    if boilerplate is not None and len(boilerplate):
        own = ~np.isin(hashes, boilerplate)
        hashes, positions = hashes[own], positions[own]
    where: dict[int, list[int]] = {}
    for h, at in zip(hashes.tolist(), positions.tolist(), strict=True):
        where.setdefault(h, []).append(at)
    coverage = int(get_token_coverage(where, NOISE_TOKENS, len(text)))
    return Fingerprint(text, NOISE_TOKENS, set(where), where, coverage, np.array([]))


def _covered(slices: np.ndarray) -> int:
    return int(np.sum(slices[1] - slices[0])) if slices.ndim == 2 and slices.shape[1] else 0


@dataclass
class _Compared:
    """One exercise: students' answers as distinct texts, and what the distinct texts share."""

    which: np.ndarray  # student index -> distinct text index
    own: np.ndarray  # distinct text -> its tokens left after the boilerplate
    covered: np.ndarray  # [i, j]: tokens of text i found in text j
    prints: list[Fingerprint]  # of each distinct text
    sharing: int  # pairs of distinct texts that share code


def compare_exercise(texts: Sequence[str], boilerplate: Sequence[str]) -> _Compared:
    """Every pair of `texts` (one per student) compared, distinct texts once."""
    window = GUARANTEE_TOKENS - NOISE_TOKENS + 1
    common = [fingerprint(b, 1).hashes for b in boilerplate]
    boiler = np.unique(np.array([h for hs in common for h in hs], dtype=np.int64))
    distinct: dict[str, int] = {}
    which = np.array([distinct.setdefault(t, len(distinct)) for t in texts], dtype=np.int64)
    prints = [fingerprint(t, window, boiler) for t in distinct]
    own = np.array([p.token_coverage for p in prints], dtype=np.float64)
    count = len(prints)
    covered = np.zeros((count, count), dtype=np.float64)
    # texts that share a fingerprint: a product of the (text x fingerprint) incidence matrix, with a
    # column for each fingerprint found in two texts or more
    seen = Counter(int(h) for p in prints for h in p.hashes)
    column = {h: c for c, h in enumerate(h for h, times in seen.items() if times >= 2)}
    candidates: list[tuple[int, int]] = []
    if column:
        incidence = np.zeros((count, len(column)), dtype=np.float32)
        for i, p in enumerate(prints):
            incidence[i, [column[h] for h in map(int, p.hashes) if h in column]] = 1.0
        common_prints = incidence @ incidence.T
        candidates = [(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(common_prints, 1)))]
    for i, j in candidates:  # the regions are not kept (a class's would fill the memory): see _regions
        _, _, (slices_i, slices_j) = compare_files(prints[i], prints[j])
        covered[i, j], covered[j, i] = _covered(slices_i), _covered(slices_j)
    students = np.bincount(which, minlength=count)
    for i in range(count):  # a text shared by several students is all shared, where it says anything
        if own[i] > 0 and students[i] > 1:
            _, _, (slices_i, _) = compare_files(prints[i], prints[i])
            covered[i, i] = _covered(slices_i)
    sharing = len(candidates) + int(np.count_nonzero(np.diag(covered)))
    return _Compared(which=which, own=own, covered=covered, prints=prints, sharing=sharing)


Regions = list[tuple[int, int]]


def _regions(found: _Compared, a: int, b: int, tok_a: Tokens, tok_b: Tokens) -> tuple[Regions, Regions]:
    """The character ranges of students a and b's code (student indexes) that the other shares."""
    i, j = int(found.which[a]), int(found.which[b])
    if found.covered[i, j] <= 0 and found.covered[j, i] <= 0:
        return [], []
    _, _, (s_i, s_j) = compare_files(found.prints[i], found.prints[j])
    if s_i.ndim != 2:
        return [], []
    return (
        [tok_a.region(int(s), int(e)) for s, e in zip(*s_i)],
        [tok_b.region(int(s), int(e)) for s, e in zip(*s_j)],
    )


def compare(
    course: str | Path,
    assignment: str,
    *,
    threshold: float = THRESHOLD,
    top: int = 20,
    bins: int = 20,
    progress: Callable[[str], None] | None = None,
) -> Result:
    """Every pair of students with a submission of `assignment` in submitted/, compared."""
    course = Path(course)
    say = progress or (lambda line: None)
    layout = exercises(course, assignment)
    names = [e.name for cells in layout.values() for e in cells]
    students = ops.submitted_students(course, assignment)
    if not students:
        raise SimilarityError(f"no submissions of {assignment} in submitted/ (nbgrader collect puts them there)")
    code, problems = answers(course, assignment, students, layout)
    say(f"{len(students)} submissions, {len(names)} exercises, {len(students) * (len(students) - 1) // 2} pairs")
    n = len(students)
    toks = {key: tokens(text) for key, text in code.items()}
    shared = np.zeros((n, n), dtype=np.float64)
    own = np.zeros(n, dtype=np.float64)
    found: dict[str, _Compared] = {}
    for cells in layout.values():
        for exercise in cells:
            texts = [toks[s, exercise.name].text for s in students]
            boiler = [tokens(b).text for b in exercise.boilerplate]
            result = found[exercise.name] = compare_exercise(texts, boiler)
            index = result.which
            shared += result.covered[np.ix_(index, index)]
            own += result.own[index]
            say(
                f"{exercise.name}: {len(result.own)} distinct answers, "
                f"{result.sharing} pairs of them share code ({len(found)}/{len(names)})"
            )
    both = shared + shared.T
    np.fill_diagonal(both, 0)
    total = own[:, None] + own[None, :]
    similarity = np.divide(both, total, out=np.zeros_like(both), where=total > 0)
    upper = np.triu_indices(n, 1)
    values = similarity[upper]
    histogram = np.histogram(values, bins=bins, range=(0.0, 1.0))[0].tolist() if n > 1 else [0] * bins
    order = np.argsort(-values, kind="stable")
    over = int(np.count_nonzero(values >= threshold))
    keep = min(max(top, over), LISTED)
    pairs: list[Pair] = []
    for k in order[:keep]:
        a, b = int(upper[0][k]), int(upper[1][k])
        if values[k] <= 0:
            break
        pairs.append(_pair(students, a, b, float(values[k]), names, found, toks, regions=len(pairs) < SIDE_BY_SIDE))
    per_exercise: dict[str, list[Pair]] = {}
    for name in names:
        result = found[name]
        index = result.which
        cov = result.covered[np.ix_(index, index)]
        cov_both = cov + cov.T
        np.fill_diagonal(cov_both, 0)
        tot = result.own[index][:, None] + result.own[index][None, :]
        sim = np.divide(cov_both, tot, out=np.zeros_like(cov_both), where=tot > 0)[upper]
        best = np.lexsort((-cov_both[upper], -sim))[:10]
        per_exercise[name] = [
            _pair(students, int(upper[0][k]), int(upper[1][k]), float(sim[k]), [name], found, toks, regions=False)
            for k in best
            if sim[k] > 0
        ]
    return Result(
        assignment=assignment,
        students=students,
        exercises=names,
        threshold=threshold,
        pairs=pairs,
        over_threshold=over,
        per_exercise=per_exercise,
        histogram=histogram,
        code=code,
        problems=problems,
    )


def _pair(
    students: Sequence[str],
    a: int,
    b: int,
    value: float,
    names: Sequence[str],
    found: dict[str, _Compared],
    toks: dict[tuple[str, str], Tokens],
    *,
    regions: bool = True,
) -> Pair:
    """Students a and b (indexes) with what they share in each of `names` (and where, with `regions`:
    a comparison again, so only for the pairs the report shows side by side)."""
    pair = Pair(a=students[a], b=students[b], similarity=value)
    for exercise in names:
        result = found[exercise]
        i, j = int(result.which[a]), int(result.which[b])
        both = result.covered[i, j] + result.covered[j, i] if i != j else 2 * result.covered[i, i]
        if both <= 0:
            continue
        own = result.own[i] + result.own[j]
        where = (
            _regions(result, a, b, toks[students[a], exercise], toks[students[b], exercise]) if regions else ([], [])
        )
        pair.shared.append(Shared(exercise, float(both / own) if own else 0.0, int(both), where))
    return pair


def marked(code: str, regions: Sequence[tuple[int, int]]) -> list[tuple[str, bool]]:
    """`code` cut into (text, shared?) pieces at `regions`, for the side-by-side view."""
    pieces: list[tuple[str, bool]] = []
    at = 0
    for start, end in sorted(regions):
        start = max(start, at)
        if end <= start:
            continue
        if start > at:
            pieces.append((code[at:start], False))
        pieces.append((code[start:end], True))
        at = end
    if at < len(code):
        pieces.append((code[at:], False))
    return pieces


def write_report(result: Result, path: str | Path) -> Path:
    """The HTML report of `result` at `path`."""
    from tfladder.reports import html

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    details = []
    for rank, pair in enumerate(result.pairs[:SIDE_BY_SIDE], 1):
        views = []
        for shared in pair.shared:
            views.append(
                {
                    "exercise": shared.exercise,
                    "similarity": shared.similarity,
                    "tokens": shared.tokens,
                    "left": marked(result.code[pair.a, shared.exercise], shared.regions[0]),
                    "right": marked(result.code[pair.b, shared.exercise], shared.regions[1]),
                }
            )
        details.append({"rank": rank, "pair": pair, "views": views})
    bins = len(result.histogram)
    tallest = max(result.histogram, default=0) or 1
    bars = [
        {
            "low": i / bins,
            "high": (i + 1) / bins,
            "count": count,
            # heights on a log scale: a few pairs near 1 stay visible next to thousands near 0
            "height": 0 if count == 0 else 4 + 136 * np.log1p(count) / np.log1p(tallest),
            "flagged": i / bins >= result.threshold - 1e-9,
        }
        for i, count in enumerate(result.histogram)
    ]
    n = len(result.students)
    path.write_text(
        html.render(
            "similarity.html.j2",
            result=result,
            pairs_total=n * (n - 1) // 2,
            details=details,
            listed=[(rank, pair, rank <= len(details)) for rank, pair in enumerate(result.pairs, 1)],
            bars=bars,
            noise=NOISE_TOKENS,
            guarantee=GUARANTEE_TOKENS,
        ),
        encoding="utf-8",
    )
    return path
