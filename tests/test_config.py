from pathlib import Path

import pytest
import yaml

from loralab.config import Config, config_to_yaml, load_config, parse_override
from loralab.errors import ConfigError


def test_default_yaml_is_generated_from_the_typed_config(repo):
    """params/default.yaml must say exactly what the code defaults are: one source of truth."""
    assert (repo / "params/default.yaml").read_text() == config_to_yaml(Config())


PARAMS = sorted(p.name for p in (Path(__file__).parents[1] / "params").glob("*.yaml"))


@pytest.mark.parametrize("name", PARAMS)
def test_every_shipped_params_file_loads(repo, name):
    """Every file in params/ (the studies, the sweep and the masked runs too) is valid."""
    load_config(repo / "params" / name)


def test_seed_file_carries_the_reference_settings(repo):
    cfg = load_config(repo / "params/seed-mistral7b.yaml")
    assert cfg.model.name_or_path == "mistralai/Mistral-7B-Instruct-v0.3"
    assert cfg.lora.ranks == [8, 16] and cfg.lora.alpha == 32 and cfg.lora.dropout == 0.05
    assert set(cfg.lora.target_modules) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    t = cfg.train
    assert (t.epochs, t.lrs[0], t.seq_len, t.batch_tokens, t.grad_accum, t.patience) == (
        8,
        1e-4,
        512,
        2048,
        16,
        1,
    )
    assert (t.dtype, t.device, t.seeds, cfg.split.seed) == ("bfloat16", "cuda", [42], 42)
    assert cfg.data.labels == ["Colon_Cancer", "Lung_Cancer"]


def test_overrides_keep_yaml_types(repo):
    cfg = load_config(
        repo / "params/default.yaml",
        ["train.epochs=3", "lora.ranks=[4, 8]", "data.path=null", "train.lrs=[1e-3]"],
    )
    assert cfg.train.epochs == 3 and cfg.lora.ranks == [4, 8]
    assert cfg.data.path is None and cfg.train.lrs == [pytest.approx(1e-3)]
    assert parse_override("prompt.system=a=b") == ("prompt.system", "a=b")


def test_extends_merges_sections_field_by_field(tmp_path):
    (tmp_path / "base.yaml").write_text("train: {epochs: 5, lrs: [0.01]}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\ntrain: {epochs: 2}\n")
    cfg = load_config(tmp_path / "child.yaml")
    assert (cfg.train.epochs, cfg.train.lrs) == (2, [0.01])


def _error(tmp_path: Path, text: str, sets=None) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path, sets)
    return str(exc.value)


def test_unknown_key_names_file_key_and_suggestion(tmp_path):
    msg = _error(tmp_path, "train:\n  epoch: 3\n")
    assert "p.yaml" in msg and "train.epoch" in msg and "did you mean 'train.epochs'" in msg


def test_unknown_section(tmp_path):
    msg = _error(tmp_path, "training: {epochs: 3}\n")
    assert "unknown key 'training'" in msg and "train" in msg


def test_wrong_type_names_key_value_and_help(tmp_path):
    msg = _error(tmp_path, "train:\n  epochs: many\n")
    assert "train.epochs" in msg and "'many'" in msg and "Most epochs per trial" in msg


@pytest.mark.parametrize(
    "text, needle",
    [
        ("split: {train: 0.7, val: 0.1, test: 0.1}\n", "must sum to 1"),
        ("lora: {ranks: [0, 8]}\n", "positive integer"),
        ("lora: {ranks: [8, 8]}\n", "distinct"),
        ("lora: {ranks: []}\n", "at least one rank"),
        ("lora: {dropout: 1.5}\n", "lora.dropout"),
        ("data: {labels: [A]}\n", "at least 2 labels"),
        ("prompt: {user: 'no slot'}\n", "{text}"),
        ("train: {dtype: float8}\n", "train.dtype"),
    ],
)
def test_impossible_values_are_rejected(tmp_path, text, needle):
    assert needle in _error(tmp_path, text)


def test_override_errors_name_the_override(tmp_path):
    msg = _error(tmp_path, "{}\n", ["train.epochs=0"])
    assert "--set train.epochs=0" in msg and "greater than or equal to 1" in msg
    msg = _error(tmp_path, "{}\n", ["train.nope=1"])
    assert "--set train.nope" in msg


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="params file not found"):
        load_config(tmp_path / "absent.yaml")
    assert "not valid UTF-8 YAML" in _error(tmp_path, "train: [unclosed\n")
    assert "expected a mapping" in _error(tmp_path, "- just\n- a list\n")


def test_resolved_config_round_trips_through_yaml(tmp_path, repo):
    cfg = load_config(repo / "params/smoke.yaml", ["train.epochs=2"])
    path = tmp_path / "params.yaml"
    path.write_text(config_to_yaml(cfg))
    assert load_config(path) == cfg
    assert yaml.safe_load(path.read_text())["train"]["epochs"] == 2
