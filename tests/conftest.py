"""Hypothesis settings shared by the tests (the doc-test machinery lives in tests/docblocks.py,
the site's fixtures in tests/site/conftest.py, the mutant runs in tests/mutation/)."""

import os

from hypothesis import HealthCheck, settings

# `repo` (the default): seeded and repeatable, the same 50 examples per property on every
# machine, no example database on disk.
settings.register_profile(
    "repo",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=50,
    suppress_health_check=[HealthCheck.too_slow],
)
# `random`: new examples on every run, from the seed `--hypothesis-seed` gives (tasks.py draws
# one and prints it, so a failure replays with HYPOTHESIS_SEED=<seed> python3 tasks.py test).
settings.register_profile(
    "random", parent=settings.get_profile("repo"), derandomize=False
)
# `thorough`: the weekly drift run's ten times as many examples.
settings.register_profile(
    "thorough", parent=settings.get_profile("repo"), max_examples=500
)
# `mutant`: a mutant run only needs to see a test fail, not a minimal example.
settings.register_profile(
    "mutant",
    parent=settings.get_profile("repo"),
    max_examples=15,
    phases=[p for p in settings.get_profile("repo").phases if p.name != "shrink"],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repo"))
