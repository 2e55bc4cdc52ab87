"""The samples panel draws eval predictions with hrm_core.data.render: fixed puzzles, expected cells."""

from __future__ import annotations

import io

from rich.console import Console

from hrm_core.data.render import ARC_PALETTE
from hrm_core.rundir.events import PuzzleDescription, RunStart, Sample, Samples, Train
from hrm_core.rundir.writer import EventWriter
from hrm_tui.widgets.monitor.samples import SamplesPanel

from .tui_monitor_helpers import MonitorHost, as_text, fast_settings, pilot_test, wait_for

SUDOKU = {"kind": "sudoku", "grid_shape": [4, 4], "vocab_offset": 1, "pad_id": 0, "ignore_label_id": 0, "vocab_size": 6, "seq_len": 16}
ARC = {"kind": "arc", "grid_shape": [3, 3], "vocab_offset": 2, "pad_id": 0, "ignore_label_id": 0, "vocab_size": 12, "seq_len": 9}
MAZE = {"kind": "maze", "grid_shape": [4, 5], "vocab_offset": 1, "pad_id": 0, "ignore_label_id": 0, "vocab_size": 6, "seq_len": 20, "charset": "# SGo"}


def sudoku_sample():
    solution = [1, 2, 3, 4, 3, 4, 1, 2, 2, 1, 4, 3, 4, 3, 2, 1]
    given = [1, 0, 0, 4, 0, 4, 1, 0, 2, 0, 0, 3, 0, 3, 2, 0]
    predicted = list(solution)
    predicted[1] = 3  # one wrong digit, in row 0
    tokens = lambda digits: [d + 1 for d in digits]  # noqa: E731 - digit d is token d + 1
    return {"name": "sudoku_a", "input": tokens(given), "label": tokens(solution), "prediction": tokens(predicted),
            "q_halt": 1.5, "q_halt_prob": 0.82, "steps": 7, "exact": False}


def arc_sample():
    # A 2x2 grid in a 3x3 canvas: colours are tokens 2-11, EOS (1) closes the grid.
    canvas = lambda a, b, c, d: [a + 2, b + 2, 1, c + 2, d + 2, 1, 1, 1, 1]  # noqa: E731
    return {"name": "arc_b", "input": canvas(1, 2, 3, 4), "label": canvas(4, 3, 2, 1), "prediction": canvas(4, 3, 2, 2),
            "q_halt": -0.5, "q_halt_prob": 0.38, "steps": 16, "exact": False}


def maze_sample():
    w, o, s, g, p = 1, 2, 3, 4, 5  # tokens of "# SGo"
    inputs = [w, w, w, w, w,
              w, s, o, o, w,
              w, o, o, g, w,
              w, w, w, w, w]
    label = [w, w, w, w, w,
             w, s, p, p, w,
             w, o, o, g, w,
             w, w, w, w, w]
    prediction = [w, w, w, w, w,
                  w, s, p, o, w,
                  w, o, p, g, w,
                  w, w, w, w, w]
    return {"name": "maze_c", "input": inputs, "label": label, "prediction": prediction,
            "q_halt": 3.0, "q_halt_prob": 0.95, "steps": 4, "exact": False}


def write_samples_run(run_dir):
    with EventWriter(run_dir) as writer:
        writer.write(RunStart(total_steps=30, halt_max_steps=16, puzzle=PuzzleDescription(**SUDOKU)))
        for step, puzzle, samples in ((10, SUDOKU, [sudoku_sample(), {**sudoku_sample(), "name": "sudoku_b"}]),
                                      (20, ARC, [arc_sample()]), (30, MAZE, [maze_sample()])):
            writer.write(Train(step=step, epoch=step / 10, total_steps=30, metrics={"lm_loss": 1.0 / step}))
            writer.write(Samples(step=step, epoch=step / 10, set="all", puzzle=PuzzleDescription(**puzzle),
                                 samples=[Sample(**sample) for sample in samples]))


def shown(panel: SamplesPanel) -> tuple[str, str]:
    header = panel.query_one("#samples-header").content
    body = panel.query_one("#samples-body").content
    return as_text(header), "\n".join(line.rstrip() for line in as_text(body).splitlines())


@pilot_test
async def test_pages_through_evals_and_draws_each_kind(tmp_path):
    write_samples_run(tmp_path)
    app = MonitorHost(tmp_path, settings=fast_settings())
    async with app.run_test(size=(160, 48)) as pilot:
        panel = app.monitor.query_one(SamplesPanel)
        await wait_for(pilot, lambda: "maze_c" in shown(panel)[0], what="the newest eval (maze)")
        header, body = shown(panel)
        assert "eval 3/3 · step 30 · set all · following" in header
        assert "sample 1/1 maze_c · ✗ not exact · q_halt 3.00 (p 0.95) · 4 ACT steps" in header
        # Maze: walls, start and goal; the prediction's right path cell, its wrong one, and the missed one.
        assert body.splitlines()[1:5] == [
            "██████████   ██████████",
            "██S oooo██   ██S oo··██",
            "██    G ██   ██  xxG ██",
            "██████████   ██████████",
        ]
        assert "prediction: 2 of 20 cells wrong" in body

        await pilot.press("5", "left_square_bracket")  # back one eval: ARC
        await wait_for(pilot, lambda: "arc_b" in shown(panel)[0], what="the ARC eval")
        header, body = shown(panel)
        assert "eval 2/3 · step 20" in header and "following" not in header
        assert "prediction: 1 of 4 cells wrong" in body and body.count("xx") == 1
        # Each cell on its ARC colour: input | expected | prediction, row by row; the wrong cell is "xx".
        assert _arc_cells(panel.query_one("#samples-body").content) == [
            [("  ", 1), ("  ", 2), ("  ", 4), ("  ", 3), ("  ", 4), ("  ", 3)],
            [("  ", 3), ("  ", 4), ("  ", 2), ("  ", 1), ("  ", 2), ("xx", 2)],
        ]

        await pilot.press("left_square_bracket")  # the first eval: Sudoku, two samples, side by side
        await wait_for(pilot, lambda: "sudoku_a" in shown(panel)[1], what="the Sudoku eval")
        header, body = shown(panel)
        assert "samples 1-2 of 2" in header and panel.per_page == 2
        lines = body.splitlines()
        assert lines[0].startswith("sudoku_a · ✗ not exact") and "sudoku_b · ✗ not exact" in lines[0]
        assert lines[1].split() == ["input", "expected", "prediction"] * 2  # short titles, several to a row
        assert lines[2].split("   ")[0].strip() == "1  · │ ·  4"  # givens and blanks
        assert lines[2].count(" 1  3*│ 3  4") == 2  # the wrong digit is starred, in both samples

        # One sample at a time when only one fits: the panel maximised in a narrow, short terminal.
        await pilot.resize_terminal(70, 14)
        await pilot.press("m")
        await wait_for(pilot, lambda: panel.per_page == 1 and "sample 1/2 sudoku_a" in shown(panel)[0],
                       what="one sample per page")
        assert "prediction: 1 of 16 cells wrong" in shown(panel)[1]  # the full titles again
        await pilot.press("right")
        await wait_for(pilot, lambda: "sample 2/2 sudoku_b" in shown(panel)[0], what="the second sample")
        await pilot.press("m")
        await pilot.press("f")
        await wait_for(pilot, lambda: "maze_c" in shown(panel)[0], what="following the newest eval again")


def _arc_cells(renderable) -> list[list[tuple[str, int]]]:
    """(glyph, ARC colour) of every coloured cell, line by line, as a terminal would draw them."""
    console = Console(width=160, color_system="truecolor", file=io.StringIO())
    colour_of = {c.lower(): i for i, c in enumerate(ARC_PALETTE)}
    lines = []
    for line in console.render_lines(renderable, pad=False):
        cells = []
        for segment in line:
            bg = segment.style.bgcolor if segment.style else None
            if bg is not None and bg.triplet is not None:
                cells.append((segment.text, colour_of[bg.triplet.hex.lower()]))
        if cells:
            lines.append(cells)
    return lines


SUDOKU_9 = {"kind": "sudoku", "grid_shape": [9, 9], "vocab_offset": 1, "pad_id": 0, "ignore_label_id": 0, "vocab_size": 11, "seq_len": 81}
LONG_NAME = "sudoku_extreme_test_puzzle_000123_augmented"


def sudoku9_sample(name: str) -> dict:
    solution = [(3 * (r % 3) + r // 3 + c) % 9 + 1 for r in range(9) for c in range(9)]  # a valid 9x9 grid
    given = [d if (i * 7) % 3 == 0 else 0 for i, d in enumerate(solution)]
    predicted = list(solution)
    predicted[4] = predicted[4] % 9 + 1
    tokens = lambda digits: [d + 1 for d in digits]  # noqa: E731
    return {"name": name, "input": tokens(given), "label": tokens(solution), "prediction": tokens(predicted),
            "q_halt": -4.21, "q_halt_prob": 0.01, "steps": 16, "exact": False}


def write_sudoku9_run(run_dir):
    with EventWriter(run_dir) as writer:
        writer.write(RunStart(total_steps=10, halt_max_steps=16, puzzle=PuzzleDescription(**SUDOKU_9)))
        writer.write(Train(step=10, epoch=1.0, total_steps=10, metrics={"lm_loss": 0.5}))
        writer.write(Samples(step=10, epoch=1.0, set="all", puzzle=PuzzleDescription(**SUDOKU_9),
                             samples=[Sample(**sudoku9_sample(f"{LONG_NAME}_{i}")) for i in range(4)]))


@pilot_test
async def test_a_9x9_sudoku_shows_its_prediction_beside_the_input_at_140x36(tmp_path):
    """Issue 19.5: at 140x36 the prediction wrapped below input and expected, out of the panel's view."""
    from tests.hostile_rundirs import screen_text

    write_sudoku9_run(tmp_path)
    app = MonitorHost(tmp_path, settings=fast_settings())
    async with app.run_test(size=(140, 36)) as pilot:
        panel = app.monitor.query_one(SamplesPanel)
        await wait_for(pilot, lambda: LONG_NAME in shown(panel)[0], what="the samples")
        await pilot.pause(0.2)
        titles = next(line for line in screen_text(app).splitlines() if "input" in line)
        assert "expected" in titles and "prediction: 1 of 81 cells wrong" in titles


@pilot_test
async def test_titles_of_samples_side_by_side_use_the_whole_width_at_120_maximised(tmp_path):
    """Issue 19.5: maximised at 120 columns, titles were cut (`q_halt -4.21 (p 0.…`) beside empty columns."""
    write_sudoku9_run(tmp_path)
    app = MonitorHost(tmp_path, settings=fast_settings())
    async with app.run_test(size=(120, 36)) as pilot:
        panel = app.monitor.query_one(SamplesPanel)
        await wait_for(pilot, lambda: LONG_NAME in shown(panel)[0], what="the samples")
        await pilot.press("5", "m")
        await wait_for(pilot, lambda: "samples 1-" in shown(panel)[0], what="several samples to a page")
        body = shown(panel)[1]
        assert f"{LONG_NAME}_0 · ✗ not exact · q_halt -4.21 (p 0.01) · 16 ACT steps" in body
        assert "…" not in body
