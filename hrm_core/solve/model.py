"""A checkpoint loaded for inference, through the loader `python -m hrm_core.evaluate` uses.

`checkpoint=` takes what evaluate takes (a run directory, a `step_<N>/` folder, its `model.pt`, an
original's bare `step_<N>` file), and two more forms, which `resolve_source` turns into one of those:

- an originals' folder: `all_config.yaml` beside HRM's published weights file `checkpoint`, or beside
  TRM's `step_<N>` weights files (the newest is taken; `_orig_mod.` prefixes are accepted by the loader);
- a Hugging Face repo id (`owner/name`, or `hf:owner/name`), fetched through `huggingface_hub` into its
  cache; with `HF_HUB_OFFLINE=1` only the cache is read, so a model downloaded once works offline.

The run's `all_config.yaml` rebuilds the model and the run's dataset sizes it and says how its puzzles are
encoded (`DatasetMetadata.puzzle_description`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import os
import re

import torch

from hrm_core.rundir.files import CONFIG_FILE, checkpoint_step
from hrm_core.solve.errors import SolveError

HF_PREFIX = "hf:"
HF_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
HRM_WEIGHTS_FILE = "checkpoint"  # the weights file of HRM's published checkpoints


def _hub_folder(repo_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise SolveError(f"checkpoint={repo_id} names a Hugging Face repo, which needs huggingface_hub: "
                         f"pip install huggingface_hub (or download the repo and pass checkpoint=FOLDER)") from None
    try:
        return Path(snapshot_download(repo_id))
    except Exception as e:  # offline without a cached copy, no such repo, no network: one line either way
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        why = "it is not in the Hugging Face cache and HF_HUB_OFFLINE is set" if offline else type(e).__name__
        raise SolveError(f"cannot get the Hugging Face repo {repo_id}: {why}; download it once where the hub is "
                         f"reachable (huggingface-cli download {repo_id}) or pass checkpoint=FOLDER") from None


def resolve_source(checkpoint: str) -> str:
    """The path evaluate's loader takes, for every form `checkpoint=` accepts (see the module's docstring)."""
    if checkpoint.startswith(HF_PREFIX) or (not Path(checkpoint).exists() and HF_REPO_ID.match(checkpoint)):
        folder = _hub_folder(checkpoint.removeprefix(HF_PREFIX))
    else:
        folder = Path(checkpoint)
    if not folder.is_dir() or not (folder / CONFIG_FILE).is_file():
        return str(folder)
    # An originals' folder: all_config.yaml beside bare weights files rather than step_<N>/ folders.
    if (folder / HRM_WEIGHTS_FILE).is_file():
        return str(folder / HRM_WEIGHTS_FILE)
    bare = [p for p in folder.iterdir() if p.is_file() and checkpoint_step(p.name) is not None]
    if bare and not any(p.is_dir() and checkpoint_step(p.name) is not None for p in folder.iterdir()):
        return str(max(bare, key=lambda p: checkpoint_step(p.name)))
    return str(folder)


@dataclass
class LoadedModel:
    module: Any  # the loss head (hrm_core.models.losses); `.model` is the ACT model
    config: Any  # hrm_core.config.TrainConfig
    weights: Path
    step: int
    metadata: Any  # DatasetMetadata the model is sized by
    test_paths: list[str]
    identifiers: list[str] | None  # ARC datasets: puzzle id -> name
    batch_size: int

    @property
    def act_model(self) -> torch.nn.Module:
        return self.module.model

    @property
    def puzzle(self) -> dict[str, Any]:
        """What the dataset's tokens mean (kind, grid shape, token offset, charset): see docs/run-directory.md."""
        return self.metadata.puzzle_description()

    @property
    def halt_max_steps(self) -> int:
        return int(self.config.arch.halt_max_steps)

    @property
    def arch_name(self) -> str:
        return str(self.config.arch.name)


def load_for_inference(checkpoint: str, *, batch_size: int | None, data_path: str | None = None,
                       device: str | torch.device = "cpu") -> LoadedModel:
    """The checkpoint's model in eval mode, built for batches of `batch_size` puzzles (None: the run's
    `global_batch_size`, so that a dataset split runs in evaluate's batches).

    Every mistake (a missing checkpoint or config, weights that do not fit, an unknown architecture, the
    dataset gone) is a SolveError naming the file and the fix.
    """
    from hrm_core.data.format import DatasetFormatError, DatasetMetadata, load_identifiers
    from hrm_core.evaluate import EvalArgs, UsageError, load_model, load_run_config, locate_checkpoint, model_metadata

    checkpoint = resolve_source(checkpoint)
    try:
        location = locate_checkpoint(checkpoint)
        config = load_run_config(location, EvalArgs(checkpoint=checkpoint, data_path=data_path,
                                                    global_batch_size=batch_size))
    except UsageError as e:
        raise SolveError(str(e)) from None
    test_paths = list(config.test_data_paths)
    try:
        test_metadata = DatasetMetadata.load(Path(test_paths[0]) / "test")
    except (DatasetFormatError, OSError):
        test_metadata = None
    try:
        metadata = model_metadata(list(config.train_data_paths), test_metadata)
    except (DatasetFormatError, OSError):
        metadata = None
    if metadata is None:
        raise SolveError(
            f"the dataset {', '.join(config.train_data_paths)} that {location.weights} was trained on is not there; "
            f"solve reads its dataset.json for the puzzles' size and encoding: pass data_path=DIR pointing at it")
    try:
        module = load_model(config, metadata, location, world_size=1, device=torch.device(device))
    except UsageError as e:
        raise SolveError(str(e)) from None
    try:
        identifiers = load_identifiers(test_paths[0])
    except (DatasetFormatError, OSError):
        identifiers = None
    return LoadedModel(module=module, config=config, weights=location.weights, step=location.step,
                       metadata=metadata, test_paths=test_paths, identifiers=identifiers,
                       batch_size=int(config.global_batch_size))
