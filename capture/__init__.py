"""hotshard capture: the bastion half. Imports neither polars nor pyarrow."""

__version__ = "0.1.0"
