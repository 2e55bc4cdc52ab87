"""A checkpoint loaded for inference, through the loader `python -m hrm_core.evaluate` uses.

`checkpoint=` takes what evaluate takes (a run directory, a `step_<N>/` folder, its `model.pt`, an
original's bare `step_<N>` file); the run's `all_config.yaml` rebuilds the model and the run's dataset
sizes it and says how its puzzles are encoded (`DatasetMetadata.puzzle_description`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hrm_core.solve.errors import SolveError


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
        return str(self.config.arch_kwargs.get("name", "hrm_act_v1"))


def load_for_inference(checkpoint: str, *, batch_size: int | None, data_path: str | None = None,
                       device: str | torch.device = "cpu") -> LoadedModel:
    """The checkpoint's model in eval mode, built for batches of `batch_size` puzzles (None: the run's
    `global_batch_size`, so that a dataset split runs in evaluate's batches).

    Every mistake (a missing checkpoint or config, weights that do not fit, an unknown architecture, the
    dataset gone) is a SolveError naming the file and the fix.
    """
    from hrm_core.data.format import DatasetFormatError, DatasetMetadata, load_identifiers
    from hrm_core.evaluate import EvalArgs, UsageError, load_model, load_run_config, locate_checkpoint, model_metadata

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
