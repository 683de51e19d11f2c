"""Development-only helpers for tests and benchmarks: real servers on loopback ports
(mosquitto, influxd) and in-memory fakes. Not part of the installed package; it finds the
checkout's own config files, so it only works from a clone."""
