"""Evaluating language models: perplexity tables, prompting accuracy, BLEU and ROUGE.

Chapter 13 builds each of these by hand and explains what they measure and where they
mislead; this module keeps them. Token ids are ``(B, T)``, logits ``(B, T, V)``. A model is a
gptlab :class:`~gptlab.model.GPT`, a Hugging Face causal LM, or (for perplexity) anything
with ``nll(ids)`` such as :class:`gptlab.bigram.BigramModel`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from gptlab.generate import generate
from gptlab.metrics import exact_match_rate, nats_to_bits, per_char_loss

__all__ = [
    "DEFAULT_SHOT_TEMPLATE", "AccuracyResult", "answer_accuracy", "bleu", "few_shot_prompt",
    "format_table", "perplexity_table", "rouge", "score_choices", "sentence_bleu", "sequence_nll",
]  # fmt: skip


#: a tokenizer is anything with ``encode(str) -> list[int]`` (ours, or GPT-2's)
Tokenizer = Any


def _context_length(model: Any) -> int:
    """The longest input: ``config.block_size`` (ours) or ``n_positions`` (Hugging Face)."""
    config = getattr(model, "config", None)
    for name in ("block_size", "n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    raise TypeError(
        f"Cannot tell the context length of {type(model).__name__}: expected a gptlab GPT "
        "(config.block_size), a Hugging Face causal LM (config.n_positions) or an object "
        "with an nll(ids) method such as gptlab.bigram.BigramModel."
    )


def _target_logprobs(model: Any, x: Tensor, y: Tensor) -> Tensor:
    """``ln P(y[b, t] | x[b, :t+1])`` as ``(B, T)``; 0 where ``y`` is -100 (not scored)."""
    out = model(x)
    logits = getattr(out, "logits", None)  # Hugging Face returns an object, ours a tuple
    logp = F.log_softmax((out[0] if logits is None else logits).float(), dim=-1)  # (B, T, V)
    picked = logp.gather(-1, y.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, T)
    return picked.masked_fill(y == -100, 0.0)


@torch.no_grad()
def sequence_nll(
    model: Any, ids: Sequence[int] | Tensor, stride: int | None = None, batch_size: int = 32
) -> tuple[float, int]:
    """Total negative log-likelihood (nats) of ``ids[1:]``, each token given those before it.

    Returns ``(total_nats, len(ids) - 1)``; every token but the first is scored exactly once.
    A GPT sees windows of ``block_size`` tokens starting every ``stride`` tokens (default: no
    overlap); a smaller stride gives each scored token more context, at more compute.

    Raises:
        ValueError: fewer than two ids, or a stride outside ``1..block_size``.
    """
    ids_t = torch.as_tensor(ids, dtype=torch.long).flatten()
    n = ids_t.numel()
    if n < 2:
        raise ValueError(
            f"Need at least 2 token ids to score a next-token prediction, got {n}; "
            "give a longer text."
        )
    if hasattr(model, "nll") and not isinstance(model, torch.nn.Module):
        return float(model.nll(ids_t)) * (n - 1), n - 1
    T = _context_length(model)
    stride = T if stride is None else int(stride)
    if not 1 <= stride <= T:
        raise ValueError(f"stride must be between 1 and the context length {T}, got {stride}.")
    L = min(T, n - 1)  # inputs ids[b : b+L] predict targets ids[b+1 : b+L+1]
    starts = list(range(0, n - L, stride))
    if starts[-1] + L < n - 1:  # a last window that ends exactly at the end of the stream
        starts.append(n - 1 - L)
    # positions of a window before `first_new` were scored by an earlier window
    first_new = [max(0, prev + L - b) for prev, b in pairwise([-L, *starts])]
    was_training, device = model.training, next(model.parameters()).device
    model.eval()
    total, count = 0.0, 0
    try:
        for i in range(0, len(starts), batch_size):
            chunk = starts[i : i + batch_size]
            x = torch.stack([ids_t[b : b + L] for b in chunk])  # (B, L)
            y = torch.stack([ids_t[b + 1 : b + 1 + L] for b in chunk])  # (B, L)
            skip = torch.tensor(first_new[i : i + batch_size])[:, None]  # (B, 1)
            y[torch.arange(L)[None, :] < skip] = -100
            total += float(_target_logprobs(model, x.to(device), y.to(device)).double().sum())
            count += int((y != -100).sum())
    finally:
        model.train(was_training)
    assert count == n - 1, (count, n)
    return -total, count


def perplexity_table(
    models: Mapping[str, tuple[Any, Tokenizer]],
    text: str | Sequence[str],
    stride: int | None = None,
    batch_size: int = 32,
) -> list[dict[str, Any]]:
    """Score every ``name -> (model, tokenizer)`` on the same held-out text; a dict per model.

    ``text`` may be a list of passages (each scored on its own, then summed). Each row holds
    ``model``, ``tokens``, ``chars``, ``chars_per_token``, ``nats_per_token``, ``perplexity``
    (per token), ``nats_per_char``, ``bits_per_char`` and ``char_perplexity``. Only the
    per-character numbers compare models with different tokenizers (chapter 13).

    Raises:
        ValueError: no models, an empty text, or a text that tokenizes to fewer than 2 ids.
    """
    if not models:
        raise ValueError("models is empty: pass a dict name -> (model, tokenizer).")
    passages = [text] if isinstance(text, str) else list(text)
    if not passages or any(not isinstance(p, str) for p in passages):
        raise ValueError("text must be a non-empty string or a non-empty list of strings.")
    if sum(len(p) for p in passages) == 0:
        raise ValueError("text is empty: give the held-out text to evaluate on.")
    rows = []
    for name, pair in models.items():
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise ValueError(f"models[{name!r}] must be a pair (model, tokenizer).")
        model, tokenizer = pair
        total, predictions, n_tokens, n_chars = 0.0, 0, 0, 0
        for passage in passages:
            ids = tokenizer.encode(passage)
            nats, count = sequence_nll(model, ids, stride=stride, batch_size=batch_size)
            total, predictions = total + nats, predictions + count
            n_tokens, n_chars = n_tokens + len(ids), n_chars + len(passage)
        per_token = total / predictions
        per_char = per_char_loss(per_token, n_tokens, n_chars)
        rows.append({
            "model": name, "tokens": n_tokens, "chars": n_chars,
            "chars_per_token": n_chars / n_tokens,
            "nats_per_token": per_token, "perplexity": math.exp(per_token),
            "nats_per_char": per_char, "bits_per_char": nats_to_bits(per_char),
            "char_perplexity": math.exp(per_char),
        })  # fmt: skip
    return rows


_COLUMNS = [
    ("model", "model", "{}"), ("tokens", "tokens", "{:,}"),
    ("chars_per_token", "chars/tok", "{:.2f}"), ("nats_per_token", "nats/tok", "{:.3f}"),
    ("perplexity", "ppl/tok", "{:.1f}"), ("nats_per_char", "nats/char", "{:.3f}"),
    ("bits_per_char", "bits/char", "{:.3f}"),
]  # fmt: skip


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows of :func:`perplexity_table` as a fixed-width text table."""
    if not rows:
        raise ValueError("No rows to format.")
    cells = [[fmt.format(row[key]) for key, _, fmt in _COLUMNS] for row in rows]
    heads = [head for _, head, _ in _COLUMNS]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]

    def line(items: list[str]) -> str:
        return "  ".join(s.ljust(w) if i == 0 else s.rjust(w)
                         for i, (s, w) in enumerate(zip(items, widths, strict=True)))  # fmt: skip

    return "\n".join([line(heads), line(["-" * w for w in widths]), *(line(c) for c in cells)])


#: How one solved example is written in a few-shot prompt (fields of a task example).
DEFAULT_SHOT_TEMPLATE = "{input}\nAnswer: {response}\n\n"


def few_shot_prompt(
    examples: Sequence[Mapping[str, str]],
    query: Mapping[str, str],
    k: int,
    template: str = DEFAULT_SHOT_TEMPLATE,
    header: str = "",
) -> str:
    """``header``, then ``k`` solved examples, then ``query`` written up to its answer.

    ``template`` formats an example's fields and holds ``{response}`` exactly once; ``k = 0``
    is zero-shot.

    Raises:
        ValueError: ``k`` outside ``0..len(examples)``, or a bad template.
        KeyError: an example lacks a field the template uses.
    """
    if template.count("{response}") != 1:
        raise ValueError(
            "template must contain the field {response} exactly once, where the answer goes; "
            f"got {template!r}."
        )
    if not 0 <= k <= len(examples):
        raise ValueError(
            f"k must be between 0 and the number of examples ({len(examples)}), got {k}."
        )
    before, after = template.split("{response}")
    shots = [before.format(**ex) + ex["response"] + after.format(**ex) for ex in examples[:k]]
    return header + "".join(shots) + before.format(**query)


@torch.no_grad()
def _choice_logprobs(
    model: Any,
    tokenizer: Tokenizer,
    prompts: Sequence[str],
    choices: Sequence[Sequence[str]],
    batch_size: int = 32,
) -> tuple[list[list[tuple[float, int]]], int]:
    """``(scores, truncated)``: ``scores[i][j] = (ln P(choice j | prompt i), n_tokens)``.

    The prompt's trailing white space moves onto the choice, because byte-level BPE attaches
    a space to the word after it (" Hamlet" is one token). Every ``prompt + choice`` runs in
    full, right-padded in batches; a prompt too long for the context is cut from the left
    and counted in ``truncated``.
    """
    T = _context_length(model)
    rows: list[tuple[int, list[int], int]] = []  # (prompt index, ids, n choice tokens)
    truncated = 0
    for i, (prompt, options) in enumerate(zip(prompts, choices, strict=True)):
        stripped = prompt.rstrip()
        p_ids = list(tokenizer.encode(stripped))
        if not p_ids:
            raise ValueError("The prompt is empty: give at least one character of context.")
        cut = False
        for choice in options:
            c_ids = list(tokenizer.encode(prompt[len(stripped) :] + choice))
            if not c_ids:
                raise ValueError(f"The choice {choice!r} is empty after tokenization.")
            if len(c_ids) > T:
                raise ValueError(
                    f"A choice has {len(c_ids)} tokens, more than the context length {T}."
                )
            full = p_ids + c_ids
            if len(full) > T + 1:  # inputs are full[:-1], at most T tokens
                full, cut = full[-(T + 1) :], True
            rows.append((i, full, len(c_ids)))
        truncated += cut
    was_training, device = model.training, next(model.parameters()).device
    model.eval()
    out: list[list[tuple[float, int]]] = [[] for _ in prompts]
    try:
        for j in range(0, len(rows), batch_size):
            chunk = rows[j : j + batch_size]
            width = max(len(ids) for _, ids, _ in chunk) - 1
            x = torch.zeros(len(chunk), width, dtype=torch.long)  # (B, T), right-padded
            y = torch.full((len(chunk), width), -100, dtype=torch.long)  # -100: not scored
            for r, (_, ids, n_choice) in enumerate(chunk):
                x[r, : len(ids) - 1] = torch.tensor(ids[:-1])
                y[r, len(ids) - 1 - n_choice : len(ids) - 1] = torch.tensor(ids[-n_choice:])
            sums = _target_logprobs(model, x.to(device), y.to(device)).sum(dim=1)  # (B,)
            for (i, _, n), v in zip(chunk, sums.tolist(), strict=True):
                out[i].append((float(v), n))
    finally:
        model.train(was_training)
    return out, truncated


def _check_normalize(normalize: str) -> None:
    if normalize not in ("sum", "mean"):
        raise ValueError(f"normalize must be 'sum' or 'mean', got {normalize!r}.")


def score_choices(
    model: Any, tokenizer: Tokenizer, prompt: str, choices: Sequence[str], normalize: str = "sum"
) -> list[float]:
    """Log-likelihood of each candidate answer after ``prompt``, one number per choice.

    ``"sum"`` gives ``ln P(choice | prompt)``; ``"mean"`` divides by the choice's number of
    tokens, so long answers are not penalised for their length.
    """
    _check_normalize(normalize)
    if not choices:
        raise ValueError("choices is empty: give at least one candidate answer.")
    scores, _ = _choice_logprobs(model, tokenizer, [prompt], [list(choices)])
    return [lp / n if normalize == "mean" else lp for lp, n in scores[0]]


@torch.no_grad()
def _greedy_answers(
    model: Any, tokenizer: Tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int
) -> tuple[list[str], int]:
    """Greedy answers (the first line written) and the number of prompts cut to fit.

    A prompt's trailing spaces are dropped (BPE puts the space at the start of the next
    word); prompts of equal token length are generated as one batch.
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}.")
    T = _context_length(model)
    if max_new_tokens >= T:
        raise ValueError(
            f"max_new_tokens ({max_new_tokens}) leaves no room for the prompt in the context "
            f"of {T} tokens."
        )
    encoded, truncated = [], 0
    for prompt in prompts:
        ids = list(tokenizer.encode(prompt.rstrip(" ")))
        if not ids:
            raise ValueError("A prompt is empty: give at least one character of context.")
        if len(ids) + max_new_tokens > T:
            ids, truncated = ids[-(T - max_new_tokens) :], truncated + 1
        encoded.append(ids)
    groups: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        groups.setdefault(len(ids), []).append(i)
    device = next(model.parameters()).device
    predictions = [""] * len(prompts)
    for length, members in sorted(groups.items()):
        for s in range(0, len(members), batch_size):
            rows = members[s : s + batch_size]
            idx = torch.tensor([encoded[i] for i in rows], device=device)  # (B, L)
            out = generate(model, idx, max_new_tokens, temperature=0)  # (B, L + new)
            for i, new in zip(rows, out[:, length:].tolist(), strict=True):
                predictions[i] = tokenizer.decode(new).strip().split("\n")[0].strip()
    return predictions, truncated


@dataclass
class AccuracyResult:
    """What :func:`answer_accuracy` measured."""

    accuracy: float
    predictions: list[str]
    truncated: int = 0  # prompts cut from the left to fit the context
    scores: list[list[float]] = field(default_factory=list)  # per prompt, per choice


def answer_accuracy(
    model: Any,
    tokenizer: Tokenizer,
    prompts: Sequence[str],
    answers: Sequence[str],
    choices: Sequence[str] | Sequence[Sequence[str]] | None = None,
    normalize: str = "sum",
    max_new_tokens: int = 8,
    batch_size: int = 32,
) -> AccuracyResult:
    """Accuracy of a model answering ``prompts``, judged by :func:`gptlab.metrics.exact_match`.

    With ``choices`` (one list for all prompts, or one per prompt) the model picks the most
    likely choice (:func:`score_choices`): it only has to prefer the right answer. Without,
    it writes greedily up to ``max_new_tokens`` tokens and its first line is the answer.
    """
    if isinstance(prompts, str) or not prompts or len(prompts) != len(answers):
        raise ValueError("prompts and answers must be non-empty lists of the same length.")
    if choices is None:
        predictions, cut = _greedy_answers(model, tokenizer, prompts, max_new_tokens, batch_size)
        return AccuracyResult(exact_match_rate(predictions, answers), predictions, cut)
    _check_normalize(normalize)
    shared = len(choices) > 0 and all(isinstance(c, str) for c in choices)
    per_prompt = [list(choices)] * len(prompts) if shared else [list(c) for c in choices]
    if len(per_prompt) != len(prompts) or any(not c for c in per_prompt):
        raise ValueError(
            "choices must be one non-empty list of strings for all prompts, or one non-empty "
            f"list per prompt ({len(prompts)} lists)."
        )
    raw, truncated = _choice_logprobs(model, tokenizer, prompts, per_prompt, batch_size)
    scores = [[lp / n if normalize == "mean" else lp for lp, n in row] for row in raw]
    predictions = [opts[max(range(len(s)), key=s.__getitem__)].strip()
                   for opts, s in zip(per_prompt, scores, strict=True)]  # fmt: skip
    return AccuracyResult(exact_match_rate(predictions, answers), predictions, truncated, scores)


def _reference_lists(hypotheses: Sequence[str], references: Any) -> list[list[str]]:
    """Per hypothesis its list of references (a string becomes a list of one), checked."""
    for name, seq in (("hypotheses", hypotheses), ("references", references)):
        if isinstance(seq, str) or not isinstance(seq, Sequence):
            raise ValueError(
                f"{name} must be a list of strings, not {type(seq).__name__}; "
                f"for a single pair write [{name[:-1]}]."
            )
        if len(seq) == 0:
            raise ValueError(f"{name} is empty: give at least one.")
    if len(hypotheses) != len(references):
        raise ValueError(
            f"hypotheses and references differ in length ({len(hypotheses)} vs "
            f"{len(references)}); give one per item, in the same order."
        )
    if any(not isinstance(h, str) for h in hypotheses):
        raise ValueError("every item of hypotheses must be a string.")
    out = []
    for i, ref in enumerate(references):
        refs = [ref] if isinstance(ref, str) else list(ref)
        if not refs or any(not isinstance(r, str) for r in refs):
            raise ValueError(f"references[{i}] must be a string or a non-empty list of strings.")
        out.append(refs)
    return out


def bleu(hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]], **kwargs):
    """Corpus BLEU (Papineni et al., 2002) with ``sacrebleu.corpus_bleu``; a score in 0..100.

    ``references``: one string per hypothesis, or the same number of references for each.
    Returns sacrebleu's ``BLEUScore`` (``.score``, ``.precisions``, ``.bp``, ``.sys_len``,
    ``.ref_len``); ``kwargs`` go to sacrebleu (e.g. ``lowercase=True``).
    """
    import sacrebleu

    ref_lists = _reference_lists(hypotheses, references)
    n_refs = {len(r) for r in ref_lists}
    if len(n_refs) != 1:
        raise ValueError(
            f"Give every hypothesis the same number of references (got {sorted(n_refs)})."
        )
    streams = [list(s) for s in zip(*ref_lists, strict=True)]  # one stream per reference slot
    return sacrebleu.corpus_bleu(list(hypotheses), streams, **kwargs)


def sentence_bleu(hypothesis: str, references: str | Sequence[str], **kwargs):
    """BLEU of one sentence (``sacrebleu.sentence_bleu``, smoothed so short texts are not 0)."""
    import sacrebleu

    if not isinstance(hypothesis, str):
        raise ValueError(f"hypothesis must be a string, not {type(hypothesis).__name__}.")
    refs = [references] if isinstance(references, str) else list(references)
    if not refs or any(not isinstance(r, str) for r in refs):
        raise ValueError("references must be a string or a non-empty list of strings.")
    return sacrebleu.sentence_bleu(hypothesis, refs, **kwargs)


def rouge(
    hypotheses: Sequence[str],
    references: Sequence[str] | Sequence[Sequence[str]],
    types: Sequence[str] = ("rouge1", "rouge2", "rougeL"),
    use_stemmer: bool = True,
    per_pair: bool = False,
) -> dict[str, float] | list[dict[str, float]]:
    """ROUGE F-measures (Lin, 2004) with Google's ``rouge_score``, in 0..1.

    The mean over pairs of each type (``per_pair=True``: one dict per pair); with several
    references the best-matching one counts. ``rouge_score`` lower-cases and keeps letters
    and digits; ``use_stemmer`` also strips English suffixes (Porter).
    """
    from rouge_score import rouge_scorer

    ref_lists = _reference_lists(hypotheses, references)
    if not types:
        raise ValueError("types is empty: ask for at least one ROUGE type, e.g. 'rouge1'.")
    scorer = rouge_scorer.RougeScorer(list(types), use_stemmer=use_stemmer)
    pairs = []
    for hyp, refs in zip(hypotheses, ref_lists, strict=True):
        # rouge_score's argument order is (target, prediction)
        scores = scorer.score(refs[0], hyp) if len(refs) == 1 else scorer.score_multi(refs, hyp)
        pairs.append({t: float(scores[t].fmeasure) for t in types})
    if per_pair:
        return pairs
    return {t: sum(p[t] for p in pairs) / len(pairs) for t in types}
