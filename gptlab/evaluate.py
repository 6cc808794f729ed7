"""Evaluating language models: perplexity tables, prompting accuracy, BLEU and ROUGE.

A model is a gptlab GPT, a Hugging Face causal LM, or (for perplexity) anything with
``nll(ids)`` such as :class:`gptlab.bigram.BigramModel`. See chapter 13."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from gptlab.generate import generate_by_length
from gptlab.metrics import exact_match_rate, nats_to_bits, per_char_loss
from gptlab.utils import eval_mode

Tokenizer = Any  #: anything with ``encode(str) -> list[int]`` (ours, or GPT-2's)


def _context_length(model: Any) -> int:
    """The longest input: ``config.block_size`` (ours) or ``n_positions`` (Hugging Face)."""
    config = getattr(model, "config", None)
    for name in ("block_size", "n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    raise TypeError(
        f"Cannot tell the context length of {type(model).__name__}: expected a gptlab GPT, a "
        "Hugging Face causal LM or an object with an nll(ids) method (gptlab.bigram.BigramModel)."
    )


@torch.no_grad()
def _logprobs(model: Any, rows: Sequence[tuple[Sequence[int], int]], batch_size: int) -> list:
    """For rows ``(ids, start)``, in batches right-padded to the longest row: ``(B, T)``
    tensors of ``ln P(ids[t+1] | ids[:t+1])`` at ``t >= start``, 0 elsewhere (eval mode)."""
    device, out = next(model.parameters()).device, []
    with eval_mode(model):
        for j in range(0, len(rows), batch_size):
            chunk = rows[j : j + batch_size]
            width = max(len(ids) for ids, _ in chunk) - 1
            x = torch.zeros(len(chunk), width, dtype=torch.long)  # (B, T) inputs
            y = torch.full((len(chunk), width), -100, dtype=torch.long)  # targets, -100: unscored
            for r, (ids, start) in enumerate(chunk):
                x[r, : len(ids) - 1] = torch.as_tensor(ids[:-1])
                y[r, start : len(ids) - 1] = torch.as_tensor(ids[start + 1 :])
            result, y = model(x.to(device)), y.to(device)
            logits = getattr(result, "logits", None)  # Hugging Face returns an object, ours a tuple
            logp = F.log_softmax((result[0] if logits is None else logits).float(), dim=-1)
            picked = logp.gather(-1, y.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, T)
            out.append(picked.masked_fill(y == -100, 0.0))
    return out


@torch.no_grad()
def sequence_nll(
    model: Any, ids: Sequence[int] | Tensor, stride: int | None = None, batch_size: int = 32
) -> tuple[float, int]:
    """``(total_nats, len(ids) - 1)``: the negative log-likelihood of ``ids[1:]``, each token
    given those before it, scored once, in context-length windows starting every ``stride``
    tokens (default: no overlap). ValueError for < 2 ids or a stride outside 1..block_size."""
    ids_t = torch.as_tensor(ids, dtype=torch.long).flatten()
    n = ids_t.numel()
    if n < 2:
        raise ValueError(f"Need at least 2 token ids to score, got {n}; give a longer text.")
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
    rows = [(ids_t[b : b + L + 1], skip) for b, skip in zip(starts, first_new, strict=True)]
    total = sum(float(lp.double().sum()) for lp in _logprobs(model, rows, batch_size))
    count = sum(L - skip for skip in first_new)
    assert count == n - 1, (count, n)
    return -total, count


def perplexity_table(
    models: Mapping[str, tuple[Any, Tokenizer]], text: str | Sequence[str],
    stride: int | None = None, batch_size: int = 32,
) -> list[dict[str, Any]]:  # fmt: skip
    """Score every ``name -> (model, tokenizer)`` on the same held-out text (or passages,
    summed); a dict per model with ``model``, ``tokens``, ``chars``, ``chars_per_token``,
    ``nats_per_token``, ``perplexity``, ``nats_per_char``, ``bits_per_char`` and
    ``char_perplexity``. Only per-character numbers compare different tokenizers."""
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
        encoded = [tokenizer.encode(passage) for passage in passages]
        scored = [sequence_nll(model, ids, stride=stride, batch_size=batch_size) for ids in encoded]
        n_tokens, n_chars = sum(map(len, encoded)), sum(map(len, passages))
        per_token = sum(nats for nats, _ in scored) / sum(count for _, count in scored)
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
    table = [heads, ["-" * w for w in widths], *cells]  # the model's name left, numbers right
    lines = ([r[0].ljust(widths[0]), *map(str.rjust, r[1:], widths[1:])] for r in table)
    return "\n".join("  ".join(line) for line in lines)


#: How one solved example is written in a few-shot prompt (fields of a task example).
DEFAULT_SHOT_TEMPLATE = "{input}\nAnswer: {response}\n\n"


def few_shot_prompt(
    examples: Sequence[Mapping[str, str]], query: Mapping[str, str], k: int,
    template: str = DEFAULT_SHOT_TEMPLATE, header: str = "",
) -> str:  # fmt: skip
    """``header``, then ``k`` solved examples, then ``query`` written up to its answer
    (``template`` holds ``{response}`` once). ValueError for ``k`` outside ``0..len(examples)``
    or a bad template, KeyError for a field an example lacks."""
    if template.count("{response}") != 1:
        what = "template must contain {response} exactly once, where the answer goes"
        raise ValueError(f"{what}; got {template!r}.")
    if not 0 <= k <= len(examples):
        raise ValueError(f"k must be between 0 and len(examples) = {len(examples)}, got {k}.")
    before, after = template.split("{response}")
    shots = [before.format(**ex) + ex["response"] + after.format(**ex) for ex in examples[:k]]
    return header + "".join(shots) + before.format(**query)


def _choice_scores(
    model: Any, tokenizer: Tokenizer, prompts: Sequence[str], choices: Sequence[Sequence[str]],
    normalize: str, batch_size: int = 32,
) -> tuple[list[list[float]], int]:  # fmt: skip
    """``(scores, truncated)``: ``scores[i][j] = ln P(choice j | prompt i)``, per token if
    ``normalize="mean"``. The prompt's trailing white space moves onto the choice (BPE attaches
    a space to the next word); a prompt too long for the context is cut from the left, counted."""
    if normalize not in ("sum", "mean"):
        raise ValueError(f"normalize must be 'sum' or 'mean', got {normalize!r}.")
    T = _context_length(model)
    rows, owners, truncated = [], [], 0  # rows (ids, first scored t), owners (prompt, n tokens)
    for i, (prompt, options) in enumerate(zip(prompts, choices, strict=True)):
        stripped = prompt.rstrip()
        p_ids = list(tokenizer.encode(stripped))
        if not p_ids:
            raise ValueError("The prompt is empty: give at least one character of context.")
        cut = False
        for choice in options:
            c_ids = list(tokenizer.encode(prompt[len(stripped) :] + choice))
            if not 1 <= len(c_ids) <= T:
                raise ValueError(f"The choice {choice!r} has {len(c_ids)} tokens; it needs 1..{T}.")
            full = (p_ids + c_ids)[-(T + 1) :]  # inputs are full[:-1], at most T tokens
            cut |= len(p_ids) + len(c_ids) > T + 1
            rows.append((full, len(full) - 1 - len(c_ids)))
            owners.append((i, len(c_ids)))
        truncated += cut
    sums = [v for lp in _logprobs(model, rows, batch_size) for v in lp.sum(dim=1).tolist()]
    out: list[list[float]] = [[] for _ in prompts]
    for (i, n), v in zip(owners, sums, strict=True):
        out[i].append(v / n if normalize == "mean" else v)
    return out, truncated


def score_choices(
    model: Any, tokenizer: Tokenizer, prompt: str, choices: Sequence[str], normalize: str = "sum"
) -> list[float]:
    """``ln P(choice | prompt)`` for each choice; ``"mean"`` divides by its number of tokens."""
    if not choices:
        raise ValueError("choices is empty: give at least one candidate answer.")
    return _choice_scores(model, tokenizer, [prompt], [list(choices)], normalize)[0][0]


@dataclass
class AccuracyResult:
    """What :func:`answer_accuracy` measured."""

    accuracy: float
    predictions: list[str]
    truncated: int = 0  # prompts cut from the left to fit the context
    scores: list[list[float]] = field(default_factory=list)  # per prompt, per choice


def answer_accuracy(
    model: Any, tokenizer: Tokenizer, prompts: Sequence[str], answers: Sequence[str],
    choices: Sequence[str] | Sequence[Sequence[str]] | None = None, normalize: str = "sum",
    max_new_tokens: int = 8, batch_size: int = 32,
) -> AccuracyResult:  # fmt: skip
    """Exact-match accuracy of a model answering ``prompts``. With ``choices`` (one list for
    all prompts, or one per prompt) it picks the most likely (:func:`score_choices`); without,
    its answer is the first line it writes greedily in ``max_new_tokens`` tokens."""
    if isinstance(prompts, str) or not prompts or len(prompts) != len(answers):
        raise ValueError("prompts and answers must be non-empty lists of the same length.")
    if choices is None:  # greedy: the first line written (trailing spaces of the prompt dropped)
        T = _context_length(model)
        if not 1 <= max_new_tokens < T:  # at least one prompt token must fit in the context
            what = f"max_new_tokens must be 1..{T - 1} (context {T})"
            raise ValueError(f"{what}, got {max_new_tokens}.")
        encoded = [list(tokenizer.encode(prompt.rstrip(" "))) for prompt in prompts]
        if not all(encoded):
            raise ValueError("A prompt is empty: give at least one character of context.")
        cut = sum(len(ids) + max_new_tokens > T for ids in encoded)  # cut from the left to fit
        fitted = [ids[-(T - max_new_tokens) :] for ids in encoded]
        new = generate_by_length(model, fitted, max_new_tokens, T, batch_size, temperature=0)
        predictions = [tokenizer.decode(ids).strip().split("\n")[0].strip() for ids in new]
        return AccuracyResult(exact_match_rate(predictions, answers), predictions, cut)
    shared = len(choices) > 0 and all(isinstance(c, str) for c in choices)
    per_prompt = [list(choices)] * len(prompts) if shared else [list(c) for c in choices]
    if len(per_prompt) != len(prompts) or any(not c for c in per_prompt):
        what = f"one non-empty list of strings for all prompts, or one per prompt ({len(prompts)})"
        raise ValueError(f"choices must be {what}.")
    scores, truncated = _choice_scores(model, tokenizer, prompts, per_prompt, normalize, batch_size)
    predictions = [c[s.index(max(s))].strip() for c, s in zip(per_prompt, scores, strict=True)]
    return AccuracyResult(exact_match_rate(predictions, answers), predictions, truncated, scores)


def _reference_lists(hypotheses: Sequence[str], references: Any) -> list[list[str]]:
    """Per hypothesis its list of references (a string becomes a list of one), checked."""
    for name, seq in (("hypotheses", hypotheses), ("references", references)):
        if isinstance(seq, str) or not isinstance(seq, Sequence):
            what = f"not {type(seq).__name__}; for a single pair write [{name[:-1]}]"
            raise ValueError(f"{name} must be a list of strings, {what}.")
        if len(seq) == 0:
            raise ValueError(f"{name} is empty: give at least one.")
    if len(hypotheses) != len(references):
        sizes = f"{len(hypotheses)} vs {len(references)}"
        raise ValueError(f"hypotheses and references differ in length ({sizes}); pair them up.")
    if any(not isinstance(h, str) for h in hypotheses):
        raise ValueError("every item of hypotheses must be a string.")
    out = [[ref] if isinstance(ref, str) else list(ref) for ref in references]
    for i, refs in enumerate(out):
        if not refs or any(not isinstance(r, str) for r in refs):
            raise ValueError(f"references[{i}] must be a string or a non-empty list of strings.")
    return out


def bleu(hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]], **kwargs):
    """Corpus BLEU (Papineni et al., 2002): sacrebleu's ``BLEUScore`` (``.score`` in 0..100).
    ``references``: one string per hypothesis, or the same number of references for each;
    ``kwargs`` go to ``sacrebleu.corpus_bleu`` (e.g. ``lowercase=True``)."""
    import sacrebleu

    ref_lists = _reference_lists(hypotheses, references)
    n_refs = sorted({len(r) for r in ref_lists})
    if len(n_refs) != 1:
        raise ValueError(f"Give all hypotheses the same number of references; got {n_refs}.")
    streams = [list(s) for s in zip(*ref_lists, strict=True)]  # one stream per reference slot
    return sacrebleu.corpus_bleu(list(hypotheses), streams, **kwargs)


def sentence_bleu(hypothesis: str, references: str | Sequence[str], **kwargs):
    """BLEU of one sentence (``sacrebleu.sentence_bleu``, smoothed so short texts are not 0)."""
    import sacrebleu

    refs = _reference_lists([hypothesis], [references])[0]
    return sacrebleu.sentence_bleu(hypothesis, refs, **kwargs)


def rouge(
    hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]],
    types: Sequence[str] = ("rouge1", "rouge2", "rougeL"), use_stemmer: bool = True,
    per_pair: bool = False,
) -> dict[str, float] | list[dict[str, float]]:  # fmt: skip
    """ROUGE F-measures (Lin, 2004) with Google's ``rouge_score``, in 0..1: the mean over
    pairs of each type (``per_pair=True``: one dict per pair); with several references the
    best-matching one counts."""
    from rouge_score import rouge_scorer

    ref_lists = _reference_lists(hypotheses, references)
    if not types:
        raise ValueError("types is empty: ask for at least one ROUGE type, e.g. 'rouge1'.")
    scorer = rouge_scorer.RougeScorer(list(types), use_stemmer=use_stemmer)
    scores = map(scorer.score_multi, ref_lists, hypotheses)  # per type, the best reference's
    pairs = [{t: float(s[t].fmeasure) for t in types} for s in scores]
    return pairs if per_pair else {t: sum(p[t] for p in pairs) / len(pairs) for t in types}
