"""What a session runs and the contract of what runs it: :mod:`.template` (``AppTemplate``,
its form and its command) and :mod:`.launcher` (the ``Launcher`` protocol, ``Endpoint``,
``Poll``, ``LaunchRequest``). Below sessions, launchers and the proxy, which all use them;
it imports none of them."""
