"""The launch form for every architecture and preset of the TRM family (issue 12, item 4), driven with Pilot
against the real config tree and the trainer's validation.

Each preset and arch group is chosen through the form's own selects; the form must show exactly the keys
the chosen architecture takes, with the schema's help, in the schema's sections, and never crash on a config
that names its datasets with TRM's `data_paths` (where `data_path` is None).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from textual.widgets import Select

from hrm_core.config import SECTION_ORDER, schema_fields, section_rank
from hrm_tui.forms.config_tree import ConfigTree, arch_keys_taken, flatten, installed_config_dir
from hrm_tui.screens.launch import LaunchScreen
from hrm_tui.widgets.config_form import FieldRow, SectionTitle
from tests.test_tui_launch import error_text, row, type_into
from tests.tui_launch_helpers import async_test, build_dataset_from_the_form, make_app, settle, wait_for


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # data/ and checkpoints/ are relative to the working directory


async def choose(pilot, screen: LaunchScreen, select_id: str, value: str) -> None:
    screen.query_one(f"#{select_id}", Select).value = value
    await settle(pilot, screen)
    await wait_for(pilot, lambda: screen.model.choices.get("experiment" if select_id == "preset" else "arch") == value,
                   30, f"{select_id} {value}")
    await settle(pilot, screen)


def check_form_matches_the_config(screen: LaunchScreen, tree: ConfigTree) -> None:
    """The rows are the composed config's keys plus the schema's defaulted keys the architecture takes, each
    schema key with its help text, in the schema's section order."""
    model = screen.model
    cfg = model.base
    composed = set(flatten(cfg))
    rows = {r.spec.key: r.spec for r in screen.query(FieldRow)}
    taken = arch_keys_taken(cfg)
    assert taken is not None, OmegaConf.select(cfg, "arch.name")
    arch_rows = {key for key in rows if key.startswith("arch.")}
    assert arch_rows == ({key for key in composed if key.startswith("arch.")}
                         | {f.key for f in schema_fields() if f.key in taken}), model.choices
    assert composed <= set(rows)
    # An arch key's help is the chosen architecture's own (TRM's H_cycles is not HRM's).
    schema = {info.key: info for info in schema_fields(OmegaConf.select(cfg, "arch.name"))}
    for key, spec in rows.items():
        if key in schema:
            assert spec.help == schema[key].help and spec.help, key
            assert spec.section == schema[key].section, key
    titles = [t.section for t in screen.query(SectionTitle)]
    assert titles == sorted(titles, key=section_rank), titles
    assert len(titles) == len(set(titles))


@async_test
async def test_every_preset_and_every_arch_group_through_the_selects(tmp_path: Path):
    tree = ConfigTree.load()
    assert {"trm_arc1", "trm_arc2", "trm_sudoku_mlp", "trm_sudoku_att", "trm_maze", "demo"} <= set(tree.presets)
    assert {"hrm_v1", "trm", "trm_singlez", "trm_hier6", "transformers_baseline", "hrm"} <= set(tree.groups["arch"])
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        preset = screen.query_one("#preset", Select)
        arch = screen.query_one("#arch", Select)
        assert [v for _, v in preset._options if v is not Select.NULL] == tree.presets
        assert [v for _, v in arch._options if v is not Select.NULL] == tree.groups["arch"]
        for name in tree.presets:
            await choose(pilot, screen, "preset", name)
            check_form_matches_the_config(screen, tree)
            # The trainer's verdict is in and attributed: a missing dataset is shown at the key that names it.
            for problem in screen._problems:
                assert problem.key is not None, (name, problem)
            if name.startswith("trm_"):
                assert screen.model.value("data_path") is None and screen.model.value("data_paths")
                assert "data_paths" in {p.key for p in screen._problems}, name
                assert screen.preview.plan is not None  # the command is built: names from data_paths
                project = Path(screen.preview.plan.run_dir).parent.name
                assert project.endswith("-ACT-torch") and project != "None-ACT-torch", project
        await choose(pilot, screen, "preset", "demo")
        for name in tree.groups["arch"]:
            await choose(pilot, screen, "arch", name)
            check_form_matches_the_config(screen, tree)
            assert screen.model.overrides()[:2] == ["+experiment=demo"] + ([] if name == "hrm_v1" else [f"arch={name}"])
            assert not screen._problems, (name, screen._problems)  # every arch group trains on the demo set
            assert screen.preview.launchable


@async_test
async def test_the_form_shows_only_the_keys_of_the_chosen_architecture(tmp_path: Path):
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        keys = {r.spec.key for r in screen.query(FieldRow)}
        assert {"arch.mlp_t", "arch.puzzle_emb_len", "arch.no_ACT_continue", "arch.act_enabled"}.isdisjoint(keys)

        await choose(pilot, screen, "arch", "trm")
        mlp_t = row(screen, "arch.mlp_t")
        assert "MLP across positions" in mlp_t.spec.help and mlp_t.spec.section == "arch"
        mlp_t.editor.focus()
        await pilot.press("space")
        await settle(pilot, screen)
        assert screen.model.overrides() == ["+experiment=demo", "arch=trm", "arch.mlp_t=true"]

        # hrm_v1 takes no mlp_t: the row goes, and so does its value from the overrides and the command.
        await choose(pilot, screen, "arch", "hrm_v1")
        assert "arch.mlp_t" not in {r.spec.key for r in screen.query(FieldRow)}
        assert screen.model.overrides() == ["+experiment=demo"]
        assert "mlp_t" not in " ".join(screen.preview.plan.argv)
        assert not screen._problems and screen.preview.launchable

        # Back to an architecture that takes it: the value set aside comes back.
        await choose(pilot, screen, "arch", "trm_singlez")
        assert screen.model.overrides() == ["+experiment=demo", "arch=trm_singlez", "arch.mlp_t=true"]
        assert row(screen, "arch.mlp_t").editor.value is True


@async_test
async def test_a_trm_preset_offers_to_build_the_folder_of_data_paths(tmp_path: Path):
    """The reported crash: `data_path` is None for a `data_paths` config (validate and ctrl+b used it)."""
    app = make_app(tmp_path, preset="trm_sudoku_mlp")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        assert "data/sudoku-extreme-1k-aug-1000" in error_text(screen, "data_paths")
        await type_into(pilot, screen, "data_paths", "[data/demo-mine]")
        assert "data/demo-mine" in error_text(screen, "data_paths")
        assert screen.check_action("build_dataset", ()) is True
        await build_dataset_from_the_form(pilot, app, "data/demo-mine", tmp_path)
        await pilot.press("escape")
        await settle(pilot, screen)
        assert error_text(screen, "data_paths") == ""
        project, _, checkpoint = screen.run_names()
        assert project == "Demo-mine-ACT-torch"  # TRM's naming for a data_paths config
        assert Path(checkpoint).parent.name == project


@async_test
async def test_an_arch_group_of_a_config_dir_shows_its_own_keys_and_defaults(tmp_path: Path):
    """A user's arch group: a key the schema does not know still shows (in the arch section, with the
    group's default, the trainer's objection at it), and its preset is offered."""
    config_dir = tmp_path / "my-configs"
    (config_dir / "arch").mkdir(parents=True)
    (config_dir / "experiment").mkdir()
    text = (installed_config_dir() / "arch" / "trm.yaml").read_text()
    (config_dir / "arch" / "my_trm.yaml").write_text(text + "my_knob: 7  # my own key\n")
    shutil.copy(installed_config_dir() / "experiment" / "demo.yaml", config_dir / "experiment" / "my_demo.yaml")
    app = make_app(tmp_path, config_tree=ConfigTree.load(config_dir), preset="my_demo")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        assert "my_demo" in [v for _, v in screen.query_one("#preset", Select)._options]
        await choose(pilot, screen, "arch", "my_trm")
        knob = row(screen, "arch.my_knob")
        assert knob.spec.default == 7 and knob.spec.section == "arch" and knob.spec.help == ""
        assert knob.editor.value == "7"
        assert "my_knob" in error_text(screen, "arch.my_knob")
        assert row(screen, "arch.no_ACT_continue").spec.default is True  # the group's own default


def test_the_schema_gives_every_key_a_section_of_the_section_order():
    infos = list(schema_fields())
    assert {info.section for info in infos} == set(SECTION_ORDER)
    by_key = {info.key: info.section for info in infos}
    assert by_key["lr"] == "Optimizer" and by_key["data_paths"] == "Data" and by_key["arch.hidden_size"] == "arch"
    assert by_key["arch.loss.loss_type"] == "arch.loss" and by_key["min_eval_interval"] == "Schedule"
