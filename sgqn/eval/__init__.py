"""Evaluation: episodes as the benchmark runs them, and ``python -m sgqn.eval``.

Contents:
    episodes    the protocol: seeded episodes per mode, the policy's mean action, what each
                episode showed; the saliency figure's frames.
    mode_envs   a run's evaluation envs, one per mode, in worker processes when cores allow.
    modes       which modes a task has and what data each needs.
    command     ``python -m sgqn.eval``: load a run's checkpoint and evaluate it.
"""

from sgqn.eval.command import EvalArgs, cli, load_agent, main

__all__ = ["EvalArgs", "cli", "load_agent", "main"]
