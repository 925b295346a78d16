"""RMU: representation misdirection for unlearning (Li et al. 2024, WMDP; spec §6.4).

The output of layer ``loss_layer`` at the last token of each forget prefix is steered to a fixed
random control vector ``c = steering · u / ||u||`` (``u ~ U[0, 1)^d``), while its output on
retain text is held at the unedited model's: loss ``MSE(h(forget), c) + α MSE(h(retain),
h_ref(retain))``. AdamW trains only the MLP output projections of ``layers``; the forward pass
stops after ``loss_layer``.

Choices: the official loop trains one step per epoch on the first forget prefix only (spec §8.2
#23); here every epoch takes one step per forget request, each paired with one retain text. The
control vector is drawn from the run's seed (the official one is unseeded). The trained matrix is
the MLP output projection on every layout (the official index picks GPT-J's input projection).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data.records import Record
from ..hooks import capture
from ..layout import decoder_layers, get_layout, layer_module, neuron_weights
from .base import FunctionMethod, MethodRun
from .requests import forget_requests
from .training import retain_token_ids, training_only

__all__ = ["RMU", "RMUConfig", "rmu"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RMUConfig:
    """Settings of RMU (official: layers 5, 6, 7, loss at 7, α 100, steering 20, lr 5e-5)."""

    layers: tuple[int, ...] = (5, 6, 7)
    """Layers whose MLP output projection is trained."""
    loss_layer: int = 7
    """Layer whose output is steered (at least the last trained layer)."""
    alpha: float = 100.0
    """Weight of the retain term."""
    steering: float = 20.0
    """Norm of the control vector."""
    lr: float = 5e-5
    epochs: int = 1
    retain_tokens: int = 64


def _layer_output(model, layer, ids, layout) -> torch.Tensor:
    """Output of ``layer`` at every position, in the graph. ``[1, pos, d_model]``."""
    with capture(model, [layer], positions="all", sites=("residual_after",), stop_after=layer,
                 grad=True, layout=layout) as acts:
        model(input_ids=ids, use_cache=False)
    return acts.get(layer, "residual_after")


@torch.enable_grad()
def rmu(model: nn.Module, tokenizer, forget: Sequence[Record], *,
        config: RMUConfig | None = None, seed: int = 0) -> MethodRun:
    """Unlearn ``forget`` with RMU, in place; retain text comes from the general corpus."""
    config = config or RMUConfig()
    if not isinstance(config, RMUConfig):
        raise TypeError(f"rmu takes an RMUConfig, got {type(config).__name__}")
    layout = get_layout(model)
    n_layers = len(decoder_layers(model, layout))
    if not config.layers or not all(0 <= layer <= config.loss_layer < n_layers
                                    for layer in config.layers):
        raise ValueError(f"RMU needs layers <= loss_layer < {n_layers}, got layers "
                         f"{config.layers} and loss_layer {config.loss_layer}")
    if config.lr <= 0 or config.epochs < 1 or config.steering <= 0:
        raise ValueError("RMU needs lr > 0, steering > 0 and epochs >= 1")
    requests = forget_requests(tokenizer, forget)
    retain_ids = retain_token_ids(tokenizer, len(requests), config.retain_tokens)
    device = next(model.parameters()).device
    params = [layer_module(model, layer, "mlp_out", layout).weight for layer in config.layers]
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    d_model = neuron_weights(model, config.layers[0], layout).shape[1]
    direction = torch.rand(d_model, generator=generator)
    control = (config.steering * direction / direction.norm()).to(device)
    texts = [torch.tensor([ids], device=device) for ids in retain_ids]
    with torch.no_grad():
        frozen = [_layer_output(model, config.loss_layer, ids, layout) for ids in texts]
    history = []
    with training_only(model, params):
        optimizer = torch.optim.AdamW(params, lr=config.lr)
        for epoch in range(config.epochs):
            totals = {"forget": 0.0, "retain": 0.0}
            for request, text, target in zip(requests, texts, frozen, strict=True):
                prefix = torch.tensor([request.prefix_ids], device=device)
                h_forget = _layer_output(model, config.loss_layer, prefix, layout)[0, -1]
                forget_loss = F.mse_loss(h_forget.float(), control.float())
                retain_loss = F.mse_loss(_layer_output(model, config.loss_layer, text, layout)
                                         .float(), target.float())
                loss = forget_loss + config.alpha * retain_loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                totals["forget"] += forget_loss.item()
                totals["retain"] += retain_loss.item()
            means = {key: value / len(requests) for key, value in totals.items()}
            history.append(means)
            logger.info("RMU epoch %d: forget MSE %.4g, retain MSE %.4g", epoch + 1,
                        means["forget"], means["retain"])
    return MethodRun(seconds=time.perf_counter() - start, details={
        "requests": len(requests), "epochs": config.epochs, "history": history,
        "parameters_trained": sum(p.numel() for p in params),
    })


RMU = FunctionMethod("rmu", RMUConfig, rmu)
