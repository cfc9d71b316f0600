"""Is an assignment's release, and the gradebook's copy of it, what `source/` would generate now?

`tfladder grade` regenerates the release (`nbgrader generate_assignment`, about 4 s) before every
run so that the gradebook holds the source's hidden tests. When nothing it depends on has changed
since the last regeneration, that run would write exactly what is already there, so it is skipped.

After each regeneration with the gradebook, `record` writes a digest of everything the result
depends on or consists of: every file of `source/ASSIGNMENT` and `release/ASSIGNMENT`, the
course's `nbgrader_config.py` and any nbgrader configuration in Jupyter's config path, nbgrader's
version, and the gradebook's rows that define the assignment (its notebooks, cells, points, tests'
source and checksums; not grades). `is_current` recomputes it: any difference, a gradebook that
cannot be read (a missing SQLite file, a database server that does not answer), or no stamp at all
means "regenerate". The gradebook is the one the course's configuration names: nbgrader's SQLite
file (read with sqlite3, read-only) or a database server such as PostgreSQL (read with SQLAlchemy).
"""

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from tfladder.course import config

STAMPS = Path("build") / "release-stamps"

# The gradebook's rows that define an assignment (nbgrader 0.9's schema), never its grades.
DEFINITION_QUERIES = (
    "SELECT a.id, a.name, a.duedate, a.course_id FROM assignment a WHERE a.name = :name",
    "SELECT n.id, n.name, n.kernelspec FROM notebook n JOIN assignment a ON n.assignment_id = a.id "
    "WHERE a.name = :name ORDER BY n.name",
    "SELECT b.id, b.name, b.type, n.name, g.max_score, g.cell_type, t.max_score, t.cell_type, s.id "
    "FROM base_cell b JOIN notebook n ON b.notebook_id = n.id JOIN assignment a ON n.assignment_id = a.id "
    "LEFT JOIN grade_cells g ON g.id = b.id LEFT JOIN task_cells t ON t.id = b.id "
    "LEFT JOIN solution_cells s ON s.id = b.id WHERE a.name = :name ORDER BY n.name, b.name, b.type",
    "SELECT c.id, c.name, c.cell_type, c.locked, c.source, c.checksum, n.name FROM source_cell c "
    "JOIN notebook n ON c.notebook_id = n.id JOIN assignment a ON n.assignment_id = a.id "
    "WHERE a.name = :name ORDER BY n.name, c.name",
)


def stamp_path(course: str | Path, assignment: str) -> Path:
    return Path(course) / STAMPS / f"{assignment}.sha256"


def tree(folder: str | Path) -> list[list[str]] | None:
    """[[relative path, sha256], ...] of every file under `folder`, sorted; None without the folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    return [
        [str(p.relative_to(folder)), hashlib.sha256(p.read_bytes()).hexdigest()]
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]


def _config_files(course: str | Path) -> list[list[str]]:
    from jupyter_core.paths import jupyter_config_path

    found = []
    for folder in [str(course), *jupyter_config_path()]:
        for name in ("nbgrader_config.py", "nbgrader_config.json"):
            path = Path(folder) / name
            if path.is_file():
                # the course's own file by its name, so that a course folder moved or copied
                # elsewhere keeps its stamp; the others by their full path
                where = name if folder == str(course) else str(path)
                found.append([where, hashlib.sha256(path.read_bytes()).hexdigest()])
    return found


def _definition(course: Path, assignment: str) -> list[list[Any]] | None:
    """The gradebook's rows for ASSIGNMENT, or None when there is no gradebook or no such assignment."""
    gradebook = config.gradebook_file(course)
    if gradebook is None:
        return _server_definition(config.db_url(course), assignment)
    if not gradebook.is_file():
        return None
    try:
        db = sqlite3.connect(f"file:{gradebook}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        rows = [db.execute(query, {"name": assignment}).fetchall() for query in DEFINITION_QUERIES]
    except sqlite3.Error:
        return None
    finally:
        db.close()
    return rows if rows[0] else None


def _server_definition(url: str, assignment: str) -> list[list[Any]] | None:
    """_definition for a gradebook on a database server."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.pool import NullPool

    try:
        engine = create_engine(url, poolclass=NullPool)
    except (SQLAlchemyError, ImportError, ValueError):
        return None
    try:
        with engine.connect() as connection:
            rows = [
                [list(row) for row in connection.execute(text(query), {"name": assignment})]
                for query in DEFINITION_QUERIES
            ]
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    return rows if rows[0] else None


def digest(course: str | Path, assignment: str) -> str | None:
    """A digest of all the regeneration depends on and writes, or None when it cannot be told."""
    import nbgrader

    course = Path(course)
    definition = _definition(course, assignment)
    source, release = tree(course / "source" / assignment), tree(course / "release" / assignment)
    if definition is None or source is None or release is None:
        return None
    blob = json.dumps(
        {
            "nbgrader": nbgrader.__version__,
            "config": _config_files(course),
            "source": source,
            "release": release,
            "gradebook": definition,
        },
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def record(course: str | Path, assignment: str) -> None:
    """After a regeneration with the gradebook: remember what it produced."""
    value = digest(course, assignment)
    path = stamp_path(course, assignment)
    if value is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")
    tmp.write_text(value + "\n")
    os.replace(tmp, path)


def is_current(course: str | Path, assignment: str) -> bool:
    """True when regenerating ASSIGNMENT's release and gradebook entry would change nothing."""
    path = stamp_path(course, assignment)
    if not path.is_file():
        return False
    value = digest(course, assignment)
    return value is not None and path.read_text().strip() == value
