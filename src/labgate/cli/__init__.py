"""The ``labgate`` command line."""
