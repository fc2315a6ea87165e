"""Runs one copied block as a reader would, in a process forked from the copy test's fork server
(tests/site/test_copy.py). Imported by that server before it forks, with the libraries in
``PRELOAD``; nothing from this repository is imported here, and this module takes itself out
of ``sys.modules`` before the copy runs."""

import gc
import os
import sys
import time
import traceback
import types

# What the server imports once, so that a run costs its code rather than the imports (2 s for
# torch alone). Only third-party libraries, never `snippets`: each run imports that itself, as
# installed. Preloading puts nothing in a run's namespace (a block that uses `pytest` without
# importing it still fails), but a preloaded submodule is an attribute of its package, which
# in a fresh interpreter it is not before something imports it: for the two of those that a
# fresh `import torch` lacks, the test checks that no copy uses them without importing them
# (`NOT_YET_ATTRIBUTES`).
PRELOAD = [
    "torch",
    "numpy",
    "pytest",
    "einops",  # what the blocks import
    "torch._dynamo",
    "numpy.random",  # a fresh interpreter imports these on
    # first attribute access (its package's
    # __getattr__): 1.5 s in 11 runs
    "torch.distributed.tensor",  # the first assert_close imports it (0.9 s)
    "torch._decomp.decompositions_for_jvp",  # the first torch.func.jvp imports it
    "tests.site.copy_runner",
]
NOT_YET_ATTRIBUTES = [
    "torch.distributed.tensor",
    "torch._decomp.decompositions_for_jvp",
]


def run_copy(text: str, filename: str, workdir: str, sys_path: list[str]) -> dict:
    """Run ``text`` as ``python <filename>`` would in a fresh interpreter started in ``workdir``
    (its ``sys.path``: ``sys_path``): a new ``__main__`` module, the repository off the path,
    output to ``<filename>.log``. Returns the traceback (None if it ran) and the output."""
    for name in [m for m in sys.modules if m == "tests" or m.startswith("tests.")]:
        # this module and its package: a reader has no tests/ to import
        del sys.modules[name]
    import torch

    torch.set_num_threads(1)  # two runs share two cores
    os.chdir(workdir)
    sys.path[:] = [workdir, *sys_path]
    sys.argv = [filename]
    log = filename + ".log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    main = types.ModuleType("__main__")
    main.__file__ = filename
    sys.modules["__main__"] = main
    with open(filename, "w", encoding="utf8") as f:
        f.write(text)
    start, error = time.perf_counter(), None
    try:
        exec(compile(text, filename, "exec"), main.__dict__)
    except BaseException:  # noqa: BLE001 (SystemExit too: a reader's run would stop there)
        kind, value, tb = sys.exc_info()
        # not this frame
        error = "".join(traceback.format_exception(kind, value, tb.tb_next))
    seconds = time.perf_counter() - start
    sys.stdout.flush()
    sys.stderr.flush()
    with open(log, errors="replace") as f:
        output = f.read()
    return {"error": error, "output": output[-3000:], "seconds": seconds}


def child(conn, text: str, filename: str, workdir: str, sys_path: list[str]) -> None:
    """A forked process's work: run the copy, send back what ``run_copy`` returns."""
    os.nice(10)  # the tests in the foreground, meanwhile, come first
    gc.freeze()  # the preloaded libraries: this run's garbage collections skip them (otherwise
    #              each full collection walks, and so copies, the server's whole heap)
    try:
        result = run_copy(text, filename, workdir, sys_path)
    except BaseException:  # noqa: BLE001 (a failure of this runner, not of the copy)
        result = {
            "error": "the runner failed:\n" + traceback.format_exc(),
            "output": "",
            "seconds": 0.0,
        }
    conn.send(result)
    conn.close()
