"""`python -m cviscript` runs the command line."""

from .cli.main import main

main()
