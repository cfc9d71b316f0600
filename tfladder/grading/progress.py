"""A progress bar for commands that work through many notebooks (on stderr, one line)."""

import sys
from typing import TextIO


class Progress:
    """`Progress(total, "grading")`, then `.advance(note)` once per item and `.done()`."""

    def __init__(self, total: int, label: str, *, stream: TextIO | None = None, width: int = 24) -> None:
        self.total, self.label, self.width = max(int(total), 0), label, width
        self.count = 0
        self.stream = stream or sys.stderr
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._draw("")

    def _draw(self, note: str) -> None:
        filled = self.width * self.count // self.total if self.total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        line = f"{self.label} [{bar}] {self.count}/{self.total} {note}".rstrip()
        if self.interactive:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def advance(self, note: str = "") -> None:
        self.count = min(self.count + 1, self.total) if self.total else self.count + 1
        self._draw(note)

    def done(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
