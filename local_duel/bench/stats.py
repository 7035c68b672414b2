"""The percentile every benchmark reports."""


def p95(values: list[float]) -> float:
    """The 95th percentile, nearest rank (0.0 for none)."""
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)] if values else 0.0
