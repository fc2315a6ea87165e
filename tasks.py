#!/usr/bin/env python3
"""The project's commands; each one sets up `.venv/` first if it is missing or out of date.

    python3 tasks.py serve   # the site on http://127.0.0.1:8000, rebuilt on every change
    python3 tasks.py test    # every test: doc tests, unit tests, mutants, build, browser
    python3 tasks.py bench   # benchmarks against torch, written to benchmarks/results/

Needs only Python 3.11+ (and, for the browser test, Debian's `chromium`).
"""

import hashlib
import os
import pathlib
import subprocess
import sys
import venv

ROOT = pathlib.Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
INPUTS = ["requirements.txt", "pyproject.toml"]


def setup() -> None:
    """Create .venv and install the pinned requirements, unless they are installed already."""
    if not PY.exists():
        print("creating .venv", flush=True)
        venv.create(VENV, with_pip=True)
    stamp = VENV / ".installed"
    digest = hashlib.sha256(b"".join((ROOT / f).read_bytes() for f in INPUTS)).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    pip = [str(PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(pip + ["-r", str(ROOT / "requirements.txt")], check=True)
    subprocess.run(pip + ["--no-deps", "-e", str(ROOT)], check=True)
    stamp.write_text(digest)


def main(argv: list[str]) -> int:
    commands = {
        "serve": [str(PY), "-m", "mkdocs", "serve", "--dev-addr", "127.0.0.1:8000"],
        "test": [str(PY), "-m", "pytest"],
        "bench": [str(PY), "-m", "benchmarks"],
    }
    if len(argv) < 1 or argv[0] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    setup()
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    cmd = commands[argv[0]] + argv[1:]
    os.chdir(ROOT)
    if os.name == "posix":  # become the command: signals and the exit code go straight to it
        os.execve(cmd[0], cmd, env)
    return subprocess.run(cmd, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
