"""Shared test helpers: where the reference fixtures live, and a tiny arch for fast model tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_fixtures_dir() -> Path:
    """`../shared/fixtures` beside the checkout (CI lays shared/ next to the clone); HRM_FIXTURES overrides."""
    override = os.environ.get("HRM_FIXTURES")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def reference_fixture_path() -> Path:
    path = shared_fixtures_dir() / "hrm_reference_tiny.pt"
    if not path.exists():
        pytest.fail(f"reference fixture {path} is missing: CI must lay shared/ beside the checkout "
                    f"(or set HRM_FIXTURES to its fixtures folder)")
    return path


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
