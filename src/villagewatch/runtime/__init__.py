"""Small runtime helpers every service shares: retry delays, waiting, ports, the metrics
endpoint, garbage-collector tuning, a clock that never steps back, free disk space."""
