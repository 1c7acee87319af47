"""The `datatrac` command line on the client interface (see datatrac.cli.main)."""
