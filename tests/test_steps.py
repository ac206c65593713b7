"""The series as declared contracts (steps.SERIES) and the fingerprint that decides a step is done.

Fingerprint tests work on copies of the notebooks and of the loralab package under tmp_path and
edit the copies. The contract tests run each notebook's code cells in this process on a tiny
study (no papermill, no kernel), with params sections and a run folder that record what is
read, and compare that with what each step declares.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import random
import re
import shutil
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from loralab.config import SECTIONS, Config, build_config
from loralab.layout import NOTEBOOKS, RunPaths
from loralab.run.fingerprints import (
    LIB,
    code_cells,
    fingerprint,
    imported_modules,
    normalized_cell,
    step_modules,
)
from loralab.run.steps import CONTRACTS, SERIES, Step, missing_reads, series

ONE_SPLIT = build_config({}, "t", {"split.folds": 1})  # the step names of one split

matplotlib.use("Agg")

# RunPaths members the runner and the notebook preamble own: every step may touch them.
RUNNER_MEMBERS = {
    "params",
    "run_record",
    "step_marker",
    "lock",
    "notebooks",
    "executed_notebook",
    "figures",
    "figure",
    "root",
    "run_id",
}
# RunPaths queries that read the files of a member: reading them reads that member.
QUERIES = {"trained_trials": "train_summary"}


# ---- fingerprints -------------------------------------------------------------------------


@pytest.fixture
def copies(tmp_path):
    """(notebooks folder, loralab package folder): copies to edit."""
    notebooks = shutil.copytree(NOTEBOOKS, tmp_path / "notebooks")
    lib = shutil.copytree(LIB, tmp_path / "lib" / "loralab", ignore=shutil.ignore_patterns("*.pyc"))
    return notebooks, lib


def _fingerprints(cfg: Config, run: RunPaths, notebooks: Path, lib: Path) -> dict[str, str]:
    return {s.name: fingerprint(s, cfg, run, notebooks, lib) for s in series(cfg)}


def _changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def _edit_cell(notebook: Path, index: int, edit) -> None:
    """Apply `edit` to the source of cell `index` (negative counts from the end)."""
    nb = json.loads(notebook.read_text())
    cell = nb["cells"][index]
    cell["source"] = edit("".join(cell["source"]))
    notebook.write_text(json.dumps(nb, indent=1))


def _code_cell_index(notebook: Path, text: str) -> int:
    cells = json.loads(notebook.read_text())["cells"]
    return next(
        i for i, c in enumerate(cells) if c["cell_type"] == "code" and text in "".join(c["source"])
    )


@pytest.fixture
def baseline(tmp_path, copies):
    notebooks, lib = copies
    cfg, run = ONE_SPLIT, RunPaths(tmp_path / "run")
    return cfg, run, notebooks, lib, _fingerprints(cfg, run, notebooks, lib)


def test_copies_fingerprint_like_the_originals(tmp_path):
    cfg, run = ONE_SPLIT, RunPaths(tmp_path / "run")
    originals = _fingerprints(cfg, run, NOTEBOOKS, LIB)
    notebooks = shutil.copytree(NOTEBOOKS, tmp_path / "notebooks")
    lib = shutil.copytree(LIB, tmp_path / "loralab", ignore=shutil.ignore_patterns("*.pyc"))
    assert _fingerprints(cfg, run, notebooks, lib) == originals
    assert len(set(originals.values())) == len(originals)


def test_edited_training_code_changes_the_trials_only(baseline):
    cfg, run, notebooks, lib, before = baseline
    training = lib / "train" / "loop.py"
    training.write_text(training.read_text() + "\nEDITED = True\n")
    after = _fingerprints(cfg, run, notebooks, lib)
    # evaluation and statistics follow from the trials' outputs (next test)
    assert _changed(before, after) == ["03_train_r8-f0-s42", "03_train_r16-f0-s42"]


def test_new_outputs_of_a_step_change_the_steps_that_read_them(baseline):
    cfg, run, notebooks, lib, before = baseline
    fingerprints = before
    for step in series(cfg):
        run.step_marker(step.name).parent.mkdir(parents=True, exist_ok=True)
        run.step_marker(step.name).write_text(json.dumps({"outputs": {"x": step.name}}))
        after = _fingerprints(cfg, run, notebooks, lib)
        readers = [s.name for s in series(cfg) if step.name in s.after]
        assert _changed(fingerprints, after) == readers, step.name
        fingerprints = after
    assert _changed(before, fingerprints) == [s.name for s in series(cfg)][1:]


def test_comments_docstrings_and_formatting_in_the_library_change_nothing(baseline):
    cfg, run, notebooks, lib, before = baseline
    training = lib / "train" / "loop.py"
    source = training.read_text()
    edited = source.replace(
        '"""LoRA training for one trial', '"""LoRA training, edited, for one trial'
    )
    edited = edited.replace(
        'HISTORY_COLUMNS = [\n    "epoch",', 'HISTORY_COLUMNS = [  # edited\n    "epoch",'
    )
    assert edited.count("edited") == 2  # both edits found their place
    training.write_text("# a new comment\n\n" + edited + "\n\n# the end\n")
    assert _fingerprints(cfg, run, notebooks, lib) == before


def test_markdown_comments_and_blank_lines_in_a_notebook_change_nothing(baseline):
    cfg, run, notebooks, lib, before = baseline
    for path in notebooks.glob("*.ipynb"):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "markdown":
                cell["source"] = source + "\n\nOne more sentence."
            else:  # the parameters cell too
                cell["source"] = "# edited\n\n" + source.replace("\n", "  # edited\n", 1) + "\n\n"
        nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "# New"})
        nb["cells"].append(
            {
                "cell_type": "code",
                "metadata": {},
                "source": "# only a comment",
                "outputs": [],
                "execution_count": None,
            }
        )
        path.write_text(json.dumps(nb, indent=1))
    assert _fingerprints(cfg, run, notebooks, lib) == before


def test_an_edited_code_cell_changes_its_step_only(baseline):
    cfg, run, notebooks, lib, before = baseline
    path = notebooks / "02_split.ipynb"
    _edit_cell(path, _code_cell_index(path, "splits.counts"), lambda s: s + ".T")
    assert _changed(before, _fingerprints(cfg, run, notebooks, lib)) == ["02_split"]


def test_a_default_in_the_parameters_cell_is_code(baseline):
    cfg, run, notebooks, lib, before = baseline
    path = notebooks / "03_train.ipynb"
    _edit_cell(
        path,
        _code_cell_index(path, "trial_id = None"),
        lambda s: s.replace("None", "'r8-f0-s42'", 1),
    )
    assert _changed(before, _fingerprints(cfg, run, notebooks, lib)) == [
        "03_train_r8-f0-s42",
        "03_train_r16-f0-s42",
    ]


def test_params_fields_change_the_steps_that_declare_them(tmp_path, baseline):
    _, run, notebooks, lib, before = baseline

    def changed(**sets):
        fields = {"split.folds": 1, **{k.replace("__", "."): v for k, v in sets.items()}}
        cfg = build_config({}, "t", fields)
        return _changed(before, _fingerprints(cfg, run, notebooks, lib))

    assert changed(evaluation__few_shot_k=2) == ["04_evaluate"]
    assert changed(evaluation__batch_size=2) == [
        "03_train_r8-f0-s42",
        "03_train_r16-f0-s42",
        "04_evaluate",
    ]
    # the split's seed also draws LoRA's training items, so training and evaluation re-run too
    assert changed(split__seed=1) == [
        "01_eda",
        "02_split",
        "03_train_r8-f0-s42",
        "03_train_r16-f0-s42",
        "04_evaluate",
    ]
    assert changed(stats__seed=1) == ["04_evaluate", "05_statistics"]


def test_a_trial_is_a_parameter_of_its_step(baseline):
    cfg, run, notebooks, lib, before = baseline
    step = next(s for s in series(cfg) if s.name == "03_train_r8-f0-s42")
    other = dataclasses.replace(step, parameters={"trial_id": "r16-f0-s42"})
    assert fingerprint(other, cfg, run, notebooks, lib) == before["03_train_r16-f0-s42"]


def test_imports_are_followed_through_the_library_inside_functions_too(tmp_path):
    lib = tmp_path / "loralab"
    files = {
        "__init__.py": "",
        "a.py": "from .b import f\n",
        "b.py": "def f():\n    from loralab.c import g\n    return g\n",
        "c.py": "import os\nfrom . import d\n",
        "d.py": "",
        "pkg/__init__.py": "from .e import h\n",
        "pkg/e.py": "from ..unused import x\nfrom ..f import y\n",
        "f.py": "import loralab.g\n",
        "g.py": "",
        "untouched.py": "",
    }
    for name, text in files.items():
        (lib / name).parent.mkdir(parents=True, exist_ok=True)
        (lib / name).write_text(text)
    cells = ["from loralab.a import f\nimport pandas", "from loralab.pkg import h"]
    contract = dataclasses.replace(SERIES[0], function="loralab.d.step")
    assert step_modules(cells, contract, lib) == [
        "loralab",
        "loralab.a",
        "loralab.b",
        "loralab.c",
        "loralab.d",
        "loralab.f",
        "loralab.g",
        "loralab.pkg",
        "loralab.pkg.e",
    ]
    tree = ast.parse("from .e import h")
    assert imported_modules(tree, "loralab.pkg", lib, package=True) == {
        "loralab",
        "loralab.pkg",
        "loralab.pkg.e",
    }


# Modules whose edit must not re-run a step: they neither compute nor write what it outputs.
# No step covers loralab.report (only draws or words), checked for every step below.
NOT_COVERED = {
    "01_eda": {"train.loop", "evaluate.step", "stats.step"},
    "02_split": {"data.pubmed", "data.sources", "data.preprocess", "model.loading"},
    "03_train": {"report", "data.pubmed", "evaluate.step"},
    "04_evaluate": {"train.loop", "data.pubmed", "stats.step"},
    "05_statistics": {"train.loop", "model.loading", "model.scoring", "data.pubmed"},
}


@pytest.mark.parametrize("contract", SERIES, ids=lambda c: c.notebook)
def test_a_fingerprint_covers_no_module_that_cannot_change_the_step(contract):
    covered = step_modules(code_cells(NOTEBOOKS / f"{contract.notebook}.ipynb"), contract)
    assert contract.function.rpartition(".")[0] in covered
    names = {m.removeprefix("loralab.") for m in covered}
    assert names & NOT_COVERED[contract.notebook] == set()
    assert not [m for m in names if m == "report" or m.startswith("report.")]


def test_rewording_the_presentation_reruns_no_step_while_the_loop_still_retrains(baseline):
    cfg, run, notebooks, lib, before = baseline
    for module in sorted((lib / "report").glob("*.py")):
        module.write_text(module.read_text() + "\nREWORDED = 'a new headline'\n")
    assert _changed(before, _fingerprints(cfg, run, notebooks, lib)) == []
    training = lib / "train" / "loop.py"
    training.write_text(training.read_text() + "\nEDITED = True\n")
    changed = _changed(before, _fingerprints(cfg, run, notebooks, lib))
    assert [s for s in changed if s.startswith("03_train")] == [
        "03_train_r8-f0-s42",
        "03_train_r16-f0-s42",
    ]


def test_a_cell_with_magics_is_normalized_too():
    assert normalized_cell("# setup\n%matplotlib inline\n\nx = 1  # one\n") == normalized_cell(
        "%matplotlib inline\nx=1"
    )
    assert normalized_cell("%matplotlib inline") != normalized_cell("%matplotlib widget")
    assert normalized_cell("x = 1") != normalized_cell("x = 2")
    assert normalized_cell("# only a comment\n") == ""


# ---- the declared contracts ---------------------------------------------------------------


def test_series_is_built_from_the_declared_contracts():
    steps = series(build_config({}, "t", {"lora.ranks": [2, 4], "split.folds": 1}))
    assert [(s.name, s.outputs, s.after) for s in steps] == [
        ("01_eda", ("data",), ()),
        ("02_split", ("split",), ("01_eda",)),
        ("03_train_r2-f0-s42", ("train/r2-f0-s42",), ("01_eda", "02_split")),
        ("03_train_r4-f0-s42", ("train/r4-f0-s42",), ("01_eda", "02_split")),
        ("04_evaluate", ("eval",), ("02_split", "03_train_r2-f0-s42", "03_train_r4-f0-s42")),
        ("05_statistics", ("stats",), ("02_split", "04_evaluate")),
    ]
    assert steps[2].title == "Training, trial r2-f0-s42: curves, cost, model card"
    assert Step("01_eda", "t").outputs == ("data",)  # a step read back from run.json
    assert [c.notebook for c in SERIES] == sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))


@pytest.mark.parametrize("contract", SERIES, ids=lambda c: c.notebook)
def test_each_notebook_imports_and_calls_its_declared_function(contract):
    module, _, name = contract.function.rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))
    tree = ast.parse("\n".join(code_cells(NOTEBOOKS / f"{contract.notebook}.ipynb")))
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == module]
    assert any(a.name == name for n in imports for a in n.names), f"no `from {module} import`"
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert any(getattr(c.func, "id", None) == name for c in calls), f"{name} is never called"
    assert all(hasattr(RunPaths, member) for member in contract.writes)


def test_the_step_table_of_the_architecture_doc_is_the_declared_series(repo):
    """docs/architecture.md names each step's notebook, function and the members it writes."""
    text = (repo / "docs" / "architecture.md").read_text()
    rows = [
        line.split(" | ")
        for line in text.splitlines()
        if line.startswith("| ") and ".ipynb" in line
    ]
    assert len(rows) == len(SERIES)
    for row, contract in zip(rows, SERIES, strict=True):
        _, notebook, function, _, writes = row
        assert f"`{contract.notebook}.ipynb`" in notebook
        assert f"`{contract.function.removeprefix('loralab.')}`" in function
        documented = set(re.findall(r"`(\w+)", writes.split("; figure")[0]))
        assert documented and documented <= set(contract.writes), contract.notebook


def _recording_model(model, section: str, reads: set[str]):
    """A copy of a params model (a section, or with section "" the whole Config) whose field
    reads are added to `reads`; dumping, copying, iterating or printing it reads all of it."""
    cls = type(model)
    fields = set(cls.model_fields)
    whole = {"model_dump", "model_dump_json", "model_copy", "__iter__", "__repr__", "__str__"}

    def everything():
        if section:
            reads.update(f"{section}.{f}" for f in fields)
        else:
            reads.update(
                f"{s}.{f}" for s in SECTIONS for f in type(getattr(Config(), s)).model_fields
            )

    class Recording(cls):
        def __getattribute__(self, name):
            if section and name in fields:
                reads.add(f"{section}.{name}")
            elif name in whole:
                everything()
            return super().__getattribute__(name)

        def __iter__(self):
            everything()
            return super().__iter__()

        def __repr__(self):
            everything()
            return super().__repr__()

    Recording.__name__ = Recording.__qualname__ = cls.__name__
    return Recording.model_construct(_fields_set=model.model_fields_set, **dict(model.__dict__))


def recording_config(cfg: Config, reads: set[str]) -> Config:
    sections = {s: _recording_model(getattr(cfg, s), s, reads) for s in SECTIONS}
    return _recording_model(Config.model_construct(**sections), "", reads)


def recording_run(root: Path, members: set[str]) -> RunPaths:
    """A RunPaths that adds the name of every member used to `members`."""
    names = {n for n in vars(RunPaths) if not n.startswith("_")}

    class Recording(RunPaths):
        def __getattribute__(self, name):
            if name in names:
                members.add(name)
            return super().__getattribute__(name)

    return Recording(root)


def _files(root: Path) -> dict[str, float]:
    return {
        p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()
    }


def _run_cells(notebook: Path, cfg: Config, run: RunPaths, parameters: dict) -> None:
    """The notebook's code cells in this process, the step's parameters injected after the
    parameters cell as papermill does, `loralab.run.notebook.start` answering cfg and run."""
    import matplotlib.pyplot as plt
    from IPython.core.inputtransformer2 import TransformerManager

    cells = json.loads(notebook.read_text())["cells"]
    namespace: dict = {"__name__": "__main__"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("loralab.run.notebook.start", lambda *args, **kwargs: (cfg, run))
        for i, cell in enumerate(c for c in cells if c["cell_type"] == "code"):
            source = TransformerManager().transform_cell("".join(cell["source"]))
            exec(compile(source, f"{notebook.name}[{i}]", "exec"), namespace)
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                namespace.update(parameters)
    plt.close("all")


@dataclasses.dataclass
class Observed:
    fields: set[str] = dataclasses.field(default_factory=set)  # params fields read
    members: set[str] = dataclasses.field(default_factory=set)  # RunPaths members used
    files: set[str] = dataclasses.field(default_factory=set)  # files written or rewritten


@pytest.fixture(scope="module")
def observed(tmp_path_factory, tiny_model_dir) -> dict[str, Observed]:
    """What each notebook of the series reads and writes, its code run on a tiny study."""
    root = tmp_path_factory.mktemp("observed")
    rng = random.Random(0)
    rows = [
        {
            "id": f"{lab}-{i}",
            "label": lab,
            "text": " ".join(rng.choice("uvwxyz") + str(rng.randrange(400)) for _ in range(30)),
        }
        for lab in ("A", "B")
        for i in range(20)
    ]
    pd.DataFrame(rows).to_csv(root / "data.csv", index=False)
    cfg = build_config(
        {},
        "t",
        {
            "model.name_or_path": str(tiny_model_dir),
            "data.path": str(root / "data.csv"),
            "data.labels": ["A", "B"],
            "data.verbalizers": {"A": ["alpha"], "B": ["beta"]},
            "lora.ranks": [2, 4],
            "lora.target_modules": ["q_proj", "v_proj"],
            "split.folds": 1,
            "train.seq_len": 64,
            "train.epochs": 1,
            "train.train_sizes": [None],
            "train.dtype": "float32",
            "train.device": "cpu",
            "stats.bootstrap_resamples": 100,
            "split.train": 0.6,
            "split.val": 0.2,
            "split.test": 0.2,
        },
    )
    run_dir = root / "run"
    run_dir.mkdir()
    seen: dict[str, Observed] = {}
    for step in series(cfg):
        before = _files(run_dir)
        got = seen.setdefault(step.notebook, Observed())
        notebook = NOTEBOOKS / f"{step.notebook}.ipynb"
        run = recording_run(run_dir, got.members)
        _run_cells(notebook, recording_config(cfg, got.fields), run, step.parameters)
        got.files |= {f for f, t in _files(run_dir).items() if before.get(f) != t}
    return seen


@pytest.mark.parametrize("contract", SERIES, ids=lambda c: c.notebook)
def test_every_params_field_a_notebook_reads_is_declared(observed, contract):
    fields = observed[contract.notebook].fields
    assert fields, "nothing recorded"
    assert missing_reads(contract, fields) == [], (
        f"{contract.notebook} reads params fields its contract does not declare; "
        "add them to its `reads` in steps.SERIES"
    )


def test_a_field_left_out_of_a_declaration_is_reported(observed):
    """The check above can fail: the 01_eda contract as it was before split.seed was added."""
    eda = CONTRACTS["01_eda"]
    without_seed = dataclasses.replace(eda, reads=tuple(r for r in eda.reads if r != "split.seed"))
    assert missing_reads(without_seed, observed["01_eda"].fields) == ["split.seed"]
    without_model = dataclasses.replace(eda, reads=("data", "train.seq_len", "split.seed"))
    assert "model.name_or_path" in missing_reads(without_model, observed["01_eda"].fields)


def test_a_whole_section_dumped_counts_as_every_field_of_it():
    reads: set[str] = set()
    cfg = recording_config(Config(), reads)
    cfg.stats.model_dump()
    assert reads == {f"stats.{f}" for f in type(Config().stats).model_fields}
    reads.clear()
    assert cfg.train.seq_len == 192 and cfg.data.verbalizers_for("Lung_Cancer")
    assert reads == {"train.seq_len", "data.verbalizers"}


@pytest.mark.parametrize("contract", SERIES, ids=lambda c: c.notebook)
def test_every_run_file_a_notebook_reads_comes_from_a_declared_upstream_step(observed, contract):
    writers = {member: c.notebook for c in SERIES for member in c.writes}
    used = {QUERIES.get(m, m) for m in observed[contract.notebook].members} - RUNNER_MEMBERS
    undeclared = {
        member: writers.get(member, "no step")
        for member in used - set(contract.writes)
        if writers.get(member) not in contract.after
    }
    assert undeclared == {}, f"{contract.notebook} reads files of steps not in its `after`"


@pytest.mark.parametrize("contract", SERIES, ids=lambda c: c.notebook)
def test_a_notebook_writes_only_into_its_declared_folders_and_figures(observed, contract):
    folders = {
        f
        for s in series(build_config({}, "t", {"lora.ranks": [2, 4], "split.folds": 1}))
        if s.notebook == contract.notebook
        for f in s.outputs
    }
    written = observed[contract.notebook].files
    assert written, "nothing written"
    outside = [f for f in written if not any(f.startswith(p + "/") for p in (*folders, "figures"))]
    assert outside == []


def test_deleting_a_full_fine_tuning_trials_weights_leaves_the_trial_done(tmp_path):
    """Evaluation deletes the weights it will not score; the training step stays done, so a
    resumed run does not train the trial again. Any other file of the trial still counts."""
    from loralab.run.fingerprints import is_done, mark_done

    cfg = build_config({}, "t", {"lora.ranks": [2], "train.full_finetune": True})
    step = next(s for s in series(cfg) if s.trial and s.trial.startswith("full"))
    run = RunPaths(tmp_path / "run")
    run.full_weights(step.trial).parent.mkdir(parents=True)
    run.full_weights(step.trial).write_bytes(b"weights")
    run.train_summary(step.trial).write_text("{}")
    mark_done(step, run, "fp")
    run.full_weights(step.trial).unlink()
    assert is_done(step, run, "fp")
    run.train_summary(step.trial).write_text("{ }")
    assert not is_done(step, run, "fp")
