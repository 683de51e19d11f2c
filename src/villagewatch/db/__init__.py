"""The database layer: one way to open a SQLite file, its pragmas and its migrations."""
