"""The training configuration: a typed schema, Hydra composition, and validation with readable errors.

The config tree is the original HRM's (`config/cfg_pretrain.yaml` + `config/arch/hrm_v1.yaml`), installed as
the package `hrm_config`. This package is the one place that knows every training key (schema.py; the `arch` keys are each architecture's
config class in hrm_core.models), composes the tree
(compose.py), checks the result (validate.py) and what needs the file system (dataset.py);
command_line.py is `python -m hrm_core.pretrain`'s flags (--help, --cfg, --info, --version):

    compose(overrides)       -> DictConfig      same result as `python -m hrm_core.pretrain <overrides>`
    validate(cfg[, overrides, Launch(processes=N)]) -> TrainConfig   typed, checked (the launch too, when given);
                                                raises ConfigError naming the key and the fix
    check_dataset(cfg)                          raises ConfigError for a missing (with `build_command`) or broken dataset
    dataset_keys(cfg)        -> (train key, train folders, test key, test folders): data_path / data_paths / data_paths_test
    resolve_run_names(cfg)   -> (project_name, run_name, checkpoint_path)
    field_help("arch.hidden_size")  -> one-line description (the TUI shows these as help text)
    schema_fields()          -> every key with its type, default, help and form section (SECTION_ORDER)

Keys the original does not have (log_interval, ema, resume, ...) are optional and default in the schema, so
`cfg_pretrain.yaml` stays exactly the original's. They can be overridden like any other key
(`log_interval=10`): `compose` turns a plain override of a schema key into Hydra's add-or-override form.
docs/config.md describes every key; its code map says where each part lives.
"""

from hrm_core.config.compose import CONFIG_GROUPS, CONFIG_MODULE, CONFIG_NAME, closest_key, compose, unknown_key_error
from hrm_core.config.dataset import check_dataset, dataset_keys, resolve_run_names
from hrm_core.config.errors import ConfigError
from hrm_core.config.schema import (
    COMPILE_CHOICES,
    EVAL_OUTPUTS,
    GENERAL_SECTION,
    NONFINITE_CHOICES,
    SECTION_ORDER,
    FieldInfo,
    TrainConfig,
    field_help,
    schema_fields,
    section_rank,
    to_plain_dict,
)
from hrm_core.config.validate import Launch, check_launch, validate

__all__ = [
    "COMPILE_CHOICES", "CONFIG_GROUPS", "CONFIG_MODULE", "CONFIG_NAME", "EVAL_OUTPUTS", "GENERAL_SECTION",
    "NONFINITE_CHOICES", "SECTION_ORDER",
    "ConfigError", "FieldInfo", "Launch", "TrainConfig", "check_launch",
    "check_dataset", "closest_key", "dataset_keys", "compose", "field_help", "resolve_run_names", "schema_fields",
    "section_rank", "to_plain_dict", "unknown_key_error", "validate",
]
