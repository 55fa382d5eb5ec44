"""`python -m pipeline` is the `campaigns` command."""

from pipeline.cli import main

main()
