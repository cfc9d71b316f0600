"""A class on one machine: JupyterHub with a system account per student and instructor.

`tfladder hub` (`make hub`) serves the course to a class: each person logs in with their own
system account (PAM, as The Littlest JupyterHub does on one VM), and gets their own JupyterLab,
run as that account, from one environment every account can read (`environment`). Students get
the Assignment List (fetch, submit, fetch feedback through nbgrader's exchange) and the notebook
library only; instructors get formgrader on the course. Who may read what is kept by the file
system: the course folder belongs to the instructors' group, each home to its owner, and the
exchange is nbgrader's (`layout`).

Modules: `accounts` (the system users and their two groups), `environment` (the shared Python
environment), `layout` (the hub's folders, the course and the Jupyter configuration per role),
`hub_config` (JupyterHub's own configuration) and `serve` (starting it).
"""
