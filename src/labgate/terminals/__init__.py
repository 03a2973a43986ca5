"""Terminals shared as sessions: who may open one, and whether only to watch it."""
