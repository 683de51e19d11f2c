"""``python -m villagewatch`` is the ``villagewatch`` command."""

from villagewatch.cli import main

main()
