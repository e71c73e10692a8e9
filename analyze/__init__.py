"""hotshard analyze: the laptop half. Parses MONITOR captures with Polars."""

from hotshard.analyze import allocator

allocator.return_freed_pages()  # before anything imports Polars
