"""A machine's name and results folder, from its CPU's model name (``/proc/cpuinfo``).

The standard library only: ``benchmarks/plots.py`` loads this file at site build time, where
torch is not imported.
"""

import re


def machine_name(cpu: str) -> str:
    """The CPU's model name without trademarks, "Processor", "CPU", core counts and clock:
    "Intel(R) Xeon(R) Processor" -> "Intel Xeon", "AMD EPYC 7763 64-Core Processor" ->
    "AMD EPYC 7763"."""
    name = re.sub(r"\((R|TM|r|tm)\)", " ", cpu)
    name = re.sub(r"@\s*[\d.]+\s*[GM]Hz", " ", name)
    name = re.sub(r"\b(\d+-Core|Processor|CPU)\b", " ", name)
    return " ".join(name.split()) or "unknown"


def machine_slug(cpu: str) -> str:
    """The folder of a CPU's results: its ``machine_name`` in lower case, runs of anything but
    letters and digits as one hyphen: "AMD EPYC" -> "amd-epyc"."""
    return re.sub(r"[^a-z0-9]+", "-", machine_name(cpu).lower()).strip("-") or "unknown"
