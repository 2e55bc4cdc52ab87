"""Records tests/fixtures/arc_voting_originals.json: the originals' ARC scores on constructed votes.

    python tools/record_arc_voting_fixture.py --hrm PATH/TO/HRM --trm PATH/TO/TinyRecursiveModels \\
        [--out tests/fixtures/arc_voting_originals.json]

PATH/TO/HRM is a checkout of github sapientinc/HRM (recorded at 42410da), PATH/TO/TinyRecursiveModels one
of github SamsungSAILMontreal/TinyRecursiveModels (recorded at e7b6871). Nothing of theirs is copied; their
code is run from the checkouts on the cases of tests/arc_voting_cases.py:

- TRM: `evaluators/arc.py`'s `ARC` evaluator, driven as its `pretrain.py` drives it (`begin_eval`,
  `update_batch` with the batch and the model outputs, `result` on rank 0 of a one-process gloo group). Its
  dataset folder gets `identifiers.json` and `test_puzzles.json`; the rows are named with `|||`, as TRM's
  builder names augmented copies. Recorded: the `ARC/pass@K` dict and `submission.json`.
- HRM: the code cells of `arc_eval.ipynb`, run with `DATASET_PATH` and `CHECKPOINT_PATH` pointing at a
  folder holding `identifiers.json` and one `step_0_all_preds.0` file (inputs, labels, puzzle ids, one-hot
  logits of the predictions and float32 q_halt logits), rows named with `_`. The one edit: its result line
  prints `{value!r}` instead of `{value:.2f}`, so the figure is recorded exactly. Recorded: the K -> %.

Their imports that do not matter to scoring are stood in for: numba's `njit` (the identity: the jitted
crop runs as plain Python, the same arithmetic) and argdantic's `ArgParser` (TRM's dataset builder builds a
CLI at import time). matplotlib is only used when the notebook visualises, which it does not here; a stub
stands in if it is not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests import arc_voting_cases  # noqa: E402

HRM_KS = (1, 2, 10, 100, 1000)  # the notebook's own `test(..., Ks=...)` default


def stub_modules() -> None:
    numba = types.ModuleType("numba")
    numba.njit = lambda function=None, **_: function if function is not None else (lambda f: f)
    sys.modules.setdefault("numba", numba)

    argdantic = types.ModuleType("argdantic")

    class ArgParser:
        def command(self, *args, **kwargs):
            return lambda function: function

        def __call__(self, *args, **kwargs):
            pass

    argdantic.ArgParser = ArgParser
    sys.modules.setdefault("argdantic", argdantic)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pyplot = types.ModuleType("matplotlib.pyplot")
        colors = types.ModuleType("matplotlib.colors")
        colors.ListedColormap = lambda colours: colours
        matplotlib = types.ModuleType("matplotlib")
        matplotlib.pyplot, matplotlib.colors = pyplot, colors
        sys.modules.update({"matplotlib": matplotlib, "matplotlib.pyplot": pyplot, "matplotlib.colors": colors})


def record_trm(trm_root: Path, case: arc_voting_cases.Case, workdir: Path) -> dict:
    sys.path.insert(0, str(trm_root))
    try:
        from dataset.common import PuzzleDatasetMetadata
        from evaluators.arc import ARC
    finally:
        sys.path.remove(str(trm_root))
    rows = arc_voting_cases.rows(case, "|||")
    data = workdir / f"trm-{case.name}"
    data.mkdir()
    (data / "identifiers.json").write_text(json.dumps(rows.identifiers))
    (data / "test_puzzles.json").write_text(json.dumps(arc_voting_cases.test_puzzles_json(case)))
    metadata = PuzzleDatasetMetadata(
        pad_id=0, ignore_label_id=0, blank_identifier_id=arc_voting_cases.BLANK_ID, vocab_size=12, seq_len=900,
        num_puzzle_identifiers=len(rows.identifiers), total_groups=1, mean_puzzle_examples=1, total_puzzles=1,
        sets=["all"],
    )
    evaluator = ARC(str(data), metadata, submission_K=2, pass_Ks=arc_voting_cases.PASS_KS)
    evaluator.begin_eval()
    batch = {"inputs": torch.from_numpy(rows.inputs), "puzzle_identifiers": torch.from_numpy(rows.puzzle_ids)}
    outputs = {"preds": torch.from_numpy(rows.preds), "q_halt_logits": torch.from_numpy(rows.q_halt_logits)}
    evaluator.update_batch(batch, outputs)
    save = workdir / f"trm-{case.name}-out"
    save.mkdir()
    with contextlib.redirect_stdout(io.StringIO()):
        scores = evaluator.result(str(save), rank=0, world_size=1)
    return {"pass_at": scores, "submission": json.loads((save / "submission.json").read_text())}


def notebook_source(hrm_root: Path) -> str:
    notebook = json.loads((hrm_root / "arc_eval.ipynb").read_text())
    source = "\n\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code")
    exact = source.replace("* 100:.2f}%", "* 100!r}%")
    if exact == source:
        raise SystemExit("arc_eval.ipynb's result line changed; update notebook_source()")
    # The last line runs the evaluation; this script runs it itself, per case.
    return re.sub(r"\ntest\(visualize=False\)\s*$", "\n", exact)


def record_hrm(hrm_root: Path, case: arc_voting_cases.Case, workdir: Path) -> dict:
    rows = arc_voting_cases.rows(case, "_")
    data = workdir / f"hrm-{case.name}"
    data.mkdir()
    (data / "identifiers.json").write_text(json.dumps(rows.identifiers))
    logits = torch.nn.functional.one_hot(torch.from_numpy(rows.preds), 12).to(torch.float32)
    torch.save({
        "inputs": torch.from_numpy(rows.inputs),
        "labels": torch.from_numpy(rows.labels),
        "puzzle_identifiers": torch.from_numpy(rows.puzzle_ids),
        "logits": logits,
        "q_halt_logits": torch.from_numpy(rows.q_halt_logits),
    }, data / "step_0_all_preds.0")
    sys.path.insert(0, str(hrm_root))
    try:
        namespace: dict = {"__name__": "arc_eval"}
        exec(compile(notebook_source(hrm_root), "arc_eval.ipynb", "exec"), namespace)
    finally:
        sys.path.remove(str(hrm_root))
    namespace["DATASET_PATH"], namespace["CHECKPOINT_PATH"] = str(data), str(data / "step_0")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        namespace["test"](visualize=False, Ks=list(HRM_KS))
    figures = dict(re.findall(r"^(\d+)-shot: (.+)%$", printed.getvalue(), flags=re.M))
    return {"pass_at_percent": {k: float(v) for k, v in figures.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hrm", type=Path, required=True)
    parser.add_argument("--trm", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "tests/fixtures/arc_voting_originals.json")
    args = parser.parse_args()
    stub_modules()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        dist.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=0, world_size=1)
        try:
            recorded = {}
            for name, case in arc_voting_cases.CASES.items():
                workdir = Path(tmp) / name
                workdir.mkdir()
                recorded[name] = {
                    "rows_digest": arc_voting_cases.rows_digest(case),
                    "trm": record_trm(args.trm, case, workdir),
                    "hrm_notebook": record_hrm(args.hrm, case, workdir),
                }
                print(name, recorded[name]["trm"]["pass_at"], recorded[name]["hrm_notebook"]["pass_at_percent"])
        finally:
            dist.destroy_process_group()
    fixture = {
        "recorded_with": {"HRM": "sapientinc/HRM 42410da arc_eval.ipynb",
                          "TRM": "SamsungSAILMontreal/TinyRecursiveModels e7b6871 evaluators/arc.py"},
        "cases": recorded,
    }
    args.out.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
