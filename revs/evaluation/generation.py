"""Does the model emit a secret? Exact greedy reproduction, checked without generating.

Greedy decoding from a prompt emits a target's tokens exactly iff, at every target position, the
model's argmax given the prompt and the target's earlier tokens is the target's next token. So one
teacher-forced forward pass per batch answers the question that token-by-token generation would
answer in ``len(target)`` passes (spec §5.2's memorization criterion).

Prompt and target are tokenized separately and their ids concatenated: that is what a model
trained on them saw, and it never re-tokenizes a joined string (spec §8.2 #13).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.records import Record
from ..tokens import encode, pad_batch

__all__ = [
    "GreedyCheck",
    "exact_reproduction",
    "greedy_continuations",
    "greedy_matches_ids",
    "kv_forward",
    "sampled_continuations",
]


def kv_forward(model: nn.Module, cache=None, **inputs):
    """``model(**inputs)`` that reads and returns a key/value cache: ``(output, cache)``.

    transformers 5.24 renamed the cache argument and output field from ``past_key_values`` to
    ``cache`` (the old name warns and goes in 5.40); the name is taken from the model's own
    ``forward``, so revs runs warning-free on either side of the rename.
    """
    name = _cache_name(type(model))
    if cache is not None:
        inputs[name] = cache
    output = model(**inputs, use_cache=True)
    return output, output[name]


_CACHE_NAMES: dict[type, str] = {}


def _cache_name(model_class: type) -> str:
    if model_class not in _CACHE_NAMES:
        parameters = inspect.signature(model_class.forward).parameters
        _CACHE_NAMES[model_class] = "cache" if "cache" in parameters else "past_key_values"
    return _CACHE_NAMES[model_class]


@dataclass(frozen=True)
class GreedyCheck:
    """What greedy decoding does after a prompt, compared with a target."""

    matched_tokens: int
    """How many leading target tokens greedy decoding reproduces."""
    target_tokens: int
    """Number of target tokens."""
    next_token: int
    """The greedy token after the whole target (teacher-forced: meaningful when ``matched``)."""

    @property
    def matched(self) -> bool:
        """Greedy decoding emits exactly the target's tokens."""
        return self.matched_tokens == self.target_tokens


def _accepts_logits_to_keep(model: nn.Module) -> bool:
    return "logits_to_keep" in inspect.signature(model.forward).parameters


@torch.no_grad()
def greedy_matches_ids(
    model: nn.Module,
    prompts: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    *,
    batch_size: int = 16,
    pad_id: int = 0,
    progress: bool = False,
) -> list[GreedyCheck]:
    """Teacher-forced check of greedy decoding, on token ids.

    Each sequence ``prompt + target`` is left-padded into a batch; one forward pass gives the
    argmax at every target position and after the target. Greedy decoding of the prompt emits the
    target iff each argmax equals the next target token: the argmax at a position depends only on
    the tokens before it, which teacher forcing and greedy decoding share up to the first
    mismatch. Sequences are batched by length (less padding); results follow the input order.
    """
    if len(prompts) != len(targets):
        raise ValueError(f"got {len(prompts)} prompts but {len(targets)} targets")
    if any(len(p) == 0 for p in prompts) or any(len(t) == 0 for t in targets):
        raise ValueError("every prompt and every target needs at least one token")
    device = next(model.parameters()).device
    keep_logits = _accepts_logits_to_keep(model)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) + len(targets[i]))
    results: dict[int, GreedyCheck] = {}
    bar = tqdm(total=len(order), desc="greedy check", unit="prompt", disable=not progress)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        ids, mask = pad_batch([list(prompts[i]) + list(targets[i]) for i in batch], pad_id,
                              side="left")
        # Positions count from each sequence's first real token, as generate() does.
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        keep = max(len(targets[i]) for i in batch) + 1  # the target positions and the next one
        kwargs = {"logits_to_keep": keep} if keep_logits else {}
        logits = model(
            input_ids=ids.to(device), attention_mask=mask.to(device),
            position_ids=positions.to(device), use_cache=False, **kwargs
        ).logits[:, -keep:]  # [batch, keep, d_vocab]
        argmax = logits.argmax(-1).cpu()  # [batch, keep]
        for row, i in enumerate(batch):
            target = torch.tensor(targets[i])
            # The logits that predict target token j sit len(target) - j positions before the end.
            predicted = argmax[row, keep - 1 - len(target) : keep - 1]  # [len(target)]
            wrong = (predicted != target).nonzero()
            results[i] = GreedyCheck(
                matched_tokens=int(wrong[0, 0]) if len(wrong) else len(target),
                target_tokens=len(target),
                next_token=int(argmax[row, -1]),
            )
        bar.update(len(batch))
    bar.close()
    return [results[i] for i in range(len(prompts))]


def exact_reproduction(
    model: nn.Module, tokenizer, records: Sequence[Record], *, batch_size: int = 32
) -> torch.Tensor:
    """Whether greedy decoding from each record's prompt emits its target exactly.

    Returns a bool tensor ``[len(records)]`` (see :func:`greedy_matches_ids`).
    """
    pairs = [encode(tokenizer, r) for r in records]
    checks = greedy_matches_ids(model, [p for p, _ in pairs], [t for _, t in pairs],
                                batch_size=batch_size, pad_id=tokenizer.pad_token_id)
    return torch.tensor([c.matched for c in checks], dtype=torch.bool)


@torch.no_grad()
def greedy_continuations(
    model: nn.Module, tokenizer, prompts: Sequence[str], *, max_new_tokens: int = 20,
    batch_size: int = 32, until: Sequence[str] | None = None,
) -> list[str]:
    """Greedy continuation of each prompt (left-padded batches, no special tokens added).

    What ``model.generate(do_sample=False)`` computes, from the same forward calls (one
    key/value cache per batch, the logits of the last position only); a row ends at the model's
    end-of-sequence token. Where the model's generation config adds logits processors (a
    repetition penalty, forced tokens...), ``generate`` itself runs.

    With ``until`` (one string per prompt), row ``i`` may stop as soon as ``prompts[i]`` plus its
    text contains ``until[i]``: its text is then the prefix of the full continuation that first
    holds it, and a prompt that already holds it is not continued. A containment test (the
    specificity and extraction criterion) reads the same answer from it; rows that stop leave
    the batch, which is most of the decoding saved. Where the decoded text of a prefix need not
    be a prefix of the text (a tokenizer that cleans up spaces), or the string holds U+FFFD
    (what an incomplete byte decodes to), that row runs to the end.
    """
    if until is not None and len(until) != len(prompts):
        raise ValueError(f"got {len(until)} strings to stop at for {len(prompts)} prompts")
    if not _plain_greedy(model):
        return _generated(model, tokenizer, prompts, max_new_tokens=max_new_tokens,
                          batch_size=batch_size)
    texts = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        needles = None if until is None else [
            needle if _prefix_stable(tokenizer, needle) else None
            for needle in until[start : start + batch_size]]
        texts.extend(_greedy_batch(model, tokenizer, batch, needles, max_new_tokens))
    return texts


def _greedy_batch(model, tokenizer, prompts, needles, max_new_tokens) -> list[str]:
    """One left-padded batch of :func:`greedy_continuations`; finished rows leave it."""
    device = next(model.parameters()).device
    stop = _generation_stop_ids(model, tokenizer)
    keep_logits = {"logits_to_keep": 1} if _accepts_logits_to_keep(model) else {}
    drawn: list[list[int]] = [[] for _ in prompts]

    def found(i: int) -> bool:
        if needles is None or needles[i] is None:
            return False
        text = tokenizer.decode(drawn[i], skip_special_tokens=True) if drawn[i] else ""
        return needles[i] in prompts[i] + text

    active = [i for i in range(len(prompts)) if not found(i)]
    if not active or max_new_tokens < 1:
        return [tokenizer.decode(row, skip_special_tokens=True) for row in drawn]
    pad = tokenizer.pad_token_id or 0
    ids, mask = pad_batch([tokenizer(prompts[i], add_special_tokens=False).input_ids
                           for i in active], pad, side="left")
    ids, mask = ids.to(device), mask.to(device)
    position = (mask.cumsum(-1) - 1).clamp(min=0)  # as generate() counts them
    out, cache = kv_forward(model, input_ids=ids, attention_mask=mask, position_ids=position,
                            **keep_logits)
    position = position[:, -1:]
    for step in range(max_new_tokens):
        tokens = out.logits[:, -1].float().argmax(-1)  # [n_active]
        for i, token in zip(active, tokens.tolist(), strict=True):
            drawn[i].append(token)
        if step == max_new_tokens - 1:
            break
        staying = [row for row, i in enumerate(active) if drawn[i][-1] not in stop
                   and not found(i)]
        if not staying:
            break
        if len(staying) < len(active):
            index = torch.tensor(staying, device=device)
            cache.batch_select_indices(index)
            mask, position, tokens = mask[index], position[index], tokens[index]
            active = [active[row] for row in staying]
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
        position = position + 1
        out, cache = kv_forward(model, cache, input_ids=tokens[:, None], attention_mask=mask,
                                position_ids=position, **keep_logits)
    # generate() feeds a row that ended padding until the batch ends, and decodes it with them.
    width = max(len(row) for row in drawn)
    return [tokenizer.decode(row + [pad] * (width - len(row)) if row and row[-1] in stop
                             else row, skip_special_tokens=True) for row in drawn]


_PROCESSOR_FIELDS = (
    "repetition_penalty", "encoder_repetition_penalty", "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size", "bad_words_ids", "min_length", "min_new_tokens",
    "forced_bos_token_id", "forced_eos_token_id", "suppress_tokens", "begin_suppress_tokens",
    "sequence_bias", "exponential_decay_length_penalty", "guidance_scale",
    "watermarking_config", "stop_strings", "forced_decoder_ids",
)
"""Generation settings under which greedy ``generate`` is no longer the plain argmax."""


def _plain_greedy(model: nn.Module) -> bool:
    """Greedy ``generate`` takes the plain argmax of the logits for this model."""
    from transformers import GenerationConfig

    config = getattr(model, "generation_config", None)
    if config is None:
        return True
    default = GenerationConfig()
    return all(getattr(config, name, None) == getattr(default, name, None)
               for name in _PROCESSOR_FIELDS)


def _prefix_stable(tokenizer, needle: str) -> bool:
    """A string found in the decoded text of a prefix of ids stays in the text of all of them.

    Byte-level decoding of a prefix differs from the full text only in a trailing incomplete
    character (decoded as U+FFFD); cleaning up spaces (`` .`` to ``.``) can rewrite earlier text.
    """
    return "\ufffd" not in needle and not getattr(tokenizer, "clean_up_tokenization_spaces",
                                                   True)


def _generation_stop_ids(model: nn.Module, tokenizer) -> set[int]:
    """The ids greedy ``generate`` stops a row at: its generation config's end-of-sequence ids."""
    if getattr(model, "generation_config", None) is None:
        return _stop_ids(model, tokenizer)
    eos = model.generation_config.eos_token_id
    return set() if eos is None else set(eos if isinstance(eos, list) else [eos])


@torch.no_grad()
def sampled_continuations(
    model: nn.Module, tokenizer, prompts: Sequence[str], *, samples: int = 20,
    temperature: float = 1.0, max_new_tokens: int = 20, batch_size: int = 160, seed: int = 0,
) -> list[list[str]]:
    """``samples`` continuations of each prompt drawn at ``temperature`` (no top-k / top-p).

    Each prompt is read once and its key/value cache is shared by its samples (``generate``
    with ``num_return_sequences`` would read it ``samples`` times: most of the cost for long
    prompts). A sample ends at the model's end-of-sequence token. ``batch_size`` counts sampled
    sequences per step. Seeded by a local generator: the global RNG is untouched. Returns
    ``[n_prompts][samples]``.
    """
    if samples < 1 or temperature <= 0:
        raise ValueError(f"need samples >= 1 and temperature > 0, got {samples}, {temperature}")
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    stop = _stop_ids(model, tokenizer)
    per_batch = max(1, batch_size // samples)
    texts: list[list[str]] = []
    for start in range(0, len(prompts), per_batch):
        batch = prompts[start : start + per_batch]
        ids, mask = pad_batch([tokenizer(p, add_special_tokens=False).input_ids for p in batch],
                              tokenizer.pad_token_id or 0, side="left")
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # as generate() counts them
        out, cache = kv_forward(model, input_ids=ids, attention_mask=mask, position_ids=positions)
        cache.batch_repeat_interleave(samples)
        mask = mask.repeat_interleave(samples, 0)  # [n, pos]
        logits = out.logits[:, -1].float().repeat_interleave(samples, 0)  # [n, d_vocab]
        position = positions[:, -1:].repeat_interleave(samples, 0)  # [n, 1]
        drawn = []
        for step in range(max_new_tokens):
            token = torch.multinomial(torch.softmax(logits / temperature, -1), 1,
                                      generator=generator)  # [n, 1]
            drawn.append(token)
            if step == max_new_tokens - 1 or bool(_ended(torch.cat(drawn, 1), stop).all()):
                break
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
            position = position + 1
            out, cache = kv_forward(model, cache, input_ids=token, attention_mask=mask,
                                    position_ids=position)
            logits = out.logits[:, -1].float()
        rows = torch.cat(drawn, 1).tolist()  # [n, steps]
        decoded = [tokenizer.decode(_until_stop(row, stop), skip_special_tokens=True)
                   for row in rows]
        texts.extend(decoded[i * samples : (i + 1) * samples] for i in range(len(batch)))
    return texts


def _stop_ids(model: nn.Module, tokenizer) -> set[int]:
    """The end-of-sequence ids generate() would stop at."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    return set() if eos is None else set(eos if isinstance(eos, list) else [eos])


def _ended(rows: torch.Tensor, stop: set[int]) -> torch.Tensor:
    """``[n]`` bool: the row contains a stop token."""
    if not stop:
        return torch.zeros(rows.shape[0], dtype=torch.bool, device=rows.device)
    return torch.isin(rows, torch.tensor(sorted(stop), device=rows.device)).any(1)


def _until_stop(row: list[int], stop: set[int]) -> list[int]:
    """The row up to its first stop token, kept as generate() keeps it (decoding drops it)."""
    for i, token in enumerate(row):
        if token in stop:
            return row[: i + 1]
    return row


def _generated(model, tokenizer, prompts, *, max_new_tokens, batch_size):
    """Greedy continuations from ``model.generate`` (its logits processors applied)."""
    device = next(model.parameters()).device
    texts = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        ids, mask = pad_batch([tokenizer(p, add_special_tokens=False).input_ids for p in batch],
                              tokenizer.pad_token_id, side="left")
        out = model.generate(
            input_ids=ids.to(device), attention_mask=mask.to(device),
            max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, do_sample=False,
        )
        texts.extend(tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True))
    return texts
