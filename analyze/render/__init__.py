"""Render: Findings in; report.md, charts and summary.json out."""
