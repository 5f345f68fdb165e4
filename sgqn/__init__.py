"""SG-SAC: Saliency-Guided Q-Networks on soft actor-critic (Bertoin et al., NeurIPS 2022).

The sub-packages, in the order data flows (env -> wrappers -> replay -> update -> evaluation ->
results -> report). The wrappers, the evaluation episodes and the results files are the
benchmark's protocol, in ``dmcgb.protocol``: sgqn trains on it and is scored by it, as any agent
can be (``dmcgb.evaluate``).

    train/            ``python -m sgqn.train``: checks, the loop, replay, checkpoints, logs.
    agent/            the learner: SAC and what each algorithm adds, networks, losses, saliency.
    eval/             ``python -m sgqn.eval``: a checkpoint scored by the benchmark's protocol.
    results/          the paper's published numbers, saliency figures.
    report/           the paper's tables from many runs; ``python -m sgqn.report``.
    sweep/            many runs on Ray; ``python -m sgqn.sweep``.
    config, presets   every hyper-parameter of a run, and the presets that fill them.
    compare_saliency  several runs' saliency maps on the same frames (the paper's Figure 5).
"""

__version__ = "0.1.0"
