"""The launch form's SLURM target, driven with Pilot: choosing it, the profile's fields with their validation,
the batch script in the command preview, saving a profile and choosing it again. Nothing is submitted here
(test_slurm_form_submit.py submits to the real test cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static, TextArea

from hrm_tui.cluster.profile import ClusterProfile, load_profiles, save_profile
from hrm_tui.launch_plan import LaunchOptions
from tests.tui_launch_helpers import async_test, make_app, settle


@pytest.fixture(autouse=True)
def private_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The profiles file of these tests: $XDG_CONFIG_HOME/hrm/clusters.toml in tmp."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "hrm" / "clusters.toml"


async def choose_slurm(pilot, screen) -> None:
    screen.query_one("#opt-target", Select).value = "slurm"
    await settle(pilot, screen)


async def type_option(pilot, screen, editor_id: str, text: str) -> None:
    screen.query_one(f"#{editor_id}").focus()
    await pilot.press("ctrl+u", *text) if text else await pilot.press("ctrl+u")
    await settle(pilot, screen)


def shown(screen, selector: str) -> bool:
    """Whether the editor's option line is displayed."""
    return screen.query_one(selector).parent.display


def side_panel(screen) -> str:
    return str(screen.query_one("#panel-side .panel-body", Static).render())


@async_test
async def test_the_slurm_target_shows_the_profile_fields_and_the_whole_batch_script(tmp_path: Path):
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(160, 60)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        assert not screen.query_one("#opt-slurm").display and shown(screen, "#opt-nproc")
        await choose_slurm(pilot, screen)
        assert screen.query_one("#opt-slurm").display
        assert not shown(screen, "#opt-nproc") and not shown(screen, "#opt-nnodes")
        await type_option(pilot, screen, "opt-slurm-nodes", "2")
        await type_option(pilot, screen, "opt-slurm-partition", "debug")
        await type_option(pilot, screen, "opt-slurm-time", "0:10:00")
        area = screen.query_one("#opt-slurm-setup-lines", TextArea)
        area.focus()
        await pilot.press(*"module load x", "enter", *"echo ready")
        await settle(pilot, screen)

        preview = screen.preview
        assert preview.launchable and preview.plan.options.slurm is not None
        profile = preview.plan.options.slurm
        assert (profile.nodes, profile.partition, profile.time_limit, profile.setup_lines) == (
            2, "debug", "0:10:00", ("module load x", "echo ready"))
        script = preview.script
        for line in ("#SBATCH --nodes=2", "#SBATCH --partition=debug", "#SBATCH --time=0:10:00", "#SBATCH --requeue",
                     "#SBATCH --signal=TERM@120", "module load x", "--rdzv-backend c10d", "resume=auto"):
            assert line in script, line
        panel = side_panel(screen)
        assert "Batch script" in panel and all(line in panel for line in script.splitlines() if line.strip())
        assert "SLURM 2 node(s)" in preview.options_summary and "partition debug" in preview.options_summary


@async_test
async def test_slurm_fields_are_validated_by_the_profile_and_block_the_launch(tmp_path: Path):
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(160, 60)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        await choose_slurm(pilot, screen)
        await type_option(pilot, screen, "opt-slurm-nodes", "0")
        await type_option(pilot, screen, "opt-slurm-partition", "two words")
        await type_option(pilot, screen, "opt-slurm-mem", "lots")
        errors = str(screen.query_one("#opt-errors", Static).render())
        assert "Nodes: the number of nodes must be at least 1" in errors
        assert "Partition: partition must be one word" in errors
        assert "Memory/node: memory per node is a number" in errors
        assert not screen.preview.launchable and screen.preview.plan is None
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert screen.focused is screen.query_one("#opt-slurm-nodes")  # the first problem's field
        await type_option(pilot, screen, "opt-slurm-nodes", "1")
        await type_option(pilot, screen, "opt-slurm-partition", "debug")
        await type_option(pilot, screen, "opt-slurm-mem", "")
        assert screen.preview.launchable and str(screen.query_one("#opt-errors", Static).render()) == ""


@async_test
async def test_a_saved_profile_is_offered_and_fills_the_fields(tmp_path: Path, private_profiles: Path):
    save_profile(ClusterProfile(name="cpu2", nodes=2, partition="debug", time_limit="5", sbatch_lines=("--begin=now",)))
    app = make_app(tmp_path, preset="demo")
    async with app.run_test(size=(160, 60)) as pilot:
        screen = app.launch_screen
        await settle(pilot, screen)
        await choose_slurm(pilot, screen)
        screen.query_one("#opt-slurm-profile", Select).value = "cpu2"
        await settle(pilot, screen)
        assert screen.query_one("#opt-slurm-nodes", Input).value == "2"
        assert screen.query_one("#opt-slurm-sbatch-lines", TextArea).text == "--begin=now"
        assert "#SBATCH --begin=now" in screen.preview.script and "profile cpu2" in screen.preview.options_summary

        # Changed and saved under a new name: the file holds both, and the chooser offers it.
        await type_option(pilot, screen, "opt-slurm-time", "30")
        await type_option(pilot, screen, "opt-slurm-name", "cpu2-long")
        screen.query_one("#opt-slurm-save").focus()
        await pilot.press("enter")
        await pilot.pause()
        saved = load_profiles(private_profiles)
        assert sorted(saved) == ["cpu2", "cpu2-long"] and saved["cpu2-long"].time_limit == "30"
        assert saved["cpu2-long"].sbatch_lines == ("--begin=now",)
        chooser = screen.query_one("#opt-slurm-profile", Select)
        assert [value for _, value in chooser._options if isinstance(value, str)] == ["cpu2", "cpu2-long"]

        # Without a name nothing is saved, and the notice says which field to fill.
        before = private_profiles.read_text()
        await type_option(pilot, screen, "opt-slurm-name", "")
        screen.query_one("#opt-slurm-save").focus()
        await pilot.press("enter")
        await pilot.pause()
        assert private_profiles.read_text() == before
        assert any("Profile name: type a name" in str(n.message) for n in app._notifications)


def test_the_target_is_recorded_with_the_options_so_clone_and_resume_keep_it():
    options = LaunchOptions(omp_num_threads=2, slurm=ClusterProfile(nodes=2, partition="debug", setup_lines=("a",)))
    assert LaunchOptions.from_json(options.to_json()) == options
    assert LaunchOptions.from_json(LaunchOptions().to_json()).slurm is None
    with pytest.raises(ValueError, match="slurm: nodes"):
        LaunchOptions.from_json({**options.to_json(), "slurm": {"nodes": "many"}})
