"""Evaluating language models: perplexity tables, prompting accuracy, BLEU and ROUGE.

Chapter 13 builds each of these by hand first; this module keeps them.

- :func:`perplexity_table` scores several models on the *same* held-out text and reports
  the loss per token, per character, in bits per character and as a perplexity. Models with
  different tokenizers split the same text into different numbers of tokens, so only the
  per-character numbers compare them fairly.
- :func:`few_shot_prompt`, :func:`score_choices`, :func:`answer_accuracy` and
  :func:`exact_match` evaluate a model by prompting: ``k`` solved examples, then the query;
  the answer is either generated or chosen among candidates by log-likelihood.
- :func:`bleu`, :func:`sentence_bleu` and :func:`rouge` are thin wrappers around the
  ``sacrebleu`` and ``rouge_score`` libraries (the reference implementations people report
  numbers with), adding only input checks.

Shapes: token ids are ``(B, T)``; logits ``(B, T, V)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from gptlab.metrics import nats_to_bits, per_char_loss

__all__ = [
    "DEFAULT_SHOT_TEMPLATE", "AccuracyResult", "answer_accuracy", "bleu", "exact_match",
    "few_shot_prompt", "format_table", "perplexity_table", "rouge", "score_choices",
    "sentence_bleu", "sequence_nll",
]


class Tokenizer(Protocol):
    """Anything with ``encode(str) -> list[int]`` (our BPE, the char tokenizer, GPT-2's)."""

    def encode(self, text: str) -> list[int]: ...


# -------------------------------------------------------------------------------------
# Perplexity
# -------------------------------------------------------------------------------------


def _context_length(model: Any) -> int:
    """The longest input the model accepts: ``config.block_size`` (ours) or ``n_positions`` (HF)."""
    config = getattr(model, "config", None)
    for name in ("block_size", "n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    raise TypeError(f"Cannot tell the context length of {type(model).__name__}: expected a "
                    "gptlab GPT (config.block_size), a Hugging Face causal LM (config.n_positions) "
                    "or an object with an nll(ids) method such as gptlab.bigram.BigramModel.")


def _logits(model: Any, x: Tensor) -> Tensor:
    """Next-token logits ``(B, T, V)`` of a gptlab GPT (returns a tuple) or a Hugging Face model."""
    out = model(x)
    logits = getattr(out, "logits", None)
    if logits is None:
        logits = out[0]
    return logits.float()


@torch.no_grad()
def sequence_nll(model: Any, ids: Sequence[int] | Tensor, stride: int | None = None,
                 batch_size: int = 32) -> tuple[float, int]:
    """Total negative log-likelihood (nats) of ``ids[1:]``, each token given the ones before it.

    Returns ``(total_nats, n_predictions)``; ``n_predictions = len(ids) - 1`` (the first token
    has nothing before it and is not scored). Every token is scored exactly once.

    - An object with an ``nll(ids)`` method (a :class:`gptlab.bigram.BigramModel`) is asked
      directly: its ``nll`` is the mean over the ``len(ids) - 1`` predictions.
    - A GPT (ours, or a Hugging Face causal LM) sees at most ``block_size`` tokens at a time,
      so the stream is cut into windows of that length that start every ``stride`` tokens.
      With ``stride = block_size`` (the default) the windows do not overlap and the first
      tokens of each window are predicted from very little context. A smaller stride lets
      every scored token see at least ``block_size - stride`` tokens before it, which gives a
      lower (better) number at proportionally more compute; only the tokens not scored by an
      earlier window count.

    Raises:
        ValueError: fewer than two ids, or a stride outside ``1..block_size``.
    """
    ids_t = torch.as_tensor(ids, dtype=torch.long).flatten()
    n = ids_t.numel()
    if n < 2:
        raise ValueError(f"Need at least 2 token ids to score a next-token prediction, got {n}; "
                         "give a longer text.")
    if hasattr(model, "nll") and not isinstance(model, torch.nn.Module):
        return float(model.nll(ids_t)) * (n - 1), n - 1

    T = _context_length(model)
    stride = T if stride is None else int(stride)
    if not 1 <= stride <= T:
        raise ValueError(f"stride must be between 1 and the context length {T}, got {stride}.")
    L = min(T, n - 1)  # window length: inputs ids[b : b+L] predict targets ids[b+1 : b+L+1]
    starts = list(range(0, n - 1 - L + 1, stride))
    if starts[-1] + L < n - 1:  # a last window that ends exactly at the end of the stream
        starts.append(n - 1 - L)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count, scored_upto = 0.0, 0, 0  # targets with index <= scored_upto are done
    try:
        masks = []
        for b in starts:
            # target index of position p is b + 1 + p; score those beyond scored_upto
            first_new = max(scored_upto, b) - b  # positions < first_new were scored before
            masks.append(first_new)
            scored_upto = b + L
        for i in range(0, len(starts), batch_size):
            chunk = starts[i : i + batch_size]
            x = torch.stack([ids_t[b : b + L] for b in chunk]).to(device)  # (B, L)
            y = torch.stack([ids_t[b + 1 : b + 1 + L] for b in chunk]).to(device)  # (B, L)
            logp = F.log_softmax(_logits(model, x), dim=-1)  # (B, L, V)
            nll = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1)  # (B, L)
            keep = torch.arange(L, device=device)[None, :] >= torch.tensor(
                masks[i : i + batch_size], device=device)[:, None]  # (B, L)
            total += float(nll[keep].double().sum())
            count += int(keep.sum())
    finally:
        model.train(was_training)
    assert count == n - 1, (count, n)
    return total, count


def perplexity_table(models: Mapping[str, tuple[Any, Tokenizer]], text: str | Sequence[str],
                     stride: int | None = None, batch_size: int = 32) -> list[dict[str, Any]]:
    """Score every model on the same held-out text; one row (a dict) per model.

    Args:
        models: ``name -> (model, tokenizer)``. A model is a gptlab :class:`~gptlab.model.GPT`,
            a Hugging Face causal LM, or anything with ``nll(ids)`` (the counting bigram).
        text: the evaluation text, or a list of passages (each scored on its own, then summed).
        stride: window stride for GPTs (see :func:`sequence_nll`); ``None`` for no overlap.

    Each row holds ``model``, ``tokens``, ``chars``, ``chars_per_token``, ``nats_per_token``
    (the mean cross-entropy), ``perplexity`` (``exp`` of it, *per token*), ``nats_per_char``,
    ``bits_per_char`` and ``char_perplexity`` (``exp(nats_per_char)``).

    Why per character: the total loss of a text (its code length, in nats) does not depend on
    how it is cut into tokens, but the number of tokens does. A tokenizer with longer tokens
    spends more nats on each of fewer predictions, so per-token loss and perplexity favour
    short tokens and cannot compare models with different vocabularies. Dividing the total
    by the number of characters (``per_char_loss``) gives a unit every model shares.

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
        })
    return rows


_COLUMNS = [("model", "model", "{}"), ("tokens", "tokens", "{:,}"),
            ("chars_per_token", "chars/tok", "{:.2f}"), ("nats_per_token", "nats/tok", "{:.3f}"),
            ("perplexity", "ppl/tok", "{:.1f}"), ("nats_per_char", "nats/char", "{:.3f}"),
            ("bits_per_char", "bits/char", "{:.3f}")]


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows of :func:`perplexity_table` as a fixed-width text table."""
    if not rows:
        raise ValueError("No rows to format.")
    cells = [[fmt.format(row[key]) for key, _, fmt in _COLUMNS] for row in rows]
    heads = [head for _, head, _ in _COLUMNS]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    line = lambda items: "  ".join(  # noqa: E731
        s.ljust(w) if i == 0 else s.rjust(w) for i, (s, w) in enumerate(zip(items, widths)))
    return "\n".join([line(heads), line(["-" * w for w in widths]), *(line(c) for c in cells)])


# -------------------------------------------------------------------------------------
# Prompting
# -------------------------------------------------------------------------------------

#: How one solved example is written in a few-shot prompt (fields of a task example).
DEFAULT_SHOT_TEMPLATE = "{input}\nAnswer: {response}\n\n"


def few_shot_prompt(examples: Sequence[Mapping[str, str]], query: Mapping[str, str], k: int,
                    template: str = DEFAULT_SHOT_TEMPLATE, header: str = "") -> str:
    """A prompt with ``k`` solved examples, then the query with its answer left open.

    ``template`` is a format string over an example's fields (for the course's tasks:
    ``instruction``, ``input``, ``response``) and must contain ``{response}`` exactly once.
    The first ``k`` of ``examples`` are written out in full; the query is written up to
    ``{response}``, so the model's next tokens are its answer. ``header`` (for example an
    instruction) comes first. ``k = 0`` is zero-shot: the header and the query only.

    Raises:
        ValueError: ``k`` negative or larger than ``len(examples)``, or a bad template.
        KeyError: an example lacks a field the template uses.
    """
    if template.count("{response}") != 1:
        raise ValueError("template must contain the field {response} exactly once, where the "
                         f"answer goes; got {template!r}.")
    if not 0 <= k <= len(examples):
        raise ValueError(f"k must be between 0 and the number of examples ({len(examples)}), got {k}.")
    before, after = template.split("{response}")
    shots = [before.format(**ex) + ex["response"] + after.format(**ex) for ex in examples[:k]]
    return header + "".join(shots) + before.format(**query)


def _split_whitespace(prompt: str, choice: str) -> tuple[str, str]:
    """Move the prompt's trailing whitespace onto the choice.

    Byte-level BPE attaches a space to the word after it (" Hamlet" is one token), so the
    prompt "Answer: " followed by "Hamlet" would be split unlike any text seen in training.
    """
    stripped = prompt.rstrip()
    return stripped, prompt[len(stripped):] + choice


def _encode_choice_pairs(tokenizer: Tokenizer, prompt: str, options: Sequence[str]
                         ) -> list[tuple[list[int], list[int]]]:
    """``(prompt_ids, choice_ids)`` for each option, whitespace moved onto the choice."""
    pairs = []
    for choice in options:
        p, c = _split_whitespace(prompt, choice)
        p_ids, c_ids = list(tokenizer.encode(p)), list(tokenizer.encode(c))
        if not c_ids:
            raise ValueError(f"The choice {choice!r} is empty after tokenization.")
        if not p_ids:
            raise ValueError("The prompt is empty: give at least one character of context.")
        pairs.append((p_ids, c_ids))
    return pairs


def _shares_prompt(model: Any, pairs: list[tuple[list[int], list[int]]]) -> bool:
    """Whether the fast path applies: a gptlab GPT and the same prompt tokens for every choice."""
    from gptlab.model import GPT

    return isinstance(model, GPT) and all(p == pairs[0][0] for p, _ in pairs)


@torch.no_grad()
def _choice_logprobs(model: Any, tokenizer: Tokenizer, prompts: Sequence[str],
                     choices: Sequence[Sequence[str]], batch_size: int = 32,
                     ) -> tuple[list[list[tuple[float, int]]], int]:
    """Sum of log-probabilities (and token count) of every choice after its prompt.

    Returns ``(scores, truncated)``: ``scores[i][j] = (logp, n_tokens)`` for choice ``j`` of
    prompt ``i``; ``truncated`` counts prompts cut from the left to fit the model's context.

    For a gptlab GPT the prompt is run once and its KV cache is shared by all choices (the
    choices then cost only their own tokens); other models run every ``prompt + choice``
    sequence in full, right-padded in batches. Both give the same numbers.
    """
    T = _context_length(model)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    truncated = 0
    out: list[list[tuple[float, int]]] = []
    slow: list[tuple[int, list[int], int]] = []  # (prompt index, ids, n choice tokens)
    try:
        for i, (prompt, options) in enumerate(zip(prompts, choices)):
            pairs = _encode_choice_pairs(tokenizer, prompt, options)
            longest = max(len(c) for _, c in pairs)
            if longest > T:
                raise ValueError(f"A choice has {longest} tokens, more than the context length {T}.")
            if _shares_prompt(model, pairs):
                p_ids = pairs[0][0]
                keep = T + 1 - longest  # prompt + choice[:-1] must fit in T positions
                if len(p_ids) > keep:
                    p_ids, truncated = p_ids[-keep:], truncated + 1
                out.append(_shared_prompt_scores(model, p_ids, [c for _, c in pairs], device))
                continue
            cut = False
            for p_ids, c_ids in pairs:
                full = p_ids + c_ids
                if len(full) > T + 1:  # inputs are full[:-1], at most T tokens
                    full, cut = full[-(T + 1):], True
                slow.append((i, full, len(c_ids)))
            truncated += cut
            out.append([])
        for j in range(0, len(slow), batch_size):
            chunk = slow[j : j + batch_size]
            width = max(len(s) for _, s, _ in chunk) - 1
            x = torch.zeros(len(chunk), width, dtype=torch.long)  # (B, T), right-padded
            y = torch.full((len(chunk), width), -100, dtype=torch.long)  # -100: not scored
            for r, (_, ids, n_choice) in enumerate(chunk):
                t = torch.tensor(ids)
                x[r, : len(ids) - 1] = t[:-1]
                start = len(ids) - 1 - n_choice  # position predicting the first choice token
                y[r, start : len(ids) - 1] = t[-n_choice:]
            logp = F.log_softmax(_logits(model, x.to(device)), dim=-1)  # (B, T, V)
            yd = y.to(device)
            picked = logp.gather(-1, yd.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, T)
            picked = picked.masked_fill(yd == -100, 0.0).sum(dim=1)  # (B,)
            for (i, _, n), v in zip(chunk, picked.tolist()):
                out[i].append((float(v), n))
    finally:
        model.train(was_training)
    return out, truncated


def _shared_prompt_scores(model: Any, p_ids: list[int], c_ids: list[list[int]],
                          device: torch.device) -> list[tuple[float, int]]:
    """Score choices after one prompt: the prompt once (KV cache), then all choices as a batch."""
    logits, _, cache = model(torch.tensor([p_ids], device=device), use_cache=True)
    first = F.log_softmax(logits[0, -1].float(), dim=-1)  # (V,) predicts each choice's first token
    scores = [float(first[c[0]]) for c in c_ids]
    width = max(len(c) for c in c_ids) - 1
    if width > 0:
        C = len(c_ids)
        x = torch.zeros(C, width, dtype=torch.long)  # (C, Tc): choice[:-1], right-padded
        y = torch.full((C, width), -100, dtype=torch.long)  # choice[1:]
        for r, c in enumerate(c_ids):
            x[r, : len(c) - 1] = torch.tensor(c[:-1])
            y[r, : len(c) - 1] = torch.tensor(c[1:])
        past = [(k.expand(C, -1, -1, -1), v.expand(C, -1, -1, -1)) for k, v in cache]
        logits, _, _ = model(x.to(device), past_kvs=past, use_cache=True)  # (C, Tc, V)
        logp = F.log_softmax(logits.float(), dim=-1)
        yd = y.to(device)
        picked = logp.gather(-1, yd.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (C, Tc)
        rest = picked.masked_fill(yd == -100, 0.0).sum(dim=1).tolist()
        scores = [s + r for s, r in zip(scores, rest)]
    return [(s, len(c)) for s, c in zip(scores, c_ids)]


def score_choices(model: Any, tokenizer: Tokenizer, prompt: str, choices: Sequence[str],
                  normalize: str = "sum") -> list[float]:
    """Log-likelihood of each candidate answer after ``prompt``, one number per choice.

    ``normalize="sum"`` gives ``ln P(choice | prompt)`` (the sum over the choice's tokens);
    ``"mean"`` divides by the number of tokens, so long answers are not penalised for being
    long. The prompt's trailing whitespace is moved onto the choice (see the note on BPE in
    :func:`_split_whitespace`). A prompt too long for the context is cut from the left.
    """
    if normalize not in ("sum", "mean"):
        raise ValueError(f"normalize must be 'sum' or 'mean', got {normalize!r}.")
    if not choices:
        raise ValueError("choices is empty: give at least one candidate answer.")
    scores, _ = _choice_logprobs(model, tokenizer, [prompt], [list(choices)])
    return [lp / n if normalize == "mean" else lp for lp, n in scores[0]]


def _normalize_answer(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().strip(".,;:!?").strip().casefold()


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Fraction of predictions equal to their reference, ignoring case, spacing and end punctuation."""
    _check_pairs(predictions, references, "predictions")
    hits = sum(_normalize_answer(p) == _normalize_answer(r) for p, r in zip(predictions, references))
    return hits / len(predictions)


@torch.no_grad()
def _greedy_answers(model: Any, tokenizer: Tokenizer, prompts: Sequence[str], max_new_tokens: int,
                    batch_size: int) -> tuple[list[str], int]:
    """Greedy answers (the first line of what the model writes) and the number of cut prompts.

    Trailing spaces of a prompt are dropped ("Answer: " -> "Answer:"), because BPE puts the
    space at the start of the next word; the model then writes " Macbeth" itself. Prompts of
    equal token length are generated together.
    """
    from gptlab.generate import generate

    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}.")
    T = _context_length(model)
    if max_new_tokens >= T:
        raise ValueError(f"max_new_tokens ({max_new_tokens}) leaves no room for the prompt in the "
                         f"context of {T} tokens.")
    encoded, truncated = [], 0
    for prompt in prompts:
        ids = list(tokenizer.encode(prompt.rstrip(" ")))
        if not ids:
            raise ValueError("A prompt is empty: give at least one character of context.")
        if len(ids) + max_new_tokens > T:
            ids, truncated = ids[-(T - max_new_tokens):], truncated + 1
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
            for i, new in zip(rows, out[:, length:].tolist()):
                predictions[i] = tokenizer.decode(new).strip().split("\n")[0].strip()
    return predictions, truncated


@dataclass
class AccuracyResult:
    """What :func:`answer_accuracy` measured."""

    accuracy: float
    predictions: list[str]
    truncated: int = 0  # prompts cut from the left to fit the context
    scores: list[list[float]] = field(default_factory=list)  # per prompt, per choice (log-lik.)


def answer_accuracy(model: Any, tokenizer: Tokenizer, prompts: Sequence[str],
                    answers: Sequence[str],
                    choices: Sequence[str] | Sequence[Sequence[str]] | None = None,
                    normalize: str = "sum", max_new_tokens: int = 8,
                    batch_size: int = 32) -> AccuracyResult:
    """Accuracy of a model answering ``prompts``, judged against ``answers``.

    - With ``choices`` (one list shared by every prompt, or one list per prompt): the model
      picks the choice with the highest log-likelihood (:func:`score_choices`); robust for
      small models, because the answer only has to be *more likely* than the alternatives.
    - Without: the model writes greedily up to ``max_new_tokens`` tokens after the prompt
      (trailing spaces dropped, see :func:`_greedy_answers`); the first line of what it writes
      is compared with the answer by :func:`exact_match`.

    Answers and choices are compared after stripping surrounding whitespace.
    """
    _check_pairs(prompts, answers, "prompts", "answers")
    if choices is None:
        predictions, truncated = _greedy_answers(model, tokenizer, prompts, max_new_tokens, batch_size)
        return AccuracyResult(exact_match(predictions, answers), predictions, truncated)
    if normalize not in ("sum", "mean"):
        raise ValueError(f"normalize must be 'sum' or 'mean', got {normalize!r}.")
    shared = len(choices) > 0 and all(isinstance(c, str) for c in choices)
    per_prompt = [list(choices)] * len(prompts) if shared else [list(c) for c in choices]
    if len(per_prompt) != len(prompts) or any(not c for c in per_prompt):
        raise ValueError("choices must be one non-empty list of strings for all prompts, or one "
                         f"non-empty list per prompt ({len(prompts)} lists).")
    raw, truncated = _choice_logprobs(model, tokenizer, prompts, per_prompt, batch_size)
    scores = [[lp / n if normalize == "mean" else lp for lp, n in row] for row in raw]
    predictions = [opts[max(range(len(s)), key=s.__getitem__)].strip()
                   for opts, s in zip(per_prompt, scores)]
    accuracy = sum(p == a.strip() for p, a in zip(predictions, answers)) / len(answers)
    return AccuracyResult(accuracy, predictions, truncated, scores)


# -------------------------------------------------------------------------------------
# BLEU and ROUGE (thin wrappers around the reference libraries)
# -------------------------------------------------------------------------------------

References = Union[Sequence[str], Sequence[Sequence[str]]]


def _check_pairs(hyps: Any, refs: Any, what: str = "hypotheses", other: str = "references") -> None:
    for name, seq in ((what, hyps), (other, refs)):
        if isinstance(seq, str) or not isinstance(seq, Sequence):
            raise ValueError(f"{name} must be a list of strings, not {type(seq).__name__}; "
                             f"for a single pair write [{name[:-1]}].")
        if len(seq) == 0:
            raise ValueError(f"{name} is empty: give at least one.")
    if len(hyps) != len(refs):
        raise ValueError(f"{what} and {other} differ in length ({len(hyps)} vs {len(refs)}); "
                         "give one per item, in the same order.")
    if any(not isinstance(h, str) for h in hyps):
        raise ValueError(f"every item of {what} must be a string.")


def _reference_lists(hypotheses: Sequence[str], references: References) -> list[list[str]]:
    """Per hypothesis, its list of references (one string becomes a list of one)."""
    _check_pairs(hypotheses, references)
    out = []
    for i, ref in enumerate(references):
        refs = [ref] if isinstance(ref, str) else list(ref)
        if not refs or any(not isinstance(r, str) for r in refs):
            raise ValueError(f"references[{i}] must be a string or a non-empty list of strings.")
        out.append(refs)
    return out


def bleu(hypotheses: Sequence[str], references: References, **kwargs: Any):
    """Corpus BLEU (Papineni et al., 2002) with ``sacrebleu.corpus_bleu``; a score in 0..100.

    ``references`` holds one reference string per hypothesis, or a list of references per
    hypothesis (all of the same length). Returns sacrebleu's ``BLEUScore``: ``.score``,
    ``.precisions`` (modified n-gram precisions for n = 1..4, in %), ``.bp`` (brevity
    penalty), ``.sys_len`` and ``.ref_len``. ``kwargs`` go to sacrebleu (for example
    ``lowercase=True`` or ``tokenize="none"``).
    """
    import sacrebleu

    ref_lists = _reference_lists(hypotheses, references)
    n_refs = {len(r) for r in ref_lists}
    if len(n_refs) != 1:
        raise ValueError("Give every hypothesis the same number of references "
                         f"(got {sorted(n_refs)}).")
    streams = [list(s) for s in zip(*ref_lists)]  # sacrebleu: one stream per reference slot
    return sacrebleu.corpus_bleu(list(hypotheses), streams, **kwargs)


def sentence_bleu(hypothesis: str, references: str | Sequence[str], **kwargs: Any):
    """BLEU of one sentence (``sacrebleu.sentence_bleu``, smoothed so short texts are not 0)."""
    import sacrebleu

    if not isinstance(hypothesis, str):
        raise ValueError(f"hypothesis must be a string, not {type(hypothesis).__name__}.")
    refs = [references] if isinstance(references, str) else list(references)
    if not refs or any(not isinstance(r, str) for r in refs):
        raise ValueError("references must be a string or a non-empty list of strings.")
    return sacrebleu.sentence_bleu(hypothesis, refs, **kwargs)


def rouge(hypotheses: Sequence[str], references: References,
          types: Sequence[str] = ("rouge1", "rouge2", "rougeL"), use_stemmer: bool = True,
          per_pair: bool = False) -> dict[str, float] | list[dict[str, float]]:
    """ROUGE F-measures (Lin, 2004) with Google's ``rouge_score`` package, in 0..1.

    Returns the mean F-measure of each ROUGE type over the pairs (``per_pair=True``: one dict
    per pair). With several references per hypothesis, the best-matching one counts
    (``score_multi``). ``rouge_score`` lower-cases and keeps only letters and digits;
    ``use_stemmer`` also strips English suffixes (Porter stemmer).
    """
    from rouge_score import rouge_scorer

    ref_lists = _reference_lists(hypotheses, references)
    if not types:
        raise ValueError("types is empty: ask for at least one ROUGE type, e.g. 'rouge1'.")
    scorer = rouge_scorer.RougeScorer(list(types), use_stemmer=use_stemmer)
    pairs = []
    for hyp, refs in zip(hypotheses, ref_lists):
        # note the argument order of rouge_score: (target, prediction)
        scores = scorer.score(refs[0], hyp) if len(refs) == 1 else scorer.score_multi(refs, hyp)
        pairs.append({t: float(scores[t].fmeasure) for t in types})
    if per_pair:
        return pairs
    return {t: sum(p[t] for p in pairs) / len(pairs) for t in types}
