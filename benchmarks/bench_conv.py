"""snippets.conv against torch's native convolution (oneDNN on CPU), float32, 2 threads.

Forward, input gradient and weight gradient are timed separately, each against the same part
of ``torch.ops.aten.convolution_backward``. The peak extra memory of one forward pass is
measured in a fresh process (growth of the peak resident set), next to the size of the
materialised im2col matrix. Run with ``python3 tasks.py bench conv``.
"""

import subprocess
import sys

import torch
import torch.nn.functional as F

from benchmarks.harness import (
    compiled,
    markdown_table,
    run_suite,
    stable_allocation,
    time_pair,
)
from snippets.conv import (
    conv1d,
    conv1d_backward,
    conv1d_im2col,
    conv2d,
    conv2d_backward,
    copy_channels_last,
)

GOAL = 1.5
CONFIGS = [  # x shape, w shape, stride, padding
    ((32, 64, 1024), (64, 64, 7), 1, 0),
    ((32, 64, 1024), (64, 64, 7), 2, 3),
    ((16, 64, 56, 56), (64, 64, 3, 3), 1, 1),
]


def cases(x_shape, w_shape, stride, padding) -> list[dict]:
    """Forward, input gradient and weight gradient of one configuration, ours against torch,
    and ours under torch.compile."""
    gen = torch.Generator().manual_seed(0)
    x, w = torch.randn(x_shape, generator=gen), torch.randn(w_shape, generator=gen)
    n = x.dim() - 2
    conv, backward, ref = (
        (conv1d, conv1d_backward, F.conv1d)
        if n == 1
        else (conv2d, conv2d_backward, F.conv2d)
    )
    y = ref(x, w, stride=stride, padding=padding)
    dy = torch.randn(y.shape, generator=gen)
    # each pass: one multiply-add per (output, weight) pair
    flops = 2 * y.numel() * w[0].numel()

    def native(mask):
        return lambda: torch.ops.aten.convolution_backward(
            dy,
            x,
            w,
            None,
            [stride] * n,
            [padding] * n,
            [1] * n,
            False,
            [0] * n,
            1,
            mask,
        )

    def ours(mask, backward=backward):
        return lambda: backward(dy, x, w, stride, padding, output_mask=mask)

    conv_c, backward_c = compiled(conv), compiled(backward)

    shapes = f"x{tuple(x_shape)} w{tuple(w_shape)}".replace(", ", ",")
    label = f"conv{n}d {shapes} stride {stride} padding {padding}"
    return [
        {
            "name": f"{label} forward",
            "flops": flops,
            "goal": GOAL,
            "ours": lambda: conv(x, w, None, stride, padding),
            "torch": lambda: ref(x, w, None, stride, padding),
            "compiled": lambda: conv_c(x, w, None, stride, padding),
        },
        {
            "name": f"{label} input grad",
            "flops": flops,
            "goal": GOAL,
            "ours": ours((True, False, False)),
            "torch": native([True, False, False]),
            "compiled": ours((True, False, False), backward_c),
        },
        {
            "name": f"{label} weight grad",
            "flops": flops,
            "goal": GOAL,
            "ours": ours((False, True, False)),
            "torch": native([False, True, False]),
            "compiled": ours((False, True, False), backward_c),
        },
    ]


def status_bytes(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS: resident now, VmHWM: its peak) in bytes."""
    with open("/proc/self/status") as f:
        return next(
            int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":")
        )


def copy_case() -> dict:
    """copy_channels_last (8 channels at a time) against one copy_ of the permuted input."""
    x = torch.randn(32, 64, 1, 1024, generator=torch.Generator().manual_seed(0))
    dst = torch.empty(32, 1, 1024, 64)
    return {
        "name": "channels-last copy x(32,64,1024): 8 channels at a time vs all",
        "goal": 1.0,
        "ours": lambda: copy_channels_last(dst, x),
        "torch": lambda: dst.copy_(x.permute(0, 2, 3, 1)),
    }


def gemm_gflops() -> float:
    """The float32 matrix-product rate of this machine: (4096, 1024) @ (1024, 1024), median."""
    a, b = torch.randn(4096, 1024), torch.randn(1024, 1024)
    seconds = time_pair(lambda: a @ b, lambda: a @ b)["torch_s"]
    return 2 * 4096 * 1024 * 1024 / seconds / 1e9


def peak_extra_bytes(which: str) -> int:
    """Peak resident memory added by one conv1d forward of the first configuration, measured
    in this (fresh) process: ``which`` is "snippet", "im2col" or "torch"."""
    stable_allocation()
    x_shape, w_shape, _, _ = CONFIGS[0]
    x, w = torch.randn(x_shape), torch.randn(w_shape)
    f = {"snippet": conv1d, "im2col": conv1d_im2col, "torch": F.conv1d}[which]
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset the peak (VmHWM) to the current resident set
    before = status_bytes("VmRSS")
    f(x, w)
    return status_bytes("VmHWM") - before


def memory() -> dict:
    """Peak extra memory of each forward, each in its own process, and the im2col size."""
    (batch, c_in, width), (c_out, _, K), _, _ = CONFIGS[0]
    out_width = width - K + 1
    peaks = {
        which: int(
            subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_conv", "--peak", which],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for which in ("snippet", "im2col", "torch")
    }
    shapes = f"x{(batch, c_in, width)} w{(c_out, c_in, K)}".replace(", ", ",")
    return {
        "case": f"conv1d {shapes} forward",
        "im2col_bytes": batch * out_width * c_in * K * 4,
        "input_bytes": batch * c_in * width * 4,
        "output_bytes": batch * c_out * out_width * 4,
        "peak_extra_bytes": peaks,
    }


def memory_table(m: dict) -> str:
    """The memory measurement as a Markdown table (MiB = 2^20 bytes)."""
    mib = lambda b: f"{b / 2**20:.1f}"  # noqa: E731
    return "\n".join(
        [
            f"| {m['case']} | peak extra memory (MiB) |",
            "|---|---|",
            *(f"| {which} | {mib(b)} |" for which, b in m["peak_extra_bytes"].items()),
            f"| *for scale: the im2col matrix* | {mib(m['im2col_bytes'])} |",
            f"| *for scale: the input, the output* | {mib(m['input_bytes'])}, {mib(m['output_bytes'])} |",
            "",
        ]
    )


def main() -> None:
    stable_allocation()
    torch.set_num_threads(2)
    extra = {"gemm_gflops": gemm_gflops(), "memory": memory()}
    run_suite(
        "conv",
        [*(case for config in CONFIGS for case in cases(*config)), copy_case()],
        extra=extra,
    )


def results_markdown(results: dict) -> str:
    """The page's tables: timings, the machine's matrix-product rate, memory."""
    return (
        markdown_table(results)
        + f"\nFloat32 matrix products, (4096, 1024) @ (1024, 1024), "
        f"ran at {results['gemm_gflops']:.0f} GFLOP/s in the same run.\n\n"
        + memory_table(results["memory"])
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--peak"]:
        print(peak_extra_bytes(sys.argv[2]))
    else:
        main()
