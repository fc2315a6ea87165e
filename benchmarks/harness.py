"""Benchmark harness: time a snippet function against torch in one process, interleaved.

Each case is a pair of zero-argument callables (ours, torch's), with optionally a third: ours
under ``torch.compile(fullgraph=True)`` (issue 16: eager against compiled against torch). Rounds
rotate the order of the callables so drift (frequency scaling, the other core's load) hits all
alike; each round times ``number`` calls; the reported times are medians over rounds and the
ratio is ours / torch's per round, then its median, with the quartiles of the per-round ratios
for the spread (``ratio_q1``, ``ratio_q3``); ``compiled_ratio`` likewise compiled / torch's.

Results go to ``benchmarks/results/<machine>/<suite>.json`` and ``.md``, ``<machine>`` the
slug of the CPU's model name (``machine_slug``), so that every machine keeps its own; the
chapters include ``benchmarks/results/<suite>.md``, generated from every machine's folder with
one tab per machine (``combined_markdown``), rewritten after each run.
"""

import ctypes
import datetime
import importlib
import json
import os
import pathlib
import platform
import statistics
import subprocess
import time

import numpy as np
import torch

from benchmarks.machines import machine_name, machine_slug

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


def compiled(f):
    """``f`` under ``torch.compile`` as the benchmarks time it: one graph (``fullgraph=True``),
    static shapes, the default (Inductor) backend. It compiles on its first call."""
    return torch.compile(f, fullgraph=True, dynamic=False)


def one_line(error: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    message = str(error).strip().splitlines()
    return (
        f"{type(error).__name__}: {message[0] if message else ''}".strip().removesuffix(
            ":"
        )
    )


def time_pair(
    ours, reference, rounds: int = 15, number: int = 0, warmup: int = 2, compiled=None
) -> dict:
    """Median seconds per call of each, and the median and quartiles (``ratio_q1``,
    ``ratio_q3``) of the per-round ratios ours/reference.

    ``compiled``, if given, is ours under ``torch.compile``: its first call (the compile) is
    part of the warm-up and is not timed; it is then timed in the same rounds, the order of
    the three rotating from round to round, and the result gains ``compiled_s`` and
    ``compiled_ratio`` (compiled / reference, median of the rounds). If the compile or a
    warm-up call of it fails (no C++ compiler, a graph break), the result gains
    ``compiled_error``, one line, and the other two are timed as without it."""
    calls = [ours, reference]
    error = None
    if compiled is not None:
        try:
            for _ in range(max(warmup, 1)):
                compiled()  # the first call compiles
            calls.append(compiled)
        except Exception as e:  # noqa: BLE001  (any failure of the compiler is a result)
            error = one_line(e)
    for f in (ours, reference) * warmup:
        f()  # warm-up: first-call allocation, dispatch caches
    if number == 0:  # enough calls for a round of about 20 ms
        start = time.perf_counter()
        reference()
        number = max(1, int(0.02 / max(time.perf_counter() - start, 1e-7)))
    times = [[] for _ in calls]
    for r in range(rounds):
        shift = r % len(calls)  # rotate the order: each callable goes first in turn
        for i in [*range(shift, len(calls)), *range(shift)]:
            f = calls[i]
            start = time.perf_counter()
            for _ in range(number):
                f()
            times[i].append((time.perf_counter() - start) / number)
    t_ours, t_ref = times[0], times[1]
    ratios = [a / b for a, b in zip(t_ours, t_ref)]
    q1, _, q3 = (
        statistics.quantiles(ratios, n=4, method="inclusive")
        if rounds > 1
        else ratios * 3
    )
    out = {
        "ours_s": statistics.median(t_ours),
        "torch_s": statistics.median(t_ref),
        "ratio": statistics.median(ratios),
        "ratio_q1": q1,
        "ratio_q3": q3,
        "rounds": rounds,
        "calls_per_round": number,
    }
    if len(calls) == 3:
        out["compiled_s"] = statistics.median(times[2])
        out["compiled_ratio"] = statistics.median(
            a / b for a, b in zip(times[2], t_ref)
        )
    elif error is not None:
        out["compiled_error"] = error
    return out


def machine() -> dict:
    """Where and when the numbers were measured."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":!benchmarks/results",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
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
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "commit": commit,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }


def machines(results_dir: pathlib.Path = RESULTS) -> list[pathlib.Path]:
    """The machine folders under ``results_dir``, sorted by name."""
    return sorted(
        d
        for d in pathlib.Path(results_dir).iterdir()
        if d.is_dir() and any(d.glob("*.json"))
    )


def suite_markdown(suite: str):
    """The suite's own Markdown function: ``results_markdown`` of ``benchmarks.bench_<suite>``,
    or ``markdown_table`` where it has none."""
    module = importlib.import_module(f"benchmarks.bench_{suite}")
    return getattr(module, "results_markdown", markdown_table)


def combined_markdown(suite: str, results_dir: pathlib.Path = RESULTS) -> str:
    """What the chapters include: one pymdownx.tabbed tab per machine that has results of the
    suite, each with that machine's Markdown (as its folder holds it), in folder order."""
    parts = []
    for folder in machines(results_dir):
        if not (folder / f"{suite}.json").exists():
            continue
        results = json.loads((folder / f"{suite}.json").read_text())
        body = (folder / f"{suite}.md").read_text()
        parts.append(
            f'=== "{machine_name(results["machine"]["cpu"])}"\n\n'
            + "".join(
                f"    {line}" if line.strip() else line
                for line in body.splitlines(keepends=True)
            )
        )
    return "\n".join(parts)


def write_results(results: dict, results_dir: pathlib.Path = RESULTS) -> pathlib.Path:
    """Write ``<machine>/<suite>.json`` and its ``.md`` (the suite's Markdown function), then
    the combined ``<suite>.md`` of every machine. Returns the JSON file's path."""
    suite = results["suite"]
    folder = pathlib.Path(results_dir) / machine_slug(results["machine"]["cpu"])
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{suite}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    (folder / f"{suite}.md").write_text(suite_markdown(suite)(results))
    (pathlib.Path(results_dir) / f"{suite}.md").write_text(
        combined_markdown(suite, results_dir)
    )
    return out


def regenerate(results_dir: pathlib.Path = RESULTS) -> None:
    """Rewrite every machine's ``<suite>.md`` from its JSON, then the combined files: after a
    change to a Markdown function, or results copied in from another machine."""
    suites = set()
    for folder in machines(results_dir):
        for file in sorted(folder.glob("*.json")):
            results = json.loads(file.read_text())
            suite = results["suite"]
            (folder / f"{suite}.md").write_text(suite_markdown(suite)(results))
            suites.add(suite)
    for suite in sorted(suites):
        combined = combined_markdown(suite, results_dir)
        (pathlib.Path(results_dir) / f"{suite}.md").write_text(combined)


def run_suite(
    suite: str,
    cases: list[dict],
    threads: int = 2,
    extra: dict | None = None,
    write: bool = True,
) -> dict:
    """Time every case, print a table, and (with ``write``) write the results
    (``write_results``).

    A case is ``{"name", "ours", "torch", "goal"}``, with ``"flops"`` and ``"compiled"``
    optional: ``goal`` is the largest acceptable ratio of ours (eager) to torch (None where the
    comparison sets none; ``meets_goal`` is then None), ``flops`` the floating-point operations
    of one call (for GFLOP/s), ``compiled`` ours under ``torch.compile`` (see ``time_pair``;
    Dynamo's caches are reset before each case, so every case compiles afresh).
    ``"rounds"``, ``"number"`` and ``"warmup"``, if given, go to ``time_pair`` (for slow calls).
    ``extra`` is stored beside the cases (measurements that are not timings).
    """
    stable_allocation()
    torch.set_num_threads(threads)
    rows = []
    print(
        f"{'case':58s} {'ours ms':>9s} {'torch ms':>9s} {'ratio':>6s} {'goal':>5s} "
        f"{'compiled':>8s}"
    )
    for case in cases:
        options = {
            k: case[k] for k in ("rounds", "number", "warmup", "compiled") if k in case
        }
        if "compiled" in case:
            torch._dynamo.reset()  # a fresh compile (and recompile budget) for each case
        timing = time_pair(case["ours"], case["torch"], **options)
        row = {"name": case["name"], "goal": case["goal"], **timing}
        row["meets_goal"] = (
            None if case["goal"] is None else row["ratio"] <= case["goal"]
        )
        if "flops" in case:
            row["ours_gflops"] = case["flops"] / row["ours_s"] / 1e9
            row["torch_gflops"] = case["flops"] / row["torch_s"] / 1e9
        rows.append(row)
        compiled = (
            f"{row['compiled_ratio']:8.2f}"
            if "compiled_ratio" in row
            else "  failed"
            if "compiled_error" in row
            else ""
        )
        print(
            f"{row['name']:58s} {row['ours_s'] * 1e3:9.3f} {row['torch_s'] * 1e3:9.3f} "
            f"{row['ratio']:6.2f} {goal_text(row['goal']):>5s} {compiled} "
            f"{ {True: 'ok', False: 'MISSED', None: ''}[row['meets_goal']] }"
        )
    results = {"suite": suite, "machine": machine(), "cases": rows, **(extra or {})}
    if write:
        out = write_results(results)
        print(f"wrote {out.relative_to(RESULTS.parent.parent)}, its .md and {suite}.md")
    return results


def goal_text(goal: float | None) -> str:
    """A goal as the tables show it: two decimals, or a dash where the case sets none."""
    return "–" if goal is None else f"{goal:.2f}"


def ms(seconds: float | None) -> str:
    """Seconds as the tables' milliseconds, or a dash where not measured."""
    return "–" if seconds is None else f"{seconds * 1e3:.2f}"


def compiled_columns(row: dict) -> str:
    """The "compiled (ms)" and "compiled ratio" cells of a row: dashes where not measured
    (results written before the compiled variants, or a case without one, or a failed compile)."""
    if "compiled_s" not in row:
        return "– | – |"
    return f"{ms(row['compiled_s'])} | {row['compiled_ratio']:.2f} |"


def compiled_notes(results: dict) -> str:
    """A line for each case whose compile failed, with the reason; "" if none failed."""
    failed = [row for row in results["cases"] if "compiled_error" in row]
    if not failed:
        return ""
    return (
        "torch.compile failed for "
        + "; ".join(f"{row['name']} ({row['compiled_error']})" for row in failed)
        + ".\n\n"
    )


def ratio_text(r: float) -> str:
    return f"{r:.2f}" if r >= 0.095 else f"{r:.3f}"


def goals_sentence(results: dict) -> str:
    """Which cases of the run meet their goals, as a sentence: the page says it, generated."""
    rows = [row for row in results["cases"] if row["goal"] is not None]
    missed = [row for row in rows if not row["meets_goal"]]
    where = f"On the {machine_name(results['machine']['cpu'])}"
    if not rows:
        return f"{where}, no case sets a goal."
    if not missed:
        return f"{where}, every case meets its goal ({len(rows)} of {len(rows)})."
    listed = "; ".join(
        f"{row['name']}: {ratio_text(row['ratio'])}, goal {goal_text(row['goal'])}"
        for row in missed
    )
    return (
        f"{where}, {len(rows) - len(missed)} of {len(rows)} cases meet their goal; "
        f"**{len(missed)} {'misses' if len(missed) == 1 else 'miss'} it**: {listed}."
    )


def markdown_table(results: dict) -> str:
    """The results as a Markdown table for the site, with where and when they were measured and
    which cases meet their goals."""
    m = results["machine"]
    gflops = any("ours_gflops" in row for row in results["cases"])
    head = "| case | ours (ms) | torch (ms) | ratio | goal | compiled (ms) | compiled ratio |"
    head += " ours GFLOP/s | torch GFLOP/s |" if gflops else ""
    lines = [head, "|" + "---|" * head.count(" |")]
    for row in results["cases"]:
        line = (
            f"| {row['name']} | {ms(row['ours_s'])} | {ms(row['torch_s'])} | "
            f"{row['ratio']:.2f} | {goal_text(row['goal'])} | {compiled_columns(row)}"
        )
        if gflops and "ours_gflops" in row:
            line += f" {row['ours_gflops']:.0f} | {row['torch_gflops']:.0f} |"
        elif gflops:
            line += " | |"
        lines.append(line)
    lines += [
        "",
        f"Measured {m['date'][:10]} at commit `{m['commit']}` on {m['cpu']} "
        f"({m['torch_threads']} threads), torch {m['torch']}, numpy {m['numpy']}, "
        f"Python {m['python']}: median of {results['cases'][0]['rounds']} interleaved "
        f"rounds, ratio = ours / torch, compiled ratio = ours under torch.compile / "
        f"torch; goals are on the ratio.",
        "",
        compiled_notes(results) + goals_sentence(results),
        "",
    ]
    return "\n".join(lines)
