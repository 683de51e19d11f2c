"""Camera vision at the edge: frames in, contract events, telemetry and evidence out.

Needs the ``vision`` extra (``opencv-python-headless`` below 5, numpy).
"""
