"""sgqn.sweep on a real local Ray instance: a grid runs, killed runs retry from their checkpoint,
a killed or Ctrl-C'd sweep resumes only its unfinished cells, and the report reads the folder.

Every sweep runs as ``python -m sgqn.sweep`` in its own session with at most two Ray workers
(the CI machine's cores); each test checks that nothing of that session outlives it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sgqn import train
from sgqn.config import Config
from sgqn.sweep import cell as sweep_cell
from sgqn.sweep.manifest import (
    MANIFEST_NAME,
    Cell,
    Manifest,
    SweepError,
    cell_state,
    cell_step,
    env_id_of,
    log_path,
    parse_overrides,
    read_manifest,
    write_manifest,
)
from sgqn.sweep.progress import ProgressLine
from sgqn.sweep.resources import (
    GiB,
    NodeShape,
    RunResources,
    capacity,
    plan_resources,
    replay_bytes,
)
from sgqn.sweep.runner import CellResult, Summary
from sgqn.train.checkpoint import config_to_dict, load_checkpoint
from sgqn.train.replay import ReplayBuffer

_WORKERS = min(2, os.cpu_count() or 1)
# Tiny runs: 50-step episodes (action repeat 20), small networks, one evaluation episode.
_TINY = [
    "action_repeat=20",
    "init_steps=20",
    "eval_episodes=1",
    "eval_modes=train",
    "saliency_freq=0",
    "batch_size=8",
    "num_conv_layers=3",
    "num_filters=8",
    "hidden_dim=32",
]
_TIMEOUT = 300.0  # s for one sweep command; far above what it takes


# --- helpers ---------------------------------------------------------------------------------


def _session_processes(sid: int) -> list[tuple[int, str]]:
    """(pid, command) of the live processes of a session."""
    out = subprocess.run(
        ["ps", "-e", "-o", "pid=,sid=,stat=,args="], capture_output=True, text=True
    ).stdout
    found = []
    for line in out.splitlines():
        pid, session, stat, args = (line.split(None, 3) + [""])[:4]
        if int(session) == sid and not stat.startswith("Z"):
            found.append((int(pid), args))
    return found


def _ray_workers(sid: int) -> list[str]:
    """Ray's worker processes in a session (not its per-node agents), by process title."""
    agents = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")
    return [
        args
        for _, args in _session_processes(sid)
        if args.startswith("ray::") and not args.startswith(agents)
    ]


def _assert_session_gone(sid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while _session_processes(sid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _session_processes(sid) == [], "processes outlived the sweep"


class _Sweep:
    """``python -m sgqn.sweep ...`` in a session of its own (the test can kill all of it)."""

    def __init__(self, cwd: Path, *args: str, address: str | None = None) -> None:
        self.out_path = cwd / f"sweep-{time.monotonic_ns()}.out"
        self._out = open(self.out_path, "w")
        ray = ["--address", address] if address else ["--num-cpus", str(_WORKERS)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sgqn.sweep", *args, *ray],
            cwd=cwd,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_RAY_ENV,
        )
        self.sid = self.proc.pid
        self.workers_seen: list[list[str]] = []  # Ray's workers, at each look
        self.training_seen: list[int] = []  # training processes, at each look

    def poll_until(self, condition, what: str, timeout: float = _TIMEOUT) -> None:
        """Poll ``condition()`` (and count Ray workers) until it holds."""
        deadline = time.monotonic() + timeout
        next_count = 0.0
        while not condition():
            if time.monotonic() > next_count:
                self._count()
                next_count = time.monotonic() + 1.0
            if self.proc.poll() is not None:
                pytest.fail(f"the sweep exited before {what}:\n{self.output()}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"timed out waiting for {what}:\n{self.output()}")
            time.sleep(0.05)

    def _count(self) -> None:
        self.workers_seen.append(_ray_workers(self.sid))
        processes = _session_processes(self.sid)
        self.training_seen.append(sum("sgqn.sweep.cell" in args for _, args in processes))

    def wait(self, timeout: float = _TIMEOUT) -> int:
        """Wait for the sweep to exit (counting its workers); check nothing of it is left."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"the sweep did not finish in {timeout:.0f} s:\n{self.output()}")
            self._count()
            time.sleep(1.0)
        self._out.close()
        _assert_session_gone(self.sid)
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL every process of the sweep's process group (a crash, a reboot)."""
        os.killpg(self.sid, signal.SIGKILL)
        self.proc.wait()
        self._out.close()

    def interrupt(self) -> None:
        """Ctrl-C as a terminal sends it: SIGINT to the foreground process group."""
        os.killpg(self.sid, signal.SIGINT)

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.out_path.read_text()


# Token authentication is Ray's own business; `ray start` and the drivers here agree to go
# without it, and run workers at normal priority (Ray's default niceness is 15).
_RAY_ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_worker_niceness": "0"}


@contextlib.contextmanager
def _ray_cluster(folder: Path):
    """A Ray head started with ``ray start --head`` (as in a Slurm allocation); yields its
    address, and kills all of it at the end."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = folder / "ray-start.out"
    ray = Path(sys.executable).with_name("ray")
    with open(out, "w") as stream:
        head = subprocess.Popen(
            [str(ray), "start", "--head", f"--port={port}", f"--num-cpus={_WORKERS}"]
            + ["--include-dashboard=false", "--disable-usage-stats", "--block"],
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_RAY_ENV,
        )
    try:
        deadline = time.monotonic() + 120
        while not (found := re.search(r"--address='([^']+)'", out.read_text())):
            assert head.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        yield found[1]
    finally:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()
        _assert_session_gone(head.pid)


def _pid_in_log(run_dir: Path, label: str) -> int:
    """The pid after ``label`` in the run's last attempt header."""
    pids = re.findall(rf"{label} (\d+)", log_path(run_dir).read_text())
    return int(pids[-1])


def _kill(pid: int, sid: int, expect: str) -> None:
    """SIGKILL a process of the sweep's session whose command line contains ``expect``."""
    command = dict(_session_processes(sid)).get(pid, "")
    assert expect in command, f"pid {pid} is {command!r}, not a {expect!r} of the sweep"
    os.kill(pid, signal.SIGKILL)


def _spec(manifest: Manifest, cell: Cell, run_dir: Path) -> dict:
    """What the driver hands one attempt of a cell (one thread, on the CPU)."""
    cfg = manifest.config(cell, run_dir)
    return {
        "run_dir": str(run_dir),
        "attempt": 1,
        "config": config_to_dict(cfg),
        "threads": 1,
        "eval_workers": 1,
        "device": "cpu",
    }


def _results(run_dir: Path) -> list:
    return json.loads((run_dir / "results.json").read_text())["results"]


def _starts(run_dir: Path) -> list[str]:
    """How each start of the run's training process began (afresh or resuming)."""
    return re.findall(
        r"sgqn\.sweep: (starting the run afresh|resuming)", log_path(run_dir).read_text()
    )


# --- the grid, the manifest, --set ----------------------------------------------------------


def test_overrides_are_typed_like_the_config():
    assert parse_overrides(
        ["steps=1000", "eval-modes=train,videohard", "critic_lr=3e-4", "amp=true"]
        + ["replay_capacity=none", "preset=cpu-demo", "overlay_source=embedded"]
    ) == {
        "steps": 1000,
        "eval_modes": ["train", "videohard"],
        "critic_lr": 3e-4,
        "amp": True,
        "replay_capacity": None,
        "preset": "cpu-demo",
        "overlay_source": "embedded",
    }
    with pytest.raises(SweepError, match="did you mean 'eval_freq'"):
        parse_overrides(["eval_frq=5"])
    with pytest.raises(SweepError, match="use --seeds"):
        parse_overrides(["seed=3"])
    with pytest.raises(SweepError, match="expected an integer"):
        parse_overrides(["steps=lots"])
    with pytest.raises(SweepError, match=r"expected one of \['paper', 'cpu-demo'\]"):
        parse_overrides(["preset=fast"])
    with pytest.raises(SweepError, match="key=value"):
        parse_overrides(["steps"])


def test_manifest_grid_names_and_round_trip(tmp_path):
    assert env_id_of("WalkerWalk") == "dmcgb/WalkerWalk-train-v0"
    assert env_id_of("dmcgb/RobotReach-train-v0") == "dmcgb/RobotReach-train-v0"
    with pytest.raises(SweepError, match="did you mean 'WalkerWalk'"):
        env_id_of("WalkerWlak")

    envs = ("dmcgb/WalkerWalk-train-v0", "dmcgb/CartpoleSwingup-train-v0")
    manifest = Manifest(("sgqn", "sac"), envs, (1, 2), {"steps": 2000}, preset="paper")
    names = [c.name for c in manifest.cells]
    # seed by seed, so a sweep stopped early has whole tables of fewer seeds
    assert names == [
        "WalkerWalk-sgqn-s1",
        "WalkerWalk-sac-s1",
        "CartpoleSwingup-sgqn-s1",
        "CartpoleSwingup-sac-s1",
        "WalkerWalk-sgqn-s2",
        "WalkerWalk-sac-s2",
        "CartpoleSwingup-sgqn-s2",
        "CartpoleSwingup-sac-s2",
    ]
    cfg = manifest.config(Cell(envs[1], "sac", 2), tmp_path / "x")
    assert (cfg.env, cfg.algo, cfg.seed, cfg.steps, cfg.preset) == (
        envs[1],
        "sac",
        2,
        2000,
        "paper",
    )
    assert cfg.run_dir == str(tmp_path / "x") and cfg.batch_size == Config().batch_size
    assert manifest.total_steps(manifest.cells[0]) == 2000

    write_manifest(tmp_path, manifest)
    back = read_manifest(tmp_path)
    assert back.same_grid(manifest) and back.preset == "paper" and back.created
    assert [c["name"] for c in json.loads((tmp_path / MANIFEST_NAME).read_text())["cells"]] == names
    with pytest.raises(SweepError, match="written only once"):
        write_manifest(tmp_path, manifest)
    with pytest.raises(SweepError, match="not a sweep folder"):
        read_manifest(tmp_path / "nothing")
    with pytest.raises(SweepError, match=r"unknown \['dqn'\]"):
        Manifest(("dqn",), envs, (1,))
    with pytest.raises(SweepError, match=r"--seeds lists \[1\] more than once"):
        Manifest(("sac",), envs, (1, 1))


def test_cell_state_and_step_come_from_the_run_directory(tmp_path):
    from sgqn.train.logger import CsvLog

    assert cell_state(tmp_path) == "new" and cell_step(tmp_path) == 0
    log = CsvLog(tmp_path / "metrics.csv")
    for step in (250, 500, 750):
        log.write({"step": step, "frames": 4 * step, "episode_return": 1.5})
    log.write({"step": 1000, "frames": 4000, "episode_return": 2.0, "critic_loss": 0.1})
    assert cell_step(tmp_path) == 1000
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    assert cell_state(tmp_path) == "checkpointed"
    (tmp_path / "results.json").write_text("{}")
    assert cell_state(tmp_path) == "finished"


# --- resources -------------------------------------------------------------------------------


def _resolved(preset: str) -> Config:
    """A WalkerWalk cell's config under a preset (what its run trains with)."""
    manifest = Manifest(("sgqn",), ("dmcgb/WalkerWalk-train-v0",), (1,), preset=preset)
    return manifest.resolved(manifest.cells[0])


def test_default_resources_follow_the_machine():
    paper = _resolved("paper")  # 500k steps: a 10.8 GB replay buffer of 84x84 frames
    replay = ReplayBuffer.bytes_needed(500_000, (3, 84, 84), 64, 3)
    assert 10.8e9 < replay < 11e9 and paper.total_steps() == 500_000

    # An 80 GiB GPU node with 16 cores: (0.9 * 80 GiB) // (replay + 3 GiB) runs per GPU.
    h100 = NodeShape(cpus=16, gpus=1, memory=200 * GiB, gpu_memory=80 * GiB)
    runs_per_gpu = int(0.9 * 80 * GiB // (replay + 3 * GiB))
    assert runs_per_gpu == 5
    run = plan_resources([h100], paper, cells=150)
    assert run.gpus == 0.2 and run.cpus == 16 // 5 and run.device == "cuda"
    assert run.memory == 3 * GiB  # replay on the GPU; 3 cores: evaluation stays in-process
    assert capacity([h100, h100], run) == 2 * 5

    # Eight GPUs and 64 cores per node: the cores bound the runs per GPU first.
    big = NodeShape(cpus=64, gpus=8, memory=1000 * GiB, gpu_memory=80 * GiB)
    run = plan_resources([big], paper, cells=150)
    assert run.gpus == 0.2 and run.cpus == 64 // (8 * 5)
    small_cores = NodeShape(cpus=8, gpus=4, memory=500 * GiB, gpu_memory=80 * GiB)
    assert plan_resources([small_cores], paper, cells=150).gpus == 0.5  # 2 cores per GPU

    # The 2-core CI machine, no GPU, a tiny grid: one core per run, replay in host memory.
    ci = NodeShape(cpus=2, memory=20 * GiB)
    demo = _resolved("cpu-demo")
    run = plan_resources([ci], demo, cells=4)
    assert (run.cpus, run.gpus, run.device) == (1, 0.0, "cpu")
    demo_replay = ReplayBuffer.bytes_needed(demo.total_steps(), (3, 84, 84), 64, 3)
    assert run.memory == 3 * GiB + demo_replay
    assert capacity([ci], run) == 2
    # Explicit values win; a run that fits nowhere has no slot.
    run = plan_resources([ci], demo, cells=4, cpus=2, memory=30 * GiB)
    assert (run.cpus, run.memory) == (2, 30 * GiB) and capacity([ci], run) == 0
    assert RunResources(cpus=5, gpus=0, memory=GiB).eval_workers(num_modes=3) == 1
    assert RunResources(cpus=7, gpus=0, memory=GiB).eval_workers(num_modes=3) == 2


def test_replay_of_the_crop_algos_is_sized_at_their_render_size():
    manifest = Manifest(("sgqn", "rad"), ("dmcgb/WalkerWalk-train-v0",), (1,), preset="paper")
    sgqn_cfg, rad_cfg = (manifest.resolved(cell) for cell in manifest.cells)
    assert (sgqn_cfg.algo, rad_cfg.algo) == ("sgqn", "rad")
    # rad renders 100x100 frames and crops them to 84 when it samples a batch.
    assert replay_bytes(rad_cfg) == ReplayBuffer.bytes_needed(500_000, (3, 100, 100), 64, 3)
    assert replay_bytes(sgqn_cfg) == ReplayBuffer.bytes_needed(500_000, (3, 84, 84), 64, 3)


@pytest.mark.gpu
def test_the_gpu_memory_probe_reads_the_device():
    from sgqn.sweep.cluster import probe_gpu_memory

    (node,) = probe_gpu_memory([NodeShape(cpus=8, gpus=1, memory=64 * GiB)])
    assert node.gpu_memory == torch.cuda.get_device_properties(0).total_memory


def test_progress_line_rate_and_eta():
    line = ProgressLine(total_cells=4, live=False)
    line.sample({"a": 0, "b": 0}, now=0.0)
    line.sample({"a": 500, "b": 300}, now=10.0)
    line.sample({"a": 200, "b": 700}, now=20.0)  # a went back to its checkpoint: no credit
    assert line.steps_per_second() == pytest.approx((800 + 400) / 20.0)
    text = line.render(done=1, running=2, failed=0, queued=1, remaining=6000)
    assert text == ("sweep: 1/4 done | 2 running | 0 failed | 1 queued | 60 steps/s | ETA 0:01:40")


def test_the_summary_names_each_failed_cell_with_its_error_and_log(tmp_path):
    manifest = Manifest(("sac", "sgqn"), ("dmcgb/WalkerWalk-train-v0",), (1,))
    ok, bad = (CellResult(c, tmp_path / c.name) for c in manifest.cells)
    ok.status, ok.attempts = "already finished", 0
    bad.status, bad.attempts, bad.error = "failed", 4, "RuntimeError: CUDA error: out of memory"
    lines = Summary(tmp_path, [ok, bad], 3725.0, 812.4, retries=3).lines()
    assert lines[0] == (
        "sweep summary: 1/2 cells finished (1 before this invocation), 1 failed, 0 unfinished"
        f" | 3 retries | 1:02:05 | 812 steps/s | {tmp_path}"
    )
    assert lines[1] == (
        "  FAILED WalkerWalk-sgqn-s1 after 4 attempt(s): RuntimeError: CUDA error: out of memory"
        f"\n         log: {tmp_path / 'logs' / 'WalkerWalk-sgqn-s1.log'}"
    )
    assert lines[2] == f"continue with: python -m sgqn.sweep --resume {tmp_path}"


def test_how_an_attempt_ended_follows_the_exit_status_and_the_results(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("Traceback (most recent call last):\nValueError: nan in the critic loss\n")
    judge = sweep_cell.judge
    assert judge(0, False, True, log) == {"status": "finished"}
    # killed while exiting after its results (a stop at the very end): still finished
    assert judge(-signal.SIGINT, True, True, log) == {"status": "finished"}
    assert judge(sweep_cell.STOPPED, True, False, log) == {"status": "stopped"}
    assert judge(-signal.SIGINT, True, False, log) == {"status": "stopped"}
    assert judge(-signal.SIGKILL, False, False, log) == {
        "status": "failed",
        "error": "the training process was killed by SIGKILL (out of memory?)",
        "retry": True,
    }
    assert judge(1, False, False, log) == {
        "status": "failed",
        "error": "ValueError: nan in the critic loss",
        "retry": True,
    }
    assert judge(sweep_cell.CONFIG_ERROR, False, False, log)["retry"] is False
    assert judge(0, False, False, log)["retry"] is False  # no results, nothing left to train


def test_last_error_finds_the_exception_line(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(
        "sgqn.train: run dir x\nTraceback (most recent call last):\n  File ...\n"
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n"
    )
    assert sweep_cell.last_error(log).startswith("torch.OutOfMemoryError: CUDA out of memory")
    log.write_text("sgqn.train: run dir x\nresults at step 100\n")
    assert sweep_cell.last_error(log) == "" and sweep_cell.last_error(tmp_path / "no") == ""


# --- one attempt, without Ray -----------------------------------------------------------------


def test_a_data_error_fails_the_attempt_without_retry(tmp_path, monkeypatch):
    """A run whose eval videos are missing fails at once with the fix, and is not retried."""
    monkeypatch.setenv("DMCGB_DATA_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("DMCGB_OFFLINE", "1")
    manifest = Manifest(
        ("sac",),
        ("dmcgb/CartpoleBalance-train-v0",),
        (1,),
        {"steps": 40, "init_steps": 10, "eval_modes": ["train", "videohard"]},
        preset="cpu-demo",
    )
    run_dir = tmp_path / manifest.cells[0].name
    outcome = sweep_cell.run_attempt(_spec(manifest, manifest.cells[0], run_dir))
    assert outcome["status"] == "failed" and outcome["retry"] is False
    assert outcome["returncode"] == sweep_cell.CONFIG_ERROR
    assert "OfflineError: video_hard" in outcome["error"]  # a MissingData: the benchmark videos
    assert "python -m dmcgb.data fetch video_hard" in outcome["error"]
    assert outcome["log"] == str(tmp_path / "logs" / f"{run_dir.name}.log")
    assert not run_dir.exists()  # the run failed before sgqn.train created its directory


@pytest.mark.parametrize(
    "state, message",
    [("missing", "ConfigError: --overlay-source '{}' does not exist"), ("empty", "no images")],
)
def test_an_overlay_folder_error_fails_the_attempt_without_retry(tmp_path, state, message):
    """A configuration error fails the cell at once, as the README says; a missing overlay
    folder was retried as a crash (a FileNotFoundError traceback, exit status 1)."""
    folder = tmp_path / "overlays"
    if state == "empty":
        folder.mkdir()
    overrides = {"steps": 40, "init_steps": 10, "eval_modes": ["train"]}
    overrides |= {"overlay_source": str(folder), "num_conv_layers": 2, "hidden_dim": 16}
    manifest = Manifest(("svea",), ("dmcgb/CartpoleBalance-train-v0",), (1,), overrides)
    run_dir = tmp_path / manifest.cells[0].name
    outcome = sweep_cell.run_attempt(_spec(manifest, manifest.cells[0], run_dir))
    assert outcome["status"] == "failed" and outcome["retry"] is False, outcome
    assert outcome["returncode"] == sweep_cell.CONFIG_ERROR
    assert message.format(folder) in outcome["error"]


def test_missing_ray_says_how_to_install_it():
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from sgqn.sweep import main\n"
        "sys.exit(main(['--algos', 'sac', '--envs', 'CartpoleBalance', '--seeds', '1', "
        "'--out', 'unused']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2
    assert 'pip install ".[agent,sweep]"' in proc.stderr and "Traceback" not in proc.stderr


def test_bad_arguments_fail_before_ray_starts(tmp_path, capsys):
    from sgqn.sweep import main

    assert main(["--resume", str(tmp_path), "--seeds", "1"]) == 2
    assert "drop the grid flags" in capsys.readouterr().err
    assert main(["--algos", "sac", "--envs", "CartpoleBalance", "--seeds", "1"]) == 2
    assert "needs --out" in capsys.readouterr().err
    assert main(["--resume", str(tmp_path)]) == 2
    assert "not a sweep folder" in capsys.readouterr().err
    write_manifest(tmp_path, Manifest(("sgqn",), ("dmcgb/WalkerWalk-train-v0",), (1,)))
    args = ["--algos", "sac", "--envs", "WalkerWalk", "--seeds", "1", "--out", str(tmp_path)]
    assert main(args) == 2
    assert "holds another sweep" in capsys.readouterr().err
    assert main([*args[:-2], "--set", "stepz=3", "--out", str(tmp_path / "new")]) == 2
    assert "did you mean 'steps'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "grid, message",
    [
        (["--seeds", "-1"], "--seeds must be in [0, 4294967295], actual value: -1"),
        (["--seeds", "1", "--set", "hidden_dim=0"], "--hidden-dim must be >= 1, actual value: 0"),
        (["--seeds", "1", "--set", "image_size=20"], "the encoder needs at least 43 pixels"),
        (["--seeds", "1", "--set", "overlay_source=/no/such/folder"], "does not exist"),
    ],
)
def test_settings_are_checked_by_sgqn_trains_rules_before_ray_starts(
    tmp_path, capsys, monkeypatch, grid, message
):
    """The same checks as sgqn.train's, with --dry-run too, and before Ray is touched."""
    from sgqn.sweep import cluster, main

    def no_ray():
        raise AssertionError("Ray was started before the settings were checked")

    monkeypatch.setattr(cluster, "import_ray", no_ray)
    out = tmp_path / "sweep"
    argv = ["--algos", "svea", "--envs", "CartpoleBalance", *grid, "--out", str(out), "--dry-run"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.strip().count("\n") == 0, err
    assert not out.exists()


# --- real sweeps on a local Ray instance ------------------------------------------------------

_GRID_ENVS = ("CartpoleBalance", "CartpoleSwingup")
_WORKER_KILLED = "CartpoleBalance-sac-s1"  # its Ray worker is SIGKILLed after its checkpoint
_TRAIN_KILLED = "CartpoleSwingup-sac-s1"  # its training process is SIGKILLed likewise


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory):
    """A 2x2 grid (2 tasks x 2 seeds) of tiny runs, two of them killed mid-run."""
    root = tmp_path_factory.mktemp("grid")
    sweep_dir = root / "sweep"
    sweep = _Sweep(
        root,
        *("--algos", "sac", "--envs", *_GRID_ENVS, "--seeds", "1", "2"),
        *("--set", *_TINY, "steps=100", "save_freq=50", "eval_freq=100"),
        *("--out", str(sweep_dir)),
    )
    for name, label, expect in (
        (_WORKER_KILLED, "Ray worker pid", "ray::"),
        (_TRAIN_KILLED, "training process pid", "sgqn.sweep.cell"),
    ):
        run_dir = sweep_dir / name
        sweep.poll_until(lambda d=run_dir: (d / "checkpoint.pt").is_file(), f"{name}'s checkpoint")
        assert not (run_dir / "results.json").exists(), "the run finished before the kill"
        _kill(_pid_in_log(run_dir, label), sweep.sid, expect)
    code = sweep.wait()
    return {
        "dir": sweep_dir,
        "code": code,
        "output": sweep.output(),
        "workers_seen": sweep.workers_seen,
        "training_seen": sweep.training_seen,
    }


def test_a_grid_runs_to_completion_as_ordinary_run_dirs(grid_sweep):
    sweep_dir, output = grid_sweep["dir"], grid_sweep["output"]
    assert grid_sweep["code"] == 0, output
    # Never more runs at once than cores: Ray workers busy with a cell, training processes.
    # (After a killed worker, Ray's pool may briefly hold an extra idle worker.)
    seen = grid_sweep["workers_seen"]
    busy = [sum(w.startswith("ray::sgqn.sweep:") for w in ws) for ws in seen]
    assert 1 <= max(busy) <= _WORKERS, seen
    assert max(grid_sweep["training_seen"]) <= _WORKERS
    manifest = read_manifest(sweep_dir)
    assert (manifest.algos, manifest.seeds, manifest.preset) == (("sac",), (1, 2), "cpu-demo")
    assert manifest.overrides["steps"] == 100 and len(manifest.cells) == 4
    for cell in manifest.cells:
        run_dir = sweep_dir / cell.name
        assert cell_state(run_dir) == "finished"
        record = json.loads((run_dir / "config.json").read_text())
        assert {k: record["config"][k] for k in ("env", "algo", "seed", "steps")} == {
            "env": cell.env,
            "algo": "sac",
            "seed": cell.seed,
            "steps": 100,
        }
        assert load_checkpoint(run_dir / "checkpoint.pt")["step"] == 100
        # nothing of the sweep's in the run directory: its log and lock are in logs/
        assert not {"train.log", ".lock"} & {p.name for p in run_dir.iterdir()}
        assert log_path(run_dir) == sweep_dir / "logs" / f"{cell.name}.log"
        assert [r["step"] for r in _results(run_dir)] == [100]
    summary = [ln for ln in output.splitlines() if ln.startswith("sweep summary:")]
    assert len(summary) == 1 and "4/4 cells finished" in summary[0], output
    assert "2 retries" in summary[0] and f"next: python -m sgqn.report {sweep_dir}" in output
    # the live line (one line a minute when not on a terminal) came at least once
    assert re.search(r"sweep: \d/4 done \| \d running \| 0 failed \| \d queued", output)


def test_a_killed_run_retries_from_its_checkpoint_and_matches_an_uninterrupted_run(
    grid_sweep, tmp_path
):
    sweep_dir = grid_sweep["dir"]
    sweep_log = (sweep_dir / "sweep.log").read_text()
    assert f"attempt 1 of {_WORKER_KILLED} failed: WorkerCrashedError" in sweep_log
    assert f"attempt 1 of {_TRAIN_KILLED} failed on" in sweep_log
    assert "the training process was killed by SIGKILL" in sweep_log
    for name in (_WORKER_KILLED, _TRAIN_KILLED):
        run_dir = sweep_dir / name
        assert _starts(run_dir) == ["starting the run afresh", "resuming"]
        record = json.loads((run_dir / "config.json").read_text())
        (resumed_at,) = [r["at_step"] for r in record["resumed"]]
        if name == _TRAIN_KILLED:
            assert resumed_at == 50  # SIGKILL: its periodic checkpoint
        else:  # the dying worker's SIGTERM (PR_SET_PDEATHSIG) lets the run checkpoint itself
            assert 50 <= resumed_at < 100
    for name in ("CartpoleBalance-sac-s2", "CartpoleSwingup-sac-s2"):
        assert _starts(sweep_dir / name) == ["starting the run afresh"]

    # The same cell trained straight through, in this process.
    manifest = read_manifest(sweep_dir)
    cell = next(c for c in manifest.cells if c.name == _WORKER_KILLED)
    straight = tmp_path / "straight"
    cfg = dataclasses.replace(manifest.config(cell, straight), device="cpu")
    train.main(cfg, progress=False, eval_workers=1)
    killed = sweep_dir / _WORKER_KILLED
    assert _results(killed) == _results(straight)
    a = load_checkpoint(straight / "checkpoint.pt")["agent"]
    b = load_checkpoint(killed / "checkpoint.pt")["agent"]
    for name in ("critic", "actor", "critic_target"):
        for key in a[name]:
            torch.testing.assert_close(a[name][key], b[name][key], rtol=0, atol=0)


def test_the_report_reads_the_sweep_folder(grid_sweep, tmp_path):
    sweep_dir = grid_sweep["dir"]
    proc = subprocess.run(
        [sys.executable, "-m", "sgqn.report", str(sweep_dir), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    for task in _GRID_ENVS:
        # each seed's score: its mean return over the evaluation episodes; then mean ± std
        scores = []
        for seed in (1, 2):
            (train_result,) = _results(sweep_dir / f"{task}-sac-s{seed}")
            returns = train_result["returns"]
            scores.append(sum(returns) / len(returns))
        mean = sum(scores) / 2
        std = math.sqrt(sum((s - mean) ** 2 for s in scores) / 2)
        assert task in proc.stdout and f"{mean:.0f} ± {std:.0f}" in proc.stdout, proc.stdout


def test_a_run_stopped_after_its_final_checkpoint_finishes_on_resume(grid_sweep, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(grid_sweep["dir"] / "CartpoleBalance-sac-s2", run_dir)
    expected = _results(run_dir)
    (run_dir / "results.json").unlink()  # as after a kill between the two writes
    manifest = read_manifest(grid_sweep["dir"])
    spec = _spec(manifest, manifest.cells[2], run_dir)
    assert sweep_cell.run_attempt(spec)["status"] == "finished"
    assert _results(run_dir) == expected


def test_resume_after_a_crash_and_a_ctrl_c_runs_only_the_unfinished_cells(tmp_path):
    sweep_dir = tmp_path / "sweep"
    tiny = [*_TINY, "steps=200", "save_freq=100", "eval_freq=200"]
    s1, s2, s3 = (sweep_dir / f"CartpoleBalance-sac-s{s}" for s in (1, 2, 3))

    # 1. One run at a time; SIGKILL the whole sweep once s1 is done and s2 has a checkpoint.
    sweep = _Sweep(
        tmp_path,
        *("--algos", "sac", "--envs", "CartpoleBalance", "--seeds", "1", "2", "3"),
        *("--set", *tiny, "--out", str(sweep_dir), "--max-concurrent", "1"),
    )
    sweep.poll_until(lambda: (s2 / "checkpoint.pt").is_file(), "s2's checkpoint")
    sweep.kill()
    _assert_session_gone(sweep.sid)
    states = [cell_state(d) for d in (s1, s2, s3)]
    assert states == ["finished", "checkpointed", "new"], sweep.output()
    assert not s3.exists()
    s1_results = (s1 / "results.json").read_bytes()
    s1_mtime = (s1 / "results.json").stat().st_mtime_ns

    # 2. Resume, one run at a time (s2, then s3); Ctrl-C once s3 has logged its first episode
    # (before its first checkpoint).
    sweep = _Sweep(tmp_path, "--resume", str(sweep_dir), "--max-concurrent", "1")
    sweep.poll_until(lambda: cell_step(s3) > 0, "s3's first episode")
    assert cell_state(s2) == "finished"
    sweep.interrupt()
    assert sweep.wait() == 130
    output = sweep.output()
    assert "stopping:" in output and "continue with: python -m sgqn.sweep --resume" in output
    step = load_checkpoint(s3 / "checkpoint.pt")["step"]
    assert 50 <= step < 100, "s3's checkpoint must come from the stop (periodic ones are at 100)"

    # 3. Resume again, on a Ray cluster started apart (--address): everything finishes; s1 was
    # never touched again.
    with _ray_cluster(tmp_path) as address:
        sweep = _Sweep(tmp_path, "--resume", str(sweep_dir), address=address)
        assert sweep.wait() == 0, sweep.output()
    assert "at once on the cluster" in sweep.output()
    assert all(cell_state(d) == "finished" for d in (s1, s2, s3))
    assert (s1 / "results.json").read_bytes() == s1_results
    assert (s1 / "results.json").stat().st_mtime_ns == s1_mtime
    assert _starts(s1) == ["starting the run afresh"]
    assert "resumed" not in json.loads((s1 / "config.json").read_text())
    assert _starts(s2) == ["starting the run afresh", "resuming"]
    s2_record = json.loads((s2 / "config.json").read_text())
    assert [r["at_step"] for r in s2_record["resumed"]] == [100]
    assert _starts(s3) == ["starting the run afresh", "resuming"]
    s3_record = json.loads((s3 / "config.json").read_text())
    assert [r["at_step"] for r in s3_record["resumed"]] == [step]
    log = (sweep_dir / "sweep.log").read_text()
    assert [
        ln.split("start: ")[1].split(" |")[0] for ln in log.splitlines() if "start: " in ln
    ] == [
        "3 of 3 cells to run",
        "2 of 3 cells to run",
        "1 of 3 cells to run",
    ]
    assert log.count("finished CartpoleBalance-sac-s1") == 1
