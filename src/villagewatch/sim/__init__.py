"""The village simulator: device behaviour over simulated time, published over MQTT."""
