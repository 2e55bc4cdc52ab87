"""The model's inner cycles, decoded through its output head: HRM's H-cycles, TRM's recursions.

Within one ACT step, HRM updates its high-level state z_H once per H-cycle (`H_level`), and the TRM family
rewrites its answer latent once per recursion (`cycle`). Decoding each of those states with the output head
(`lm_head`, argmax) shows the answer forming inside a step. The last one is the step's own prediction.

`InnerCycleTrace` observes without changing anything: a forward hook on `H_level` (HRM, the Transformer
baseline) or a wrapper around the core's `cycle` method (TRM, TRM-singlez, TRM-hier6), removed on exit.
Which one a core gets is decided by what it has, so every architecture of the registry is covered.
"""

from __future__ import annotations

import torch


class InnerCycleTrace:
    """Context manager: `cycles` collects one [B, S] prediction per inner cycle, in call order."""

    def __init__(self, act_model: torch.nn.Module):
        self.core = act_model.inner
        self.cycles: list[torch.Tensor] = []
        self.unit = "recursion" if hasattr(self.core, "cycle") else "H-cycle"
        self._undo = None

    def _decode(self, z: torch.Tensor) -> None:
        logits = self.core.lm_head(z)[:, self.core.puzzle_emb_len:]
        self.cycles.append(torch.argmax(logits, dim=-1).cpu())

    def __enter__(self) -> "InnerCycleTrace":
        if hasattr(self.core, "cycle"):
            original = self.core.cycle

            def traced_cycle(*args, **kwargs):
                result = original(*args, **kwargs)
                # TRM and hier6 return (z_H, z_L...); singlez returns its one latent z.
                self._decode(result[0] if isinstance(result, tuple) else result)
                return result

            self.core.cycle = traced_cycle
            self._undo = lambda: delattr(self.core, "cycle")  # back to the class's method
        else:
            handle = self.core.H_level.register_forward_hook(lambda module, args, output: self._decode(output))
            self._undo = handle.remove
        return self

    def __exit__(self, *exc) -> None:
        if self._undo is not None:
            self._undo()

    def take(self) -> list[torch.Tensor]:
        """The cycles recorded since the last `take`."""
        cycles, self.cycles = self.cycles, []
        return cycles
