"""Every benchmark suite, one after the other: ``python3 tasks.py bench`` (or a suite's name)."""

import importlib
import sys

SUITES = ["einsum", "conv", "s4", "logistic_regression"]

if __name__ == "__main__":
    for suite in sys.argv[1:] or SUITES:
        importlib.import_module(f"benchmarks.bench_{suite}").main()
