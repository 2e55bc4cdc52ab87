"""The HRM-family models: shared layers, one module per architecture, the ACT loss head and the registry.

`registry.build_model(arch, ...)` is the way in: it resolves the config's `arch.name` and `arch.loss.name`.
"""
