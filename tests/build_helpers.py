"""A stand-in dataset builder for the build-lock and cancel tests: the real `run_builder` and `DatasetWriter`,
with a build that writes one group and then waits (so a test can signal it mid-build, temporary folder and
all). `mode` "ignore-term" makes it ignore SIGTERM once inside the writer, like a builder stuck in C code."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

STAND_IN_BUILDER = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path
    import numpy as np
    from hrm_core.data.builder_cli import run_builder
    from hrm_core.data.dataset_writer import DatasetWriter

    out, mode = Path(sys.argv[1]), sys.argv[2]

    def build():
        print("building", out, flush=True)
        with DatasetWriter(out) as dataset:
            split = dataset.split("train", seq_len=4)
            split.add_group(np.zeros((1, 4), np.uint8), np.zeros((1, 4), np.uint8), puzzle_sizes=[1], puzzle_identifiers=[0])
            if mode == "ignore-term":
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print("writing", flush=True)
            (out.parent / f"{out.name}.ready").touch()
            while True:
                time.sleep(0.05)

    run_builder(build, output_dir=out)
    """
)


def stand_in_argv(tmp_path: Path, output_dir: Path, mode: str = "graceful") -> list[str]:
    script = tmp_path / "stand_in_builder.py"
    script.write_text(STAND_IN_BUILDER)
    return [sys.executable, str(script), str(output_dir), mode]


def wait_for_path(path: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)
