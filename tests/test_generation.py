import torch
from conftest import ByteTokenizer, build_tiny_model

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


def _generate_batch(model, tokenizer, prompts, n):
    """What greedy ``generate`` gives for the prompts as one left-padded batch."""
    ids, mask = pad_batch([tokenizer(p).input_ids for p in prompts], tokenizer.pad_token_id,
                          side="left")
    out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=n,
                         pad_token_id=tokenizer.pad_token_id)
    return tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)


PROMPTS = ["hello", "a much longer prompt here", "hi", "xyz!"]


def test_greedy_continuations_are_generates_own_for_every_architecture(tiny, byte_tokenizer):
    """The same tokens as a batched generate(), with and without an end-of-sequence token."""
    _, model = tiny
    try:
        for eos in (1, None):
            model.generation_config.eos_token_id = eos
            assert (greedy_continuations(model, byte_tokenizer, PROMPTS, max_new_tokens=6)
                    == _generate_batch(model, byte_tokenizer, PROMPTS, 6))
    finally:
        model.generation_config.eos_token_id = 1


def test_a_row_that_ends_early_is_padded_as_generate_pads_it(byte_tokenizer):
    model = build_tiny_model("llama")
    model.generation_config.eos_token_id = None
    free = _generate_batch(model, byte_tokenizer, PROMPTS, 6)
    model.generation_config.eos_token_id = eos = ord(free[1][1])  # row 1 ends at its 2nd token
    expected = _generate_batch(model, byte_tokenizer, PROMPTS, 6)
    assert greedy_continuations(model, byte_tokenizer, PROMPTS, max_new_tokens=6) == expected
    assert chr(eos) in expected[1] and expected[1].endswith("\x00")  # ended, then padded


def test_a_row_stops_at_the_first_prefix_that_holds_its_string(byte_tokenizer):
    model = build_tiny_model("llama")
    model.generation_config.eos_token_id = None
    full = greedy_continuations(model, byte_tokenizer, PROMPTS, max_new_tokens=8)
    until = [full[0][2:4], PROMPTS[1][-3:], "never said", full[3][5:8]]
    tokenizer = ByteTokenizer()
    tokenizer.clean_up_tokenization_spaces = False  # a prefix decodes to a prefix of the text
    cut = greedy_continuations(model, tokenizer, PROMPTS, max_new_tokens=8, until=until)
    shortest = [next((text[:n] for n in range(len(text) + 1) if needle in prompt + text[:n]),
                     text) for prompt, text, needle in zip(PROMPTS, full, until, strict=True)]
    assert cut == shortest
    assert cut[1] == "" and cut[2] == full[2]  # in the prompt: not continued; never said: all
    # A tokenizer that may rewrite earlier text as it decodes more is not cut.
    assert greedy_continuations(model, byte_tokenizer, PROMPTS, max_new_tokens=8,
                                until=until) == full


def test_generation_settings_that_change_greedy_decoding_are_honoured(byte_tokenizer):
    model = build_tiny_model("qwen2")
    model.generation_config.eos_token_id = None
    plain = greedy_continuations(model, byte_tokenizer, PROMPTS, max_new_tokens=8)
    model.generation_config.repetition_penalty = 5.0
    penalized = greedy_continuations(model, byte_tokenizer, PROMPTS, max_new_tokens=8)
    assert penalized == _generate_batch(model, byte_tokenizer, PROMPTS, 8) != plain
