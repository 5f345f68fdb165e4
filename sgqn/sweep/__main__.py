"""``python -m sgqn.sweep``."""

from sgqn.sweep.cli import cli

cli()
