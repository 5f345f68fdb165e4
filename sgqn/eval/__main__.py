from sgqn.eval.command import cli

cli()
