"""The performance page's figures, drawn from ``benchmarks/results/<machine>/*.json`` at site
build time. The ratio charts show every machine's ratios side by side, one colour per machine;
the S4 scaling and the convolution rates have a panel per machine; the convergence figure
shows the most recent run and names its machine.

``figures(results_dir)`` returns ``{file name: SVG text}``: every figure in two variants,
``<name>-light.svg`` and ``<name>-dark.svg``, with transparent backgrounds and text, axes and
series colours for mkdocs-material's light (white) and dark (slate) palettes; the page shows
one or the other with the ``#only-light`` / ``#only-dark`` suffixes. Each figure is drawn once,
in the light palette; the dark variant swaps every colour for its dark counterpart, so the two
have the same layout and every colour in either comes from its palette. The output is the same
bytes for the same results (fixed SVG hash salt, no date), and text stays text
(``svg.fonttype: none``), which keeps each file small.

Only matplotlib, json and the standard library: the site build does not import torch (the
machine names come from ``benchmarks/machines.py``, which imports nothing else).
"""

import importlib.util
import io
import json
import math
import pathlib
import re
import textwrap

import matplotlib

matplotlib.use("Agg")
from matplotlib.backends.backend_agg import RendererAgg  # noqa: E402  (after the backend)
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullLocator  # noqa: E402


def _load_machines():
    """benchmarks/machines.py, loaded from its file: the site's hook loads this file the same
    way, without the repository on ``sys.path``."""
    path = pathlib.Path(__file__).resolve().with_name("machines.py")
    spec = importlib.util.spec_from_file_location("benchmarks_machines", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


machine_name = _load_machines().machine_name

SUITES = ["einsum", "conv", "logistic_regression", "s4"]
TITLES = {
    "einsum": "einsum_vjp against autograd",
    "conv": "conv1d / conv2d against torch's native convolution",
    "logistic_regression": "logistic regression against torch",
    "s4": "S4 kernels against plain PyTorch baselines",
}
REFERENCE = {"s4": "baseline"}  # what the ratio divides by, where it is not "torch"

# Text and series colours for each palette: mkdocs-material's default (white background) and
# slate (#1e2129-ish background). Series colours are picked per palette for contrast.
PALETTES = {
    "light": {
        "text": "#1f2328",
        "muted": "#57606a",
        "grid": "#d8dee4",
        "ours": "#3457b2",
        "torch": "#c2661b",
        "missed": "#c62828",
        "neutral": "#7a828e",
    },
    "dark": {
        "text": "#e3e6ed",
        "muted": "#a8afbd",
        "grid": "#3b4150",
        "ours": "#8fb0ff",
        "torch": "#f3a25c",
        "missed": "#ff7b72",
        "neutral": "#9aa3b2",
    },
}


def style(p: dict) -> dict:
    """matplotlib rc settings for one palette: transparent, deterministic, text as text."""
    return {
        "svg.hashsalt": "executable-ml-notes",
        "svg.fonttype": "none",
        "font.family": "sans-serif",
        "font.size": 9,
        "figure.facecolor": "none",
        "axes.facecolor": "none",
        "savefig.facecolor": "none",
        "savefig.transparent": True,
        "text.color": p["text"],
        "axes.labelcolor": p["text"],
        "axes.edgecolor": p["muted"],
        "xtick.color": p["muted"],
        "ytick.color": p["muted"],
        "xtick.labelcolor": p["text"],
        "ytick.labelcolor": p["text"],
        "grid.color": p["grid"],
        "grid.linewidth": 0.6,
        "legend.frameon": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }


WIDTH = 8.0  # inches, every figure


def text_width(labels: list[str], size: float) -> float:
    """Width in inches of the widest line of ``labels`` at font ``size``, as matplotlib lays it
    out (measured once, instead of a layout engine measuring every artist on every pass)."""
    renderer = RendererAgg(1, 1, 72)
    font = FontProperties(size=size)
    return (
        max(
            renderer.get_text_width_height_descent(line, font, ismath=False)[0]
            for label in labels
            for line in label.splitlines()
        )
        / 72
    )


def frame(
    fig: Figure, left: float, right: float, top: float, bottom: float, **grid
) -> None:
    """Margins around the axes, in inches."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(
        left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h, **grid
    )


def to_svg(fig: Figure) -> str:
    out = io.StringIO()
    fig.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


# --- ratio charts ------------------------------------------------------------------------------


def number(v: float) -> str:
    """A tick label without mathtext (which is slow to lay out): 0.05, 20, 1e-8."""
    return (
        f"{v:g}"
        if 1e-3 <= v <= 1e5
        else f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")
    )


def log_labels(axis) -> None:
    """Label a log axis's major ticks with plain numbers, and give it no minor ticks."""
    axis.set_major_formatter(FuncFormatter(lambda v, _: number(v)))
    axis.set_minor_locator(NullLocator())


def log_ticks(ax, lo: float, hi: float) -> None:
    """Major ticks at 1, 2 and 5 times the powers of ten between lo and hi, written plainly."""
    ticks = [
        m * 10.0**e
        for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        for m in (1, 2, 5)
        if lo <= m * 10.0**e <= hi
    ]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xticks([], minor=True)


# The series colours of the palettes, one per machine in folder order (a fourth machine would
# reuse the first colour: add one to both palettes then).
MACHINE_COLOURS = ("ours", "torch", "neutral")


def machine_label(results: dict) -> str:
    """A machine as the figures name it: its model name (the results folders' tab titles)."""
    return machine_name(results["machine"]["cpu"])


def ratio_chart(runs: dict, p: dict) -> Figure:
    """One group per case, one horizontal bar per machine (``runs``: {machine folder: results},
    one colour each), from 1 to its median ratio on a log scale, with the quartiles of the
    per-round ratios as error bars (when recorded), the compiled ratio as a diamond (when
    measured) and the goal as a mark; a bar that misses its goal has an outline in the
    "missed" colour, and its ratio, in the column on the right, is written in that colour."""
    machines = list(runs)
    first = next(iter(runs.values()))
    names = list(
        dict.fromkeys(row["name"] for r in runs.values() for row in r["cases"])
    )
    rows_of = {m: {row["name"]: row for row in runs[m]["cases"]} for m in machines}
    n = len(machines)
    pitch = 0.8 / n  # each machine's slot within a case's unit of height
    fig = Figure(figsize=(WIDTH, 1.3 + (0.2 + 0.22 * n) * len(names)))
    ax = fig.add_subplot()
    ax.set_xscale("log")
    y = list(range(len(names)))[::-1]  # first case on top
    values = [1.0]
    column = ax.get_yaxis_transform()  # x in axes fractions, y in data
    missed = compiled_shown = spread = False
    for yi, case in zip(y, names):
        for j, m in enumerate(machines):
            row = rows_of[m].get(case)
            if row is None:
                continue
            yj = yi + (n - 1) / 2 * pitch - j * pitch  # first machine on top
            r = row["ratio"]
            colour = p[MACHINE_COLOURS[j % len(MACHINE_COLOURS)]]
            miss = row.get("meets_goal") is False
            missed |= miss
            ax.barh(
                yj,
                abs(r - 1),
                left=min(r, 1),
                height=pitch * 0.85,
                color=colour,
                edgecolor=p["missed"] if miss else colour,
                linewidth=1.4 if miss else 0,
            )
            values.append(r)
            if "ratio_q1" in row:
                spread = True
                ax.errorbar(
                    r,
                    yj,
                    xerr=[[r - row["ratio_q1"]], [row["ratio_q3"] - r]],
                    fmt="none",
                    color=p["text"],
                    elinewidth=0.9,
                    capsize=2,
                )
                values += [row["ratio_q1"], row["ratio_q3"]]
            if "compiled_ratio" in row:
                compiled_shown = True
                ax.plot(
                    [row["compiled_ratio"]],
                    [yj],
                    marker="D",
                    markersize=3.5,
                    color=p["text"],
                    linewidth=0,
                )
                values.append(row["compiled_ratio"])
            ax.text(
                1.015,
                yj,
                ratio_text(r),
                transform=column,
                va="center",
                fontsize=8 if n == 1 else 7,
                color=p["missed"] if miss else p["text"],
            )
        goals = {rows_of[m][case]["goal"] for m in machines if case in rows_of[m]} - {
            None
        }
        for goal in goals:
            ax.plot(
                [goal] * 2,
                [yi - 0.45, yi + 0.45],
                color=p["text"],
                linewidth=1.6,
                linestyle=(0, (2, 1)),
            )
            values.append(goal)
    ax.text(
        1.015,
        len(names) - 0.45,
        "ratio",
        transform=column,
        va="bottom",
        fontsize=8,
        color=p["muted"],
    )
    lo, hi = min(values) / 1.5, max(values) * 1.5
    ax.set_xlim(lo, hi)
    log_ticks(ax, lo, hi)
    ax.axvline(1, color=p["text"], linewidth=1)
    labels = [textwrap.fill(name, 52) for name in names]
    ax.set_yticks(y, labels, fontsize=8)
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(-0.6, len(names) - 0.4)
    frame(fig, left=text_width(labels, 8) + 0.2, right=0.5, top=0.35, bottom=0.85)
    ax.grid(axis="x", which="major")
    ax.set_xlabel(
        f"time ours / time {REFERENCE.get(first['suite'], 'torch')}, median of the "
        "rounds (log scale; left of 1: ours faster)"
    )
    ax.set_title(TITLES.get(first["suite"], first["suite"]), loc="left", fontsize=10)
    legend = [
        Patch(
            color=p[MACHINE_COLOURS[j % len(MACHINE_COLOURS)]],
            label=machine_label(runs[m]),
        )
        for j, m in enumerate(machines)
    ]
    legend.append(
        Line2D(
            [], [], color=p["text"], linewidth=1.6, linestyle=(0, (2, 1)), label="goal"
        )
    )
    if missed:
        legend.append(
            Patch(
                facecolor="none",
                edgecolor=p["missed"],
                linewidth=1.4,
                label="misses its goal",
            )
        )
    if spread:
        legend.append(
            Line2D(
                [], [], color=p["text"], linewidth=0.9, marker="|", label="quartiles"
            )
        )
    if compiled_shown:
        legend.append(
            Line2D(
                [],
                [],
                color=p["text"],
                linewidth=0,
                marker="D",
                markersize=3.5,
                label="torch.compile",
            )
        )
    fig.legend(
        handles=legend,
        loc="lower center",
        ncol=len(legend),
        fontsize=8,
        handlelength=1.6,
    )
    return fig


def ratio_text(r: float) -> str:
    return f"{r:.2f}" if r >= 0.095 else f"{r:.3f}"


# --- S4 scaling --------------------------------------------------------------------------------


def s4_scaling(runs: dict, p: dict) -> Figure:
    """Seconds per call against L (at N) and against N (at L), ours and the baselines: a row
    of two panels per machine (``runs``: {machine folder: results}), the same axes ranges."""
    runs = {m: r for m, r in runs.items() if "scaling" in r}
    fig = Figure(figsize=(WIDTH, 0.9 + 2.7 * len(runs)))
    axes = fig.subplots(len(runs), 2, squeeze=False, sharey="col")
    frame(fig, left=0.75, right=0.2, top=0.35, bottom=0.85, wspace=0.22, hspace=0.55)
    colours = {"kernel_nplr": p["ours"], "kernel_s4d": p["torch"]}
    for row, results in zip(axes, runs.values()):
        scaling = results["scaling"]
        for ax, axis, other in zip(row, ("L", "N"), ("N", "L")):
            s = scaling[axis]
            for kernel, colour in colours.items():
                ax.plot(
                    s[axis],
                    [t * 1e3 for t in s[kernel]["ours_s"]],
                    "o-",
                    color=colour,
                    linewidth=1.5,
                    markersize=4,
                    label=kernel,
                )
                ax.plot(
                    s[axis],
                    [t * 1e3 for t in s[kernel]["baseline_s"]],
                    "x--",
                    color=colour,
                    linewidth=1.2,
                    markersize=5,
                    label=f"{kernel} baseline",
                )
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(s[axis], [str(v) for v in s[axis]])
            log_labels(ax.yaxis)
            ax.xaxis.set_minor_locator(NullLocator())
            ax.grid(which="major")
            ax.set_xlabel(
                f"{axis} (at {other} = {s[other]}, H = {results['setup']['H']})"
            )
        row[0].set_ylabel("ms per call (median)")
        name = machine_label(results)
        row[0].set_title(
            f"time against the sequence length L, {name}", loc="left", fontsize=10
        )
        row[1].set_title(
            f"time against the state size N, {name}", loc="left", fontsize=10
        )
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8)
    return fig


# --- conv rates --------------------------------------------------------------------------------


def conv_gflops(runs: dict, p: dict) -> Figure:
    """GFLOP/s of each pass, ours and torch's, against the machine's matrix-product rate: a
    panel per machine (``runs``: {machine folder: results}), side by side, the same scale."""
    runs = {m: r for m, r in runs.items() if "gemm_gflops" in r}
    first = next(iter(runs.values()))
    rows = [row for row in first["cases"] if "ours_gflops" in row]
    fig = Figure(figsize=(WIDTH, 1.5 + 0.5 * len(rows)))
    axes = fig.subplots(1, len(runs), squeeze=False, sharey=True)[0]
    labels = [textwrap.fill(r["name"], 40) for r in rows]
    frame(
        fig,
        left=text_width(labels, 8) + 0.2,
        right=0.2,
        top=0.55,
        bottom=0.85,
        wspace=0.1,
    )
    y = list(range(len(rows)))[::-1]
    top = 1.08 * max(
        max(
            r["gemm_gflops"],
            *(row["ours_gflops"] for row in r["cases"] if "ours_gflops" in row),
            *(row["torch_gflops"] for row in r["cases"] if "torch_gflops" in row),
        )
        for r in runs.values()
    )
    for ax, results in zip(axes, runs.values()):
        by_name = {row["name"]: row for row in results["cases"]}
        here = [by_name.get(row["name"]) for row in rows]
        ax.barh(
            [v + 0.19 for v, r in zip(y, here) if r],
            [r["ours_gflops"] for r in here if r],
            height=0.36,
            color=p["ours"],
            label="ours",
        )
        ax.barh(
            [v - 0.19 for v, r in zip(y, here) if r],
            [r["torch_gflops"] for r in here if r],
            height=0.36,
            color=p["torch"],
            label="torch",
        )
        gemm = results["gemm_gflops"]
        ax.axvline(
            gemm,
            color=p["text"],
            linewidth=1.2,
            linestyle=(0, (2, 1)),
            label="float32 matrix product (4096, 1024) @ (1024, 1024)",
        )
        ax.text(
            gemm,
            len(rows) - 0.3,
            f" {gemm:.0f}",
            va="bottom",
            fontsize=8,
            color=p["text"],
        )
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_xlim(0, top)
        ax.grid(axis="x")
        ax.set_title(machine_label(results), loc="left", fontsize=9)
        ax.set_xlabel("GFLOP/s (2 per multiply-add)")
        ax.tick_params(axis="y", length=0)
    axes[0].set_yticks(y, labels, fontsize=8)
    fig.suptitle(
        "convolution passes against each machine's matrix-product rate",
        x=0.01,
        ha="left",
        fontsize=10,
    )
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=3, fontsize=8)
    return fig


# --- logistic regression: convergence ----------------------------------------------------------


def lr_convergence(results: dict, p: dict) -> Figure:
    """Relative objective gap against iterations, fit's gradient descent and L-BFGS, with the
    tolerance both are timed to and the measured times to reach it."""
    conv = results["convergence"]
    timed = next(
        row for row in results["cases"] if row["name"].startswith("fit vs torch.optim")
    )
    fig = Figure(figsize=(WIDTH, 3.4))
    ax = fig.add_subplot()
    frame(fig, left=0.85, right=0.2, top=0.35, bottom=0.55)
    floor = conv["tolerance"] / 100  # gaps at or below rounding show at the floor
    last = max(conv["fit"]["to_tolerance"], conv["lbfgs"]["to_tolerance"])
    for key, colour, label, seconds in (
        ("fit", p["ours"], "fit: gradient descent, step 1/L", timed["ours_s"]),
        ("lbfgs", p["torch"], "torch.optim.LBFGS, strong Wolfe", timed["torch_s"]),
    ):
        x = conv[key]["steps" if key == "fit" else "iterations"]
        ax.plot(
            x,
            [max(g, floor) for g in conv[key]["gap"]],
            "-",
            color=colour,
            linewidth=1.6,
            label=label,
            marker="o" if key == "lbfgs" else None,
            markersize=3,
        )
        k = conv[key]["to_tolerance"]
        ax.annotate(
            f"{k} {'steps' if key == 'fit' else 'iterations'}, {seconds * 1e3:.0f} ms",
            (k, max(conv[key]["gap"][-1], floor)),
            xytext=(0, -14),
            textcoords="offset points",
            va="top",
            fontsize=8,
            color=colour,
            ha="right" if k == last else "center",
        )
    ax.axhline(
        conv["tolerance"],
        color=p["text"],
        linewidth=1,
        linestyle=(0, (2, 1)),
        label=f"tolerance {conv['tolerance']:.0e}".replace("e-0", "e-"),
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    log_labels(ax.yaxis)
    ax.set_ylim(floor / 10, None)
    log_ticks(ax, 1, last)
    ax.grid(which="major")
    ax.set_xlabel(
        "iterations (one gradient per step of fit; L-BFGS may evaluate more per "
        "iteration)"
    )
    ax.set_ylabel("(objective - optimum) / optimum")
    ax.set_title(
        "fit against L-BFGS on the chapter's data (times: medians to the tolerance, "
        f"{machine_label(results)})",
        loc="left",
        fontsize=10,
    )
    ax.legend(loc="upper right", fontsize=8)
    return fig


# --- all of them -------------------------------------------------------------------------------


def load(results_dir: pathlib.Path) -> dict:
    """{suite: {machine folder: results}} of every suite that has a file in a machine folder
    of ``results_dir`` (folders in name order)."""
    out = {}
    folders = sorted(d for d in pathlib.Path(results_dir).iterdir() if d.is_dir())
    for suite in SUITES:
        runs = {
            d.name: json.loads((d / f"{suite}.json").read_text())
            for d in folders
            if (d / f"{suite}.json").exists()
        }
        if runs:
            out[suite] = runs
    return out


def latest(runs: dict, key: str) -> dict | None:
    """The most recent of the runs (by date, then folder name) that recorded ``key``."""
    have = [(r["machine"]["date"], m) for m, r in runs.items() if key in r]
    return runs[max(have)[1]] if have else None


def figures(results_dir: pathlib.Path) -> dict[str, str]:
    """{file name: SVG text} of every figure of the performance page, light and dark."""
    results = load(pathlib.Path(results_dir))
    drawings = [
        (f"ratio-{suite}", ratio_chart, runs) for suite, runs in results.items()
    ]
    for suite, key, name, draw in (
        ("s4", "scaling", "s4-scaling", s4_scaling),
        ("conv", "gemm_gflops", "conv-gflops", conv_gflops),
    ):
        if any(key in r for r in results.get(suite, {}).values()):
            # every machine's, a panel each
            drawings.append((name, draw, results[suite]))
    run = latest(results.get("logistic_regression", {}), "convergence")
    if run is not None:
        drawings.append(("logistic_regression-convergence", lr_convergence, run))
    out = {}
    light, dark = PALETTES["light"], PALETTES["dark"]
    swap = {light[key]: dark[key] for key in light}
    assert len(swap) == len(light), "the light palette's colours must be distinct"
    for name, draw, data in drawings:
        with matplotlib.rc_context(style(light)):
            svg = to_svg(draw(data, light))
        out[f"{name}-light.svg"] = svg
        # The dark variant is the same drawing with each colour of the light palette swapped
        # for its dark counterpart (one pass, so a swapped colour is not swapped again).
        out[f"{name}-dark.svg"] = re.sub(
            "|".join(map(re.escape, swap)), lambda m: swap[m.group()], svg
        )
    return out


# a look without building the site: python -m benchmarks.plots DIR
if __name__ == "__main__":
    import sys

    target = pathlib.Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    for file, svg in figures(
        pathlib.Path(__file__).resolve().parent / "results"
    ).items():
        (target / file).write_text(svg)
        print(f"{file}: {len(svg.encode()) / 1024:.1f} KiB")
