"""hotshard analyze: the laptop half. Parses MONITOR captures with Polars."""
