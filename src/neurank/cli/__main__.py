"""`python -m neurank.cli` runs the command line."""

from neurank.cli import main

main()
