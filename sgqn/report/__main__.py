from sgqn.report.command import cli

cli()
