"""gptlab.evaluate: perplexity tables, few-shot prompts, choice scoring, BLEU/ROUGE wrappers."""

from __future__ import annotations

import math

import pytest
import sacrebleu
import torch
from rouge_score import rouge_scorer

from gptlab.bigram import BigramModel
from gptlab.evaluate import (
    answer_accuracy,
    bleu,
    few_shot_prompt,
    format_table,
    perplexity_table,
    rouge,
    score_choices,
    sentence_bleu,
    sequence_nll,
)
from gptlab.metrics import exact_match_rate
from gptlab.model import GPT, GPTConfig
from gptlab.tokenizers import CharTokenizer

TEXT = "to be, or not to be: that is the question. whether 'tis nobler in the mind to suffer"


def _tiny_gpt(vocab_size: int, block_size: int = 16, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    cfg = GPTConfig(
        vocab_size=vocab_size,
        block_size=block_size,
        n_layer=2,
        n_head=2,
        n_embd=16,
        dropout=0.0,
        bias=True,
    )
    return GPT(cfg).eval()


def _uniform_gpt(vocab_size: int) -> GPT:
    model = _tiny_gpt(vocab_size)
    with torch.no_grad():
        model.wte.weight.zero_()  # tied output layer: every logit is 0, so every token has 1/V
    return model


def test_uniform_models_have_perplexity_equal_to_vocab_size():
    tok = CharTokenizer(TEXT)
    V = tok.vocab_size
    uniform_bigram = BigramModel(torch.zeros(V, V, dtype=torch.long), smoothing=1.0)
    rows = perplexity_table({"bigram": (uniform_bigram, tok), "gpt": (_uniform_gpt(V), tok)}, TEXT)
    for row in rows:
        assert row["nats_per_token"] == pytest.approx(math.log(V), rel=1e-5)
        assert row["perplexity"] == pytest.approx(V, rel=1e-5)
        assert row["tokens"] == len(TEXT) and row["chars"] == len(TEXT)
        # one character per token: per-character numbers equal per-token ones
        assert row["nats_per_char"] == pytest.approx(row["nats_per_token"])
        assert row["bits_per_char"] == pytest.approx(math.log2(V), rel=1e-5)


class _PairTokenizer:
    """Two characters per token (for the per-character conversion)."""

    def __init__(self, text: str) -> None:
        self.chars = sorted(set(text))
        self.V = len(self.chars) ** 2

    def encode(self, text: str) -> list[int]:
        n = len(self.chars)
        return [
            self.chars.index(text[i]) * n + self.chars.index(text[i + 1])
            for i in range(0, len(text) - 1, 2)
        ]


def test_per_char_conversion_uses_tokens_per_character():
    text = TEXT[: len(TEXT) // 2 * 2]
    tok = _PairTokenizer(text)
    V = tok.V
    bigram = BigramModel(torch.zeros(V, V, dtype=torch.long), smoothing=1.0)
    (row,) = perplexity_table({"pairs": (bigram, tok)}, text)
    assert row["tokens"] * 2 == row["chars"]
    assert row["chars_per_token"] == pytest.approx(2.0)
    assert row["nats_per_char"] == pytest.approx(math.log(V) / 2)
    assert row["bits_per_char"] == pytest.approx(math.log2(V) / 2)
    assert row["char_perplexity"] == pytest.approx(math.sqrt(V))
    assert "pairs" in format_table([row])


def test_sequence_nll_matches_the_model_loss_and_scores_every_token_once():
    tok = CharTokenizer(TEXT)
    model = _tiny_gpt(tok.vocab_size, block_size=16)
    ids = tok.encode(TEXT)
    total, count = sequence_nll(model, ids)
    assert count == len(ids) - 1
    # by hand: non-overlapping windows, plus a last window that ends at the end of the text
    x = torch.tensor(ids)
    expected, scored = 0.0, 0
    for b in range(0, len(ids) - 16, 16):
        _, loss = model(x[b : b + 16][None], x[b + 1 : b + 17][None])
        expected += loss.item() * 16
        scored = b + 16
    b = len(ids) - 1 - 16
    logits, _ = model(x[b : b + 16][None])
    logp = torch.log_softmax(logits[0], -1)
    for p in range(16):
        if b + 1 + p > scored:
            expected -= logp[p, ids[b + 1 + p]].item()
    assert total == pytest.approx(expected, rel=1e-5)
    # smaller strides still score each token exactly once
    for stride in (1, 5, 16):
        assert sequence_nll(model, ids, stride=stride)[1] == len(ids) - 1
    # a text shorter than the context is a single window
    assert sequence_nll(model, ids[:5])[1] == 4


def test_perplexity_table_errors():
    tok = CharTokenizer(TEXT)
    model = _tiny_gpt(tok.vocab_size)
    with pytest.raises(ValueError, match="models is empty"):
        perplexity_table({}, TEXT)
    with pytest.raises(ValueError, match="empty"):
        perplexity_table({"m": (model, tok)}, "")
    with pytest.raises(ValueError, match="at least 2"):
        perplexity_table({"m": (model, tok)}, "t")
    with pytest.raises(ValueError, match="pair"):
        perplexity_table({"m": model}, TEXT)
    with pytest.raises(ValueError, match="stride"):
        sequence_nll(model, tok.encode(TEXT), stride=0)
    with pytest.raises(TypeError, match="context length"):
        sequence_nll(torch.nn.Linear(2, 2), [1, 2, 3])


def test_few_shot_prompt():
    shots = [{"input": "a", "response": "A"}, {"input": "b", "response": "B"}]
    query = {"input": "c", "response": "C"}
    assert few_shot_prompt(shots, query, 0) == "c\nAnswer: "
    assert (
        few_shot_prompt(shots, query, 2, template="{input}={response};", header="Caps: ")
        == "Caps: a=A;b=B;c="
    )
    with pytest.raises(ValueError, match="between 0"):
        few_shot_prompt(shots, query, 3)
    with pytest.raises(ValueError, match="exactly once"):
        few_shot_prompt(shots, query, 1, template="{input}")
    with pytest.raises(KeyError):
        few_shot_prompt(shots, query, 1, template="{instruction} {response}")


def test_score_choices_agrees_with_a_forward_pass():
    tok = CharTokenizer(TEXT)
    model = _tiny_gpt(tok.vocab_size, block_size=32)
    prompt, choices = "to be, or not ", ["to", "be", "the"]
    scores = score_choices(model, tok, prompt, choices)
    for choice, score in zip(choices, scores, strict=True):
        ids = tok.encode(prompt + choice)
        logits, _ = model(torch.tensor([ids[:-1]]))
        logp = torch.log_softmax(logits[0], -1)
        n = len(choice) + 1  # the prompt's trailing space moves onto the choice
        expected = sum(logp[len(ids) - 1 - n + i, ids[len(ids) - n + i]].item() for i in range(n))
        assert score == pytest.approx(expected, rel=1e-5)
    means = score_choices(model, tok, prompt, choices, normalize="mean")
    assert means[2] == pytest.approx(scores[2] / 4)
    # answer_accuracy picks the best-scoring choice
    result = answer_accuracy(
        model, tok, [prompt], [choices[max(range(3), key=scores.__getitem__)]], choices=choices
    )
    assert result.accuracy == 1.0 and result.truncated == 0
    # a prompt longer than the context is cut from the left, and counted
    result = answer_accuracy(model, tok, [TEXT, prompt], ["to", "be"], choices=choices)
    assert result.truncated == 1
    with pytest.raises(ValueError, match="normalize"):
        score_choices(model, tok, prompt, choices, normalize="max")
    with pytest.raises(ValueError, match="choices is empty"):
        score_choices(model, tok, prompt, [])
    # free generation (greedy), judged by exact match; equal-length prompts run as one batch
    from gptlab.generate import generate

    prompts = [prompt, "the ", "not to", "that is"]
    result = answer_accuracy(model, tok, prompts, ["x", "y", "z", "w"], max_new_tokens=3)
    for p, pred in zip(prompts, result.predictions, strict=True):
        ids = tok.encode(p.rstrip(" "))
        out = generate(model, torch.tensor([ids]), 3, temperature=0)[0, len(ids) :].tolist()
        assert pred == tok.decode(out).strip().split("\n")[0].strip()
    first = result.predictions[0]
    assert (
        answer_accuracy(model, tok, prompts[:1], [first.upper() + " "], max_new_tokens=3).accuracy
        == 1.0
    )
    with pytest.raises(ValueError, match="max_new_tokens"):
        answer_accuracy(model, tok, prompts, ["a"] * 4, max_new_tokens=32)


def test_hugging_face_models_agree_with_ours():
    tok = CharTokenizer(TEXT)
    model = _tiny_gpt(tok.vocab_size, block_size=32)
    hf = model.to_hf().eval()
    prompts, choices = ["to be, or not ", "that is the "], [["to", "be"], ["question", "mind", "q"]]
    ours = answer_accuracy(model, tok, prompts, ["to", "mind"], choices=choices)
    theirs = answer_accuracy(hf, tok, prompts, ["to", "mind"], choices=choices)
    for a, b in zip(ours.scores, theirs.scores, strict=True):
        assert a == pytest.approx(b, abs=1e-4)
    assert ours.predictions == theirs.predictions
    ids = tok.encode(TEXT)
    assert sequence_nll(hf, ids)[0] == pytest.approx(sequence_nll(model, ids)[0], rel=1e-5)


def test_answers_are_judged_by_the_one_exact_match():
    assert exact_match_rate(
        ["  Romeo.", "IAGO", "Brutus"], ["romeo", "Iago!", "Cassius"]
    ) == pytest.approx(2 / 3)
    tok = CharTokenizer(TEXT)
    model = _tiny_gpt(tok.vocab_size, block_size=32)
    # the chosen option "'to'" counts as the answer "To." (quotes, case, end punctuation)
    result = answer_accuracy(model, tok, ["to be, or not "], ["To."], choices=[["'to'"]])
    assert result.predictions == ["'to'"] and result.accuracy == 1.0
    with pytest.raises(ValueError, match="same length"):
        answer_accuracy(model, tok, ["a", "b"], ["a"], choices=["a"])


REF = "the cat sat on the mat"
HYP = "the cat was sitting on a mat"


def test_bleu_agrees_with_sacrebleu():
    same = bleu([REF], [REF])
    assert same.score == pytest.approx(100.0)
    assert same.bp == pytest.approx(1.0)
    ours = bleu([HYP, REF], [REF, "on the mat"])
    theirs = sacrebleu.corpus_bleu([HYP, REF], [[REF, "on the mat"]])
    assert ours.score == pytest.approx(theirs.score)
    # several references per hypothesis
    multi = bleu([HYP], [[REF, HYP]])
    assert multi.score == pytest.approx(100.0)
    assert sentence_bleu(HYP, REF).score == pytest.approx(sacrebleu.sentence_bleu(HYP, [REF]).score)
    assert sentence_bleu(REF, [REF]).score == pytest.approx(100.0)


def test_rouge_agrees_with_rouge_score():
    assert rouge([REF], [REF]) == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    expected = scorer.score(REF, HYP)
    ours = rouge([HYP], [REF])
    for key in ours:
        assert ours[key] == pytest.approx(expected[key].fmeasure)
    pairs = rouge([HYP, REF], [REF, REF], types=["rouge1"], per_pair=True)
    assert pairs[1] == {"rouge1": 1.0} and pairs[0]["rouge1"] == pytest.approx(
        expected["rouge1"].fmeasure
    )
    assert rouge([HYP], [[HYP, REF]])["rouge1"] == pytest.approx(1.0)  # the best reference counts


@pytest.mark.parametrize("fn", [bleu, rouge])
def test_bleu_and_rouge_reject_bad_input(fn):
    with pytest.raises(ValueError, match="empty"):
        fn([], [])
    with pytest.raises(ValueError, match="differ in length"):
        fn(["a b", "c d"], ["a b"])
    with pytest.raises(ValueError, match="list of strings"):
        fn("a b", "a b")
    with pytest.raises(ValueError, match="string"):
        fn([3], ["a"])
    with pytest.raises(ValueError, match="non-empty list"):
        fn(["a"], [[]])


def test_bleu_needs_the_same_number_of_references():
    with pytest.raises(ValueError, match="same number of references"):
        bleu(["a b", "c d"], [["a b"], ["c d", "c e"]])
