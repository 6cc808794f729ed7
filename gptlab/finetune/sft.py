"""Supervised fine-tuning (SFT) on instructions: templates, response-only loss, generation.

An example is a dict with ``"instruction"``, ``"input"`` and ``"response"`` (see
:mod:`gptlab.tasks`). A *template* turns it into text; the model is trained with the
ordinary next-token loss, but only on the response tokens: the prompt is given, not learned.

- :data:`DEFAULT_TEMPLATE`: instruction / input / response sections, in the style of
  Alpaca (Taori et al., 2023). :data:`CHAT_TEMPLATE`: one user turn and the reply.
- :data:`END_OF_RESPONSE` (``"\\n\\n"``, a blank line) ends every response. The reference
  tokenizer has no special tokens and the model's vocabulary size is fixed, so the marker is
  ordinary text; its BPE encoding is a single token that the model learns to emit, and
  :func:`generate_response` stops there.
- :func:`encode_example` returns ``(ids, labels)`` of equal length, with labels in the
  Hugging Face convention: ``labels[t] == ids[t]`` on response tokens (the marker included)
  and ``-100`` (:data:`IGNORE_INDEX`) on prompt tokens. They are *not* shifted;
  :func:`sft_loss` shifts them (position ``t`` predicts token ``t + 1``).
- An example whose tokens exceed ``block_size`` raises ``ValueError`` unless
  ``truncate=True``, which drops prompt tokens from the left (the start of the
  instruction) and never cuts the response.

Shapes: ``ids`` and ``labels`` batches are ``(B, T)``; logits ``(B, T, V)``.
"""

from __future__ import annotations

import dataclasses
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from gptlab.generate import generate
from gptlab.metrics import exact_match
from gptlab.train import check_lr, configure_optimizer, lr_schedule, train_loop

#: Instruction / input / response sections. ``{response}`` must come last.
DEFAULT_TEMPLATE = (
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n{response}"
)
#: One chat turn: the user's message and the reply (the instruction is not shown).
CHAT_TEMPLATE = "User: {input}\nBot: {response}"
#: Appended to every response; generation stops when the model writes it.
END_OF_RESPONSE = "\n\n"
#: Label value that ``F.cross_entropy(..., ignore_index=-100)`` skips.
IGNORE_INDEX = -100

_FIELDS = ("instruction", "input", "response")


# ---------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------


def check_template(template: str) -> tuple[str, ...]:
    """Check a template; return the example fields it uses before ``{response}``.

    A template is a ``str.format`` string with the fields ``{instruction}``, ``{input}``
    and ``{response}``; ``{response}`` must appear exactly once, at the very end (the
    prompt is everything before it). Raises ``ValueError`` naming the problem.
    """
    if not isinstance(template, str):
        raise ValueError(f"A template must be a string, got {type(template).__name__}.")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(
            f"The template is not a valid format string ({exc}); write literal "
            "braces as '{{' and '}}'."
        ) from exc
    names = [name for _, name, _, _ in parsed if name is not None]
    unknown = [n for n in names if n not in _FIELDS]
    if unknown:
        raise ValueError(
            f"The template uses unknown field(s) {unknown}; the fields are "
            f"{{instruction}}, {{input}} and {{response}}."
        )
    if names.count("response") != 1:
        raise ValueError(
            "The template must contain the field {response} exactly once (it marks where the "
            f"answer goes and where the prompt ends); it has it {names.count('response')} times."
        )
    if not template.endswith("{response}"):
        raise ValueError(
            "The template must end with {response}: the response is the last "
            "thing the model writes (the end-of-response marker is added after it)."
        )
    return tuple(n for n in names if n != "response")


def _field(example: dict, name: str) -> str:
    if not isinstance(example, dict):
        raise ValueError(
            f"An example must be a dict with keys {_FIELDS}, got {type(example).__name__}."
        )
    if name not in example:
        raise ValueError(
            f"The example has no {name!r} key (keys: {sorted(example)}); every "
            f"example needs 'instruction', 'input' and 'response'."
        )
    value = example[name]
    if not isinstance(value, str):
        raise ValueError(f"example[{name!r}] must be a string, got {type(value).__name__}.")
    return value


def format_prompt(example: dict, template: str = DEFAULT_TEMPLATE) -> str:
    """The prompt text: the template filled in, up to and including the response header."""
    used = check_template(template)
    prefix = template[: -len("{response}")]
    return prefix.format(**{name: _field(example, name) for name in used})


def format_example(example: dict, template: str = DEFAULT_TEMPLATE) -> str:
    """The whole training text: prompt, response and :data:`END_OF_RESPONSE`."""
    return format_prompt(example, template) + _field(example, "response") + END_OF_RESPONSE


# ---------------------------------------------------------------------------------------
# Tokens and labels
# ---------------------------------------------------------------------------------------


def encode_example(
    example: dict,
    tokenizer,
    block_size: int,
    template: str = DEFAULT_TEMPLATE,
    truncate: bool = False,
) -> tuple[list[int], list[int]]:
    """Token ids and labels of one example: ``(ids, labels)``, two lists of equal length.

    ``ids`` is ``encode(prompt) + encode(response + END_OF_RESPONSE)``: the two parts are
    encoded separately, so the prompt's tokens are exactly those :func:`generate_response`
    feeds the model. ``labels`` is ``-100`` on the prompt and equals ``ids`` on the response.

    ``len(ids)`` must not exceed ``block_size``: a longer example raises ``ValueError``, or
    with ``truncate=True`` loses prompt tokens from the left (the response is never cut).
    """
    if not isinstance(block_size, int) or block_size < 2:
        raise ValueError(f"block_size must be an integer >= 2, got {block_size!r}.")
    prompt_ids = list(tokenizer.encode(format_prompt(example, template)))
    response = _field(example, "response")
    if not response.strip():
        raise ValueError("The example's response is empty; there would be nothing to learn.")
    response_ids = list(tokenizer.encode(response + END_OF_RESPONSE))
    total = len(prompt_ids) + len(response_ids)
    if total > block_size:
        if not truncate:
            raise ValueError(
                f"The example has {total} tokens ({len(prompt_ids)} prompt + "
                f"{len(response_ids)} response) but block_size is {block_size}. Shorten the "
                "input, or pass truncate=True to drop prompt tokens from the left."
            )
        keep = block_size - len(response_ids)
        if keep < 1:
            raise ValueError(
                f"The response alone has {len(response_ids)} tokens, which leaves no room for "
                f"the prompt in block_size {block_size}; shorten the response."
            )
        prompt_ids = prompt_ids[-keep:]
    ids = prompt_ids + response_ids
    labels = [IGNORE_INDEX] * len(prompt_ids) + response_ids
    return ids, labels


def collate(
    batch: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int
) -> tuple[Tensor, Tensor]:
    """Pad a list of ``(ids, labels)`` on the right into two ``(B, T)`` long tensors.

    ``T`` is the longest sequence in the batch. ``ids`` are padded with ``pad_id`` (any
    valid token id: a causal model never looks ahead, and these positions are not scored),
    ``labels`` with ``-100`` so that the padding adds nothing to the loss.
    """
    if len(batch) == 0:
        raise ValueError("collate got an empty batch; give at least one (ids, labels) pair.")
    T = max(len(ids) for ids, _ in batch)
    ids_out = torch.full((len(batch), T), int(pad_id), dtype=torch.long)
    labels_out = torch.full((len(batch), T), IGNORE_INDEX, dtype=torch.long)
    for b, (ids, labels) in enumerate(batch):
        if len(ids) != len(labels):
            raise ValueError(
                f"Example {b}: ids has {len(ids)} tokens but labels has "
                f"{len(labels)}; they must line up one to one."
            )
        if len(ids) == 0:
            raise ValueError(f"Example {b} has no tokens.")
        ids_out[b, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        labels_out[b, : len(labels)] = torch.as_tensor(labels, dtype=torch.long)
    return ids_out, labels_out


def sft_loss(model, ids: Tensor, labels: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy on the response tokens only (nats per scored token).

    ``ids`` and ``labels`` are ``(B, T)`` as made by :func:`collate`. Position ``t`` of
    ``ids[:, :-1]`` predicts ``labels[:, t + 1]``; positions whose label is ``-100`` are
    skipped. ``reduction="sum"`` returns the total instead of the mean.
    """
    if ids.shape != labels.shape or ids.dim() != 2:
        raise ValueError(
            f"ids and labels must both be (B, T); got {tuple(ids.shape)} and {tuple(labels.shape)}."
        )
    targets = labels[:, 1:]
    if not bool((targets != IGNORE_INDEX).any()):
        raise ValueError(
            "No label in the batch is scored (all are -100): the loss would be "
            "0/0. Check that the examples have responses."
        )
    logits, _ = model(ids[:, :-1])  # (B, T-1, V)
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)),
        targets.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction=reduction,
    )


def _encode_all(
    examples: Sequence[dict], tokenizer, block_size: int, template: str, truncate: bool
) -> list[tuple[list[int], list[int]]]:
    if len(examples) == 0:
        raise ValueError("The dataset is empty: give at least one example.")
    return [encode_example(ex, tokenizer, block_size, template, truncate) for ex in examples]


@torch.no_grad()
def _response_nll(
    model,
    tokenizer,
    examples: Sequence[dict],
    batch_size: int,
    template: str,
    pad_id: int,
    truncate: bool,
) -> tuple[list[float], list[int]]:
    """Summed response negative log-likelihood and response-token count of every example."""
    block_size = model.config.block_size
    encoded = _encode_all(examples, tokenizer, block_size, template, truncate)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sums: list[float] = []
    counts: list[int] = []
    try:
        for i in range(0, len(encoded), batch_size):
            ids, labels = collate(encoded[i : i + batch_size], pad_id)
            ids, labels = ids.to(device), labels.to(device)
            logits, _ = model(ids[:, :-1])  # (B, T-1, V)
            targets = labels[:, 1:]  # (B, T-1)
            nll = F.cross_entropy(
                logits.transpose(1, 2), targets, ignore_index=IGNORE_INDEX, reduction="none"
            )  # (B, T-1), 0 where ignored
            sums += nll.sum(dim=1).tolist()
            counts += (targets != IGNORE_INDEX).sum(dim=1).tolist()
    finally:
        model.train(was_training)
    return sums, counts


def response_loss(
    model,
    tokenizer,
    examples: Sequence[dict],
    batch_size: int = 32,
    template: str = DEFAULT_TEMPLATE,
    pad_id: int = 0,
    truncate: bool = False,
) -> float:
    """Mean cross-entropy over every response token of ``examples`` (nats per token).

    Each response token counts once, wherever it is, so long responses weigh more than short
    ones (as in training).
    """
    sums, counts = _response_nll(model, tokenizer, examples, batch_size, template, pad_id, truncate)
    return sum(sums) / sum(counts)


def response_loss_by_task(
    model,
    tokenizer,
    examples: Sequence[dict],
    batch_size: int = 32,
    template: str = DEFAULT_TEMPLATE,
    pad_id: int = 0,
    truncate: bool = False,
) -> dict[str, float]:
    """:func:`response_loss` for each ``example["task"]`` and for ``"all"``, in one pass."""
    sums, counts = _response_nll(model, tokenizer, examples, batch_size, template, pad_id, truncate)
    totals: dict[str, list[float]] = {}
    for ex, s, c in zip(examples, sums, counts, strict=True):
        for key in (ex.get("task", "all"), "all") if ex.get("task", "all") != "all" else ("all",):
            acc = totals.setdefault(key, [0.0, 0])
            acc[0] += s
            acc[1] += c
    return {task: s / c for task, (s, c) in totals.items()}


# ---------------------------------------------------------------------------------------
# Fine-tuning
# ---------------------------------------------------------------------------------------


@dataclass
class SFTConfig:
    """Settings of :func:`finetune` (small, for a 6M-parameter model on a laptop CPU)."""

    steps: int = 300
    batch_size: int = 16
    lr: float = 3e-4
    min_lr: float = 3e-5
    warmup_steps: int = 20
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    eval_interval: int = 100  # steps between evaluations on eval_examples (0: never)
    seed: int = 0
    pad_id: int = 0
    truncate: bool = False
    dropout: float | None = None  # set every dropout of the model to this (None: keep as is)
    template: str = field(default=DEFAULT_TEMPLATE, repr=False)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"SFTConfig.{name} must be >= 1, got {getattr(self, name)}.")
        check_lr(self.lr)
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"min_lr must be between 0 and lr = {self.lr}, got {self.min_lr}.")
        check_template(self.template)
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"SFTConfig.dropout must be in [0, 1) or None, got {self.dropout}.")


def set_dropout(model, p: float) -> None:
    """Set the dropout probability of every dropout in ``model`` (and its config) to ``p``."""
    from gptlab.attention import MultiHeadAttention

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = p
        elif isinstance(module, MultiHeadAttention):
            module.dropout = p
    if hasattr(model, "config") and hasattr(model.config, "dropout"):
        model.config = dataclasses.replace(model.config, dropout=float(p))


def example_batches(
    encoded: Sequence[tuple[list[int], list[int]]],
    batch_size: int,
    generator: torch.Generator,
    pad_id: int = 0,
) -> Callable[[], tuple[Tensor, Tensor]]:
    """A ``get_batch`` for :func:`gptlab.train.train_loop`: shuffled epochs over ``encoded``
    (pairs from :func:`encode_example`), each batch padded by :func:`collate` to ``(B, T)``.

    Raises:
        ValueError: ``batch_size`` is not positive or larger than the number of examples.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if batch_size > len(encoded):
        raise ValueError(
            f"batch_size {batch_size} is larger than the {len(encoded)} training "
            "examples; use a smaller batch or more examples."
        )
    order: list[int] = []

    def get_batch() -> tuple[Tensor, Tensor]:
        if len(order) < batch_size:  # a new epoch: reshuffle (the tail of the last is dropped)
            order[:] = torch.randperm(len(encoded), generator=generator).tolist()
        rows, order[:batch_size] = order[:batch_size], []
        return collate([encoded[i] for i in rows], pad_id)

    return get_batch


def finetune(
    model,
    tokenizer,
    train_examples: Sequence[dict],
    config: SFTConfig | None = None,
    eval_examples: Sequence[dict] | None = None,
    on_step: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Fine-tune ``model`` in place on ``train_examples`` with the response-only loss, using
    the course's one loop (:func:`gptlab.train.train_loop`), optimizer and schedule.

    Batches come from :func:`example_batches` and the loss is :func:`sft_loss`. With
    ``config.dropout`` set, every dropout of the model is set to it first (it stays so).
    Returns the history: one dict per step (``step``, ``loss``, ``lr``, ``elapsed_s``), with
    ``eval_loss`` (response loss on ``eval_examples``) every ``eval_interval`` steps and at
    the end. ``on_step`` is called with each entry. The model is left in eval mode.
    """
    cfg = config or SFTConfig()
    if cfg.dropout is not None:
        set_dropout(model, cfg.dropout)
    encoded = _encode_all(
        train_examples, tokenizer, model.config.block_size, cfg.template, cfg.truncate
    )
    if eval_examples is not None and len(eval_examples) == 0:
        raise ValueError("eval_examples is empty; pass None to skip evaluation.")
    device = next(model.parameters()).device
    optimizer = configure_optimizer(model, cfg.lr, cfg.weight_decay)
    get_batch = example_batches(
        encoded, cfg.batch_size, torch.Generator().manual_seed(cfg.seed), cfg.pad_id
    )
    start = time.perf_counter()

    def loss_fn(m, batch: tuple[Tensor, Tensor]) -> Tensor:
        return sft_loss(m, batch[0].to(device), batch[1].to(device))

    def eval_fn(m) -> dict[str, float]:
        return {
            "eval_loss": response_loss(
                m,
                tokenizer,
                eval_examples,
                template=cfg.template,
                pad_id=cfg.pad_id,
                truncate=cfg.truncate,
            )
        }

    def timed(record: dict) -> None:
        record["elapsed_s"] = time.perf_counter() - start
        if on_step is not None:
            on_step(record)

    history = train_loop(
        model,
        get_batch,
        loss_fn,
        optimizer,
        lambda s: lr_schedule(s, cfg.lr, cfg.warmup_steps, cfg.steps, cfg.min_lr),
        cfg.steps,
        grad_clip=cfg.grad_clip,
        eval_fn=eval_fn if eval_examples is not None else None,
        eval_every=cfg.eval_interval,
        on_step=timed,
    )
    model.eval()
    return history


# ---------------------------------------------------------------------------------------
# Generation and scoring
# ---------------------------------------------------------------------------------------


def _cut(text: str) -> str:
    """The response part of generated text: up to the end marker, stripped."""
    return text.split(END_OF_RESPONSE, 1)[0].strip()


@torch.no_grad()
def generate_responses(
    model,
    tokenizer,
    examples: Sequence[dict],
    max_new_tokens: int = 32,
    template: str = DEFAULT_TEMPLATE,
    temperature: float = 0.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = 64,
    truncate: bool = True,
    repetition_penalty: float = 1.0,
) -> list[str]:
    """Answer every example (greedy by default); returns the responses as strings.

    Prompts of equal token length are generated together as one batch (no padding needed).
    Each answer is the text before the first :data:`END_OF_RESPONSE` (or all new tokens if
    the model never writes it), stripped. The answer may not run past the context: at most
    ``min(max_new_tokens, block_size - prompt length)`` tokens are generated. A prompt of
    ``block_size`` tokens or more loses tokens from the left (``truncate=True``) or raises.
    ``repetition_penalty`` > 1 makes tokens already in the sequence (prompt included) less
    likely. Decoding is :func:`gptlab.generate.generate`, stopping at the marker's tokens.
    """
    if len(examples) == 0:
        return []
    if repetition_penalty <= 0:
        raise ValueError(
            f"repetition_penalty must be > 0 (1 means none), got {repetition_penalty}."
        )
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}.")
    block_size = model.config.block_size
    prompts: list[list[int]] = []
    for ex in examples:
        ids = list(tokenizer.encode(format_prompt(ex, template)))
        if len(ids) >= block_size:
            if not truncate:
                raise ValueError(
                    f"A prompt has {len(ids)} tokens, which leaves no room for an "
                    f"answer in block_size {block_size}. Pass truncate=True or "
                    "shorten it."
                )
            ids = ids[-(block_size - 1) :]
        prompts.append(ids)
    groups: dict[int, list[int]] = {}
    for i, ids in enumerate(prompts):
        groups.setdefault(len(ids), []).append(i)

    device = next(model.parameters()).device
    stop = [tokenizer.encode(END_OF_RESPONSE)]
    answers: list[str] = [""] * len(examples)
    for length in sorted(groups):
        members = groups[length]
        for s in range(0, len(members), batch_size):
            rows = members[s : s + batch_size]
            idx = torch.tensor([prompts[i] for i in rows], dtype=torch.long, device=device)
            out = generate(
                model,
                idx,
                min(max_new_tokens, block_size - length),
                temperature=temperature,
                top_k=top_k,
                generator=generator,
                repetition_penalty=repetition_penalty,
                stop=stop,
            )
            for i, row in zip(rows, out[:, length:].tolist(), strict=True):
                answers[i] = _cut(tokenizer.decode(row))
    return answers


def generate_response(
    model,
    tokenizer,
    example: dict,
    max_new_tokens: int = 32,
    template: str = DEFAULT_TEMPLATE,
    temperature: float = 0.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    repetition_penalty: float = 1.0,
) -> str:
    """The model's answer to one example (its ``"response"``, if any, is not used).

    Greedy by default; ``temperature > 0`` samples (with ``top_k`` and ``generator`` when
    given) and ``repetition_penalty`` discourages repeating tokens. Stops at
    :data:`END_OF_RESPONSE` and returns the text before it, stripped.
    """
    return generate_responses(
        model,
        tokenizer,
        [example],
        max_new_tokens,
        template,
        temperature,
        top_k,
        generator,
        repetition_penalty=repetition_penalty,
    )[0]


def accuracy_by_task(examples: Sequence[dict], predictions: Sequence[str]) -> dict[str, float]:
    """Exact-match accuracy per ``example["task"]`` (and ``"all"``), in [0, 1]."""
    if len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions.")
    hits: dict[str, list[bool]] = {}
    for ex, pred in zip(examples, predictions, strict=True):
        ok = exact_match(pred, ex["response"])
        hits.setdefault(ex.get("task", "all"), []).append(ok)
        if ex.get("task", "all") != "all":
            hits.setdefault("all", []).append(ok)
    return {task: sum(v) / len(v) for task, v in hits.items()}
