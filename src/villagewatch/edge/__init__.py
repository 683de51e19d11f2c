"""The edge agent: local devices → a crash-safe outbox → the central broker, over a link
that drops (``villagewatch edge``)."""
