"""SG-SAC: Saliency-Guided Q-Networks on soft actor-critic (Bertoin et al., NeurIPS 2022)."""

__version__ = "0.1.0"
