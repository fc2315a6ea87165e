"""snippets.s4's convolution kernels against plain PyTorch versions, float32, 2 threads.

kernel_nplr (HiPPO-LegS in NPLR form) is timed against the generating function, Cauchy kernel
and Woodbury identity done the plain way in complex64, the whole (H, L, N) Cauchy matrix at
once, as the official S4 repository's pure-PyTorch path does (``cauchy_naive``). kernel_s4d
(S4D-Lin, zero-order hold) is timed against the (H, N, L) Vandermonde matrix materialised in
complex64 and contracted, as the official S4D kernel does. Both float32 results are compared
with the same snippet functions in complex128; the peak extra memory at the largest L is
measured in fresh processes. Run with ``python3 tasks.py bench s4``.
"""

import math
import subprocess
import sys

import torch

from benchmarks.bench_conv import status_bytes
from benchmarks.harness import (
    compiled,
    compiled_columns,
    compiled_notes,
    goals_sentence,
    run_suite,
    stable_allocation,
    write_results,
)
from snippets.s4 import kernel_nplr, kernel_s4d, nplr_legs

H, N = 256, 64
LENGTHS = [1024, 4096, 16384]  # scaling in L, at N
STATES = [16, 32, 64, 128]  # scaling in N, at L = 4096
L_N, L_MAX = 4096, 16384
# ours / baseline at L_MAX; 1.0 elsewhere
GOALS = {
    "kernel_nplr": 1 / 3,
    "kernel_s4d": 1 / 25,
}
ERROR_GOAL = 1e-4  # relative L2 error of float32 against complex128
MEMORY_GOAL = {"kernel_nplr": 2 * 10**9}  # peak extra bytes at L_MAX


# --- the baselines -----------------------------------------------------------------------------


def nplr_baseline(Lambda, P, Q, B, C, step, L: int):
    """kernel_nplr (rank 1) the plain way, in the inputs' precision: C~ = C (I - A_bar^L), then
    at each root of unity z, with g = 2/step (1 - z)/(1 + z) and R = 1 / (g - Lambda) as one
    (H, L, N) matrix, K^(z) = 2/(1 + z) (k00 - k01 k10 / (1 + k11)), and an inverse FFT. The
    four Cauchy sums are one batched product with R (cauchy_naive divides each weight vector
    separately, four (H, N, L) matrices: one is the kinder baseline)."""
    assert P.shape[-2] == 1, "the baseline is for rank 1"
    cdtype = Lambda.dtype
    s = step.to(Lambda.real.dtype)[:, None]  # (H, 1)
    eye = torch.eye(Lambda.shape[-1], dtype=cdtype)
    A = torch.diag_embed(Lambda) - P.mT @ Q.conj()
    half = (s / 2)[..., None]
    A_bar = torch.linalg.solve(eye - half * A, eye + half * A)
    C_t = C - (C[:, None, :] @ torch.linalg.matrix_power(A_bar, L))[:, 0]
    z = torch.exp(-2j * math.pi * torch.arange(L, dtype=torch.float64) / L)
    if L % 2 == 0:
        z[L // 2] = 0  # z = -1: g is infinite there; that value is set exactly below
    g = 2 / s * ((1 - z) / (1 + z)).to(cdtype)  # (H, L)
    R = 1 / (g[:, :, None] - Lambda[:, None, :])  # (H, L, N)
    p, q = P[:, 0], Q[:, 0].conj()
    w = torch.stack([C_t * B, C_t * p, q * B, q * p], -1)  # (H, N, 4)
    k = R @ w  # (H, L, 4)
    K_hat = (k[..., 0] - k[..., 1] * k[..., 2] / (1 + k[..., 3])) * (2 / (1 + z)).to(
        cdtype
    )
    if L % 2 == 0:  # (I + A_bar)^{-1} B_bar = step/2 B
        K_hat[:, L // 2] = s[:, 0] / 2 * (C_t * B).sum(-1)
    return torch.fft.ifft(K_hat, dim=-1)


def s4d_baseline(Lambda, B, C, step, L: int):
    """kernel_s4d (zero-order hold) the plain way, in the inputs' precision: the (H, N, L)
    matrix exp(step Lambda_n i) contracted with C B_bar, B_bar = (exp(step Lambda) - 1)/Lambda B."""
    dtA = Lambda * step.to(Lambda.real.dtype)[:, None]  # (H, N)
    V = torch.exp(dtA[..., None] * torch.arange(L, dtype=Lambda.real.dtype))
    return torch.einsum("hn,hnl->hl", C * B * (torch.exp(dtA) - 1) / Lambda, V)


# --- the systems -------------------------------------------------------------------------------


def steps(h: int, dtype=torch.float32):
    """Log-uniform steps in [1e-3, 1e-1], one per channel, seeded."""
    u = torch.rand(h, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return (10 ** (-3 + 2 * u)).to(dtype)


def random_c(h: int, n: int):
    """C: standard complex normal (H, N), complex128, seeded."""
    return torch.randn(
        h, n, generator=torch.Generator().manual_seed(2), dtype=torch.complex128
    )


def legs_system(n: int, h: int = H, double: bool = False) -> tuple:
    """(Lambda, P, Q, B, C, step) of HiPPO-LegS in NPLR form, expanded to h channels, Q = P."""
    cdtype = torch.complex128 if double else torch.complex64
    Lambda, P, B, _ = nplr_legs(n)
    Lambda, P, B = (
        t.expand(h, *t.shape).to(cdtype).contiguous() for t in (Lambda, P, B)
    )
    step = steps(h, torch.float64 if double else torch.float32)
    return Lambda, P, P, B, random_c(h, n).to(cdtype), step


def s4d_system(n: int, h: int = H, double: bool = False) -> tuple:
    """(Lambda, B, C, step) of S4D-Lin: Lambda_n = -1/2 + i pi n, B = 1, h channels."""
    cdtype = torch.complex128 if double else torch.complex64
    Lambda = torch.complex(
        torch.full((n,), -0.5, dtype=torch.float64),
        math.pi * torch.arange(n, dtype=torch.float64),
    )
    Lambda = Lambda.expand(h, n).to(cdtype).contiguous()
    return (
        Lambda,
        torch.ones(h, n, dtype=cdtype),
        random_c(h, n).to(cdtype),
        steps(h, torch.float64 if double else torch.float32),
    )


SYSTEMS = {
    "kernel_nplr": (legs_system, kernel_nplr, nplr_baseline),
    "kernel_s4d": (s4d_system, kernel_s4d, s4d_baseline),
}


def check_baselines() -> None:
    """Each baseline, run in complex128 on a small size, agrees with its snippet function."""
    for kernel, (system, ours, baseline) in SYSTEMS.items():
        for L in (64, 63):
            args = system(16, h=4, double=True)
            want, got = ours(*args, L), baseline(*args, L)
            err = ((got - want).norm() / want.norm()).item()
            assert err < 1e-10, f"{kernel} baseline is off by {err:.1e} at L = {L}"


# --- measurements ------------------------------------------------------------------------------


def sizes() -> list[tuple[int, int]]:
    """(N, L) of every case: the L series at N, then the rest of the N series at L_N."""
    series_L = [(N, L) for L in LENGTHS]
    return series_L + [(n, L_N) for n in STATES if (n, L_N) not in series_L]


def name(kernel: str, n: int, L: int) -> str:
    """A case's name."""
    return f"{kernel} H={H} N={n} L={L}"


def timing_options(kernel: str, n: int, L: int) -> dict:
    """Fewer rounds, one warm-up call and one call per round where a call takes ~0.1 s or more
    (every s4d baseline; the nplr ones above N L = 2^16); the harness's defaults elsewhere."""
    if kernel == "kernel_nplr" and n * L <= 2**16:
        return {}
    return {"rounds": 5 if n * L <= 2**17 else 3, "number": 1, "warmup": 1}


def cases(outputs: dict) -> list[dict]:
    """Every (kernel, N, L), ours against its baseline, float32, and ours under torch.compile.
    Each call of ours or the baseline leaves its result in ``outputs[name, "ours" or
    "baseline"]``, for the errors."""
    out = []
    for kernel, (system, ours, baseline) in SYSTEMS.items():
        for n, L in sizes():
            args, label = system(n), name(kernel, n, L)

            def call(f, key, args=args, L=L):
                def run():
                    outputs[key] = f(*args, L)

                return run

            ours_c = compiled(ours)
            out.append(
                {
                    "name": label,
                    "ours": call(ours, (label, "ours")),
                    "torch": call(baseline, (label, "baseline")),
                    "compiled": lambda f=ours_c, args=args, L=L: f(*args, L),
                    "goal": GOALS[kernel] if L == L_MAX else 1.0,
                    **timing_options(kernel, n, L),
                }
            )
    return out


def errors(outputs: dict) -> list[dict]:
    """Relative L2 error of ours and of the baseline in float32 (their last results in the
    timings) against ours in complex128."""
    out = []
    for kernel, (system, ours, _) in SYSTEMS.items():
        for n, L in sizes():
            label, exact = name(kernel, n, L), ours(*system(n, double=True), L)
            rel = {
                role: (
                    (outputs[label, role].to(torch.complex128) - exact).norm()
                    / exact.norm()
                ).item()
                for role in ("ours", "baseline")
            }
            out.append({"name": label, **rel, "goal": ERROR_GOAL})
    return out


def peak_extra_bytes(which: str) -> int:
    """Peak resident memory added by one call at L_MAX, measured in this (fresh) process:
    ``which`` is "<kernel>" (ours) or "<kernel> baseline"."""
    stable_allocation()
    torch.set_num_threads(2)
    kernel, _, role = which.partition(" ")
    system, ours, baseline = SYSTEMS[kernel]
    args = system(N)
    f = baseline if role == "baseline" else ours
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset the peak (VmHWM) to the current resident set
    before = status_bytes("VmRSS")
    f(*args, L_MAX)
    return status_bytes("VmHWM") - before


def memory() -> dict:
    """Peak extra memory of each kernel and baseline at L_MAX, each in its own process."""
    peaks = {
        which: int(
            subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_s4", "--peak", which],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for kernel in SYSTEMS
        for which in (kernel, f"{kernel} baseline")
    }
    return {
        "case": f"H={H} N={N} L={L_MAX}",
        "peak_extra_bytes": peaks,
        "goal_bytes": MEMORY_GOAL,
        "matrix_bytes": H * L_MAX * N * 8,  # (H, L, N) complex64
        "output_bytes": H * L_MAX * 8,
    }


def scaling(rows: list[dict]) -> dict:
    """Seconds per call, ours and baseline, in L (at N) and in N (at L_N), for plotting."""
    t = {row["name"]: row for row in rows}

    def series(kernel, pairs):
        return {
            "ours_s": [t[name(kernel, n, L)]["ours_s"] for n, L in pairs],
            "baseline_s": [t[name(kernel, n, L)]["torch_s"] for n, L in pairs],
        }

    in_L, in_N = [(N, L) for L in LENGTHS], [(n, L_N) for n in STATES]
    return {
        "L": {"N": N, "L": LENGTHS, **{k: series(k, in_L) for k in SYSTEMS}},
        "N": {"L": L_N, "N": STATES, **{k: series(k, in_N) for k in SYSTEMS}},
    }


def main() -> None:
    stable_allocation()
    torch.set_num_threads(2)
    check_baselines()
    with open("/proc/meminfo") as f:
        mem_total = next(
            int(line.split()[1]) * 1024 for line in f if line.startswith("MemTotal:")
        )
    extra = {
        "setup": {
            "H": H,
            "N": N,
            "dtype": "float32 / complex64",
            "step": "log-uniform in [1e-3, 1e-1], one per channel",
            "machine_memory_bytes": mem_total,
        },
        "memory": memory(),
    }
    outputs = {}
    results = run_suite("s4", cases(outputs), extra=extra, write=False)
    results["errors"] = errors(outputs)
    results["scaling"] = scaling(results["cases"])
    write_results(results)


def results_markdown(results: dict) -> str:
    """The page's tables: timings and ratios, float32 errors, peak memory at the largest L."""
    m, gib = results["machine"], results["setup"]["machine_memory_bytes"] / 2**30
    lines = [
        "| case | ours (ms) | baseline (ms) | ratio | goal | compiled (ms) | compiled ratio "
        "| rounds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['name']} | {r['ours_s'] * 1e3:.2f} | {r['torch_s'] * 1e3:.2f} | "
        f"{r['ratio']:.3f} | {r['goal']:.2f} | {compiled_columns(r)} {r['rounds']} |"
        for r in results["cases"]
    ]
    lines += [
        "",
        f"Measured {m['date'][:10]} at commit `{m['commit']}` on {m['cpu']} "
        f"({m['torch_threads']} threads, {gib:.0f} GiB), torch {m['torch']}, "
        f"Python {m['python']}: median of the interleaved rounds, "
        f"ratio = ours / baseline, compiled ratio = ours under torch.compile / "
        f"baseline; goals are on the ratio.",
        "",
        compiled_notes(results) + goals_sentence(results),
        "",
        "| float32 relative L2 error vs complex128 | ours | baseline | goal |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {e['name']} | {e['ours']:.1e} | {e['baseline']:.1e} | {e['goal']:.0e} |"
        for e in results["errors"]
    ]
    mem = results["memory"]
    mib = lambda b: "" if b is None else f"{b / 2**20:.0f}"  # noqa: E731
    lines += [
        "",
        f"| {mem['case']} | peak extra memory (MiB) | goal (MiB) |",
        "|---|---|---|",
        *(
            f"| {which} | {mib(b)} | {mib(mem['goal_bytes'].get(which))} |"
            for which, b in mem["peak_extra_bytes"].items()
        ),
        f"| *for scale: one (H, L, N) complex64 matrix* | {mib(mem['matrix_bytes'])} | |",
        f"| *for scale: the output* | {mib(mem['output_bytes'])} | |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--peak"]:
        print(peak_extra_bytes(sys.argv[2]))
    else:
        main()
