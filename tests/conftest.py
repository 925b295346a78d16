"""Shared fixtures: tiny random models of every supported architecture (no downloads).

Also the suite's deprecation guard: a DeprecationWarning or FutureWarning, or a transformers log
message about a deprecation, raised while revs code is on the call stack fails the test.
"""

import contextlib
import logging
import os
import sys
import warnings
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    GPT2Config,
    GPTJConfig,
    GPTNeoXConfig,
    LlamaConfig,
    MistralConfig,
    Qwen2Config,
    Qwen3Config,
)

import revs  # noqa: E402

REVS_SOURCE = str(Path(revs.__file__).resolve().parent) + os.sep


def called_from_revs(frame) -> bool:
    """Whether ``frame`` or one of its callers runs revs' own code."""
    while frame is not None:
        if frame.f_code.co_filename.startswith(REVS_SOURCE):
            return True
        frame = frame.f_back
    return False


class DeprecatedCallFromRevs(Exception):
    """revs called an API its dependencies deprecate: move to the replacement they name."""


class _DeprecationLogs(logging.Handler):
    # transformers announces some deprecations through its logger, not the warnings module; one of
    # them broke a checked notebook cell (issue 20).
    def emit(self, record):
        if "deprecat" in record.getMessage().lower() and called_from_revs(sys._getframe()):
            raise DeprecatedCallFromRevs(f"{record.name}: {record.getMessage()}")


@contextlib.contextmanager
def deprecations_from_revs_fail():
    """Turn deprecations that revs' calls trigger into errors; leave the others to pytest.

    A filter by module (``error::FutureWarning:revs``) would not do: libraries attribute their
    warnings to the frame that called them (``stacklevel``), which is often their own or torch's.
    """
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DeprecationWarning | FutureWarning) \
                and called_from_revs(sys._getframe(1)):
            raise DeprecatedCallFromRevs(f"{category.__name__} at {filename}:{lineno}: {message}")
        shown(message, category, filename, lineno, file, line)

    handler = _DeprecationLogs(logging.WARNING)
    library_logger = logging.getLogger("transformers")
    warnings.showwarning = show
    library_logger.addHandler(handler)
    try:
        yield
    finally:
        warnings.showwarning = shown
        library_logger.removeHandler(handler)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    with deprecations_from_revs_fail():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    with deprecations_from_revs_fail():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    with deprecations_from_revs_fail():
        return (yield)


D_MODEL, D_MLP, D_VOCAB, N_LAYERS = 64, 128, 256, 3
_llama_like = dict(
    hidden_size=D_MODEL,
    intermediate_size=D_MLP,
    num_hidden_layers=N_LAYERS,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=D_VOCAB,
    max_position_embeddings=64,
)
_special = dict(bos_token_id=0, eos_token_id=1, pad_token_id=1)

# One config per layout row (and both residual forms of GPT-NeoX). A new row in LAYOUTS needs an
# entry here: tests/test_layout.py checks that every row is covered.
TINY_CONFIGS = {
    "llama": lambda: LlamaConfig(**_llama_like, **_special),
    "mistral": lambda: MistralConfig(**_llama_like, **_special),
    "qwen2": lambda: Qwen2Config(**_llama_like, **_special),
    "qwen3": lambda: Qwen3Config(**_llama_like, head_dim=16, **_special),
    "gptj": lambda: GPTJConfig(
        n_embd=D_MODEL,
        n_inner=D_MLP,
        n_layer=N_LAYERS,
        n_head=4,
        rotary_dim=8,
        vocab_size=D_VOCAB,
        n_positions=64,
        **_special,
    ),
    "gpt2": lambda: GPT2Config(
        n_embd=D_MODEL,
        n_inner=D_MLP,
        n_layer=N_LAYERS,
        n_head=4,
        vocab_size=D_VOCAB,
        n_positions=64,
        **_special,
    ),
    "gpt_neox": lambda: GPTNeoXConfig(
        hidden_size=D_MODEL,
        intermediate_size=D_MLP,
        num_hidden_layers=N_LAYERS,
        num_attention_heads=4,
        vocab_size=D_VOCAB,
        max_position_embeddings=64,
        **_special,
    ),
    "gpt_neox_sequential": lambda: GPTNeoXConfig(
        hidden_size=D_MODEL,
        intermediate_size=D_MLP,
        num_hidden_layers=N_LAYERS,
        num_attention_heads=4,
        vocab_size=D_VOCAB,
        max_position_embeddings=64,
        use_parallel_residual=False,
        **_special,
    ),
}


FORCE = revs.REVSConfig(residual_band=(200, 250), mlp_band=(20, 254), neuron_band=(150, 230),
                        n_neurons=8, act_filter=16, initial_neurons=2)
"""Bands inside the tiny vocabulary (256) that make REVS edit a random tiny model for sure."""


def build_tiny_model(name: str, dtype: torch.dtype = torch.float32, seed: int = 0):
    """A tiny randomly initialised model of architecture ``name``, in eval mode."""
    config = TINY_CONFIGS[name]()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        # Default inits are tiny (std 0.02): spread the norms and biases so that centring, scaling
        # and bias terms all matter in the round-trip and golden tests.
        for name_, param in model.named_parameters():
            if "norm" in name_ or "ln_" in name_:
                param.data.uniform_(0.5, 1.5) if name_.endswith("weight") else param.data.normal_(
                    0, 0.3
                )
            elif name_.endswith("bias"):
                param.data.normal_(0, 0.1)
    return model.eval()


@pytest.fixture(scope="module", params=sorted(TINY_CONFIGS))
def tiny(request):
    """(name, model) for each architecture."""
    return request.param, build_tiny_model(request.param)


@pytest.fixture(scope="module")
def token_ids():
    generator = torch.Generator().manual_seed(0)
    return torch.randint(2, D_VOCAB, (2, 7), generator=generator)


@pytest.fixture(scope="session")
def embedded():
    """The embedded SmolLM2-135M and its tokenizer (integration tests)."""
    import revs

    return revs.load_model()


class ByteTokenizer:
    """A toy tokenizer for the tiny models: one token per latin-1 byte (vocabulary 256)."""

    pad_token_id = eos_token_id = 0
    eos_token = pad_token = "\x00"

    def __call__(self, text, add_special_tokens=False, return_tensors=None):
        ids = list(text.encode("latin-1", errors="replace"))
        if return_tensors == "pt":
            ids = torch.tensor([ids])
        return type("Encoding", (), {"input_ids": ids})()

    def decode(self, ids, skip_special_tokens=False, clean_up_tokenization_spaces=None):
        return bytes(int(i) for i in ids).decode("latin-1")

    def batch_decode(self, rows, skip_special_tokens=False):
        return [self.decode(row) for row in rows]


@pytest.fixture(scope="module")
def byte_tokenizer():
    return ByteTokenizer()
