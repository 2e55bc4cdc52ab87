"""A CPU run computes with one thread unless OMP_NUM_THREADS says otherwise (issue 19 item 13).

The thread count changes how reductions are split, so without the rule the same command gives other
numbers on a machine with another number of cores. The real trainer is started with the variable unset
and set, and says on its start line how many threads it computes with.
"""

from __future__ import annotations

import re

import pytest

from tests.training_helpers import pretrain_argv, run_trainer, tiny_overrides, trainer_env, write_tiny_dataset


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny-puzzles", train_groups=8)


def _threads_on_start_line(stdout: str) -> int:
    match = re.search(r"\| 1 x cpu \((\d+) threads?\) \|", stdout)
    assert match, stdout[:2000]
    return int(match.group(1))


@pytest.mark.parametrize("omp_num_threads, expected", [(None, 1), ("2", 2)])
def test_a_cpu_run_uses_one_thread_unless_omp_num_threads_is_set(tiny_data, tmp_path, omp_num_threads, expected):
    env = trainer_env()
    env.pop("OMP_NUM_THREADS")
    if omp_num_threads is not None:
        env["OMP_NUM_THREADS"] = omp_num_threads
    result = run_trainer(pretrain_argv(tiny_overrides(tiny_data, tmp_path / "run", epochs=2, eval_interval=2)), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert _threads_on_start_line(result.stdout) == expected
