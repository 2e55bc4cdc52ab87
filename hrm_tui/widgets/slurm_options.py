"""The SLURM target's part of the launch options: a saved-profile chooser, every field of a cluster profile,
and "save as profile" (hrm_tui/cluster/profile.py, docs/clusters.md).

It holds no state of its own: the launch options panel (widgets/launch_options.py) shows its draft in these
editors and takes their changes (the editors' ids are in `SLURM_EDITORS`). Choosing a saved profile and
saving one are messages to the panel, which owns the draft.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from hrm_tui.cluster.profile import ClusterProfile, ProfileError, load_profiles, profiles_file
from hrm_tui.forms.cluster_profile_draft import PROFILE_LABELS, ClusterProfileDraft

# editor id -> the draft's field (`slurm.<field>` in the launch options draft)
SLURM_EDITORS = {
    "opt-slurm-nodes": "slurm.nodes",
    "opt-slurm-gpus": "slurm.gpus_per_node",
    "opt-slurm-nproc": "slurm.nproc_per_node",
    "opt-slurm-cpus": "slurm.cpus_per_node",
    "opt-slurm-mem": "slurm.mem_per_node",
    "opt-slurm-partition": "slurm.partition",
    "opt-slurm-account": "slurm.account",
    "opt-slurm-qos": "slurm.qos",
    "opt-slurm-time": "slurm.time_limit",
    "opt-slurm-job-name": "slurm.job_name",
    "opt-slurm-warning": "slurm.requeue_warning_s",
    "opt-slurm-sbatch-lines": "slurm.sbatch_lines",
    "opt-slurm-setup-lines": "slurm.setup_lines",
    "opt-slurm-name": "slurm.name",
}
LINE_LIST_EDITORS = ("opt-slurm-sbatch-lines", "opt-slurm-setup-lines")  # TextAreas: one entry per line
_NUMBERS = ("opt-slurm-nodes", "opt-slurm-gpus", "opt-slurm-nproc", "opt-slurm-cpus", "opt-slurm-warning")
_PLACEHOLDERS = {
    "opt-slurm-cpus": "cluster default", "opt-slurm-mem": "cluster default, e.g. 64G",
    "opt-slurm-partition": "default partition", "opt-slurm-account": "your default",
    "opt-slurm-qos": "default", "opt-slurm-time": "partition's limit, e.g. 1-00:00:00",
    "opt-slurm-job-name": "the run's name", "opt-slurm-name": "a name to save these fields as",
}


class SlurmOptions(Vertical):
    """The SLURM fields; see the module docstring."""

    class ProfileChosen(Message):
        def __init__(self, profile: ClusterProfile) -> None:
            super().__init__()
            self.profile = profile

    class SaveRequested(Message):
        """The "save as profile" button: the panel saves its draft's profile under the name field's name."""

    def __init__(self, draft: ClusterProfileDraft, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.draft = draft
        self._saved: dict[str, ClusterProfile] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(classes="option-line"):
            yield Label("Saved profile", classes="option-label")
            yield Select[str]([], prompt="(choose one)", compact=True, id="opt-slurm-profile")
        yield Static("", id="opt-slurm-profiles-note", classes="option-note")
        for editor_id, name in SLURM_EDITORS.items():
            if editor_id == "opt-slurm-name":
                continue
            yield from self._line(editor_id, name)
        yield from self._line("opt-slurm-name", SLURM_EDITORS["opt-slurm-name"])
        yield Button("Save as profile", id="opt-slurm-save", compact=True)

    def _line(self, editor_id: str, name: str) -> ComposeResult:
        field = name.removeprefix("slurm.")
        text = getattr(self.draft, field)
        with Horizontal(classes="option-line" + (" option-lines" if editor_id in LINE_LIST_EDITORS else "")):
            yield Label(PROFILE_LABELS[field], classes="option-label")
            if editor_id in LINE_LIST_EDITORS:
                yield TextArea(text, id=editor_id, compact=True, soft_wrap=False, show_line_numbers=False)
            else:
                yield Input(text, id=editor_id, compact=True, placeholder=_PLACEHOLDERS.get(editor_id, ""),
                            type="integer" if editor_id in _NUMBERS and editor_id != "opt-slurm-cpus" else "text")

    def on_mount(self) -> None:
        self.load_saved()

    def load_saved(self) -> None:
        """Reads the saved profiles into the chooser; a damaged file is named under it (it is not a crash)."""
        note = self.query_one("#opt-slurm-profiles-note", Static)
        try:
            self._saved = load_profiles()
        except ProfileError as error:
            self._saved = {}
            note.update(f"✗ {error}")
        else:
            note.update("" if self._saved else f"no saved profiles yet ({profiles_file()})")
        chooser = self.query_one("#opt-slurm-profile", Select)
        chooser.set_options([(name, name) for name in sorted(self._saved)])

    def show(self, draft: ClusterProfileDraft) -> None:
        """Puts `draft` into the editors that differ from it (their change events then match the draft)."""
        self.draft = draft
        for editor_id, name in SLURM_EDITORS.items():
            text = getattr(draft, name.removeprefix("slurm."))
            if editor_id in LINE_LIST_EDITORS:
                area = self.query_one(f"#{editor_id}", TextArea)
                if area.text != text:
                    area.text = text
            else:
                editor = self.query_one(f"#{editor_id}", Input)
                if editor.value != text:
                    editor.value = text

    @on(Select.Changed, "#opt-slurm-profile")
    def _chosen(self, event: Select.Changed) -> None:
        event.stop()
        profile = self._saved.get(event.value) if isinstance(event.value, str) else None  # not the blank
        if profile is not None:
            self.post_message(self.ProfileChosen(profile))

    @on(Button.Pressed, "#opt-slurm-save")
    def _save(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.SaveRequested())
