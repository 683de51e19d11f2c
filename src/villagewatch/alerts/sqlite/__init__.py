"""The embedded alert store: one SQLite file (WAL), safe for several writer processes.

Each concern of :mod:`villagewatch.alerts.store` has its module here —
:mod:`.lifecycle`, :mod:`.outbox`, :mod:`.silences`, :mod:`.queries` — over one
:class:`~villagewatch.db.sqlite.SQLiteFile` opened with the migrations of
:mod:`.schema`; :class:`~villagewatch.alerts.sqlite.store.SQLiteAlertStore`
puts them together.
"""
