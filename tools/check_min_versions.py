"""Installs hrm with every dependency at the lower bound pyproject.toml declares, then runs a smoke test.

    python tools/check_min_versions.py                 # a throwaway virtual environment in a temp folder
    python tools/check_min_versions.py --venv DIR      # create (or reuse) DIR, and keep it

Each `name>=X` of `[project] dependencies` is installed as `name==X` (plus `pip install -e .` of this
checkout), so a bound that is too low shows up as a failed install or a failed step below. The smoke test:

    1. the installed versions are the bounds (pip did not keep or pick another one)
    2. `import hrm_core, hrm_tui` and `hrm-tui --help`
    3. the real Textual app starts under Pilot on the demo preset and its launch form settles
    4. `python -m hrm_core.pretrain +experiment=demo` trains one epoch (31 steps) on the CPU, with an evaluation

It installs packages, so it is not part of the test suite (tests/test_packaging.py only checks that its
bounds are pyproject's). torch at its bound comes from PyPI: on Linux x86-64 that is the CUDA build, a few
GB of downloads. docs/install.md records when and where it last ran, and its result.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOWER_BOUND = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][0-9A-Za-z.]*)\s*$")

PILOT_START = """
import asyncio, sys, tempfile, time
from pathlib import Path
from hrm_tui.app import HrmTuiApp
from hrm_tui.context import AppContext

async def main():
    app = HrmTuiApp(AppContext(runs_root=Path(tempfile.mkdtemp()) / "checkpoints"), preset="demo")
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 120
        while not app.launch_screen.settled:
            if time.monotonic() > deadline:
                sys.exit("the launch form did not settle in 120 s")
            await pilot.pause(0.05)
    print("pilot: the launch form settled on the demo preset")

asyncio.run(main())
"""


def lower_bounds(pyproject: Path = REPO / "pyproject.toml") -> dict[str, str]:
    """`{name: version}` for every `name>=version` of pyproject's `[project] dependencies`."""
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    bounds = {}
    for requirement in dependencies:
        match = LOWER_BOUND.match(requirement)
        if match is None:
            raise SystemExit(f"error: pyproject dependency {requirement!r} is not `name>=version`; "
                             "this script installs each lower bound exactly")
        bounds[match.group(1)] = match.group(2)
    return bounds


def _run(argv: list[str], *, cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = 3600,
         label: str | None = None) -> None:
    print("+ " + (label or " ".join(argv)), flush=True)
    subprocess.run(argv, cwd=cwd, env=env, check=True, timeout=timeout)


def release_numbers(version: str) -> tuple[int, ...]:
    """`2.5.0+cu124` and `2.5` alike as (2, 5): the release numbers without trailing zeros or a local tag."""
    parts = [int(p) for p in re.findall(r"\d+", version.split("+")[0])]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def installed_line(versions: dict[str, str]) -> str:
    """The line the script prints for the versions it checked; docs/install.md quotes the last run's."""
    return "installed at their lower bounds: " + ", ".join(f"{name}=={v}" for name, v in versions.items())


def _check_installed(python: Path, bounds: dict[str, str]) -> None:
    probe = "import importlib.metadata as m, sys\n" + "\n".join(
        f"print({name!r}, m.version({name!r}))" for name in bounds)
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True).stdout
    installed = dict(line.split(" ", 1) for line in out.splitlines())
    wrong = {name: installed.get(name) for name, bound in bounds.items()
             if release_numbers(installed.get(name, "")) != release_numbers(bound)}
    if wrong:
        raise SystemExit(f"error: not at their lower bounds: {wrong}")
    print(installed_line(installed), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, help="the virtual environment to create or reuse (default: a temp one)")
    args = parser.parse_args(argv)

    bounds = lower_bounds()
    venv = args.venv or Path(tempfile.mkdtemp(prefix="hrm-min-versions-")) / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(venv)])
    pins = [f"{name}=={version}" for name, version in bounds.items()]
    _run([str(python), "-m", "pip", "install", "--quiet", *pins])
    _run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(REPO)])
    _check_installed(python, bounds)

    work = Path(tempfile.mkdtemp(prefix="hrm-min-versions-run-"))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    _run([str(python), "-c", "import hrm_core, hrm_tui, torch, textual; "
                             "print('import: torch', torch.__version__, '| textual', textual.__version__)"], cwd=work)
    _run([str(venv / "bin" / "hrm-tui"), "--help"], cwd=work, env=env)
    _run([str(python), "-c", PILOT_START], cwd=work, env=env, timeout=600, label="the app under Pilot, demo preset")
    _run([str(python), "-m", "hrm_core.pretrain", "+experiment=demo", "epochs=1", "eval_interval=1",
          f"checkpoint_path={work / 'run'}"], cwd=work, env=env, timeout=1800)
    print(f"smoke test passed with every dependency at its lower bound (Python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
