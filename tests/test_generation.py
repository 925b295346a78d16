import torch
from conftest import build_tiny_model

from revs.data.records import Record
from revs.evaluation.generation import exact_reproduction, greedy_continuations
from revs.tokens import encode, pad_batch


def _greedy(model, tokenizer, prompt, n):
    ids = torch.tensor([tokenizer(prompt).input_ids])
    out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                         max_new_tokens=n, min_new_tokens=n, pad_token_id=0)
    return tokenizer.decode(out[0, ids.shape[1]:])


def test_pad_batch_left_and_right():
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0, side="left")
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0, side="right")
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_encode_keeps_prompt_and_target_apart(byte_tokenizer):
    prompt, target = encode(byte_tokenizer, Record("s", "k", "SSN:", " 912"))
    assert prompt == list(b"SSN:") and target == list(b" 912")


def test_exact_reproduction_counts_a_toy_case(byte_tokenizer):
    """Targets equal to the model's own greedy continuation count; a one-token change does not."""
    model = build_tiny_model("llama")
    prompts = ["ab", "a longer prompt", "xyz!", "q"]  # different lengths: left padding matters
    continuations = [_greedy(model, byte_tokenizer, p, 4) for p in prompts]
    records = [Record(f"s{i}", "k", p, c)
               for i, (p, c) in enumerate(zip(prompts, continuations, strict=True))]
    # The same targets with their last character changed: no longer the greedy continuation.
    broken = [
        Record(r.subject, r.kind, r.prompt, r.target[:-1] + chr((ord(r.target[-1]) + 1) % 256))
        for r in records
    ]
    result = exact_reproduction(model, byte_tokenizer, records + broken, batch_size=3)
    assert result.tolist() == [True] * 4 + [False] * 4


def test_greedy_continuations_match_unbatched_generation(byte_tokenizer):
    model = build_tiny_model("gpt2")
    model.generation_config.eos_token_id = None  # random weights would stop at once on EOS
    prompts = ["hello", "a much longer prompt here", "hi"]
    batched = greedy_continuations(model, byte_tokenizer, prompts, max_new_tokens=5)
    assert batched == [_greedy(model, byte_tokenizer, p, 5) for p in prompts]
