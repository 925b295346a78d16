"""The vocabulary space: projecting d_model vectors to logits and back (paper §3, spec §1).

``project_to_vocab`` is the logit lens, ``LL(x) = U · N(x) + b_U``, applied to any batch of
``d_model`` vectors: residual states, sub-module outputs or single neurons. ``project_back``
inverts it for a vector whose logits were edited: the pseudo-inverse of the unembedding takes the
logits back to the normalized space, and the *exact* inverse of the final norm, computed from the
statistics of the original (reference) vector, takes them back to the residual space.

Everything is computed in float32 whatever the model's dtype (bfloat16 logits tie too often for
rank decisions), on the device of the unembedding; results come back on the input's device.
"""

from __future__ import annotations

import logging
import weakref

import torch
from torch import nn

from .bf16 import bf16_matmul
from .layout import ModelLayout, final_norm, get_layout, unembedding

__all__ = ["VocabProjection", "project_back", "project_to_vocab", "token_rank", "vocab_projection"]

logger = logging.getLogger(__name__)


class VocabProjection:
    """Final norm + unembedding of one model in float32, with its pseudo-inverse cached.

    Build it with :func:`vocab_projection`, which reuses one instance per model for as long as the
    norm and unembedding weights are unchanged. (Changes are detected through the parameters'
    version counters, which optimizers and ``with torch.no_grad(): p.mul_(...)`` bump; writes
    through ``p.data`` bypass them: call ``vocab_projection(model, refresh=True)`` after those.)
    """

    def __init__(self, model: nn.Module, layout: ModelLayout | None = None):
        layout = layout or get_layout(model)
        norm = final_norm(model, layout)
        w_unembed, b_unembed = unembedding(model, layout)
        self.device = w_unembed.device
        # .float() is free for a float32 model: these alias the parameters, no copy.
        self.w_unembed = w_unembed.detach().float()  # [d_vocab, d_model]
        self.b_unembed = None if b_unembed is None else b_unembed.detach().float()  # [d_vocab]
        self.norm_kind = norm.kind
        self.norm_eps = norm.eps
        self.norm_weight = norm.weight.detach().to(self.device, torch.float32)  # [d_model]
        bias = None if norm.bias is None else norm.bias.detach()
        self.norm_bias = None if bias is None else bias.to(self.device, torch.float32)
        self.d_vocab, self.d_model = self.w_unembed.shape
        self._pinv: torch.Tensor | None = None
        # bf16 copy of the unembedding with its rows' norms and rounding residuals' norms
        self._bf16: tuple[torch.Tensor, torch.Tensor] | None = None
        # (token, protect) -> (direction, protected ids, U @ direction); REVS demotes the same
        # few tokens in many layers, and U @ direction costs a full pass over the unembedding.
        self._directions: dict[tuple[int, int], tuple[torch.Tensor, list[int], torch.Tensor]] = {}

    @property
    def scale_invariant(self) -> bool:
        """Whether ``LL(x)`` is a positive multiple of ``U (g * x)``.

        True for an RMSNorm without bias and an unembedding without bias: ranks in ``LL`` then
        follow from ``U`` and ``g`` alone, which the closed forms of the demotion and of the
        count search use.
        """
        return self.norm_kind == "rms" and self.norm_bias is None and self.b_unembed is None

    @property
    def pinv(self) -> torch.Tensor:
        """Pseudo-inverse of the unembedding, ``[d_model, d_vocab]``, computed on first use.

        Column ``t`` is the direction, in normalized space, that raises logit ``t`` alone by one
        (spec §1.3): ``pinv @ U = I`` because ``U`` has full column rank.
        """
        if self._pinv is None:
            logger.debug("computing pinv of the %d x %d unembedding", self.d_vocab, self.d_model)
            self._pinv = torch.linalg.pinv(self.w_unembed)
        return self._pinv

    # ---- the final norm and its exact inverse -------------------------------------------------
    def _statistics(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, scale) of vectors ``x`` as the final norm sees them; scale = sqrt(var + eps)."""
        if self.norm_kind == "rms":
            mean = torch.zeros_like(x[..., :1])
            scale = (x.pow(2).mean(-1, keepdim=True) + self.norm_eps).sqrt()
        else:
            mean = x.mean(-1, keepdim=True)
            # Biased variance, as nn.LayerNorm uses (the official code's unbiased one is inexact).
            scale = (x.var(-1, keepdim=True, correction=0) + self.norm_eps).sqrt()
        return mean, scale

    def normalize(self, vectors: torch.Tensor) -> torch.Tensor:
        """Apply the final norm. ``[..., d_model] -> [..., d_model]`` (float32)."""
        x = self._check_width(vectors, self.d_model, "vectors").to(self.device, torch.float32)
        mean, scale = self._statistics(x)
        normed = (x - mean) / scale * self.norm_weight
        return normed if self.norm_bias is None else normed + self.norm_bias

    def denormalize(self, normed: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Exact inverse of :meth:`normalize` given the statistics of ``reference``.

        ``denormalize(normalize(x), x) == x``. For RMSNorm ``x = n / g * rms(ref)`` (no mean term:
        the official code adds one, spec §8.2 #4); for LayerNorm
        ``x = (n - b) / g * sqrt(var(ref) + eps) + mean(ref)``.

        Shapes: ``normed [..., d_model]``, ``reference`` broadcastable to it.
        """
        n = self._check_width(normed, self.d_model, "normed").to(self.device, torch.float32)
        ref = self._check_width(reference, self.d_model, "reference").to(self.device, torch.float32)
        _check_broadcast(n.shape, ref.shape)
        mean, scale = self._statistics(ref)
        if self.norm_bias is not None:
            n = n - self.norm_bias
        x = n / self.norm_weight * scale + mean
        if not torch.isfinite(x).all():
            raise ValueError(
                "project_back produced non-finite values: the final norm's weight has zero entries "
                "or the logits are not finite. Check the model's final norm and the edited logits; "
                "nothing was modified."
            )
        return x

    # ---- the logit lens and its inverse --------------------------------------------------------
    def project(self, vectors: torch.Tensor) -> torch.Tensor:
        """Logit lens ``U · N(x) + b_U``. ``[..., d_model] -> [..., d_vocab]`` (float32)."""
        logits = self.normalize(vectors) @ self.w_unembed.T  # [..., d_vocab]
        return logits if self.b_unembed is None else logits + self.b_unembed

    def project_back(self, logits: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Inverse logit lens: ``N^-1(pinv(U) · (z - b_U))`` with the statistics of ``reference``.

        Shapes: ``logits [..., d_vocab]``, ``reference [..., d_model]`` -> ``[..., d_model]``.
        """
        z = self._check_width(logits, self.d_vocab, "logits").to(self.device, torch.float32)
        if self.b_unembed is not None:
            z = z - self.b_unembed
        normed = z @ self.pinv.T  # [..., d_model]
        return self.denormalize(normed, reference)

    def decided_ranks(
        self, vectors: torch.Tensor, token_id: int, thresholds: tuple[int, ...]
    ) -> torch.Tensor:
        """The token's rank in ``LL(v)`` for each vector, exact wherever a threshold needs it.

        For every ``tau`` in ``thresholds`` and every vector, ``result >= tau`` holds exactly
        when the float32 rank (:meth:`project` then :func:`token_rank`) is at least ``tau``;
        where a vector's rank could fall on either side of a threshold the exact rank is
        returned. The logits are screened in bfloat16 (half the bytes of the unembedding to
        read, and the CPU's bf16 units) with a rigorous bound on the screening error; only the
        tokens inside that bound are computed again in float32. The REVS layer rule needs only
        whether a rank passes a band's end, and most ranks are far from it.

        Shapes: ``vectors [n, d_model]`` -> int64 ``[n]``.
        """
        normed = self.normalize(vectors)  # [n, d_model] float32
        target = normed @ self.w_unembed[token_id]  # [n]
        if self.b_unembed is not None:
            target = target + self.b_unembed[token_id]
        screened, bound = self._screen(normed)  # [n, d_vocab] each
        gap = screened - target[:, None]
        lows = (gap > bound).sum(-1, dtype=torch.int32).tolist()  # surely ranked above
        highs = (gap >= -bound).sum(-1, dtype=torch.int32).tolist()  # ... or possibly
        ranks = torch.tensor(lows, dtype=torch.long)
        for i, (lo, hi) in enumerate(zip(lows, highs, strict=True)):
            if not any(lo < tau <= hi for tau in thresholds):
                continue  # every threshold is decided by the bounds alone
            unsure = gap[i].abs() <= bound[i]
            unsure[token_id] = True  # recomputed with the others: duplicate rows tie exactly
            ids = unsure.nonzero().flatten()
            exact = self.w_unembed[ids] @ normed[i]  # [n_unsure]
            if self.b_unembed is not None:
                exact = exact + self.b_unembed[ids]
            ranks[i] = lo + int((exact > exact[ids == token_id]).sum())
        return ranks.to(vectors.device)

    def _screen(self, normed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """bfloat16 logits of normalized vectors and a bound on their error, ``[n, d_vocab]``.

        ``n . u`` is computed as ``bf16(n) . bf16(u)`` (exact products, float32 sums, a bfloat16
        result). Writing ``n = nb + m`` and ``u = ub + r``, the error is ``nb.r + m.ub + m.r``
        (Cauchy-Schwarz on the measured norms of the rounding residuals), plus the float32
        summation (``d * 2**-24`` of ``|nb| |ub|``) and the float32 reference's own summation
        once more, plus the result's rounding (``2**-8`` relative), with 5 % to spare. On
        SmolLM2 the bound is about 2.5x the largest error observed.
        """
        if self._bf16 is None:
            ub = self.w_unembed.to(torch.bfloat16)  # [d_vocab, d_model]
            ub_norm = ub.float().norm(dim=-1)  # [d_vocab]
            r_norm = (self.w_unembed - ub.float()).norm(dim=-1)  # [d_vocab]
            summation = 2 * self.d_model * 2**-24 * ub_norm
            self._bf16 = (ub, 1.05 * torch.stack([r_norm + summation, ub_norm + r_norm]))
        ub, basis = self._bf16  # basis [2, d_vocab]
        nb = normed.to(torch.bfloat16)
        coefficients = torch.stack([nb.float().norm(dim=-1),
                                    (normed - nb.float()).norm(dim=-1)], -1)  # [n, 2]
        logits = bf16_matmul(nb, ub.T).float()  # [n, d_vocab]
        bound = torch.addcmul(coefficients @ basis, logits.abs(), torch.tensor(1.05 * 2**-8))
        if self.b_unembed is not None:
            logits = logits + self.b_unembed
        return logits, bound.add_(1e-6)

    def demotion_direction(self, token_id: int, protect: int = 0) -> tuple[torch.Tensor, list[int]]:
        """The normalized-space direction that lowers ``token_id``'s logit; ``[d_model]``.

        ``protect = 0``: ``pinv[:, t]``, REVS's map back of a change of logit ``t`` alone. Its
        effect on the logits, ``q = U pinv[:, t]``, is the projection of ``e_t`` onto the
        unembedding's column space, so tokens whose unembeddings resemble ``t``'s move with it
        (on SmolLM2, lowering one digit lowers every digit by ~60 % as much).
        ``protect = m`` (ours, not in the paper): the ``m`` tokens that ``q`` moves most are held
        fixed: ``d = pinv[:, t] - pinv[:, P] w`` with ``(U pinv)[P, P] w = q[P]``, so
        ``U d`` is zero on ``P``. ``d`` is rescaled to lower ``t`` as much as ``pinv[:, t]``.

        Returns:
            ``(direction [d_model], protected token ids)``.
        """
        direction, protected, _ = self._demotion(token_id, protect)
        return direction, protected

    def demotion_effect(self, token_id: int, protect: int = 0) -> torch.Tensor:
        """``U d``: how one unit of :meth:`demotion_direction` moves every logit; ``[d_vocab]``."""
        return self._demotion(token_id, protect)[2]

    def _demotion(
        self, token_id: int, protect: int
    ) -> tuple[torch.Tensor, list[int], torch.Tensor]:
        key = (int(token_id), max(int(protect), 0))
        if key not in self._directions:
            if len(self._directions) >= 256:  # each entry holds a d_vocab vector
                self._directions.pop(next(iter(self._directions)))
            direction, protected = self._direction(*key)
            self._directions[key] = (direction, protected, self.w_unembed @ direction)
        return self._directions[key]

    def _direction(self, token_id: int, protect: int) -> tuple[torch.Tensor, list[int]]:
        direction = self.pinv[:, token_id]  # [d_model]
        if protect <= 0:
            return direction, []
        q = self.w_unembed @ direction  # [d_vocab]
        q[token_id] = -float("inf")
        protected = torch.topk(q, min(protect, self.d_vocab - 1)).indices  # [m]
        basis = self.pinv[:, protected]  # [d_model, m]
        gram = self.w_unembed[protected] @ basis  # [m, m] = (U pinv)[P, P]
        weights = torch.linalg.lstsq(gram, (self.w_unembed[protected] @ direction)[:, None])
        adjusted = direction - (basis @ weights.solution)[:, 0]
        own = self.w_unembed[token_id] @ adjusted
        if not torch.isfinite(own) or own <= 1e-6 * (self.w_unembed[token_id] @ direction):
            raise ValueError(
                f"token {token_id} cannot be lowered while holding its {protect} most similar "
                "tokens fixed; lower protect_tokens"
            )
        scale = (self.w_unembed[token_id] @ direction) / own
        return adjusted * scale, protected.tolist()

    @staticmethod
    def _check_width(t: torch.Tensor, width: int, name: str) -> torch.Tensor:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim == 0 or t.shape[-1] != width:
            raise ValueError(
                f"{name} has shape {tuple(t.shape)}, but its last axis must have width {width} "
                f"for this model; pass a tensor of shape [..., {width}]."
            )
        return t


def _check_broadcast(a: torch.Size, b: torch.Size) -> None:
    try:
        torch.broadcast_shapes(a, b)
    except RuntimeError:
        raise ValueError(
            f"reference of shape {tuple(b)} does not broadcast against shape {tuple(a)}; "
            "give one reference vector per projected vector (or a single one)."
        ) from None


# One projection per model, rebuilt when the norm or unembedding weights change (in-place updates
# bump a tensor's _version; a reassigned parameter changes its data_ptr).
_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, VocabProjection]] = (
    weakref.WeakKeyDictionary()
)


def _weights_signature(model: nn.Module, layout: ModelLayout) -> tuple:
    norm = final_norm(model, layout)
    w, b = unembedding(model, layout)
    tensors = [t for t in (norm.weight, norm.bias, w, b) if t is not None]
    return tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)


def vocab_projection(model: nn.Module, *, refresh: bool = False) -> VocabProjection:
    """The cached :class:`VocabProjection` of ``model`` (its pinv is computed once per model).

    ``refresh=True`` rebuilds it unconditionally.
    """
    layout = get_layout(model)
    signature = _weights_signature(model, layout)
    cached = _CACHE.get(model)
    if refresh or cached is None or cached[0] != signature:
        cached = (signature, VocabProjection(model, layout))
        _CACHE[model] = cached
    return cached[1]


def project_to_vocab(model: nn.Module, vectors: torch.Tensor) -> torch.Tensor:
    """Logit lens of any batch of ``d_model`` vectors: ``[..., d_model] -> [..., d_vocab]``.

    Float32, on the device of ``vectors``.
    """
    return vocab_projection(model).project(vectors).to(vectors.device)


def project_back(model: nn.Module, logits: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Map (edited) logits back to residual space: ``[..., d_vocab] -> [..., d_model]``.

    ``reference`` is the original vector (``[..., d_model]``, broadcastable): the final norm is
    inverted exactly with its statistics, so ``project_back(project_to_vocab(v), v) == v``.
    """
    return vocab_projection(model).project_back(logits, reference).to(reference.device)


def token_rank(logits: torch.Tensor, token_id: int | torch.Tensor) -> torch.Tensor:
    """Rank of ``token_id`` in each logit vector: the number of strictly larger logits.

    Rank 0 is top-1; tied logits share the better rank. ``logits [..., d_vocab]``, ``token_id`` an
    int or an integer tensor broadcastable to ``[...]``; returns int64 ``[...]``.

    >>> token_rank(torch.tensor([3.0, 1.0, 2.0]), 2).item()
    1
    """
    if logits.ndim == 0:
        raise ValueError("logits must have a vocabulary axis: shape [..., d_vocab]")
    d_vocab = logits.shape[-1]
    ids = torch.as_tensor(token_id, device=logits.device)
    if ids.dtype.is_floating_point or ids.dtype == torch.bool:
        raise TypeError(f"token_id must be an integer or an integer tensor, got {ids.dtype}")
    if ids.numel() and (ids.min() < 0 or ids.max() >= d_vocab):
        bad = ids[(ids < 0) | (ids >= d_vocab)].flatten()[0].item()
        raise ValueError(
            f"token id {bad} is outside the vocabulary [0, {d_vocab}); "
            "use ids from this model's tokenizer."
        )
    try:
        ids = ids.expand(logits.shape[:-1])
    except RuntimeError:
        raise ValueError(
            f"token_id of shape {tuple(ids.shape)} does not broadcast to the logits' leading "
            f"shape {tuple(logits.shape[:-1])}"
        ) from None
    target = logits.gather(-1, ids.unsqueeze(-1))  # [..., 1]
    # Counting in int32 is faster than bool's default int64 sum; no vocabulary reaches 2**31.
    return (logits > target).sum(-1, dtype=torch.int32).long()
