"""The launch form, driven with Textual's Pilot against the real config tree and the trainer's validation.

No process is started here (see test_tui_launch_process.py and test_tui_launch_runs.py for that): each test
checks what the form shows and what command it would run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from textual.widgets import Input, Select, SelectionList, Static

from hrm_core.config import schema_fields
from hrm_tui.forms.config_tree import ConfigTree, arch_keys_taken, flatten
from hrm_tui.messages import CloneRun
from hrm_tui.runs.launcher import RunRecipe
from hrm_tui.system.gpus import GpuInfo, GpuScan, list_gpus
from hrm_tui.screens.launch import LaunchScreen
from hrm_tui.widgets.config_form import FieldRow, SectionTitle
from tests.tui_launch_helpers import async_test, build_dataset_from_the_form, make_app, make_fixture_runs, settle, wait_for

async def type_into(pilot, screen: LaunchScreen, key: str, text: str) -> None:
    field = screen.query_one(f"#field-{key.replace('.', '--')}", Input)
    field.focus()
    await pilot.press("ctrl+u", *text)
    await settle(pilot, screen)


def row(screen: LaunchScreen, key: str) -> FieldRow:
    return screen.query_one(f"#row-{key.replace('.', '--')}", FieldRow)


def error_text(screen: LaunchScreen, key: str) -> str:
    """The message shown under a field ("" when it shows none)."""
    field_row = row(screen, key)
    return str(field_row.query_one(".field-error", Static).render()) if field_row.has_class("-error") else ""


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # data/ and checkpoints/ are relative to the working directory


@async_test
async def test_form_loads_the_real_config_tree(tmp_path: Path):
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        tree = ConfigTree.load()
        composed = flatten(tree.compose([]))
        rows = {r.spec.key for r in screen.query(FieldRow)}
        # Every key of the composed config, and every schema key that has a default (of the arch keys, those
        # hrm_v1 takes), has a row.
        assert set(composed) <= rows
        taken = arch_keys_taken(arch_name="hrm_act_v1")
        assert {f.key for f in schema_fields() if f.default is not dataclasses.MISSING
                and (not f.key.startswith("arch.") or f.key in taken)} <= rows
        assert "arch.mlp_t" not in rows  # a TRM key
        assert "log_interval" in rows and "arch.loss.loss_type" in rows
        sections = [t.section for t in screen.query(SectionTitle)]
        assert sections[:4] == ["Data", "Schedule", "Optimizer", "Puzzle embedding"]
        assert "arch" in sections and "arch.loss" in sections
        # Groups: every preset and arch option of the tree is offered.
        preset = screen.query_one("#preset", Select)
        assert [value for _, value in preset._options if value is not Select.NULL] == tree.presets
        assert {"demo", "sudoku_extreme_1k", "arc_2"} <= set(tree.presets)
        # Help text comes from the schema.
        assert "learning rate" in row(screen, "lr").spec.help
        # Editors follow the type: a select for loss_type, a switch for bools.
        assert isinstance(row(screen, "arch.loss.loss_type").editor, Select)
        assert row(screen, "checkpoint_every_eval").editor.__class__.__name__ == "CompactSwitch"


@async_test
async def test_editing_lr_and_hidden_size_gives_exactly_those_overrides(tmp_path: Path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        assert screen.model.overrides() == []
        await type_into(pilot, screen, "lr", "7e-5")
        await type_into(pilot, screen, "arch.hidden_size", "256")
        assert screen.model.overrides() == ["lr=7e-5", "arch.hidden_size=256"]
        assert row(screen, "lr").has_class("-edited") and row(screen, "arch.hidden_size").has_class("-edited")
        assert not row(screen, "beta1").has_class("-edited")
        plan = screen.plan()
        assert plan.argv[1:5] == ["-m", "hrm_core.pretrain", "lr=7e-5", "arch.hidden_size=256"]
        panel = str(screen.query_one("#panel-bottom .panel-body", Static).render())
        assert "Overrides lr=7e-5 arch.hidden_size=256" in panel
        # Typing the default back removes the override and the mark.
        await type_into(pilot, screen, "lr", "0.0001")
        assert screen.model.overrides() == ["arch.hidden_size=256"]
        assert not row(screen, "lr").has_class("-edited")


@async_test
async def test_an_interpolation_stays_one(tmp_path: Path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        ndim = row(screen, "arch.puzzle_emb_ndim")
        assert ndim.editor.value == "${.hidden_size}"
        assert str(ndim.query_one(".field-note", Static).render()) == "= 512"
        await type_into(pilot, screen, "arch.hidden_size", "256")
        # The resolved value follows the edit; the interpolation itself is not overridden.
        assert str(ndim.query_one(".field-note", Static).render()) == "= 256"
        assert screen.model.overrides() == ["arch.hidden_size=256"]
        cfg = screen.config_tree.compose(screen.plan().overrides)
        assert OmegaConf.is_interpolation(cfg.arch, "puzzle_emb_ndim")
        assert cfg.arch.puzzle_emb_ndim == 256
        # Overriding it with a number makes it a plain value; ctrl+r brings the interpolation back.
        await type_into(pilot, screen, "arch.puzzle_emb_ndim", "32")
        assert screen.model.overrides() == ["arch.hidden_size=256", "arch.puzzle_emb_ndim=32"]
        await pilot.press("ctrl+r")
        await settle(pilot, screen)
        assert ndim.editor.value == "${.hidden_size}"
        assert screen.model.overrides() == ["arch.hidden_size=256"]


@async_test
async def test_a_bad_value_blocks_launch_with_a_message_at_the_field(tmp_path: Path):
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        assert screen.preview.status == "✓ ready to launch (ctrl+l)" and screen.preview.launchable

        # A wrong type is caught as it is typed.
        await type_into(pilot, screen, "lr", "fast")
        assert "expected a number" in error_text(screen, "lr")
        assert screen.query_one("#field-lr", Input).has_class("-invalid")
        await pilot.press("ctrl+l")
        await settle(pilot, screen)
        assert not (tmp_path / "checkpoints").exists()

        # A value of the right type that the trainer rejects is shown at its field too.
        await type_into(pilot, screen, "lr", "1e-3")
        assert error_text(screen, "lr") == ""
        await type_into(pilot, screen, "eval_interval", "7")
        assert "does not divide epochs" in error_text(screen, "eval_interval")
        await pilot.press("ctrl+l")
        await settle(pilot, screen)
        assert not (tmp_path / "checkpoints").exists()
        assert screen.focused is row(screen, "eval_interval").editor
        assert not screen.preview.launchable and screen.preview.status.startswith("✗ eval_interval")


@async_test
async def test_an_unknown_override_is_reported_at_its_key(tmp_path: Path):
    app = make_app(tmp_path, overrides=["+experiment=demo", "lrr=1"])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        assert screen.model.overrides() == ["+experiment=demo", "+lrr=1"]
        problem = screen._problems[0]
        assert "lrr" in problem.message


@async_test
async def test_a_missing_dataset_offers_its_builder(tmp_path: Path):
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        assert screen.check_action("build_dataset", ()) is False  # the demo set builds itself
        await type_into(pilot, screen, "data_path", "data/demo-mine")
        assert "data/demo-mine" in error_text(screen, "data_path")
        assert screen.check_action("build_dataset", ()) is True
        await build_dataset_from_the_form(pilot, app, "data/demo-mine", tmp_path)
        assert (tmp_path / "data/demo-mine/train/dataset.json").is_file()
        await pilot.press("escape")
        await settle(pilot, screen)
        assert error_text(screen, "data_path") == ""
        assert screen.preview.launchable


@async_test
async def test_search_reset_switch_select_and_preset(tmp_path: Path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)

        await pilot.press("ctrl+f", "l", "r")
        shown = sorted(r.spec.key for r in screen.query(FieldRow) if r.display)
        assert shown == ["lr", "lr_min_ratio", "lr_warmup_steps", "puzzle_emb_lr"]
        await pilot.press("enter")  # to the first match
        assert isinstance(screen.focused, Input) and screen.focused.id == "field-lr_min_ratio"
        await pilot.press("escape")  # clears the search, keeps the field
        assert all(r.display for r in screen.query(FieldRow))

        ema = row(screen, "ema").editor
        ema.focus()
        await pilot.press("space")
        loss = row(screen, "arch.loss.loss_type").editor
        loss.value = "softmax_cross_entropy"
        await settle(pilot, screen)
        assert screen.model.overrides() == ["+ema=true", "arch.loss.loss_type=softmax_cross_entropy"]

        ema.focus()
        await pilot.press("ctrl+r")
        await settle(pilot, screen)
        assert screen.model.overrides() == ["arch.loss.loss_type=softmax_cross_entropy"]

        # Another preset: its defaults fill the form, the user's edit stays.
        screen.query_one("#preset", Select).value = "sudoku_extreme_1k"
        await settle(pilot, screen)
        assert screen.model.overrides() == ["+experiment=sudoku_extreme_1k", "arch.loss.loss_type=softmax_cross_entropy"]
        assert row(screen, "data_path").editor.value == "data/sudoku-extreme-1k-aug-1000"


@async_test
async def test_list_editor(tmp_path: Path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        screen.query_one("#field-eval_save_outputs", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ListEditorScreen"
        await pilot.press("ctrl+n", *"inputs", "enter", *"labels", "ctrl+s")
        await settle(pilot, screen)
        assert screen.model.overrides() == ["+eval_save_outputs=[inputs,labels]"]


@async_test
async def test_a_hostile_value_stays_one_quoted_argument(tmp_path: Path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        await type_into(pilot, screen, "run_name", "x; rm -rf ~")
        plan = screen.plan()
        assert "+run_name='x; rm -rf ~'" in plan.argv  # one argv item, quoted for Hydra
        assert plan.run_dir == tmp_path / "checkpoints" / "Arc-aug-1000 ACT-torch" / "x; rm -rf ~"


@async_test
async def test_launch_options_shape_the_command(tmp_path: Path):
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        for field, text in (("#opt-nproc", "2"), ("#opt-omp", "4")):
            screen.query_one(field, Input).focus()
            await pilot.press("ctrl+u", *text)
        compile_switch = screen.query_one("#opt-compile")
        compile_switch.focus()
        await pilot.press("space")
        await settle(pilot, screen)
        command = screen.plan().command_line()
        assert command.startswith("PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4 DISABLE_COMPILE=1 ")
        assert " --standalone --nproc-per-node 2 -m hrm_core.pretrain +experiment=demo " in command

        screen.query_one("#opt-nnodes", Input).focus()
        await pilot.press("ctrl+u", "2")
        await settle(pilot, screen)
        assert not screen.preview.launchable  # no rendezvous endpoint yet
        screen.query_one("#opt-rdzv", Input).focus()
        await pilot.press(*"node0:29500")
        await settle(pilot, screen)
        plan = screen.plan()
        assert "--nnodes 2 --nproc-per-node 2 --rdzv-backend c10d --rdzv-endpoint node0:29500 --rdzv-id " in plan.command_line()
        assert [rank for rank, _ in plan.other_nodes] == [1]
        side = str(screen.query_one("#panel-side .panel-body", Static).render())
        assert "On node 1" in side and "--rdzv-backend c10d --rdzv-endpoint node0:29500" in side


@async_test
async def test_clone_fills_the_form_without_the_run_identity(tmp_path: Path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        overrides = ["+experiment=demo", "lr=7e-5", "+run_name='old run'", "+checkpoint_path=somewhere", "+resume=auto"]
        app.post_message(CloneRun(RunRecipe(overrides, options=None, config_dir=None)))
        await pilot.pause()
        await settle(pilot, screen)
        assert screen.model.overrides() == ["+experiment=demo", "lr=7e-5"]  # as it was written
        assert screen.query_one("#field-lr", Input).value == "7e-5"
        assert screen.query_one("#preset", Select).value == "demo"


@async_test
async def test_clone_from_the_runs_screen(tmp_path: Path):
    make_fixture_runs(tmp_path / "checkpoints")
    app = make_app(tmp_path, start_mode="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.runs_screen is not None and len(app.runs_screen.table.summaries) == 6, 20, "the runs")
        assert app.runs_screen.table.selected.path.name.endswith("swift-seal")  # newest first
        await pilot.press("c")
        await wait_for(pilot, lambda: app.launch_screen is not None and app.launch_screen.model is not None, 20, "the form")
        await settle(pilot, app.launch_screen)
        assert app.launch_screen.model.overrides() == ["+experiment=demo", "arch.hidden_size=128"]


@async_test
async def test_gpus_from_nvml_become_cuda_visible_devices(tmp_path: Path):
    gpus = [GpuInfo(0, "NVIDIA H100 80GB HBM3", 81559, 1200, 97), GpuInfo(1, "NVIDIA H100 80GB HBM3", 81559, 80100, 0)]
    app = make_app(tmp_path, preset="demo", gpu_scan=GpuScan(gpus))
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        selection = screen.query_one("#opt-gpus", SelectionList)
        assert "1  NVIDIA H100 80GB HBM3  78.2/79.6 GiB free  0% busy" in str(selection.get_option_at_index(1).prompt)
        assert "CUDA_VISIBLE_DEVICES" not in screen.plan().env  # nothing ticked: leave it alone
        selection.select(1)
        await settle(pilot, screen)
        assert screen.plan().env["CUDA_VISIBLE_DEVICES"] == "1"
        assert screen.plan().command_line().startswith("PYTHONUNBUFFERED=1 CUDA_VISIBLE_DEVICES=1 ")


def test_the_gpu_scan_never_raises():
    scan = list_gpus()
    assert scan.gpus or scan.message  # a list of GPUs, or one line saying why there is none
