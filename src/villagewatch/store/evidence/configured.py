"""The evidence store a deployment's settings name: ``ingest.evidence_dir`` with SQLite, the
``evidence`` schema with PostgreSQL (``relational.kind``)."""

from __future__ import annotations

from pathlib import Path

from villagewatch.config import Settings
from villagewatch.db import configured
from villagewatch.store.evidence.base import Evidence
from villagewatch.store.evidence.folder import EvidenceFolder
from villagewatch.store.evidence.table import EvidenceTable

__all__ = ["open_evidence"]


def open_evidence(settings: Settings) -> Evidence:
    """The deployment's evidence store, with the retention of ``ingest.evidence_*``: the
    folder keeps its disk-space rule too; the table's room is the database's."""
    ing = settings.ingest
    budget_bytes = int(ing.evidence_budget_mb * 1e6)
    max_age_s = ing.evidence_max_age_days * 86400
    location = configured.evidence_location(settings)
    if isinstance(location, Path):
        return EvidenceFolder(
            location,
            budget_bytes=budget_bytes,
            max_age_s=max_age_s,
            min_free_share=ing.evidence_min_free_percent / 100,
        )
    return EvidenceTable(
        location,
        busy_timeout_s=configured.busy_timeout_s(settings),
        budget_bytes=budget_bytes,
        max_age_s=max_age_s,
    )
