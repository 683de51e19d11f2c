"""``villagewatch demo``: every stage in one process on embedded defaults."""
