"""Benchmark harness: time a snippet function against torch in one process, interleaved.

Each case is a pair of zero-argument callables (ours, torch's). Rounds alternate between
them so drift (frequency scaling, the other core's load) hits both alike; each round times
``number`` calls; the reported times are medians over rounds and the ratio is ours / torch's
per round, then its median, with the quartiles of the per-round ratios for the spread
(``ratio_q1``, ``ratio_q3``). Results go to ``benchmarks/results/<suite>.json`` for the site.
"""

import ctypes
import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import time

import numpy as np
import torch

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def stable_allocation() -> None:
    """Pin glibc's mmap threshold so large tensors are not mmapped and unmapped per call.

    By default glibc mmaps blocks above a threshold that it moves at run time; a tensor that
    lands on either side of it is page-faulted afresh or reused, moving timings by up to 2x.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc: nothing to pin
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    libc.mallopt(M_MMAP_THRESHOLD, 1 << 30)
    libc.mallopt(M_TRIM_THRESHOLD, 1 << 31 - 1)


def time_pair(ours, reference, rounds: int = 15, number: int = 0, warmup: int = 2) -> dict:
    """Median seconds per call of each, and the median and quartiles (``ratio_q1``,
    ``ratio_q3``) of the per-round ratios ours/reference."""
    for f in (ours, reference) * warmup:
        f()  # warm-up: first-call allocation, dispatch caches
    if number == 0:  # enough calls for a round of about 20 ms
        start = time.perf_counter()
        reference()
        number = max(1, int(0.02 / max(time.perf_counter() - start, 1e-7)))
    t_ours, t_ref = [], []
    for r in range(rounds):
        for f, out in ((ours, t_ours), (reference, t_ref))[:: 1 if r % 2 == 0 else -1]:
            start = time.perf_counter()
            for _ in range(number):
                f()
            out.append((time.perf_counter() - start) / number)
    ratios = [a / b for a, b in zip(t_ours, t_ref)]
    q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive") if rounds > 1 else ratios * 3
    return {
        "ours_s": statistics.median(t_ours),
        "torch_s": statistics.median(t_ref),
        "ratio": statistics.median(ratios),
        "ratio_q1": q1,
        "ratio_q3": q3,
        "rounds": rounds,
        "calls_per_round": number,
    }


def machine() -> dict:
    """Where and when the numbers were measured."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":!benchmarks/results"],
                               capture_output=True, text=True, check=True).stdout.strip()
        commit += "+uncommitted changes" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }


def run_suite(suite: str, cases: list[dict], threads: int = 2, extra: dict | None = None) -> dict:
    """Time every case, print a table, and write ``results/<suite>.json`` and ``.md``.

    A case is ``{"name", "ours", "torch", "goal"}``, with ``"flops"`` optional: ``goal`` is the
    largest acceptable ratio (None where the comparison sets none; ``meets_goal`` is then None),
    ``flops`` the floating-point operations of one call (for GFLOP/s).
    ``"rounds"``, ``"number"`` and ``"warmup"``, if given, go to ``time_pair`` (for slow calls).
    ``extra`` is stored beside the cases (measurements that are not timings).
    """
    stable_allocation()
    torch.set_num_threads(threads)
    rows = []
    print(f"{'case':58s} {'ours ms':>9s} {'torch ms':>9s} {'ratio':>6s} {'goal':>5s}")
    for case in cases:
        options = {k: case[k] for k in ("rounds", "number", "warmup") if k in case}
        timing = time_pair(case["ours"], case["torch"], **options)
        row = {"name": case["name"], "goal": case["goal"], **timing}
        row["meets_goal"] = None if case["goal"] is None else row["ratio"] <= case["goal"]
        if "flops" in case:
            row["ours_gflops"] = case["flops"] / row["ours_s"] / 1e9
            row["torch_gflops"] = case["flops"] / row["torch_s"] / 1e9
        rows.append(row)
        print(f"{row['name']:58s} {row['ours_s'] * 1e3:9.3f} {row['torch_s'] * 1e3:9.3f} "
              f"{row['ratio']:6.2f} {goal_text(row['goal']):>5s} "
              f"{ {True: 'ok', False: 'MISSED', None: ''}[row['meets_goal']] }")
    results = {"suite": suite, "machine": machine(), "cases": rows, **(extra or {})}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{suite}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{suite}.md").write_text(markdown_table(results))
    print(f"wrote {out.relative_to(RESULTS.parent.parent)} and {suite}.md")
    return results


def goal_text(goal: float | None) -> str:
    """A goal as the tables show it: two decimals, or a dash where the case sets none."""
    return "–" if goal is None else f"{goal:.2f}"


def markdown_table(results: dict) -> str:
    """The results as a Markdown table for the site, with where and when they were measured."""
    m = results["machine"]
    gflops = any("ours_gflops" in row for row in results["cases"])
    head = "| case | ours (ms) | torch (ms) | ratio | goal |"
    head += " ours GFLOP/s | torch GFLOP/s |" if gflops else ""
    lines = [head, "|" + "---|" * head.count(" |")]
    for row in results["cases"]:
        line = (f"| {row['name']} | {row['ours_s'] * 1e3:.2f} | {row['torch_s'] * 1e3:.2f} | "
                f"{row['ratio']:.2f} | {goal_text(row['goal'])} |")
        if gflops and "ours_gflops" in row:
            line += f" {row['ours_gflops']:.0f} | {row['torch_gflops']:.0f} |"
        elif gflops:
            line += " | |"
        lines.append(line)
    lines += ["", f"Measured {m['date'][:10]} at commit `{m['commit']}` on {m['cpu']} "
                  f"({m['torch_threads']} threads), torch {m['torch']}, numpy {m['numpy']}, "
                  f"Python {m['python']}: median of {results['cases'][0]['rounds']} interleaved "
                  f"rounds, ratio = ours / torch.", ""]
    return "\n".join(lines)
