import pytest
import torch

from loralab.config import ModelConfig
from loralab.errors import ModelNotFoundError
from loralab.model.loading import load_tokenizer, model_problem, resolve_model, resolve_precision


def test_the_embedded_model_is_the_gguf_file_inside_the_wheel():
    source = resolve_model(ModelConfig())
    assert source.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf" and source.local


def test_a_local_folder_and_a_gguf_path_resolve(tiny_model_dir, tmp_path):
    assert resolve_model(ModelConfig(name_or_path=str(tiny_model_dir))).local
    with pytest.raises(ModelNotFoundError, match="GGUF file"):
        resolve_model(ModelConfig(name_or_path=str(tmp_path / "missing.gguf")))
    with pytest.raises(ModelNotFoundError, match="folder .* not found"):
        resolve_model(ModelConfig(name_or_path=str(tmp_path / "no-such-folder")))


def test_a_hub_id_is_never_downloaded_unless_allowed(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    cfg = ModelConfig(name_or_path="someone/not-cached-model")
    assert not resolve_model(cfg).local
    with pytest.raises(ModelNotFoundError, match="allow_download"):
        load_tokenizer(cfg)


def test_a_node_is_told_what_it_lacks_of_the_model_before_it_trains(tiny_model_dir, tmp_path):
    assert model_problem(ModelConfig()) is None
    assert model_problem(ModelConfig(name_or_path=str(tiny_model_dir))) is None
    assert "not found" in model_problem(ModelConfig(name_or_path=str(tmp_path / "gone")))
    hub = "someone/not-cached-model"
    lacking = model_problem(ModelConfig(name_or_path=hub))
    assert hub in lacking and "hf download" in lacking and "allow_download" in lacking
    assert model_problem(ModelConfig(name_or_path=hub, allow_download=True)) is None


def test_precision_choices():
    assert resolve_precision("float32", "cpu").autocast is None
    half = resolve_precision("bfloat16", "cpu")
    assert (half.weights, half.autocast) == (torch.bfloat16, torch.bfloat16)
    if not torch.cuda.is_available():
        with pytest.raises(ModelNotFoundError, match="no CUDA device"):
            resolve_precision("auto", "cuda")
        assert resolve_precision("auto", "auto").device == "cpu"


def test_auto_takes_apple_silicon_where_torch_offers_it_and_float32_there(monkeypatch):
    """No Mac here: torch's answers are replaced, as on a Mac without CUDA."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(
        "loralab.model.loading.cpu_has_native_bf16", lambda: True
    )  # M-series: no use
    auto = resolve_precision("auto", "auto")
    assert (auto.device, auto.weights, auto.autocast) == ("mps", torch.float32, None)
    assert resolve_precision("auto", "cpu").weights == torch.bfloat16  # asked for: the CPU
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_precision("auto", "auto").device == "cpu"
    with pytest.raises(ModelNotFoundError, match="no MPS device"):
        resolve_precision("auto", "mps")


def test_the_float32_path_can_be_asked_for_on_a_cpu_with_bf16(monkeypatch):
    monkeypatch.setenv("LORALAB_NATIVE_BF16", "0")
    auto = resolve_precision("auto", "cpu")
    assert (auto.weights, auto.autocast) == (torch.float32, None)


def test_cpu_kind_names_the_bf16_sets_found_and_a_forced_float32_path(monkeypatch):
    from loralab import environment

    monkeypatch.setattr(environment, "_bf16_flags", lambda: ["AVX512-BF16"])
    monkeypatch.delenv("LORALAB_NATIVE_BF16", raising=False)
    assert environment.cpu_kind() == "native bf16 (AVX512-BF16)"  # no AMX claimed where it is not
    monkeypatch.setattr(environment, "_bf16_flags", lambda: ["AVX512-BF16", "AMX"])
    assert environment.cpu_kind() == "native bf16 (AVX512-BF16, AMX)"
    monkeypatch.setenv("LORALAB_NATIVE_BF16", "0")
    assert (
        "treated as without it" in environment.cpu_kind() and not environment.cpu_has_native_bf16()
    )
    monkeypatch.setattr(environment, "_bf16_flags", lambda: [])
    assert environment.cpu_kind() == "no native bf16"
