"""The first code the resource runs: the loader (``agent/bootstrap.py``) reads this
module's source from standard input and calls its ``main``, which reads the agent's
modules that follow it, makes them importable from memory and starts the agent. Nothing
is written to disk.

What follows this source on standard input: one line of JSON, ``[[name, size], ...]``
(``__init__`` for the package itself), then the modules' sources, ``size`` bytes each, in
that order.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import types
from importlib.machinery import ModuleSpec
from typing import Any, Dict, Optional, Sequence

# The package's name on the resource: a name of its own, so that nothing installed there
# (a labgate in one of the user's environments) is taken for it, or it for that.
PACKAGE = "labgate_agent"


class MemoryImporter:
    """Imports the agent's modules from their sources in memory. Each is compiled under a
    file name of its own (``labgate_agent/files.py``) and gives its source to tracebacks,
    so that one on the resource shows the module, the line and its code. (A finder and a
    loader without importlib.abc's classes, which would cost the agent's start 100 ms:
    on Python 3.11 importing importlib.abc loads importlib.resources.)"""

    def __init__(self, sources: Dict[str, bytes]) -> None:
        self.sources = sources

    def find_spec(
        self,
        fullname: str,
        path: Optional[Sequence[str]],
        target: Optional[types.ModuleType] = None,
    ) -> Optional[ModuleSpec]:
        if fullname not in self.sources:
            return None
        loader: Any = self  # a loader by its methods (see above)
        return importlib.util.spec_from_loader(fullname, loader, is_package=fullname == PACKAGE)

    def create_module(self, spec: ModuleSpec) -> None:
        return None  # an ordinary module

    def exec_module(self, module: types.ModuleType) -> None:
        name = module.__name__
        code = compile(self.sources[name], file_name(name), "exec", dont_inherit=True)
        exec(code, module.__dict__)  # noqa: S102 -- the agent's own source, sent by the server

    def get_source(self, fullname: str) -> str:
        return self.sources[fullname].decode("utf-8")


def file_name(module: str) -> str:
    """What a traceback calls a module: ``labgate_agent/files.py``."""
    if module == PACKAGE:
        return PACKAGE + "/__init__.py"
    return module.replace(".", "/") + ".py"


def main() -> None:
    """Read the agent's modules from standard input, make them importable, run the agent."""
    stdin = sys.stdin.buffer
    sources = {}
    for name, size in json.loads(stdin.readline()):
        sources[PACKAGE if name == "__init__" else PACKAGE + "." + name] = stdin.read(size)
    sys.meta_path.insert(0, MemoryImporter(sources))
    importlib.import_module(PACKAGE + ".main").main()
