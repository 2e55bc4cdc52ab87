"""Sweeps as Hydra users write them (`-m` / `--multirun`): the one expansion of a sweep's overrides into runs,
and how the runs of a sweep are named. The trainer (`python -m hrm_core.pretrain -m`, hrm_core/sweep_runner.py)
and the cockpit (`hrm-tui launch -m`, the form's sweep field) both expand with `expand_sweep`.

    expand_sweep(["lr=1e-3,2e-3", "seed=range(2)"])
      -> [["lr=0.001", "seed=0"], ["lr=0.001", "seed=1"], ["lr=0.002", "seed=0"], ["lr=0.002", "seed=1"]]
         (the values as Hydra's sweeper writes them back)

The grammar is Hydra's own, parsed by Hydra's `OverridesParser` and expanded by its `BasicSweeper`
(`a=1,2`, `range(start, stop[, step])`, `choice(...)`; the cartesian product, the first key varying slowest;
a key given twice keeps the last value). A mistake raises ConfigError with Hydra's message and the override.

Naming: a sweep has a name (the `run_name` given with it, else `sweep-<slug>`); its run number `i` (from 0,
Hydra's job number) is named `<sweep>-<i>` and lives in `<sweep folder>/<i>`, the sweep folder being the
`checkpoint_path` given with it (as Hydra's `hydra.sweep.dir`), else `checkpoints/<project>/<sweep>`. A
`run_name` or `checkpoint_path` that the sweep itself varies is left as each run has it.

Each run knows its sweep through three environment variables that the one who starts it sets
(`SweepMember.env`, hrm_core/rundir/sweeps.py), and records them in its `run_start` (`sweep`, `sweep_index`,
`sweep_size`; docs/run-directory.md), which is how the runs lists group a sweep's runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

from hrm_core.config.errors import ConfigError
from hrm_core.names import random_slug


def expand_sweep(overrides: Sequence[str]) -> list[list[str]]:
    """The runs of a sweep, each as its list of overrides, in Hydra's order (a command line without any sweep
    value is one run). Raises ConfigError with Hydra's message, naming the override it could not use."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.errors import HydraException

    from hrm_core.config.compose import parse_overrides

    parsed = parse_overrides(overrides, what="sweep override",
                              hint="sweep values look like key=a,b or key=range(3) (Hydra's sweep grammar)")
    try:
        [runs] = BasicSweeper.split_arguments(parsed, max_batch_size=None)
        return [list(run) for run in runs]
    except HydraException as e:  # glob() over a key without options, interval() (not a list of values)
        bad = next((o.input_line for o in parsed if o.is_sweep_override() and not o.is_discrete_sweep()), None)
        where = f" in the override {bad!r}" if bad else ""
        raise ConfigError(f"cannot expand the sweep{where}: {e}",
                          hint="a basic sweep takes lists of values: key=a,b, range(), choice()") from None


def given_value(overrides: Sequence[str], key: str) -> str | None:
    """The value the overrides give `key` when it is one value for every run (the last one wins), else None."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    value = None
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        if override.key_or_group == key:
            value = None if override.is_sweep_override() or override.is_delete() else override.get_value_element_as_str()
    return value


def varied_keys(overrides: Sequence[str]) -> set[str]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return {o.key_or_group for o in OverridesParser.create().parse_overrides(list(overrides)) if o.is_sweep_override()}


def sweep_name(overrides: Sequence[str]) -> str:
    """The sweep's name: the run_name given with it, else `sweep-<slug>` (a new slug on each call)."""
    return given_value(overrides, "run_name") or f"sweep-{random_slug()}"


def member_names(overrides: Sequence[str], sweep: str, index: int, project: str,
                 runs_root: str = "checkpoints") -> dict[str, str]:
    """The names run `index` of the sweep gets, as key -> value for those the sweep does not vary itself:
    run_name `<sweep>-<index>`, checkpoint_path `<sweep folder>/<index>` (module docstring)."""
    varied = varied_keys(overrides)
    folder = given_value(overrides, "checkpoint_path") or os.path.join(runs_root, project, sweep)
    names = {"run_name": f"{sweep}-{index}", "checkpoint_path": os.path.join(folder, str(index))}
    return {key: value for key, value in names.items() if key not in varied}


def without_keys(overrides: Sequence[str], keys: Iterable[str]) -> list[str]:
    """`overrides` less those that set one of `keys` (a run's own names replace those given for the sweep)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    keys = set(keys)
    parser = OverridesParser.create()
    return [text for text in overrides if parser.parse_overrides([text])[0].key_or_group not in keys]


def member_overrides(names: Mapping[str, str]) -> list[str]:
    """`member_names` as overrides for the trainer's command line (`++key='value'`: set whether or not the
    primary config has the key, quoted so that any path reads back as it is)."""
    from hrm_core.config.override_text import quote_value

    return [f"++{key}={quote_value(value)}" for key, value in names.items()]
