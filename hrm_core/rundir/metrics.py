"""The metrics a run logs, one spec each: name, label, which direction is better, and how to print it.

Names are the keys of `train`/`eval` events' `metrics` (the loss head's outputs, normalised as the original
does) and the train event's top-level throughput numbers. Everything that shows a metric takes its label,
direction and format from here: the trainer's step line (training/console.py), the evaluation report
(hrm_core.evaluate) and the monitor's curves.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Better(str, Enum):
    HIGHER = "higher"
    LOWER = "lower"
    NEITHER = "neither"  # a rate, a count, a learning rate: no "best"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class MetricSpec:
    name: str  # the key in events.jsonl
    label: str  # a short label for a console line or a legend
    better: Better
    format: str  # format spec of a value on a console line, e.g. ".4f"
    quality: bool  # a model-quality number: non-finite means the run diverged (not throughput, not a count)
    plotted: bool = True  # drawn as a curve by the monitor
    top_level: bool = False  # a field of the train event itself, not of its `metrics`
    title: str | None = None  # a plot's title, when the name alone says too little (default: the name)

    @property
    def plot_title(self) -> str:
        return self.title or self.name

    def format_value(self, value: float | None) -> str:
        """The value for a console line; "-" when absent (e.g. no sequence halted in the window)."""
        return "-" if value is None else format(value, self.format)


METRICS: dict[str, MetricSpec] = {spec.name: spec for spec in (
    MetricSpec("lm_loss", "loss", Better.LOWER, ".4f", quality=True),
    MetricSpec("q_halt_loss", "q_halt", Better.LOWER, ".4f", quality=True),
    MetricSpec("q_continue_loss", "q_continue", Better.LOWER, ".4f", quality=True),
    MetricSpec("accuracy", "acc", Better.HIGHER, ".3f", quality=True),
    MetricSpec("exact_accuracy", "exact", Better.HIGHER, ".3f", quality=True),
    MetricSpec("q_halt_accuracy", "q_halt_acc", Better.HIGHER, ".3f", quality=True),
    MetricSpec("steps", "steps", Better.NEITHER, ".2f", quality=True, title="ACT steps (mean)"),  # mean ACT steps taken
    MetricSpec("count", "count", Better.NEITHER, ".0f", quality=False, plotted=False),  # sequences counted
    MetricSpec("lr", "lr", Better.NEITHER, ".2e", quality=False, top_level=True),
    MetricSpec("examples_per_s", "ex/s", Better.HIGHER, ".0f", quality=False, top_level=True, title="examples/s"),
    MetricSpec("tokens_per_s", "tok/s", Better.HIGHER, ".0f", quality=False, top_level=True, title="tokens/s"),
)}

# The train event's top-level numbers that are curves too (besides everything in its `metrics`).
TRAIN_TOP_LEVEL = tuple(name for name, spec in METRICS.items() if spec.top_level)
NOT_PLOTTED = frozenset(name for name, spec in METRICS.items() if not spec.plotted)
PLOTTED = tuple(name for name, spec in METRICS.items() if spec.plotted)  # the curves a monitor offers, in order

# What each readout shows, in order.
STEP_LINE_METRICS = ("lm_loss", "q_halt_loss", "accuracy", "exact_accuracy")  # the trainer's step line
EVAL_LINE_METRICS = ("lm_loss", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps")  # after each eval
EVAL_REPORT_METRICS = ("count", "exact_accuracy", "accuracy", "q_halt_accuracy", "steps", "lm_loss")  # evaluate


def metric_spec(name: str) -> MetricSpec:
    """The spec of a metric; one a newer trainer logs and this table does not know gets a neutral spec."""
    spec = METRICS.get(name)
    if spec is not None:
        return spec
    loss = name.endswith("loss")
    return MetricSpec(name, name, Better.LOWER if loss else Better.NEITHER, ".4f", quality=loss)


def is_quality_metric(name: str) -> bool:
    """A metric whose non-finite value means the run diverged."""
    return metric_spec(name).quality
