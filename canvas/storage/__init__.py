"""SQLite persistence: one database file per series, plain functions over apsw connections."""
