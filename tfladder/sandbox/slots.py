"""Sandbox slots held for as long as a process lives: no two kernels running at once share a uid.

A slot picks a kernel's uid (`tfladder.sandbox.launcher.uid_for`). Every process that starts
sandboxed kernels (a grading node, the grader's own nbgrader) takes its slot here first: an
exclusive lock on `<SLOTS>/<slot>.lock`, released by the kernel when the process ends, however it
ends (kill -9 included). Two grading runs on one machine, or a Dask worker restarted by its nanny
while its predecessor's kernels are being stopped, therefore never hand out the same uid.
"""

import fcntl
import os
from pathlib import Path

SLOTS = Path("/run/tfladder/slots")
SEARCHED = 256  # slots tried from the first one asked for


class NoSlot(RuntimeError):
    """Every slot in the range is held by another process."""


def take(first: int, folder: Path = SLOTS) -> tuple[int, int]:
    """(slot, descriptor): the first free slot from `first` on, locked until the descriptor is
    closed or this process ends. Raises NoSlot when SEARCHED slots in a row are held."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for slot in range(first, first + SEARCHED):
        fd = os.open(folder / f"{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return slot, fd
    raise NoSlot(f"sandbox slots {first} to {first + SEARCHED - 1} are all in use by other grading processes")
