"""gptlab.generate: cache and no-cache agree, Hugging Face parity, each strategy, bad input."""

from __future__ import annotations

import warnings

import pytest
import torch

from gptlab.generate import apply_repetition_penalty, filter_top_k, filter_top_p, generate
from gptlab.model import GPT, GPTConfig


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=61, block_size=24, n_layer=2, n_head=2, n_embd=32))
    with torch.no_grad():  # sharper, less uniform distributions than the init gives
        gpt.wte.weight.mul_(4)
    return gpt.eval()


def prompt(B: int = 2, T: int = 5) -> torch.Tensor:
    return torch.randint(0, 61, (B, T), generator=torch.Generator().manual_seed(1))


def test_greedy_cache_matches_no_cache_past_the_context(model):
    # 40 new tokens on a 24-token context: the cache is used, then the window slides.
    a = generate(model, prompt(), 40, temperature=0, use_cache=True)
    b = generate(model, prompt(), 40, temperature=0, use_cache=False)
    assert a.shape == (2, 45)
    assert torch.equal(a, b)
    assert torch.equal(a[:, :5], prompt())


def test_sampling_is_reproducible_and_cache_independent(model):
    def sample(use_cache: bool, seed: int) -> torch.Tensor:
        return generate(
            model,
            prompt(),
            15,
            use_cache=use_cache,
            temperature=0.9,
            top_k=20,
            top_p=0.95,
            generator=torch.Generator().manual_seed(seed),
        )

    a, b, c = sample(True, 7), sample(False, 7), sample(True, 8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_greedy_matches_hugging_face_generate(model):
    hf = model.to_hf()
    ids = prompt(1, 6)
    ours = generate(model, ids, 12, temperature=0)
    theirs = hf.generate(
        ids, max_new_tokens=12, do_sample=False, pad_token_id=0, attention_mask=torch.ones_like(ids)
    )
    assert torch.equal(ours, theirs)


def test_top_k_one_and_tiny_top_p_are_greedy(model):
    greedy = generate(model, prompt(), 10, temperature=0)
    g = torch.Generator().manual_seed(3)
    for kw in (dict(top_k=1), dict(top_p=1e-6)):
        sampled = generate(model, prompt(), 10, temperature=1.0, generator=g, **kw)
        assert torch.equal(sampled, greedy)


def test_filters_on_a_known_distribution():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    kept_k = torch.isfinite(filter_top_k(logits, 2))
    assert kept_k.tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_top_p(logits, 0.8)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_top_p(logits, 0.81)).tolist() == [[True, True, True, False]]
    assert torch.isfinite(filter_top_p(logits, 1.0)).all()
    # order of the vocabulary does not matter
    perm = torch.tensor([2, 0, 3, 1])
    assert torch.equal(torch.isfinite(filter_top_p(logits[:, perm], 0.8)), kept_k[:, perm])


def test_repetition_penalty_lowers_seen_tokens():
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    out = apply_repetition_penalty(logits, torch.tensor([[0, 1]]), 2.0)
    assert out.tolist() == [[1.0, -2.0, 0.5]]
    assert torch.equal(apply_repetition_penalty(logits, torch.tensor([[0]]), 1.0), logits)


def test_repetition_penalty_changes_greedy_text(model):
    plain = generate(model, prompt(1), 30, temperature=0)
    penalised = generate(model, prompt(1), 30, temperature=0, repetition_penalty=1e3)
    assert len(set(penalised[0, 5:].tolist())) > len(set(plain[0, 5:].tolist()))
    assert not torch.equal(plain, penalised)


def _expected_with_stops(full: torch.Tensor, stop: list[int], T: int, pad_id: int):
    """What generation with ``stop`` must give, built from the run without stops: each row up
    to the end of its first stop sequence (searched from the first new token on), then pad."""
    ends = []
    for row in full.tolist():
        hits = [e for e in range(T + 1, len(row) + 1) if row[e - len(stop) : e] == stop]
        ends.append(hits[0] if hits else len(row))
    expected = full[:, : max(ends)].clone()
    for b, end in enumerate(ends):
        expected[b, end:] = pad_id
    return expected, ends


def test_stop_sequences_end_generation_and_pad(model):
    full = generate(model, prompt(1), 20, temperature=0)
    stop_tok = full[0, 9].item()  # the 5th generated token
    first = full[0, 5:].tolist().index(stop_tok) + 5
    out = generate(model, prompt(1), 20, temperature=0, stop=[[stop_tok]])
    assert out.size(1) == first + 1 and out[0, -1].item() == stop_tok


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("stop_len", [1, 2])
def test_batched_stop_pads_finished_rows(model, use_cache, stop_len):
    ids = prompt(3, 5)
    full = generate(model, ids, 20, temperature=0, use_cache=use_cache)
    stop = full[0, 6 - stop_len : 6].tolist()  # ends with row 0's first new token
    expected, ends = _expected_with_stops(full, stop, 5, pad_id=60)
    assert ends[0] == 6 < max(ends), "the test needs rows that stop at other steps"
    out = generate(
        model, ids, 20, temperature=0, stop=[[999], stop], pad_id=60, use_cache=use_cache
    )
    assert torch.equal(out, expected)
    assert (out[0, 6:] == 60).all() and out.size(1) == max(ends)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(temperature=-0.5), "temperature"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_p=1.5), "top_p"),
        (dict(top_k=0), "top_k"),
        (dict(max_new_tokens=-1), "max_new_tokens"),
        (dict(repetition_penalty=0), "repetition_penalty"),
    ],
)
def test_bad_arguments(model, kwargs, match):
    args = dict(max_new_tokens=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        generate(model, prompt(), **args)


def test_empty_and_malformed_prompts(model):
    with pytest.raises(ValueError, match="empty"):
        generate(model, torch.zeros(1, 0, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="2-D"):
        generate(model, torch.tensor([1, 2, 3]), 3)
    with pytest.raises(ValueError, match="integer"):
        generate(model, torch.rand(1, 3), 3)


def test_long_prompt_is_cut_from_the_left_with_a_warning(model):
    long = torch.randint(0, 61, (1, 30), generator=torch.Generator().manual_seed(2))
    with pytest.warns(UserWarning, match="only the last 24 tokens"):
        out = generate(model, long, 4, temperature=0)
    assert out.shape == (1, 34) and torch.equal(out[:, :30], long)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        short = generate(model, long[:, -24:], 4, temperature=0)
    assert torch.equal(out[:, 30:], short[:, 24:])


def test_training_mode_is_restored(model):
    model.train()
    generate(model, prompt(), 2)
    assert model.training
    model.eval()
