"""The agent: the program labgate sends to a resource over any transport and runs there
from memory (standard library only, Python >= 3.8). One module per subject:

- ``wire``: frames, channels, flow control, errors; the only module the server imports
- ``methods``: ``@rpc``, which declares a method where it is implemented, and ``METHODS``
- ``tasks``: work in threads, waits on the event loop
- ``system``: ``ping``, ``system.info``, ``daemon.info``
- ``files``: the ``fs.*`` calls answered in one go (list, stat, read, write, copy, ...)
- ``owners``: user and group names for the uids and gids of files
- ``streams``: files read and written as byte streams on channels, archives
- ``transfers``: resumable uploads, the trees a copy between resources walks
- ``processes``: processes and terminals, their output rings
- ``ports``: free ports and socket paths for apps (``net.*``)
- ``runtime``: options, the private runtime directory, the daemon's socket path and state
- ``connection``: one connection's main loop (requests, channels, attachments)
- ``daemon``: the per-user daemon and the hand-over of an agent's standard input and output
- ``relay``: a batch job's relay to its app
- ``main``: the entry point
- ``boot``: run first on the resource; imports the others from memory

``agent/bootstrap.py`` sends ``boot`` and then every other module's source over the
transport; on the resource the package is ``labgate_agent``. The modules import each
other relatively, so they are the same on the server and on the resource. Importing this
package imports none of them.
"""
