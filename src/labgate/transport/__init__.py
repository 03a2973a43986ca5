"""Transports: how labgate reaches a resource and starts a process there. ``local`` runs
it as a subprocess of the server; the SSH transport (with jump hosts) comes next. The
agent and its protocol are the same over every transport."""
