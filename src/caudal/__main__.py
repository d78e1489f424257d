from caudal.cli.main import run

run()
