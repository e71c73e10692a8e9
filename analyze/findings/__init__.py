"""Findings: the rows dataset and the measurements in; rollups, the hot-shard verdict, the timeline, the slot plan and one complete Findings value (build.py) out."""
