"""The capture folder's format: the one thing the capture and the analyzer share.

`manifest` (the folder's versioned metadata and key sizes), `reader` (a MONITOR file read back,
truncated or damaged), `lines` (the MONITOR line grammar and Redis' quoting), `resp` (RESP wire
sizes), `reads` (what a whole-collection read is), `counters` (INFO snapshots read back),
`escape` (text from the data made safe to print). Standard library and `zstandard` only: the
bastion runs it, and `analyze` reaches `capture` only through here, the error family
(`hotshard.capture.errors`) and the version (tests/test_import_rules.py enforces it).
"""
