"""labgate: a web platform for scientific data analysis on any computer reachable by SSH."""

__version__ = "0.1.0"
