"""``python -m sgqn.eval``: a run's checkpoint scored by the benchmark's protocol.

The protocol itself (eval envs, episodes, results files) is ``dmcgb.protocol``, which scores
any agent; here an sgqn agent is rebuilt from its checkpoint and handed to it (``command``).
"""

from sgqn.eval.command import EvalArgs, cli, load_agent, main

__all__ = ["EvalArgs", "cli", "load_agent", "main"]
