"""revs: unlearning sensitive information by rank editing in the vocabulary space (REVS).

A reproducible implementation of REVS (Ashuach, Tutek, Belinkov, ACL Findings 2025). The method
is the top-level modules; :mod:`revs.evaluation` scores a model, :mod:`revs.methods` holds REVS
and the baselines behind one interface, :mod:`revs.experiments` runs and stores evaluations, and
:mod:`revs.report` makes the book's tables and figures. This module gathers the names most users
need.
"""

import logging

from .config import REVSConfig
from .edit import NeuronEdit, applied, apply_edits_, revert_edits_
from .evaluation.scoring import EvalSettings
from .experiments.results import Results
from .experiments.runner import evaluate
from .hooks import SITES, Activations, LayerActivations, capture
from .layout import LAYOUTS, ModelLayout, UnsupportedModelError, get_layout, neuron_weights
from .model import EMBEDDED_MODEL, load_model
from .patch import Patch, load_patch, model_fingerprint
from .targets import TargetToken, select_target_tokens
from .unlearn import UnlearnResult, unlearn
from .vocab import VocabProjection, project_back, project_to_vocab, token_rank, vocab_projection

__version__ = "0.1.0"

__all__ = [
    "EMBEDDED_MODEL",
    "EvalSettings",
    "LAYOUTS",
    "SITES",
    "Activations",
    "LayerActivations",
    "ModelLayout",
    "NeuronEdit",
    "Patch",
    "REVSConfig",
    "Results",
    "TargetToken",
    "UnlearnResult",
    "UnsupportedModelError",
    "VocabProjection",
    "applied",
    "apply_edits_",
    "capture",
    "evaluate",
    "get_layout",
    "load_model",
    "load_patch",
    "model_fingerprint",
    "neuron_weights",
    "project_back",
    "project_to_vocab",
    "revert_edits_",
    "select_target_tokens",
    "token_rank",
    "unlearn",
    "vocab_projection",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
