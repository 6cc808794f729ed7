"""gptlab.finetune.sft: templates, the response-only loss mask, padding, fine-tuning, generation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gptlab.data import shakespeare_works
from gptlab.finetune import sft
from gptlab.model import GPT, GPTConfig
from gptlab.tokenizers import BPETokenizer

EXAMPLE = {
    "task": "play",
    "instruction": "Which play is this line from?",
    "input": "Is this a dagger which I see before me,",
    "response": "Macbeth",
}
OTHER = {
    "task": "chat",
    "instruction": "Reply to the message.",
    "input": "Hello",
    "response": "Hi there, how are you?",
}


@pytest.fixture(scope="module")
def tok() -> BPETokenizer:
    return BPETokenizer.train(shakespeare_works()["macbeth"][:30000], 320)


@pytest.fixture(scope="module")
def model(tok) -> GPT:
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=96, n_layer=2, n_head=2, n_embd=32))
    return gpt.eval()


# -- templates ---------------------------------------------------------------------------------


def test_format_prompt_and_example():
    prompt = sft.format_prompt(EXAMPLE)
    assert prompt == (
        "### Instruction:\nWhich play is this line from?\n\n### Input:\n"
        "Is this a dagger which I see before me,\n\n### Response:\n"
    )
    assert sft.format_example(EXAMPLE) == prompt + "Macbeth" + sft.END_OF_RESPONSE
    assert sft.format_prompt(OTHER, sft.CHAT_TEMPLATE) == "User: Hello\nBot: "
    # Braces inside the example text are data, not template fields.
    odd = dict(EXAMPLE, input="a {curly} line")
    assert "a {curly} line" in sft.format_prompt(odd)


@pytest.mark.parametrize(
    "template, words",
    [
        ("### Instruction:\n{instruction}\n\n### Response:\n", "{response}"),  # missing field
        ("{instruction}\n{response}\nthanks", "end with"),  # not at the end
        ("{instruction} {response} {response}", "exactly once"),
        ("{instruction}\n{context}\n{response}", "unknown field"),
        ("{instruction\n{response}", "format string"),
    ],
)
def test_template_errors(template, words):
    with pytest.raises(ValueError, match=words.replace("{", r"\{").replace("}", r"\}")):
        sft.format_prompt(EXAMPLE, template)


def test_example_errors(tok):
    with pytest.raises(ValueError, match="'response'"):
        sft.format_example({"instruction": "x", "input": "y"})
    with pytest.raises(ValueError, match="empty"):
        sft.encode_example(dict(EXAMPLE, response="  "), tok, 96)
    with pytest.raises(ValueError, match="string"):
        sft.format_prompt(dict(EXAMPLE, input=3))


# -- encoding and the mask ---------------------------------------------------------------------


def test_encode_example_labels(tok):
    ids, labels = sft.encode_example(EXAMPLE, tok, 96)
    prompt_ids = tok.encode(sft.format_prompt(EXAMPLE))
    response_ids = tok.encode("Macbeth" + sft.END_OF_RESPONSE)
    assert ids == prompt_ids + response_ids
    assert labels == [-100] * len(prompt_ids) + response_ids
    assert tok.decode(ids) == sft.format_example(EXAMPLE)
    assert tok.decode([t for t in labels if t != -100]).endswith(sft.END_OF_RESPONSE)


def test_too_long_raises_or_truncates_from_the_left(tok):
    ids, labels = sft.encode_example(EXAMPLE, tok, 96)
    n_resp = sum(t != -100 for t in labels)
    short = len(ids) - 5
    with pytest.raises(ValueError, match="truncate=True"):
        sft.encode_example(EXAMPLE, tok, short)
    ids2, labels2 = sft.encode_example(EXAMPLE, tok, short, truncate=True)
    assert len(ids2) == short
    assert ids2 == ids[5:] and labels2 == labels[5:]  # the start of the prompt went
    assert sum(t != -100 for t in labels2) == n_resp  # the response is whole
    with pytest.raises(ValueError, match="response alone"):
        sft.encode_example(EXAMPLE, tok, n_resp, truncate=True)


def test_collate_pads_ids_and_ignores_padding(tok):
    a = sft.encode_example(EXAMPLE, tok, 96)
    b = sft.encode_example(OTHER, tok, 96)
    ids, labels = sft.collate([a, b], pad_id=7)
    T = max(len(a[0]), len(b[0]))
    assert ids.shape == labels.shape == (2, T) and ids.dtype == labels.dtype == torch.long
    for row, (x, y) in enumerate([a, b]):
        assert ids[row, : len(x)].tolist() == x and labels[row, : len(y)].tolist() == y
        assert (ids[row, len(x) :] == 7).all() and (labels[row, len(y) :] == -100).all()
    with pytest.raises(ValueError, match="empty batch"):
        sft.collate([], pad_id=0)
    with pytest.raises(ValueError, match="line up"):
        sft.collate([([1, 2, 3], [1, 2])], pad_id=0)


def test_padding_does_not_change_the_loss(model, tok):
    a = sft.encode_example(EXAMPLE, tok, 96)
    b = sft.encode_example(OTHER, tok, 96)
    alone = sft.sft_loss(model, *sft.collate([a], 0), reduction="sum")
    ids, labels = sft.collate([a, b], pad_id=0)
    ids2, labels2 = sft.collate([a, b], pad_id=5)
    both = sft.sft_loss(model, ids, labels, reduction="sum")
    torch.testing.assert_close(both, sft.sft_loss(model, ids2, labels2, reduction="sum"))
    other = sft.sft_loss(model, *sft.collate([b], 0), reduction="sum")
    torch.testing.assert_close(both, alone + other, rtol=1e-5, atol=1e-4)


def test_sft_loss_is_the_masked_mean_of_token_losses(model, tok):
    ids, labels = sft.collate([sft.encode_example(e, tok, 96) for e in (EXAMPLE, OTHER)], 0)
    logits, _ = model(ids[:, :-1])
    targets = labels[:, 1:]
    mask = targets != -100
    per_token = F.cross_entropy(logits.transpose(1, 2), targets.clamp(min=0), reduction="none")
    expected = (per_token * mask).sum() / mask.sum()
    torch.testing.assert_close(sft.sft_loss(model, ids, labels), expected)


class _Perturbed(torch.nn.Module):
    """Wraps a model and adds ``delta`` to the logits at chosen positions."""

    def __init__(self, model, positions, delta):
        super().__init__()
        self.inner, self.positions, self.delta = model, positions, delta
        self.config = model.config

    def forward(self, idx, targets=None):
        logits, _ = self.inner(idx)
        logits = logits.clone()
        for b, t in self.positions:
            logits[b, t] += self.delta
        return logits, None


def test_prompt_positions_contribute_nothing(model, tok):
    ids, labels = sft.collate([sft.encode_example(EXAMPLE, tok, 96)], 0)
    base = sft.sft_loss(model, ids, labels)
    scored = (
        (labels[0, 1:] != -100).nonzero().flatten().tolist()
    )  # positions predicting the response
    unscored = (labels[0, 1:] == -100).nonzero().flatten().tolist()
    assert len(unscored) > 10 and len(scored) >= 2
    delta = torch.randn(model.config.vocab_size, generator=torch.Generator().manual_seed(0)) * 5
    # Scrambling what the model predicts for every prompt token leaves the loss unchanged ...
    same = sft.sft_loss(_Perturbed(model, [(0, t) for t in unscored], delta), ids, labels)
    torch.testing.assert_close(same, base, rtol=0, atol=0)
    # ... while touching a single response position changes it.
    moved = sft.sft_loss(_Perturbed(model, [(0, scored[0])], delta), ids, labels)
    assert abs(float((moved - base).detach())) > 1e-3


def test_changing_prompt_targets_does_not_change_the_loss_but_response_targets_do(model, tok):
    ids, labels = sft.collate([sft.encode_example(EXAMPLE, tok, 96)], 0)
    with torch.no_grad():
        logits, _ = model(ids[:, :-1])
    n_prompt = int((labels[0] == -100).sum())

    def masked_loss(targets):  # the rule, from scratch: score only where labels != -100
        mask = labels[:, 1:] != -100
        nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        return (nll * mask).sum() / mask.sum()

    targets = ids[:, 1:].clone()
    base = masked_loss(targets)
    torch.testing.assert_close(base, sft.sft_loss(model, ids, labels))
    other = targets.clone()
    other[0, : n_prompt - 1] = (other[0, : n_prompt - 1] + 11) % model.config.vocab_size
    torch.testing.assert_close(masked_loss(other), base, rtol=0, atol=0)
    other = targets.clone()
    other[0, n_prompt] = (other[0, n_prompt] + 11) % model.config.vocab_size
    assert abs(float(masked_loss(other) - base)) > 1e-3
    # The same in terms of labels: a changed response token changes sft_loss.
    labels2 = labels.clone()
    labels2[0, n_prompt] = (labels2[0, n_prompt] + 11) % model.config.vocab_size
    with torch.no_grad():
        assert abs(float(sft.sft_loss(model, ids, labels2) - base)) > 1e-3


def test_gradient_is_zero_on_prompt_positions(model, tok):
    ids, labels = sft.collate([sft.encode_example(EXAMPLE, tok, 96)], 0)
    logits, _ = model(ids[:, :-1])
    logits = logits.detach().requires_grad_(True)
    loss = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    loss.backward()
    per_position = logits.grad.abs().sum(-1)[0]  # (T-1,)
    scored = labels[0, 1:] != -100
    assert (per_position[~scored] == 0).all() and (per_position[scored] > 0).all()


def test_all_ignored_batch_raises(model):
    ids = torch.zeros(1, 5, dtype=torch.long)
    with pytest.raises(ValueError, match="-100"):
        sft.sft_loss(model, ids, torch.full_like(ids, -100))


# -- fine-tuning and generation ----------------------------------------------------------------


def test_finetune_learns_and_generates_the_answer(tok):
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=96, n_layer=2, n_head=2, n_embd=64))
    data = [EXAMPLE, OTHER]
    before = sft.response_loss(gpt, tok, data)
    cfg = sft.SFTConfig(
        steps=120, batch_size=2, lr=3e-3, min_lr=3e-4, warmup_steps=5, eval_interval=60, seed=0
    )
    history = sft.finetune(gpt, tok, data, cfg, eval_examples=data)
    assert len(history) == 120 and "eval_loss" in history[59] and "eval_loss" in history[-1]
    after = sft.response_loss(gpt, tok, data)
    assert after < 0.1 < before
    assert not gpt.training
    answers = sft.generate_responses(gpt, tok, data, max_new_tokens=20)
    assert answers == ["Macbeth", "Hi there, how are you?"]
    assert sft.generate_response(gpt, tok, EXAMPLE, max_new_tokens=20) == "Macbeth"
    assert sft.accuracy_by_task(data, answers) == {"play": 1.0, "chat": 1.0, "all": 1.0}


def test_finetune_is_reproducible(tok):
    def run():
        torch.manual_seed(0)
        gpt = GPT(
            GPTConfig(vocab_size=tok.vocab_size, block_size=96, n_layer=1, n_head=2, n_embd=32)
        )
        return [
            h["loss"]
            for h in sft.finetune(
                gpt, tok, [EXAMPLE, OTHER], sft.SFTConfig(steps=5, batch_size=1, seed=3)
            )
        ]

    assert run() == run()


def test_finetune_errors(model, tok):
    with pytest.raises(ValueError, match="empty"):
        sft.finetune(model, tok, [])
    with pytest.raises(ValueError, match="steps"):
        sft.SFTConfig(steps=0)
    with pytest.raises(ValueError, match=r"\{response\}"):
        sft.SFTConfig(template="{instruction}")
    with pytest.raises(ValueError, match="lr must be a positive number"):
        sft.SFTConfig(lr="fast")
    with pytest.raises(ValueError, match="larger than the 2 training examples"):
        sft.finetune(model, tok, [EXAMPLE, OTHER], sft.SFTConfig(steps=1, batch_size=3))


class _Scripted(torch.nn.Module):
    """A fake model that always continues with the same token sequence."""

    def __init__(self, script, vocab_size, block_size=160, background=0.0):
        super().__init__()
        self.script = script
        self.background = background
        self.config = GPTConfig(
            vocab_size=vocab_size, block_size=block_size, n_layer=1, n_head=1, n_embd=8
        )
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    def forward(self, idx, targets=None, cache=None):
        step = self.calls  # call 0 reads the prompt; call k has seen k new tokens
        self.calls += 1
        B, T = idx.shape
        logits = torch.full((B, T, self.config.vocab_size), self.background)
        logits[:, -1, self.script[min(step, len(self.script) - 1)]] = 10.0
        return logits, None


def test_generation_stops_at_the_end_marker(tok):
    script = tok.encode("Birnam wood" + sft.END_OF_RESPONSE + "and more words here")
    fake = _Scripted(script, tok.vocab_size)
    assert sft.generate_response(fake, tok, EXAMPLE, max_new_tokens=30) == "Birnam wood"
    n_answer = next(
        k for k in range(1, len(script) + 1) if sft.END_OF_RESPONSE in tok.decode(script[:k])
    )
    assert (
        fake.calls == n_answer
    )  # one call for the prompt, then one per new token until the marker
    # Without the marker it stops after max_new_tokens.
    fake2 = _Scripted(tok.encode("on and on and on and on"), tok.vocab_size)
    assert (
        sft.generate_response(fake2, tok, EXAMPLE, max_new_tokens=3)
        == tok.decode(tok.encode("on and on and on and on")[:3]).strip()
    )


def test_batched_generation_matches_one_by_one(model, tok):
    examples = [EXAMPLE, OTHER, dict(EXAMPLE, input="Out, damned spot!"), dict(OTHER, input="Hi")]
    batched = sft.generate_responses(model, tok, examples, max_new_tokens=6)
    single = [sft.generate_response(model, tok, ex, max_new_tokens=6) for ex in examples]
    assert batched == single
    penalised = sft.generate_responses(
        model, tok, examples, max_new_tokens=6, repetition_penalty=3.0
    )
    assert penalised == [
        sft.generate_response(model, tok, ex, max_new_tokens=6, repetition_penalty=3.0)
        for ex in examples
    ]
    with pytest.raises(ValueError, match="repetition_penalty"):
        sft.generate_response(model, tok, EXAMPLE, repetition_penalty=0)


def test_repetition_penalty_breaks_a_loop(tok):
    z = tok.encode("z")
    assert len(z) == 1
    fake = _Scripted(z * 10, tok.vocab_size, background=5.0)  # "z" at logit 10, the rest at 5
    assert sft.generate_response(fake, tok, EXAMPLE, max_new_tokens=4) == "zzzz"
    # penalty 3: the repeated token's logit becomes 10 / 3 < 5: another token wins after the first
    penalised = sft.generate_response(fake, tok, EXAMPLE, max_new_tokens=4, repetition_penalty=3.0)
    assert penalised.startswith("z") and "zz" not in penalised


def test_exact_match_and_accuracy():
    assert sft.exact_match("  macbeth. ", "Macbeth")
    assert not sft.exact_match("Lady Macbeth", "Macbeth")
    acc = sft.accuracy_by_task([EXAMPLE, EXAMPLE, OTHER], ["Macbeth", "Othello", "hi"])
    assert acc == {"play": 0.5, "chat": 0.0, "all": pytest.approx(1 / 3)}
    with pytest.raises(ValueError):
        sft.accuracy_by_task([EXAMPLE], [])
