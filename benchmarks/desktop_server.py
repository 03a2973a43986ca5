"""``labgate serve`` for the desktops benchmark: labgate's own server (uvicorn with
labgate's settings, ``labgate.server.serve``) with one more plug-in, the tests' desktop
template (``tests/support/rfb.py``), whose session the benchmark writes itself.

Run as ``python -m benchmarks.desktop_server <host> <port>``; every other setting comes
from ``LABGATE_*`` variables, as for ``labgate serve``.
"""

from __future__ import annotations

import sys

from tests.support.rfb import DesktopTemplates

from labgate.plugins.manager import Plugins
from labgate.server import serve
from labgate.settings import load_settings


def main(argv: list[str]) -> None:
    host, port = argv
    settings = load_settings(host=host, port=int(port))
    serve(settings, Plugins.load(settings, extra=[DesktopTemplates()]))


if __name__ == "__main__":
    main(sys.argv[1:])
