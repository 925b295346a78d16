"""revs: unlearning sensitive information by rank editing in the vocabulary space (REVS).

A reproducible implementation of REVS (Ashuach, Tutek, Belinkov, ACL Findings 2025).
"""

import logging

from .hooks import SITES, Activations, LayerActivations, capture
from .layout import LAYOUTS, ModelLayout, UnsupportedModelError, get_layout, neuron_weights
from .model import EMBEDDED_MODEL, load_model
from .vocab import VocabProjection, project_back, project_to_vocab, token_rank, vocab_projection

__version__ = "0.1.0"

__all__ = [
    "EMBEDDED_MODEL",
    "LAYOUTS",
    "SITES",
    "Activations",
    "LayerActivations",
    "ModelLayout",
    "UnsupportedModelError",
    "VocabProjection",
    "capture",
    "get_layout",
    "load_model",
    "neuron_weights",
    "project_back",
    "project_to_vocab",
    "token_rank",
    "vocab_projection",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
