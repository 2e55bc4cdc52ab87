"""hrm_core: train and evaluate Hierarchical Reasoning Models.

`build_model` is imported lazily so that light consumers (the terminal UI reading events.jsonl) do not pay
for importing torch.
"""

__all__ = ["build_model", "load_state_dict_compat"]


def __getattr__(name: str):
    if name in __all__:
        from hrm_core.models import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'hrm_core' has no attribute {name!r}")
