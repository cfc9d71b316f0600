"""Why each reference answer is written as it is: `source/<assignment>/explanations.md`.

The instructor keeps them beside the answers: one `## <grade id>` section per exercise, in
markdown. nbgrader never copies the file into the release (`CourseDirectory.ignore` in the
course's `nbgrader_config.py`); `tfladder solutions` puts each section after its reference answer,
with the answers the fixtures prove also right and the mistakes they prove lose points.
"""

import re
from pathlib import Path

FILE = "explanations.md"
SECTION = re.compile(r"^## +(\S+) *$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    """{grade id: markdown} from an explanations file."""
    found = list(SECTION.finditer(text))
    return {
        match.group(1): text[match.end() : found[i + 1].start() if i + 1 < len(found) else len(text)].strip()
        for i, match in enumerate(found)
    }


def read(course: str | Path, assignment: str) -> dict[str, str]:
    """The assignment's explanations, or {} when it has none."""
    path = Path(course) / "source" / assignment / FILE
    return parse(path.read_text(encoding="utf-8")) if path.is_file() else {}
