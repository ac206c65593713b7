"""One notebook step executed headless by papermill, into a run folder.

The runner calls it in its own process or in a parallel job's, and a Ray worker calls it in a
run folder of its own; either way a failing cell becomes a StepFailedError that names the cell.
"""

from __future__ import annotations

import sys
from pathlib import Path
from uuid import uuid4

from loralab.errors import ConfigError, StepFailedError
from loralab.layout import NOTEBOOKS, RunPaths
from loralab.run.steps import Step

KERNEL = "python3"


def execute_step(step: Step, run: RunPaths, notebooks_dir: Path) -> Path:
    """Run one notebook into the run folder; raises StepFailedError naming the failing cell."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output = run.executed_notebook(step.name)
    for source in (NOTEBOOKS, notebooks_dir):  # an executed copy never replaces a source
        if output.resolve().is_relative_to(Path(source).resolve()):
            raise ConfigError(
                f"{output}: an executed notebook may not be written into the notebooks folder "
                f"{source}\n  fix: give --executed and --run-id that put the run outside it"
            )
    output.parent.mkdir(parents=True, exist_ok=True)
    parameters = {"params_file": str(run.params), "run_dir": str(run.root), **step.parameters}
    try:
        papermill.execute_notebook(
            str(notebooks_dir / f"{step.notebook}.ipynb"),
            str(output),
            parameters=parameters,
            kernel_name=KERNEL,
            cwd=str(notebooks_dir),
            progress_bar=sys.stderr.isatty(),  # cells done of the step, in a terminal
            kernel_manager_class=_local_kernel_manager(),
            start_timeout=300,  # a loaded machine can take a while to start a kernel
        )
    except PapermillExecutionError as exc:
        reason = f"{exc.ename}: {exc.evalue}" if exc.evalue else _error_text(output, exc)
        raise StepFailedError(step.name, exc.exec_count, reason, str(output)) from None
    return output


def _local_kernel_manager():
    """Kernels that talk to the runner over local sockets (IPC), not TCP ports: nothing of a
    run listens on the network, and ipykernel has no unencrypted-TCP warning to print."""
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.paths import jupyter_runtime_dir

    class LocalKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            # A socket path of its own: the default is relative to the working directory and
            # shared by every kernel started there, so parallel kernels would collide.
            Path(jupyter_runtime_dir()).mkdir(parents=True, exist_ok=True)
            kwargs.setdefault("ip", str(Path(jupyter_runtime_dir()) / f"loralab-{uuid4().hex}"))
            super().__init__(**kwargs)

    return LocalKernelManager


def _error_text(output: Path, exc) -> str:
    """What the failing cell printed, when the kernel's error carries no message (a magic that
    fails prints its UsageError to stderr instead of raising)."""
    import nbformat

    cells = [
        c
        for c in nbformat.read(output, as_version=4).cells
        if c.get("execution_count") == exc.exec_count
    ]
    outputs = cells[0].get("outputs", []) if cells else []
    texts = [o.get("text", "") for o in outputs if o.get("name") == "stderr"]
    last = "".join(texts).strip().splitlines()
    return f"{exc.ename}: {last[-1]}" if last else exc.ename
