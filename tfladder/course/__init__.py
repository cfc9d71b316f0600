"""The course on disk and nbgrader's commands on it (the instructor's side, lowest layer).

ops (release, autograde, export through the real `nbgrader`), config (nbgrader's configuration and
the tools' environment), release_stamp (whether a release would change anything), notebooks
(reading cells and grade ids), fixtures (submissions made from the reference by grade id),
authoring (the rules every test cell keeps), notebook_lib (builds the notebook library apart).
"""
