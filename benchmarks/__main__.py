"""Every benchmark suite, one after the other: ``python3 tasks.py bench`` (or a suite's name).

``python3 -m benchmarks --markdown`` times nothing: it rewrites every table from the results'
JSON files (every machine's, and the combined files the chapters include)."""

import importlib
import sys

SUITES = ["einsum", "conv", "s4", "logistic_regression"]

if __name__ == "__main__":
    if sys.argv[1:] == ["--markdown"]:
        from benchmarks.harness import regenerate

        regenerate()
        sys.exit()
    for suite in sys.argv[1:] or SUITES:
        importlib.import_module(f"benchmarks.bench_{suite}").main()
