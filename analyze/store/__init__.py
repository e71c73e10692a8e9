"""Store: rows in; Parquet tables and hotshard.db (SQLite) in a private output folder out, read back as tables."""
