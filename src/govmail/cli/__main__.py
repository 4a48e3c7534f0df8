"""`python -m govmail.cli …`, as the `govmail` command."""

from govmail.cli import run

run()
