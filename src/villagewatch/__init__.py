"""villagewatch: sensor ingestion and alerting for village governance."""

__version__ = "0.1.0"
