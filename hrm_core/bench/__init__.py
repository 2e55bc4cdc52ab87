"""`python -m hrm_core.bench`: benchmarks of the training step, and a numerics check of the current device.

    python -m hrm_core.bench step --size tiny|sudoku|arc|trm_tiny|trm_sudoku_mlp|trm_sudoku_att|trm_arc|trm_maze
    python -m hrm_core.bench check [--device cuda] [--fixture FILE_OR_FOLDER]
    python -m hrm_core.bench loop --size tiny|sudoku   # hrm_core.pretrain's throughput next to `step`
    python -m hrm_core.bench events [--lines N]         # checking events.jsonl lines, per line
    python -m hrm_core.bench solve [--case demo|sudoku|sudoku_batch]   # puzzles/s of hrm_core.solve

Prints milliseconds per optimizer step, tokens per second and, on CUDA, model FLOP/s and MFU (model FLOPs
utilisation against the GPU's dense bf16 peak). The step is the trainer's: one ACT step of the loss head
(every forward pass of the recursion, the no-grad ones and HRM's Q-target pass included, then backward
through the part that runs with gradient) and both optimizers.

Sizes: `python -m hrm_core.bench step --help` lists them (hrm_core/bench/step.py SIZES: HRM's published Sudoku
and ARC setups, TRM's Sudoku-MLP, Sudoku-attention, ARC and Maze recipes from its README, and a tiny one of
each); `--batch-size` overrides a size's per-process batch.

`check` replays the reference rollouts recorded from the original implementations (tests/fixtures/*.pt of a
clone; `--fixture FILE_OR_FOLDER`, default the repository's hrm_reference_tiny.pt) on the chosen device in
float32, in bfloat16 and compiled, and prints how far each is from the reference. It is how the CUDA path
(attention kernel, bf16, torch.compile) is verified on a GPU machine; the CPU path is held to the fixtures by
the test suite. A plain `pip install` has no tests/ folder: pass --fixture.

These are benchmarks, not tests: speed targets are measured here and reported, never asserted in CI.
"""
