"""The JSON API under /api/v1: one router module per kind of thing."""

API_PREFIX = "/api/v1"
