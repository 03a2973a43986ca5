"""Experiments (proposals): their members, their data on resources, their dates."""
