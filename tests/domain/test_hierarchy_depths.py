"""Depths of batch links derived from their parents' (`domain.hierarchy._Depths`) equal the
ancestry walked link by link, whatever the batch: loops, duplicates, recorded nodes."""

from __future__ import annotations

from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.hierarchy import BatchLink, RecordedNode, RecordedTrees, _depth, _Depths

IDS = [UUID(int=i) for i in range(1, 13)]
REFS = [*(f"x{i}" for i in range(8)), *(str(i) for i in IDS[:6])]

links = st.lists(st.builds(BatchLink, st.integers(0, 20), st.sampled_from(IDS),
                           st.none() | st.sampled_from(REFS[:8]),
                           st.none() | st.sampled_from(REFS)), max_size=14)
nodes = st.dictionaries(st.sampled_from(REFS), st.builds(
    RecordedNode, st.sampled_from(IDS), st.sampled_from(IDS), st.integers(0, 5),
    st.none() | st.sampled_from(REFS)), max_size=4)


@settings(max_examples=600)
@given(links, links, nodes)
def test_derived_depths_equal_the_walked_ancestry(batch: list[BatchLink],
                                                  unprojected: list[BatchLink],
                                                  recorded_nodes: dict[str, RecordedNode]) -> None:
    recorded = RecordedTrees(recorded_nodes, {}, unprojected)
    depths = _Depths((*unprojected, *batch), recorded)
    for link in batch:
        assert depths.of(link) == _depth(link, depths.by_ref, recorded)
