"""The benchmark's protocol for any agent: its view of the envs, the evaluation episodes, the
results files, and :func:`evaluate` (``dmcgb.evaluate``). No torch needed.

Contents:
    envs       make_env (action repeat, frame stack), the benchmark's per-task values, to_chw.
    modes      which modes a task has, the default ones, the data each needs.
    mode_envs  EvalEnvs: a run's evaluation envs, one per mode, in worker processes if asked.
    episodes   the evaluation episodes (seeds, the benchmark's sequence), PolicyError.
    results    the results files: ModeResult and Evaluation, written and read back.
    runner     evaluate(policy, task, ...): score a policy, one run folder per seed.
    command    python -m dmcgb.evaluate.
"""

from dmcgb.protocol.runner import evaluate

__all__ = ["evaluate"]
