"""Findings: the stored tables and measurements in; rollups, the hot-shard verdict, the timeline and one Findings value out."""
