"""`python -m hrm_core.bench`: benchmarks of the training step, and a numerics check of the current device.

    python -m hrm_core.bench step --size tiny|sudoku|arc
    python -m hrm_core.bench check [--device cuda] [--fixture PATH]
    python -m hrm_core.bench loop --size tiny|sudoku   # hrm_core.pretrain's throughput next to `step`
    python -m hrm_core.bench events [--lines N]         # checking events.jsonl lines, per line

Prints milliseconds per optimizer step, tokens per second and, on CUDA, model FLOP/s and MFU (model FLOPs
utilisation against the GPU's dense bf16 peak). The step is the trainer's: one ACT step of the loss head
(forward, the no-grad Q-target pass, backward through the last H and L updates) and both optimizers.

Sizes:
    tiny    a small Sudoku-shaped model that runs anywhere in seconds
    sudoku  the published Sudoku-Extreme setup (hidden 512, seq 81, global batch 384)
    arc     the published ARC setup (hidden 512, seq 900, per-GPU batch 96 = 768 / 8 GPUs)

`check` replays the reference rollout recorded from the original implementation
(../shared/fixtures/hrm_reference_tiny.pt) on the chosen device in float32, in bfloat16 and compiled, and
prints how far each is from the reference. It is how the CUDA path (attention kernel, bf16, torch.compile)
is verified on a GPU machine; the CPU path is held to the fixture by the test suite.

These are benchmarks, not tests: speed targets are measured here and reported, never asserted in CI.
"""
