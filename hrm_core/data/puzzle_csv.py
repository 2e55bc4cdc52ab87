"""Read the original's puzzle CSV files (Sudoku-Extreme, Maze-Hard): `source,question,answer,rating`.

One header row, then one puzzle per row; `question` and `answer` are the board read row-major, one
character per cell (Sudoku: `.` or `0` blank and `1`-`9`; Maze: the charset `# SGo`). The whole file is
validated: a row with the wrong number of fields, a board of the wrong length or a character outside the
alphabet stops the build with the file, line and puzzle named.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hrm_core.data.builder_cli import DatasetBuildError

CSV_FIELDS = ("source", "question", "answer", "rating")


@dataclass
class PuzzleTable:
    questions: np.ndarray  # uint8 [N, cells]: cell codes
    answers: np.ndarray  # uint8 [N, cells]
    ratings: np.ndarray  # int64 [N]; -1 where the file has no integer rating
    side: int  # boards are side x side


def read_puzzle_csv(path: str | Path, *, alphabet: dict[str, int], cells: int | None = None) -> PuzzleTable:
    """Read and validate a puzzle CSV.

    `alphabet` maps each allowed character to its cell code. `cells` is the required board length; when
    None it is taken from the first row and must be a square number.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetBuildError(f"{path}: no such file")
    lookup = np.full(256, 255, dtype=np.uint8)
    for char, code in alphabet.items():
        lookup[ord(char)] = code
    allowed = "".join(sorted(alphabet))

    questions: list[str] = []
    answers: list[str] = []
    ratings: list[int] = []
    line_numbers: list[int] = []
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.reader(file)
        try:
            next(reader)  # header
            for row in reader:
                if not row:
                    continue
                where = f"{path}, line {reader.line_num}"
                if len(row) != len(CSV_FIELDS):
                    raise DatasetBuildError(f"{where}: {len(row)} fields, expected {len(CSV_FIELDS)} ({','.join(CSV_FIELDS)})")
                source, question, answer, rating = row
                if cells is None:
                    cells = len(question)
                    if math.isqrt(cells) ** 2 != cells or cells == 0:
                        raise DatasetBuildError(f"{where} (puzzle {source!r}): the question has {cells} characters, not a square board")
                for field_name, board in (("question", question), ("answer", answer)):
                    if len(board) != cells:
                        raise DatasetBuildError(f"{where} (puzzle {source!r}): the {field_name} has {len(board)} characters, expected {cells}")
                questions.append(question)
                answers.append(answer)
                ratings.append(int(rating) if rating.lstrip("-").isdigit() else -1)
                line_numbers.append(reader.line_num)
        except (csv.Error, UnicodeDecodeError) as error:
            raise DatasetBuildError(f"{path}, line {reader.line_num}: not a readable CSV row ({error})") from None
    if not questions:
        raise DatasetBuildError(f"{path}: no puzzle rows after the header")

    assert cells is not None
    table = []
    for field_name, boards in (("question", questions), ("answer", answers)):
        raw = "".join(boards).encode("utf-8")
        if len(raw) != len(boards) * cells:  # a multi-byte character somewhere
            raw_codes = None
        else:
            raw_codes = lookup[np.frombuffer(raw, dtype=np.uint8)].reshape(len(boards), cells)
        if raw_codes is None or (raw_codes == 255).any():
            row = _first_bad_row(boards, alphabet) if raw_codes is None else int(np.argwhere(raw_codes == 255)[0, 0])
            bad_char = next(ch for ch in boards[row] if ch not in alphabet)
            raise DatasetBuildError(
                f"{path}, line {line_numbers[row]}: the {field_name} holds {bad_char!r} at position {boards[row].index(bad_char)}; allowed characters: {allowed!r}"
            )
        table.append(raw_codes)
    return PuzzleTable(questions=table[0], answers=table[1], ratings=np.array(ratings, dtype=np.int64), side=math.isqrt(cells))


def _first_bad_row(boards: list[str], alphabet: dict[str, int]) -> int:
    return next(i for i, board in enumerate(boards) if any(ch not in alphabet for ch in board))


def find_split_csvs(source: str | Path, test_csv: str | Path | None) -> dict[str, Path]:
    """The train and test CSV paths: `source` is a folder holding train.csv and test.csv (the layout of the
    original's Hugging Face datasets), or the train CSV itself with `test_csv` (or a test.csv beside it)."""
    source = Path(source)
    if source.is_dir():
        paths = {"train": source / "train.csv", "test": Path(test_csv) if test_csv else source / "test.csv"}
    else:
        sibling = source.with_name("test.csv")
        paths = {"train": source, "test": Path(test_csv) if test_csv else sibling}
    for split, path in paths.items():
        if not path.is_file():
            hint = "pass --test-csv" if split == "test" else "check --source-csv"
            raise DatasetBuildError(f"{path}: no such file (the {split} CSV); {hint}")
    return paths
