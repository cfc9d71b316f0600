"""Is grading on a Dask cluster safe and lossless: TLS only, plain data, workers killed mid-notebook?

The batch graded on a separate cluster (conftest.CLUSTER_VARIANT: `dask scheduler` and two
`dask worker` grading nodes, TLS with certificates in files) is one of the determinism variants:
test_determinism checks that its scores equal the baseline's. Here: what happened to the notebooks
whose workers were killed while executing them, and to what those workers left running.
"""

import json
from contextlib import closing

import pytest
from conftest import ASSIGNMENTS, CLUSTER_VARIANT, KILLED_ONCE, KILLED_TWICE, REPO, make_course

from tfladder.course import config, fixtures, ops, release_stamp
from tfladder.course.config import nbgrader_config
from tfladder.grading import cluster, grade, scores

LEVEL_1, LEVEL_2 = ASSIGNMENTS[0], ASSIGNMENTS[1]


def test_does_a_node_get_only_plain_data_of_the_configuration():
    config = cluster.node_config(nbgrader_config(REPO))
    assert json.loads(json.dumps(config)) == config
    assert config["Execute"]["timeout"] == nbgrader_config(REPO).Execute.timeout
    assert "Autograde" not in config  # classes, and nothing a node needs


def test_do_tasks_carry_the_grading_settings_and_nothing_else_of_the_environment():
    env = {"TFLADDER_GRADING_SEED": "7", "TFLADDER_SANDBOX_WALL_SECONDS": "60", "HOME": "/root", "PATH": "/bin"}
    assert cluster.task_env(env) == {"TFLADDER_GRADING_SEED": "7", "TFLADDER_SANDBOX_WALL_SECONDS": "60"}


def test_does_the_grader_refuse_a_scheduler_reached_without_tls(tmp_path):
    course = make_course(tmp_path / "course", [LEVEL_1])
    fixtures.submit(fixtures.load_all(course, LEVEL_1)["l1_reference"], course)
    with pytest.raises(ops.CourseError, match="tls://"):
        grade.grade_many(course, [LEVEL_1], grade.Options(jobs=2, slot=40, scheduler="tcp://127.0.0.1:8786"))


@pytest.mark.slow
def test_is_a_client_without_the_clusters_certificate_refused(tmp_path):
    from distributed import Client, LocalCluster
    from distributed.security import Security

    ca, cert, key = (str(p) for p in cluster.make_certificates(tmp_path / "certs"))
    scheduler_side = Security(
        tls_ca_file=ca, tls_scheduler_cert=cert, tls_scheduler_key=key, tls_client_cert=cert, tls_client_key=key
    )
    with LocalCluster(
        n_workers=0,
        processes=False,
        protocol="tls://",
        host="127.0.0.1",
        security=scheduler_side,
        dashboard_address=None,
    ) as local:
        address = local.scheduler_address
        with Client(address, security=cluster.tls_security(ca, cert, key), timeout=10) as client:  # the files' holder
            assert client.scheduler_info()["address"] == address
        with pytest.raises((OSError, TimeoutError)):
            Client(address, security=Security.temporary(), timeout=5)  # another certificate
        with pytest.raises((OSError, TimeoutError)):
            Client(address.replace("tls://", "tcp://"), timeout=5)  # none at all


@pytest.mark.slow
def test_does_a_local_grading_cluster_serve_no_http_pages(tmp_path):
    """A scheduler serves pages of its workers and tasks (keys name students), health and metrics
    over plain HTTP even with the dashboard off; a grading run's local cluster serves none."""
    import time
    import urllib.error
    import urllib.request

    run = cluster.Cluster(2, logs=tmp_path, use_sandbox=False, prefork=False, env={})
    try:
        deadline = time.monotonic() + 120
        while (run.client is None or run.local is None) and time.monotonic() < deadline and not run.error:
            time.sleep(0.1)
        assert run.client is not None and not run.error, run.error
        ports = [run.local.scheduler.http_server.port]
        ports += [w["services"]["dashboard"] for w in run.client.scheduler_info()["workers"].values()]
        assert len(ports) == 3
        for port in ports:
            for path in ("/info/main/workers.html", "/json/identity.json", "/health", "/metrics"):
                with pytest.raises(urllib.error.HTTPError) as refused:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10)
                assert refused.value.code == 404, (port, path)
    finally:
        run.finish()


# -- the batch graded on the external cluster ------------------------------------------------------
def background_batches(runs, tmp_path_factory, items):
    """Called by conftest as the session starts: the external cluster's batch, if a test reads it."""
    wanted = any(
        item.get_closest_marker("slow") and {"batch", "cluster_run"} & set(item.fixturenames) for item in items
    )
    # test_determinism reads it too: then conftest queues it with the other variants, after the
    # longer hostile batches
    queued = any(getattr(item, "callspec", None) and item.callspec.params.get("variant") for item in items)
    if wanted and not queued:
        runs.submit(CLUSTER_VARIANT)


@pytest.fixture(scope="module")
def cluster_run(grading_runs):
    grading_runs.get(CLUSTER_VARIANT)
    return grading_runs.cluster_run


@pytest.fixture(scope="module")
def batch(grading_runs):
    return grading_runs.get(CLUSTER_VARIANT)


def total(points):
    return sum(v for v in points.values() if isinstance(v, (int, float)))


def test_does_certificates_write_three_private_files(tmp_path, capsys):
    from tfladder.cli.main import main

    assert main(["certificates", str(tmp_path / "certs")]) == 0
    written = sorted(tmp_path.joinpath("certs").iterdir())
    assert [p.name for p in written] == ["ca.pem", "cert.pem", "key.pem"]
    assert all(p.stat().st_mode & 0o077 == 0 for p in written), "readable by others"
    assert "PRIVATE KEY" in (tmp_path / "certs" / "key.pem").read_text()
    assert str(tmp_path / "certs" / "key.pem") in capsys.readouterr().out


@pytest.mark.slow
def test_was_each_worker_killed_while_its_kernel_ran(cluster_run):
    """The batch was graded as docs/grading.md says: `dask scheduler --protocol tls`, two
    `dask worker ... --preload tfladder.grading.node`, and `tfladder grade --scheduler` (the
    Options it sets) with the certificates of `tfladder certificates`."""
    assert not cluster_run.errors
    assert sorted(k["student"] for k in cluster_run.kills) == sorted([KILLED_ONCE, KILLED_TWICE, KILLED_TWICE])
    for kill in cluster_run.kills:
        assert kill["kernel_pids"], f"no kernel was running when {kill['student']}'s worker was killed"
        assert kill["zygote_pid"], "the node had no zygote"


@pytest.mark.slow
def test_does_nothing_a_killed_worker_started_outlive_it(cluster_run):
    for kill in cluster_run.kills:
        assert not kill["survivors"], f"still running after {kill['student']}'s worker was killed: {kill}"


@pytest.mark.slow
def test_is_a_notebook_whose_worker_died_executed_again_with_the_same_score(batch, cluster_run, graded_fixtures):
    level = batch[LEVEL_2]
    assert level.graded[KILLED_ONCE].points == graded_fixtures(LEVEL_2).graded[KILLED_ONCE].points
    assert level.summary.executed_by[KILLED_ONCE] == "worker"
    notes = grade.read_report(cluster_run.root, LEVEL_2, KILLED_ONCE)["notes"]
    assert any("died while executing it; executed again" in note for note in notes)


@pytest.mark.slow
def test_is_a_notebook_that_two_workers_died_executing_failed_with_its_reason(cluster_run):
    root = cluster_run.root
    points = scores.cell_points(root, LEVEL_1, [KILLED_TWICE])[KILLED_TWICE]
    assert total(points) == 0
    report = grade.read_report(root, LEVEL_1, KILLED_TWICE)
    assert any("died 2 times" in reason for reason in report["failed"])
    with closing(scores.gradebook(root)) as gb:
        assert gb.find_submission_notebook(LEVEL_1, LEVEL_1, KILLED_TWICE).flagged


@pytest.mark.slow
def test_did_the_nodes_execute_every_other_notebook(batch):
    for level, graded in batch.items():
        executed_by = {s: by for s, by in graded.summary.executed_by.items() if s != KILLED_TWICE}
        assert set(executed_by.values()) == {"worker"}, (level, executed_by)


# -- the gradebook on PostgreSQL, and the run that lost its scheduler ------------------------------
def overlap(recordings):
    return any(a.started < b.ended and b.started < a.ended for a in recordings for b in recordings if a is not b)


@pytest.mark.slow
def test_did_two_recorders_write_one_postgres_gradebook_at_once(cluster_run):
    """The batch's gradebook is a PostgreSQL database made by `createdb gradebook`
    (tests/postgres_server.py), and `tfladder grade --recorders 2 --scheduler ...` (the Options it
    sets) recorded it with two nbgrader processes at once."""
    assert config.db_url(cluster_run.root).startswith("postgresql://")
    assert all(len(summary.recordings) == 2 for summary in cluster_run.first.values())
    at_once = [a for a, summary in cluster_run.first.items() if overlap(summary.recordings)]
    assert at_once, {a: [(r.started, r.ended) for r in s.recordings] for a, s in cluster_run.first.items()}


@pytest.mark.slow
def test_does_a_run_that_lost_its_scheduler_stop_and_say_what_it_did_not_record(cluster_run):
    lost = {a: s.unrecorded for a, s in cluster_run.first.items() if s.unrecorded}
    assert lost, "the scheduler was killed as the last notebook started: that one at least was not recorded"
    for summary in cluster_run.first.values():
        if summary.unrecorded:
            assert "scheduler at tls://" in summary.error and "was lost" in summary.error, summary.error
            assert "--resume" in summary.error
            assert f"{len(summary.unrecorded)} not recorded" in summary.line()
        else:
            assert not summary.error, summary.error
    assert not cluster_run.reports_of_unrecorded, "an unrecorded submission has a report"


@pytest.mark.slow
def test_does_resume_grade_only_what_was_not_recorded(cluster_run):
    for assignment, summary in cluster_run.first.items():
        again = cluster_run.resumed[assignment]
        assert not again.error, again.error
        assert again.graded == sorted(summary.unrecorded), assignment
        assert sorted(again.skipped) == sorted(set(summary.submissions) - set(summary.unrecorded)), assignment


@pytest.mark.slow
def test_does_the_release_stamp_hold_on_a_postgres_gradebook(cluster_run):
    for assignment in cluster_run.first:
        assert release_stamp.is_current(cluster_run.root, assignment), assignment
