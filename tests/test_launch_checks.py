"""One check for what a launch decides (issue 19, item 16): the form, `hrm-tui launch` and the trainer refuse
a global batch the processes cannot share and wandb=true where wandb cannot be imported, each naming the key
and the fix. wandb is made really missing for the checked process (`sys.modules["wandb"] = None` before
anything runs: `import wandb` and its lookup both fail there), not by replacing the check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from hrm_tui.screens.launch import LaunchScreen
from hrm_tui.widgets.config_form import FieldRow
from tests.tui_launch_helpers import async_test, make_app, settle

BATCH_REFUSAL = "global_batch_size=33 is not divisible by the 2 processes"
BATCH_FIX = "global_batch_size=32 or global_batch_size=34"
WANDB_REFUSAL = "wandb=true but the wandb package is not installed"
# Runs a module's main() with wandb unimportable in that process.
WITHOUT_WANDB = "import sys; sys.modules['wandb'] = None; from {module} import main; sys.exit(main(sys.argv[1:]))"


def run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env={**os.environ, "TZ": "UTC", **env}, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("processes", [["--nproc-per-node", "2"], ["--nnodes", "2", "--rdzv-endpoint", "n0:29500"]])
def test_launch_dry_run_refuses_a_batch_the_processes_cannot_share(tmp_path: Path, processes):
    result = run([sys.executable, "-m", "hrm_tui", "launch", "+experiment=demo", "global_batch_size=33", *processes,
                  "--dry-run"], tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert BATCH_REFUSAL in result.stderr and BATCH_FIX in result.stderr and "Traceback" not in result.stderr
    shared = run([sys.executable, "-m", "hrm_tui", "launch", "+experiment=demo", "global_batch_size=34", *processes,
                  "--dry-run"], tmp_path)
    assert shared.returncode == 0, shared.stderr


def test_launch_refuses_wandb_where_it_cannot_be_imported(tmp_path: Path):
    result = run([sys.executable, "-c", WITHOUT_WANDB.format(module="hrm_tui.cli"), "launch", "+experiment=demo",
                  "wandb=true", "--dry-run"], tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert WANDB_REFUSAL in result.stderr and "pip install wandb (or wandb=false)" in result.stderr
    assert "started pid" not in result.stdout and not (tmp_path / "checkpoints").exists()


def test_the_trainer_runs_the_same_check(tmp_path: Path):
    """The trainer reads its world size from torchrun's WORLD_SIZE and refuses before any work (exit 2)."""
    batch = run([sys.executable, "-m", "hrm_core.pretrain", "+experiment=demo", "global_batch_size=33"], tmp_path,
                WORLD_SIZE="2")
    assert batch.returncode == 2 and BATCH_REFUSAL in batch.stderr and BATCH_FIX in batch.stderr, batch.stderr
    wandb = run([sys.executable, "-c", WITHOUT_WANDB.format(module="hrm_core.pretrain"), "+experiment=demo",
                 "wandb=true"], tmp_path)
    assert wandb.returncode == 2 and WANDB_REFUSAL in wandb.stderr, wandb.stderr
    assert not (tmp_path / "checkpoints").exists()


def error_text(screen: LaunchScreen, key: str) -> str:
    row = screen.query_one(f"#row-{key.replace('.', '--')}", FieldRow)
    return str(row.query_one(".field-error", Static).render()) if row.has_class("-error") else ""


@async_test
async def test_the_form_shows_the_launch_checks_at_their_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        field = screen.query_one("#field-global_batch_size", Input)
        field.focus()
        await pilot.press("ctrl+u", *"33")
        await settle(pilot, screen)
        assert error_text(screen, "global_batch_size") == ""  # one process takes any batch
        screen.query_one("#opt-nproc", Input).focus()
        await pilot.press("ctrl+u", "2")
        await settle(pilot, screen)
        assert BATCH_REFUSAL in error_text(screen, "global_batch_size")
        assert not screen.preview.launchable

        monkeypatch.setitem(sys.modules, "wandb", None)  # wandb cannot be imported in this process now
        field.focus()
        await pilot.press("ctrl+u", *"34")
        screen.query_one("#field-wandb").focus()
        await pilot.press("space")
        await settle(pilot, screen)
        assert error_text(screen, "global_batch_size") == ""
        assert WANDB_REFUSAL in error_text(screen, "wandb")
