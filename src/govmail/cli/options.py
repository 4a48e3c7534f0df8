"""Options several govmail commands share."""

from __future__ import annotations

import os
from pathlib import Path

import click


def inventory_options(fn):
    """--inventory (default $GOVMAIL_INVENTORY) and --province: which deployment, and which profile."""
    fn = click.option("--province", help="Profile, when there is no inventory (or to override its province).")(fn)
    return click.option("--inventory", type=click.Path(file_okay=False, path_type=Path),
                        default=lambda: os.environ.get("GOVMAIL_INVENTORY"),
                        help="Inventory directory (govmail.yml, hosts.yml); default $GOVMAIL_INVENTORY.")(fn)
