"""Sweeps on Dask: grid, cluster = serial, resume, an external scheduler, jobqueue scripts."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from sim import sweep
from sim.cli import main as sim_main
from sim.sweep import Task, expand_grid, run_sweep

GRID = dict(sources=["pagerank", "strided"], presets=["gpu-uvm"],
            policies=["none", "uvm", "window16", "oracle"], oversubscriptions=[1.0, 1.25])


def test_grid_expands_thresholds_and_windows_and_always_has_none():
    tasks = expand_grid(["bfs"], ["gpu-uvm"], ["uvm", "oracle"], [1.0, 1.5],
                        thresholds=[30, 60], windows=[12])
    names = [t.policy for t in tasks if t.oversubscription == 1.0]
    assert names == ["none", "uvm:threshold=30", "uvm:threshold=60", "oracle", "window12"]
    assert len(tasks) == 10 and len({t.key for t in tasks}) == 10
    assert Task("bfs", "gpu-uvm", "none", 1.0).key == Task("bfs", "gpu-uvm", "none", 1.0).key
    with pytest.raises(ValueError, match="key=integer"):
        expand_grid(["bfs"], ["gpu-uvm"], ["uvm:threshold"], [1.0])


@pytest.fixture(scope="module")
def serial_rows(tmp_path_factory):
    tasks = expand_grid(**GRID)
    return run_sweep(tasks, tmp_path_factory.mktemp("serial")).rows


def test_sweep_on_a_local_cluster_equals_the_serial_runs(serial_rows, tmp_path):
    from distributed import Client, LocalCluster

    tasks = expand_grid(**GRID)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        result = run_sweep(tasks, tmp_path, client=client)
    assert result.ran == len(tasks) and result.reused == 0
    assert result.rows == serial_rows
    oracle = {(r["workload"], r["oversubscription"]): r["faults"] for r in serial_rows
              if r["policy"] == "oracle"}
    for row in serial_rows:
        assert oracle[row["workload"], row["oversubscription"]] <= row["faults"]


def test_an_interrupted_sweep_resumes_from_its_results(serial_rows, tmp_path, monkeypatch):
    tasks = expand_grid(**GRID)
    real = sweep.run_task
    calls = []

    def flaky(task):
        if len(calls) == 5:
            raise KeyboardInterrupt
        calls.append(task)
        return real(task)

    monkeypatch.setattr(sweep, "run_task", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(tasks, tmp_path)
    assert len(list((tmp_path / "results").glob("*.json"))) == 5
    monkeypatch.setattr(sweep, "run_task", real)
    resumed = run_sweep(tasks, tmp_path)
    assert (resumed.ran, resumed.reused) == (len(tasks) - 5, 5)
    assert resumed.rows == serial_rows
    (tmp_path / "results" / f"{tasks[0].key}.json").write_text("{broken")  # a torn file
    again = run_sweep(tasks, tmp_path)
    assert (again.ran, again.reused) == (1, len(tasks) - 1) and again.rows == serial_rows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sweep_cli_on_a_scheduler_started_here(serial_rows, tmp_path):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                                  "--host", "127.0.0.1", "--port", str(port),
                                  "--dashboard-address", ":0"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                               "--nthreads", "1", "--nworkers", "2", "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        out = tmp_path / "sweep"
        args = ["sweep", "--scheduler", address, "--workload", "pagerank,strided",
                "--policies", "none,uvm,window16,oracle", "--oversubscription", "1,1.25",
                "--out", str(out)]
        assert sim_main(args) == 0
        rows = json.loads((out / "sweep.json").read_text())
        assert rows == serial_rows
        assert (out / "sweep.csv").read_text().count("\n") == 1 + len(rows)
        assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    finally:
        for process in (worker, scheduler):
            process.terminate()
        for process in (worker, scheduler):
            process.wait(timeout=30)


@pytest.mark.parametrize(("kind", "walltime", "expected"), [
    ("slurm", "02:00:00", ["#SBATCH -p batch", "#SBATCH --cpus-per-task=4", "#SBATCH -t 02:00:00"]),
    ("pbs", "02:00:00", ["#PBS -q batch", "#PBS -l walltime=02:00:00"]),
    ("lsf", "02:00", ["#BSUB -q batch", "#BSUB -n 4"]),
])
def test_jobqueue_job_scripts(capsys, kind, walltime, expected):
    options = ["cores=4", "memory=8GB", "queue=batch", f"walltime={walltime}"]
    args = ["sweep", "--jobqueue", kind, "--print-job-script"]
    for option in options:
        args += ["--jobqueue-option", option]
    assert sim_main(args) == 0
    script = capsys.readouterr().out
    for line in expected:
        assert line in script, (line, script)
    assert "distributed.cli.dask_worker" in script


@pytest.mark.parametrize(("args", "message"), [
    (["--jobqueue", "slurm", "--print-job-script"], "cores=..."),
    (["--print-job-script"], "needs --jobqueue"),
    (["--jobqueue", "slurm", "--jobqueue-option", "cores"], "KEY=VALUE"),
    (["--preset", "nope"], "--preset"),
    (["--threshold", "0"], "1..100"),
    (["--workload", "nope"], "unknown workload"),
    (["--policies", "uvm:speed=3"], "no parameter 'speed'"),
    (["--trace", "/no/such/file.csv"], "no such file"),
])
def test_sweep_mistakes_give_one_error_line(capsys, tmp_path, args, message):
    assert sim_main(["sweep", "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0], err
    assert not (tmp_path / "o").exists()


def test_an_unreachable_scheduler_is_one_error(capsys, tmp_path):
    started = time.perf_counter()
    assert sim_main(["sweep", "--scheduler", f"tcp://127.0.0.1:{free_port()}", "--workload",
                     "strided", "--policies", "none", "--oversubscription", "1", "--out",
                     str(tmp_path / "o")]) == 2
    assert "cannot connect" in capsys.readouterr().err
    assert time.perf_counter() - started < 60
