"""Does the fingerprint that lets nbgrader take a worker's execution change exactly when the run would?"""

import nbformat

from tfladder.grading import replay


def notebook_and_folder(tmp_path):
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# intro"),
            nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {"grade": True, "grade_id": "t1", "points": 2}}),
        ]
    )
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "data.csv").write_text("1,2\n")
    return nb, folder


def test_is_the_fingerprint_blind_to_outputs_and_counts(tmp_path):
    nb, folder = notebook_and_folder(tmp_path)
    before = replay.fingerprint(nb, folder)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nb.cells[1].execution_count = 7
    assert replay.fingerprint(nb, folder) == before


def test_does_the_fingerprint_see_code_metadata_tags_and_files(tmp_path):
    nb, folder = notebook_and_folder(tmp_path)
    before = replay.fingerprint(nb, folder)
    changes = [
        lambda: setattr(nb.cells[1], "source", "x = 2"),
        lambda: nb.cells[1].metadata["nbgrader"].update(points=3),
        lambda: nb.cells[1].metadata.update(tags=["skip-execution"]),
        lambda: nb.cells.append(nbformat.v4.new_code_cell("y = 2")),
        lambda: (folder / "data.csv").write_text("9,9\n"),
        lambda: (folder / "more.txt").write_text("new file\n"),
    ]
    seen = {before}
    for change in changes:
        change()
        now = replay.fingerprint(nb, folder)
        assert now not in seen
        seen.add(now)


def test_does_the_fingerprint_ignore_files_the_kernel_never_gets(tmp_path):
    nb, folder = notebook_and_folder(tmp_path)
    before = replay.fingerprint(nb, folder)
    (folder / "numpy.py").write_text("raise SystemExit\n")  # kept away from every kernel
    (folder / "other.ipynb").write_text("{}")
    assert replay.fingerprint(nb, folder) == before
