"""The alert store on the relational database: an SQLite file (WAL) or a PostgreSQL schema
shared by every alert engine and API node, safe for several writer processes.

Each concern of :mod:`villagewatch.alerts.store` has its module here —
:mod:`.lifecycle`, :mod:`.outbox`, :mod:`.silences`, :mod:`.queries`, :mod:`.overview` — over
one :class:`~villagewatch.db.database.Database` opened with the migrations of :mod:`.schema`;
:class:`~villagewatch.alerts.database.store.AlertDatabase` puts them together.
"""
