"""The agent: a small Python package labgate sends over any transport and runs from memory
on the resource. ``remote/`` is that package (standard library only, Python >= 3.8);
``bootstrap.py`` sends it and ``client.py`` is the server's end of the conversation."""
