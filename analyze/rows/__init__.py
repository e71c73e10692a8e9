"""Rows: sources' lines in; the analyzer's rows (schema.COMMANDS) and the key and signature dictionaries they point at out."""
