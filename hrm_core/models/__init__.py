"""The HRM-family models: shared layers and ACT loop, one module per architecture, the ACT loss head, the registry.

    act.py                      common keys, carry, input/output layers, the ACT loop
    layers.py                   init, norm, cast layers, RoPE, attention, SwiGLU, the reasoning block
    hrm_v1.py                   HRM ACT v1 (and the TinyRecursiveModels repository's copy with mlp_t)
    trm.py, trm_singlez.py,     TRM and its single-latent and six-latent ablations
    trm_hier6.py
    transformers_baseline.py    the TinyRecursiveModels repository's transformer baseline
    losses.py                   the ACT loss head
    registry.py                 the names a config may use

`registry.build_model(arch, ...)` is the way in: it resolves the config's `arch.name` and `arch.loss.name`.
"""
