"""Imported once by the mutant runs' fork server (tests/mutation/test_mutants.py): what every run would
otherwise do first, done before the fork. Nothing here is from the project under test."""

import hypothesis.internal.conjecture.providers
import hypothesis.internal.entropy
import torch
import torch.distributed.tensor  # noqa: F401  (the first torch.testing.assert_close imports it)

# registers hypothesis' own PRNG once:
with hypothesis.internal.entropy.deterministic_PRNG():
    pass  # a gc.collect() over the whole heap
# Hypothesis scans every module in sys.modules for constants the first time it draws, and
# remembers which it has seen: scanning the preloaded ones here leaves each run only its own.
hypothesis.internal.conjecture.providers._get_local_constants()
del torch
