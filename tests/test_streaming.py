"""The analyzer's passes over the lines must stream in bounded memory, whatever the capture size.

Polars runs an expression it cannot stream as a whole-column function, and the streaming engine
then buffers every row in front of it: a `replace_strict` on the command name once made `analyze`
hold 5.5 GB at 20M lines. The physical plan says so before anything runs: nodes the engine
marks as memory-intensive or as falling back to the in-memory engine carry a fill colour in its
graph. These tests read the plans of a real capture (samples/hot-zset); bench/ measures the RSS.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from analyze import parse, pipeline
from analyze.findings import Window
from analyze.inputs import resolve

SAMPLE = Path(__file__).parent.parent / "samples" / "hot-zset"


def flagged(lf: pl.LazyFrame) -> list[str]:
    """Labels of the plan's nodes that may hold their whole input in memory."""
    dot = lf.show_graph(engine="streaming", plan_stage="physical", raw_output=True)
    assert dot is not None
    nodes = [line for line in dot.splitlines() if re.match(r"^\d+ \[label=", line)]
    assert nodes, "no plan nodes found: has the graph format changed?"
    return [re.sub(r'^\d+ \[label="([^"\\]*).*', r"\1", n) for n in nodes if "fillcolor" in n]


@pytest.fixture(scope="module")
def inputs():
    return resolve([str(SAMPLE)])


def test_every_source_plan_streams(inputs):
    """The stages, line by line, stream: no whole-column function anywhere."""
    options = pipeline.AnalyzeOptions(inputs=[str(SAMPLE)])
    plans = list(pipeline.line_plans(inputs, options, Window()))
    assert [shard for _, shard in plans] == ["0001", "0002", "0003"]
    for plan, _ in plans:
        assert flagged(plan) == []


def test_the_chunked_parse_holds_one_chunk(inputs):
    """The analyzer's own parse reads each file streaming, and holds only the chunk it is on:
    its lines' headers and distinct bodies in memory, joined."""
    options = pipeline.AnalyzeOptions(inputs=[str(SAMPLE)])
    for source in pipeline._sources(inputs):
        assert flagged(parse.lines(source)) == []
    shards = []
    for plans, shard in pipeline.parse_plans(inputs, options, Window()):
        shards.append(shard)
        for plan in plans:
            assert set(flagged(plan)) <= {"in-memory-source", "equi-join"}
    assert shards == ["0001", "0002", "0003"]


def test_the_window_filter_keeps_it_streaming(inputs):
    start, end = inputs.capture_span()
    options = pipeline.AnalyzeOptions(inputs=[str(SAMPLE)])
    window = Window(since=start + 5, until=end - 5, start=start + 5, end=end - 5)
    for plan, _ in pipeline.line_plans(inputs, options, window):
        assert flagged(plan) == []


def test_the_check_catches_a_whole_column_function(inputs):
    """The guard itself: a `replace_strict` with a mapping is flagged."""
    plan = parse.scan([parse.Source(path=inputs.sources[0].path)]).with_columns(
        code=pl.col("command").replace_strict({"get": 1, "set": 2}, default=None)
    )
    assert flagged(plan) != []
