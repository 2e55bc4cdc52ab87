"""Default project and run names, as the original derives them (the config names a run before training, the
cockpit names the runs it launches: both read this, so it sits below hrm_core.config and hrm_core.training).

project: the dataset folder's name, capitalised, plus " ACT-torch"      e.g. "Sudoku-extreme-1k-aug-1000 ACT-torch"
run:     the arch class plus a random two-word slug                     e.g. "HierarchicalReasoningModel_ACTV1 brave-otter"

The slug is drawn from the OS entropy source (random.SystemRandom), so naming a run never advances the
seeded torch / numpy / python generators that training and exact resume depend on.
"""

from __future__ import annotations

import os
import random

_ADJECTIVES = (
    "amber", "bold", "brave", "bright", "calm", "clever", "crisp", "daring", "eager", "fancy", "gentle", "glad",
    "golden", "happy", "humble", "jolly", "keen", "kind", "lively", "lucky", "merry", "mighty", "nimble", "noble",
    "patient", "polite", "proud", "quick", "quiet", "rapid", "shiny", "silent", "smart", "steady", "swift",
    "tidy", "vivid", "wise", "witty", "zesty",
)
_NOUNS = (
    "badger", "beaver", "bison", "condor", "crane", "dingo", "falcon", "ferret", "finch", "gecko", "heron",
    "ibex", "jackal", "koala", "lemur", "lynx", "marten", "moose", "narwhal", "ocelot", "otter", "panda",
    "pelican", "puffin", "quokka", "raven", "salmon", "seal", "shrew", "sloth", "stork", "tapir", "toucan",
    "turtle", "walrus", "weasel", "wombat", "yak", "zebra", "kestrel",
)


def random_slug(words: int = 2) -> str:
    """A slug like "brave-otter" from OS entropy (does not touch any seeded generator)."""
    rng = random.SystemRandom()
    parts = [rng.choice(_ADJECTIVES) for _ in range(words - 1)] + [rng.choice(_NOUNS)]
    return "-".join(parts)


def default_project_name(data_path: str, separator: str = " ") -> str:
    """HRM's "<Folder> ACT-torch"; TRM's is "<Folder>-ACT-torch" (separator "-", for data_paths configs)."""
    return f"{os.path.basename(os.path.normpath(data_path)).capitalize()}{separator}ACT-torch"


def default_run_name(arch_name: str) -> str:
    return f"{arch_name.split('@')[-1]} {random_slug()}"
