from sgqn.train.command import cli

cli()
