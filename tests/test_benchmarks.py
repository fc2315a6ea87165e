"""The benchmark results the pages show: generated, not edited, and backing what the pages say."""

import json

import pytest

from benchmarks.bench_conv import CONFIGS, results_markdown
from benchmarks.harness import RESULTS, markdown_table


def load(suite: str) -> dict:
    return json.loads((RESULTS / f"{suite}.json").read_text())


@pytest.mark.parametrize("suite", ["einsum", "conv", "s4"])
def test_results_are_complete(suite):
    results = load(suite)
    assert results["machine"]["commit"] and results["machine"]["date"]
    for row in results["cases"]:
        assert row["ours_s"] > 0 and row["torch_s"] > 0, row["name"]
        assert row["meets_goal"] == (row["ratio"] <= row["goal"]), row["name"]


def test_page_tables_are_generated_from_results():
    """The chapters include benchmarks/results/<suite>.md: it must be what the results say."""
    assert (RESULTS / "einsum.md").read_text() == markdown_table(load("einsum"))
    assert (RESULTS / "conv.md").read_text() == results_markdown(load("conv"))


def test_conv_page_claims():
    """What docs/conv.md says about the measurements."""
    results = load("conv")
    rows = {row["name"]: row for row in results["cases"]}
    passes = ("forward", "input grad", "weight grad")
    names = list(rows)
    for config in range(len(CONFIGS)):
        trio = [rows[name] for name in names[3 * config:3 * config + 3]]
        assert all(row["name"].endswith(p) for row, p in zip(trio, passes))
        # "The weight gradient is the slowest of the three"
        assert trio[2]["ours_gflops"] < min(trio[0]["ours_gflops"], trio[1]["ours_gflops"])
    # docs/index.md: "within 1.5x of torch's native kernels"
    assert all(row["meets_goal"] and row["goal"] <= 1.5 for row in rows.values()), rows
    # the 8-channel copy is faster than one copy_ of the permuted tensor
    assert rows["channels-last copy x(32,64,1024): 8 channels at a time vs all"]["ratio"] < 1
    memory = results["memory"]
    # the snippet allocates about its input copy and output; im2col its matrix on top
    assert memory["peak_extra_bytes"]["snippet"] < 1.5 * (memory["input_bytes"] + memory["output_bytes"])
    assert memory["peak_extra_bytes"]["im2col"] > memory["im2col_bytes"]


def test_s4_page_table_and_goals():
    """docs/s4.md includes benchmarks/results/s4.md; the issue's goals at L = 16384 hold."""
    from benchmarks.bench_s4 import results_markdown as s4_markdown

    results = load("s4")
    assert (RESULTS / "s4.md").read_text() == s4_markdown(results)
    rows = {row["name"]: row for row in results["cases"]}
    assert rows["kernel_nplr H=256 N=64 L=16384"]["ratio"] <= 1 / 3
    assert rows["kernel_s4d H=256 N=64 L=16384"]["ratio"] <= 1 / 5
    memory = results["memory"]
    # "the peak memory stays far below the full (H, L, N) array"
    assert memory["peak_extra_bytes"]["kernel_nplr"] < memory["matrix_bytes"] / 4
    assert memory["peak_extra_bytes"]["kernel_nplr"] < 2e9
    assert all(e["ours"] <= e["goal"] for e in results["errors"]), results["errors"]
