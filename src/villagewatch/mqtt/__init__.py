"""MQTT for villagewatch processes: paho-mqtt with a fast receive path, run in asyncio."""

from villagewatch.mqtt.client import FastClient, FastMessageHandler, close_threaded, make_client
from villagewatch.mqtt.link import AsyncLink

__all__ = ["AsyncLink", "FastClient", "FastMessageHandler", "close_threaded", "make_client"]
