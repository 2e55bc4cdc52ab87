"""Rebuilds tests/fixtures/trm_built/: tiny datasets written by the TRM reference's own dataset builders.

    python tools/build_trm_datasets.py --trm PATH/TO/TinyRecursiveModels

The tests (tests/test_trm_datasets.py) check that datasets built by TinyRecursiveModels' builders load and
train here; what they load is the builders' output, committed, not the builders. This writes the builders'
inputs (hand-made and tiny, also committed under tests/fixtures/trm_built/inputs/) and runs, in the TRM
checkout given (its `dataset/` folder must be importable; needs pip install pydantic argdantic tqdm):

- `python -m dataset.build_arc_dataset --input-file-prefix inputs/kaggle/arc-agi --subsets training evaluation
  --test-set-name evaluation --num-aug 2` (the README's ARC command, on two puzzles in the Kaggle JSON layout)
- `python dataset/build_sudoku_dataset.py --num-aug 2` on a 4-puzzle CSV in the layout of the
  sapientinc/sudoku-extreme dataset. The builder downloads that dataset with huggingface_hub; here
  `hf_hub_download` (a stand-in module on PYTHONPATH) returns the local CSV instead. The Sudoku builder draws
  its augmentations from numpy's unseeded global generator, so its output differs from run to run; the
  committed files are one such output.

Nothing of the reference is written into this repository; it runs from a temporary copy of the tree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "fixtures" / "trm_built"

# Two ARC puzzles in the Kaggle layout (arc-agi_<subset>_challenges.json / _solutions.json): one training
# puzzle (recolour 1 -> 2) and one evaluation puzzle (mirror left-right).
_ARC_TRAINING = {
    "00000001": {
        "train": [{"input": [[1, 0], [0, 1]], "output": [[2, 0], [0, 2]]},
                  {"input": [[1, 1, 0]], "output": [[2, 2, 0]]}],
        "test": [{"input": [[0, 1], [1, 1]]}],
    },
}
_ARC_TRAINING_SOLUTIONS = {"00000001": [[[0, 2], [2, 2]]]}
_ARC_EVALUATION = {
    "00000002": {
        "train": [{"input": [[3, 0, 0]], "output": [[0, 0, 3]]},
                  {"input": [[4, 5], [0, 6]], "output": [[5, 4], [6, 0]]}],
        "test": [{"input": [[7, 8, 0], [0, 0, 9]]}],
    },
}
_ARC_EVALUATION_SOLUTIONS = {"00000002": [[[0, 8, 7], [9, 0, 0]]]}

# Four Sudoku puzzles: (question with '.' for blanks, answer), in the sudoku-extreme CSV layout.
_SUDOKU_SOLUTIONS = [
    "534678912672195348198342567859761423426853791713924856961537284287419635345286179",
    "123456789456789123789123456214365897365897214897214365531642978642978531978531642",
]
_HF_STAND_IN = '''
import os


def hf_hub_download(repo_id, filename, repo_type=None, **kwargs):
    """Stands in for huggingface_hub's download: the CSVs are local files."""
    return os.path.join(os.environ["TRM_BUILD_CSV_DIR"], filename)
'''


def _sudoku_rows(solution: str, blanks: int, offset: int) -> tuple[str, str, str, str]:
    question = "".join("." if (i * 7 + offset) % 81 < blanks else c for i, c in enumerate(solution))
    return "hand-made", question, solution, "0"


def write_inputs(inputs: Path) -> None:
    shutil.rmtree(inputs, ignore_errors=True)
    kaggle = inputs / "kaggle"
    kaggle.mkdir(parents=True)
    for subset, challenges, solutions in (("training", _ARC_TRAINING, _ARC_TRAINING_SOLUTIONS),
                                          ("evaluation", _ARC_EVALUATION, _ARC_EVALUATION_SOLUTIONS)):
        (kaggle / f"arc-agi_{subset}_challenges.json").write_text(json.dumps(challenges))
        (kaggle / f"arc-agi_{subset}_solutions.json").write_text(json.dumps(solutions))
    sudoku = inputs / "sudoku"
    sudoku.mkdir()
    for split, offsets in (("train", (0, 3)), ("test", (5, 11))):
        rows = [_sudoku_rows(solution, 30 + offset, offset) for solution in _SUDOKU_SOLUTIONS for offset in offsets]
        lines = ["source,question,answer,rating"] + [",".join(row) for row in rows]
        (sudoku / f"{split}.csv").write_text("\n".join(lines) + "\n")


def build(trm: Path, out: Path) -> None:
    inputs = out / "inputs"
    write_inputs(inputs)
    with tempfile.TemporaryDirectory(prefix="trm-build-") as work:
        tree = Path(work) / "tree"
        shutil.copytree(trm / "dataset", tree / "dataset")
        stand_ins = Path(work) / "stand_ins"
        stand_ins.mkdir()
        (stand_ins / "huggingface_hub.py").write_text(textwrap.dedent(_HF_STAND_IN))
        env = dict(os.environ, PYTHONPATH=str(stand_ins), TRM_BUILD_CSV_DIR=str(inputs / "sudoku"))
        for name in ("arc", "sudoku"):
            shutil.rmtree(out / name, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "dataset.build_arc_dataset",
                        "--input-file-prefix", str(inputs / "kaggle" / "arc-agi"), "--output-dir", str(out / "arc"),
                        "--subsets", "training", "evaluation", "--test-set-name", "evaluation", "--num-aug", "2"],
                       cwd=tree, env=env, check=True)
        subprocess.run([sys.executable, "dataset/build_sudoku_dataset.py", "--output-dir", str(out / "sudoku"),
                        "--num-aug", "2"], cwd=tree, env=env, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trm", type=Path, required=True, help="checkout of SamsungSAILMontreal/TinyRecursiveModels")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (default: tests/fixtures/trm_built)")
    args = parser.parse_args()
    if not (args.trm / "dataset" / "build_arc_dataset.py").is_file():
        sys.exit(f"{args.trm} has no dataset/build_arc_dataset.py: give a TinyRecursiveModels checkout")
    build(args.trm, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
