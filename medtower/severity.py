"""The one severity vocabulary of rules, alerts, digests, tiles and pages, least to most severe."""

from __future__ import annotations

SEVERITIES = ("info", "low", "medium", "high", "critical")

# Most severe first: the order a person reads counts and lists in.
SEVERITIES_DESC = tuple(reversed(SEVERITIES))

# One colour per severity wherever a severity is shown (Alerts page, Overview counts).
SEVERITY_COLOURS = {
    "critical": "#b00020",
    "high": "#d35400",
    "medium": "#b7950b",
    "low": "#2e86c1",
    "info": "#7f8c8d",
}


def severity_rank(severity: str | None) -> int:
    """Position in SEVERITIES (higher is more severe); -1 for anything else."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1
