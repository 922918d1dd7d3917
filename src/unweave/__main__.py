"""`python -m unweave` runs the command line."""

from unweave.cli import main

main()
