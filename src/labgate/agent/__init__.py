"""The agent: a small Python program labgate sends over any transport and runs from memory
on the resource. ``program.py`` is that program (standard library only, Python >= 3.8);
``client.py`` is the server's end of the conversation."""
