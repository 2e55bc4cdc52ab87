"""Shared test helpers: where the reference fixtures live, and a tiny arch for fast model tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

REPO_ROOT = Path(__file__).resolve().parents[1]


def fixtures_dir() -> Path:
    """tests/fixtures (recorded from the originals by tools/record_reference_fixtures.py); HRM_FIXTURES overrides,
    e.g. to hold the code to a recording made on another machine."""
    override = os.environ.get("HRM_FIXTURES")
    return Path(override) if override else REPO_ROOT / "tests" / "fixtures"


def fixture_file(name: str) -> Path:
    path = fixtures_dir() / name
    if not path.exists():
        pytest.fail(f"reference fixture {path} is missing: re-record it with tools/record_reference_fixtures.py "
                    f"(tests/fixtures/README.md)")
    return path


@pytest.fixture(scope="session")
def reference_fixture_path() -> Path:
    return fixture_file("hrm_reference_tiny.pt")


TINY_ARCH = dict(
    name="hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1",
    loss=dict(name="losses@ACTLossHead", loss_type="stablemax_cross_entropy"),
    halt_exploration_prob=0.1,
    halt_max_steps=4,
    H_cycles=2,
    L_cycles=2,
    H_layers=1,
    L_layers=1,
    hidden_size=32,
    num_heads=2,
    expansion=2,
    puzzle_emb_ndim=32,
    pos_encodings="rope",
)


@pytest.fixture(scope="session", autouse=True)
def session_state_home(tmp_path_factory: pytest.TempPathFactory):
    """The XDG state directory of the whole session (and so of module- and session-scoped fixtures, which run
    before any test's own): no test and no fixture ever reads or writes the real per-user index of runs
    (~/.local/state/hrm/runs) or crash logs. Subprocesses inherit it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("session-state-home")))
        yield


@pytest.fixture(autouse=True)
def private_state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own XDG state directory, so that no test sees another's runs in the index."""
    state_home = tmp_path_factory.mktemp("state-home")
    monkeypatch.setenv("XDG_STATE_HOME", str(state_home))
    return state_home


def shared_across_workers(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """The folder `name`, made once per test session by `make(folder)` however many pytest-xdist workers ask
    for it: the first one makes it under a file lock, the others wait and reuse it. The tests that use it
    must only read it (copy it before changing anything)."""
    own = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base folder is <session folder>/<worker>; without it there is one process.
    root = own.parent if os.environ.get("PYTEST_XDIST_WORKER") else own
    folder, done = root / "shared" / name, root / "shared" / f"{name}.done"
    folder.parent.mkdir(exist_ok=True)
    with FileLock(str(root / "shared" / f"{name}.lock")):
        if not done.exists():
            if folder.exists():  # a worker failed half-way: start again
                shutil.rmtree(folder)
            make(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny puzzle dataset of tests/training_helpers.py, written once for the session (modules that
    define their own `tiny_data` use theirs)."""
    from tests.training_helpers import write_tiny_dataset

    return shared_across_workers(tmp_path_factory, "tiny-data", lambda folder: write_tiny_dataset(folder / "tiny")) / "tiny"


@pytest.fixture(scope="session")
def finished_tiny_run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of the tiny model on `tiny_data` (22 steps, a checkpoint at each of its two evaluations,
    step_11 and step_22), trained once for the whole session; tests copy it before touching it."""
    from tests.training_helpers import pretrain_argv, run_trainer, tiny_overrides

    def train(folder: Path) -> None:
        result = run_trainer(pretrain_argv(tiny_overrides(tiny_data, folder / "run", epochs=4, eval_interval=2)))
        assert result.returncode == 0, result.stderr[-3000:]

    return shared_across_workers(tmp_path_factory, "finished-tiny-run", train) / "run"


@pytest.fixture(scope="session")
def finished_demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of the tiny model on the demo's 4x4 Sudoku (built beside it, `demo-sudoku-4x4/`): one
    epoch, a checkpoint at its end, trained once for the whole session; tests copy it before touching it."""
    from hrm_core.data.demo import build_demo_dataset
    from tests.training_helpers import TINY_ARCH, pretrain_argv, run_trainer

    def train(folder: Path) -> None:
        data_path = build_demo_dataset(folder / "demo-sudoku-4x4")
        overrides = [f"data_path={data_path}", f"checkpoint_path={folder / 'run'}", *TINY_ARCH,
                     "global_batch_size=64", "epochs=1", "eval_interval=1", "lr=1e-3", "lr_warmup_steps=2"]
        result = run_trainer(pretrain_argv(overrides), timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]

    return shared_across_workers(tmp_path_factory, "finished-demo-run", train) / "run"


@pytest.fixture(scope="session")
def finished_arc_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of the tiny model on a 3-task ARC-format dataset (tests/test_evaluate.py's writer, built
    beside it, `arc-tiny/`): 7 steps, a checkpoint at the end; trained once for the whole session."""
    from tests.test_evaluate import write_tiny_arc_dataset
    from tests.training_helpers import TINY_ARCH, pretrain_argv, run_trainer

    def train(folder: Path) -> None:
        data_path = folder / "arc-tiny"
        write_tiny_arc_dataset(data_path)
        overrides = [f"data_path={data_path}", f"checkpoint_path={folder / 'run'}", *TINY_ARCH, "global_batch_size=8",
                     "epochs=10", "eval_interval=10", "lr=1e-3", "puzzle_emb_lr=1e-2", "lr_warmup_steps=2",
                     "evaluators=[]"]
        result = run_trainer(pretrain_argv(overrides), timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]

    return shared_across_workers(tmp_path_factory, "finished-arc-run", train) / "run"


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A real two-node SLURM cluster (tests/slurm_cluster.py), one per pytest-xdist worker, stopped by the pids
    it started. The tests that use it skip, saying why, only where SLURM's packages are not installed; in CI
    (`CI` set) a missing package fails them instead, since `.ci/run` installs them."""
    from tests.slurm_cluster import missing_programs, start_cluster

    missing = missing_programs()
    if missing:
        message = (f"SLURM is not installed here (missing: {', '.join(missing)}); "
                   "`apt-get install slurmctld slurmd slurm-client munge` runs these tests")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    cluster = start_cluster(tmp_path_factory.mktemp("slurm"))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SLURM_CONF", str(cluster.conf))
            yield cluster
    finally:
        cluster.stop()
