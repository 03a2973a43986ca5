"""Quotas: limits per role, group and experiment, checked at every launch, and the
accounting of what sessions use (core-hours, GPU-hours)."""
