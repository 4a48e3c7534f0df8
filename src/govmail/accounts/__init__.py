"""The regulation's procedures on the directory: mailboxes, bulk imports, the sweep, reports, notices."""
