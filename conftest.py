"""Loads the doc-test machinery (tests/docblocks.py) for every pytest run in this repo."""

pytest_plugins = ["tests.docblocks", "pytester"]
