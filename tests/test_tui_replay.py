"""The replay screen (hrm_tui/screens/replay.py) driven with Textual's Pilot, and its snapshots.

The trajectory is a real rollout (`hrm_core.solve.rollout`) of the HRM reference fixture's model on its
recorded batch: 81 cells read as a 9x9 Sudoku, its labels known (so wrong cells are marked).
"""

from __future__ import annotations

from functools import lru_cache

import pytest
import torch

from hrm_core.bench.reference import build_reference_model
from hrm_core.data.format import DatasetMetadata
from hrm_core.solve.rollout import Trajectory, rollout_batch
from hrm_tui.screens.replay import ReplayApp, ReplayScreen, render_step_grid
from tests.conftest import fixture_file
from tests.tui_launch_helpers import async_test

PUZZLE = DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=11, seq_len=81,
                         num_puzzle_identifiers=12, total_groups=1, mean_puzzle_examples=1, sets=["all"],
                         puzzle_kind="sudoku").puzzle_description()


@lru_cache(maxsize=1)
def trajectory() -> Trajectory:
    reference = torch.load(fixture_file("hrm_reference_tiny.pt"), weights_only=True)
    act_model = build_reference_model(reference).eval().model
    batch = {k: v[:1] for k, v in reference["batch"].items() if k != "labels"}
    [steps] = rollout_batch(act_model, batch, 1)
    return Trajectory(inputs=batch["inputs"][0].numpy(), labels=reference["batch"]["labels"][0].numpy(),
                      puzzle_identifier=int(batch["puzzle_identifiers"][0]), steps=steps, cycle_unit="H-cycle")


def app() -> ReplayApp:
    return ReplayApp("reference puzzle 0", trajectory(), PUZZLE)


@async_test
async def test_arrows_home_end_step_through_the_trajectory():
    async with app().run_test(size=(80, 24)) as pilot:
        screen = pilot.app.screen
        assert isinstance(screen, ReplayScreen) and screen.index == 0
        steps = len(trajectory().steps)
        assert f"step 1/{steps}" in str(screen.query_one("#replay-title").render())
        await pilot.press("right", "right")
        assert screen.index == 2 and f"step 3/{steps}" in str(screen.query_one("#replay-title").render())
        await pilot.press("left")
        assert screen.index == 1
        await pilot.press("end")
        assert screen.index == steps - 1
        await pilot.press("right")  # past the end: stays on the last step
        assert screen.index == steps - 1
        await pilot.press("home")
        assert screen.index == 0


@async_test
async def test_space_plays_to_the_last_step_and_pauses_there():
    async with app().run_test(size=(80, 24)) as pilot:
        screen = pilot.app.screen
        await pilot.press("space")
        assert screen.playing
        await pilot.pause(0.6 * (len(trajectory().steps) + 1))
        assert screen.index == len(trajectory().steps) - 1 and not screen.playing
        await pilot.press("q")
    assert pilot.app.return_code == 0


def test_changed_and_wrong_cells_are_styled():
    traj = trajectory()
    grid = render_step_grid(traj, 1, PUZZLE)
    changed = set(traj.steps[1].changed.tolist())
    styles = [span.style for span in grid.spans]
    assert len(styles) == 81
    highlighted = {cell for cell, style in enumerate(styles) if style.bgcolor is not None}
    assert highlighted == changed
    marked = {cell for cell, style in enumerate(styles) if style.underline}
    wrong = {cell for cell in range(81) if traj.labels[cell] >= 0 and traj.steps[1].prediction[cell] != traj.labels[cell]}
    assert marked == wrong and wrong


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_replay_snapshot(snap_compare, size):
    assert snap_compare(app(), terminal_size=size, press=["right"])


def test_hrm_tui_solve_reports_a_bad_checkpoint_in_one_line(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "hrm_tui", "solve", str(tmp_path / "nope")], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == f"hrm-tui: checkpoint {tmp_path / 'nope'} does not exist\n"
