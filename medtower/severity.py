"""The one severity vocabulary of rules, alerts, digests, tiles and pages, least to most severe."""

from __future__ import annotations

SEVERITIES = ("info", "low", "medium", "high", "critical")


def severity_rank(severity: str | None) -> int:
    """Position in SEVERITIES (higher is more severe); -1 for anything else."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1
