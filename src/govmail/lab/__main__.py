"""`python -m govmail.lab supervise NAME`: the process that keeps a lab host's systemd-nspawn running."""

import sys

from govmail.lab import supervise

if len(sys.argv) == 3 and sys.argv[1] == "supervise":
    sys.exit(supervise(sys.argv[2]))
sys.exit("usage: python -m govmail.lab supervise NAME")
