"""Evidence pictures: the JPEGs cameras send with their events, saved by the ingesters and
served by every API node — in a folder (one machine) or in the relational store (PostgreSQL,
when API nodes run on other machines), behind one interface, :class:`Evidence`."""

from villagewatch.store.evidence.base import Evidence, EvidenceRejected, jpeg_refusal
from villagewatch.store.evidence.configured import open_evidence
from villagewatch.store.evidence.folder import EvidenceFolder
from villagewatch.store.evidence.table import EvidenceTable

__all__ = [
    "Evidence",
    "EvidenceFolder",
    "EvidenceRejected",
    "EvidenceTable",
    "jpeg_refusal",
    "open_evidence",
]
