"""pyinfra deploys, one module per service; deploy.py at the top level calls them in order."""
