"""Script replies (EVAL, EVALSHA, FCALL and their _RO forms) from what the script read.

MONITOR shows a script's call line, then one `[0 lua]` line per `redis.call` it made, before the
next command (a script runs alone). The reply a client gets is whatever the script returned;
the common script returns what it read. So a script's reply is estimated from its reads (the
`redis.call`s that are not writes), each sized as the reply a client would have had
(`_as_client`, analyze/rows/make.py): one read is returned as is, several as the array of their
replies. Confidence `script`. A script that read nothing, or read something the model cannot
size, stays `unknown`; one that transforms what it read is off by what it changed.
"""

from __future__ import annotations

import polars as pl

from hotshard.analyze import schema
from hotshard.analyze.estimate.replication import WRITE_COMMANDS
from hotshard.analyze.estimate.resp_exprs import array_header

CALLS = ("eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro")
CONFIDENCE = "script"


def sized(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Rows of one source in file order (`origin`, `command`, `reply_bytes`,
    `reply_confidence`, `_as_client`): script calls with no reply size get one from their
    reads. `redis.call` lines before the chunk's first call (a script cut by a chunk
    boundary) are left out."""
    origin, command = pl.col("origin"), pl.col("command")
    call = (origin == schema.ORIGIN_CLIENT) & command.is_in(CALLS)
    read = (origin == schema.ORIGIN_SCRIPT) & ~command.is_in(sorted(WRITE_COMMANDS))
    script = pl.col("_script")
    n = read.sum().over(script)
    total = pl.when(read).then(pl.col("_as_client")).sum().over(script).cast(pl.Float64)
    unsized = (read & pl.col("_as_client").is_null()).sum().over(script)
    reply = pl.when(n == 1).then(total).otherwise(array_header(n.cast(pl.Float64)) + total)
    fill = call & pl.col("reply_bytes").is_null() & (n > 0) & (unsized == 0)
    return (
        lf.with_columns(_script=call.cum_sum())
        .with_columns(
            reply_bytes=pl.when(fill)
            .then(reply.round(0).cast(pl.Int64))
            .otherwise(pl.col("reply_bytes")),
            reply_confidence=pl.when(fill)
            .then(pl.lit(CONFIDENCE))
            .otherwise(pl.col("reply_confidence")),
        )
        .drop("_script", "_as_client")
    )
