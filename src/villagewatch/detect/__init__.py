"""The detect service: the MQTT stream through the detectors, with state that survives restarts."""
