"""The ingester: MQTT consumer, batching, and acknowledgement only after a durable write."""

from villagewatch.ingest.metrics import IngestMetrics
from villagewatch.ingest.service import IngestService

__all__ = ["IngestMetrics", "IngestService"]
