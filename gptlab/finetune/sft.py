"""Supervised fine-tuning (SFT) on instructions: templates, response-only loss, generation.

An example is a dict with ``"instruction"``, ``"input"`` and ``"response"`` (:mod:`gptlab.tasks`);
a template turns it into text and only the response tokens are scored. See chapter 10."""

import dataclasses
import string
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from gptlab.attention import MultiHeadAttention
from gptlab.generate import generate_by_length
from gptlab.metrics import exact_match
from gptlab.train import check_lr, configure_optimizer, lr_schedule, train_loop
from gptlab.utils import check_int, eval_mode, tr

#: Instruction / input / response sections, in the style of Alpaca. ``{response}`` comes last.
DEFAULT_TEMPLATE = (
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n{response}"
)
#: One chat turn, the user's message and the reply (the instruction is not shown).
CHAT_TEMPLATE = "User: {input}\nBot: {response}"
#: Appended to every response (ordinary text, one BPE token); generation stops there.
END_OF_RESPONSE = "\n\n"
#: Label value that ``F.cross_entropy(..., ignore_index=-100)`` skips.
IGNORE_INDEX = -100

_FIELDS = ("instruction", "input", "response")


def check_template(template: str) -> tuple[str, ...]:
    """The example fields ``template`` uses before ``{response}``. A template is a
    ``str.format`` string over ``{instruction}``, ``{input}`` and ``{response}``, which must
    appear once, at the very end; anything else raises ``ValueError``."""
    if not isinstance(template, str):
        raise ValueError(f"A template must be a string, got {type(template).__name__}.")
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        hint = "write literal braces as '{{' and '}}'"
        raise ValueError(f"The template is not a valid format string ({exc}); {hint}.") from exc
    if unknown := [n for n in names if n not in _FIELDS]:
        raise ValueError(f"The template uses unknown field(s) {unknown}; the fields are {_FIELDS}.")
    if names.count("response") != 1 or not template.endswith("{response}"):
        raise ValueError(tr(
            "The template must end with {{response}} and contain it exactly once: it marks where "
            "the prompt ends and the answer goes (it is there {n} times)."
        ).format(n=names.count("response")))  # fmt: skip
    return tuple(n for n in names if n != "response")


def _field(example: dict, name: str) -> str:
    if not isinstance(example, dict) or name not in example:
        raise ValueError(f"An example needs the keys {_FIELDS}; {example!r} has no {name!r}.")
    if not isinstance(example[name], str):
        raise ValueError(f"example[{name!r}] must be a string, got {type(example[name]).__name__}.")
    return example[name]


def format_prompt(example: dict, template: str = DEFAULT_TEMPLATE) -> str:
    """The prompt text: the template filled in, up to and including the response header."""
    used = check_template(template)
    return template[: -len("{response}")].format(**{name: _field(example, name) for name in used})


def format_example(example: dict, template: str = DEFAULT_TEMPLATE) -> str:
    """The whole training text: prompt, response and :data:`END_OF_RESPONSE`."""
    return format_prompt(example, template) + _field(example, "response") + END_OF_RESPONSE


def encode_example(
    example: dict, tokenizer, block_size: int, template: str = DEFAULT_TEMPLATE,
    truncate: bool = False,
) -> tuple[list[int], list[int]]:  # fmt: skip
    """``(ids, labels)``, equal-length lists: ``ids = encode(prompt) + encode(response +
    END_OF_RESPONSE)`` (encoded apart, as :func:`generate_response` sees the prompt), ``labels``
    -100 on the prompt and ``ids`` on the response, not shifted. More than ``block_size``
    tokens raise ValueError, or with ``truncate=True`` lose prompt tokens from the left."""
    check_int(block_size, f"block_size must be an integer >= 2, got {block_size!r}.", minimum=2)
    prompt_ids = list(tokenizer.encode(format_prompt(example, template)))
    response = _field(example, "response")
    if not response.strip():
        raise ValueError("The example's response is empty; there would be nothing to learn.")
    response_ids = list(tokenizer.encode(response + END_OF_RESPONSE))
    if len(prompt_ids) + len(response_ids) > block_size:
        if not truncate:
            raise ValueError(
                f"The example has {len(prompt_ids)} prompt + {len(response_ids)} response tokens "
                f"but block_size is {block_size}. Shorten the input, or pass truncate=True to "
                "drop prompt tokens from the left."
            )
        keep = block_size - len(response_ids)
        if keep < 1:
            raise ValueError(
                f"The response alone has {len(response_ids)} tokens, which leaves no room for "
                f"the prompt in block_size {block_size}; shorten the response."
            )
        prompt_ids = prompt_ids[-keep:]
    return prompt_ids + response_ids, [IGNORE_INDEX] * len(prompt_ids) + response_ids


def collate(
    batch: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int
) -> tuple[Tensor, Tensor]:
    """Pad ``(ids, labels)`` pairs on the right into two ``(B, T)`` long tensors, ``T`` the
    longest: ``ids`` with ``pad_id``, ``labels`` with ``-100`` (padding is not scored)."""
    if len(batch) == 0:
        raise ValueError("collate got an empty batch; give at least one (ids, labels) pair.")
    T = max(len(ids) for ids, _ in batch)
    ids_out = torch.full((len(batch), T), int(pad_id), dtype=torch.long)
    labels_out = torch.full((len(batch), T), IGNORE_INDEX, dtype=torch.long)
    for b, (ids, labels) in enumerate(batch):
        if len(ids) != len(labels) or len(ids) == 0:
            sizes = f"{len(ids)} ids and {len(labels)} labels"
            raise ValueError(f"Example {b} has {sizes}; they must line up one to one, not empty.")
        ids_out[b, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        labels_out[b, : len(labels)] = torch.as_tensor(labels, dtype=torch.long)
    return ids_out, labels_out


def sft_loss(model, ids: Tensor, labels: Tensor, reduction: str = "mean") -> Tensor:
    """Cross-entropy on the response tokens only (nats per scored token). ``ids`` and ``labels``
    are ``(B, T)`` from :func:`collate`; ``ids[:, t]`` predicts ``labels[:, t + 1]``.
    ``reduction="sum"`` returns the total instead of the mean."""
    if ids.shape != labels.shape or ids.dim() != 2:
        shapes = f"{tuple(ids.shape)} and {tuple(labels.shape)}"
        raise ValueError(f"ids and labels must both be (B, T); got {shapes}.")
    targets = labels[:, 1:]
    if not bool((targets != IGNORE_INDEX).any()):
        raise ValueError("All labels are -100 (none is scored): the loss would be 0/0.")
    logits, _ = model(ids[:, :-1])  # (B, T-1, V)
    return F.cross_entropy(
        logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX, reduction=reduction
    )


def _encode_all(examples: Sequence[dict], tokenizer, block_size, template, truncate) -> list:
    if len(examples) == 0:
        raise ValueError("The dataset is empty: give at least one example.")
    return [encode_example(ex, tokenizer, block_size, template, truncate) for ex in examples]


def _by_task(examples: Sequence[dict], values: Iterable) -> dict[str, list]:
    """``values`` grouped by ``example["task"]``, and all of them under ``"all"``."""
    groups: dict[str, list] = {}
    for ex, value in zip(examples, values, strict=True):
        for key in dict.fromkeys((ex.get("task", "all"), "all")):
            groups.setdefault(key, []).append(value)
    return groups


@torch.no_grad()
def response_loss_by_task(
    model, tokenizer, examples: Sequence[dict], batch_size: int = 32,
    template: str = DEFAULT_TEMPLATE, pad_id: int = 0, truncate: bool = False,
) -> dict[str, float]:  # fmt: skip
    """Mean cross-entropy (nats per token) over the response tokens of the examples of each
    ``example["task"]``, and of all examples under ``"all"``, in one pass (eval mode)."""
    encoded = _encode_all(examples, tokenizer, model.config.block_size, template, truncate)
    device = next(model.parameters()).device
    nll: list[tuple[float, int]] = []  # summed loss and response-token count of each example
    with eval_mode(model):
        for i in range(0, len(encoded), batch_size):
            ids, labels = (t.to(device) for t in collate(encoded[i : i + batch_size], pad_id))
            logits, _ = model(ids[:, :-1])  # (B, T-1, V)
            targets = labels[:, 1:]  # (B, T-1)
            losses = F.cross_entropy(
                logits.transpose(1, 2), targets, ignore_index=IGNORE_INDEX, reduction="none"
            )  # (B, T-1), 0 where ignored
            counts = (targets != IGNORE_INDEX).sum(dim=1)
            nll += zip(losses.sum(dim=1).tolist(), counts.tolist(), strict=True)
    groups = _by_task(examples, nll).items()
    return {task: sum(s for s, _ in v) / sum(c for _, c in v) for task, v in groups}


def response_loss(
    model, tokenizer, examples: Sequence[dict], batch_size: int = 32,
    template: str = DEFAULT_TEMPLATE, pad_id: int = 0, truncate: bool = False,
) -> float:  # fmt: skip
    """Mean cross-entropy over every response token of ``examples`` (nats per token)."""
    args = (batch_size, template, pad_id, truncate)
    return response_loss_by_task(model, tokenizer, examples, *args)["all"]


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
            value = getattr(self, name)
            check_int(value, f"SFTConfig.{name} must be an integer >= 1, got {value!r}.")
        check_lr(self.lr)
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"min_lr must be between 0 and lr = {self.lr}, got {self.min_lr}.")
        check_template(self.template)
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"SFTConfig.dropout must be in [0, 1) or None, got {self.dropout}.")


def set_dropout(model, p: float) -> None:
    """Set the dropout probability of every dropout in ``model`` (and its config) to ``p``."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = p
        elif isinstance(module, MultiHeadAttention):
            module.dropout = p
    if hasattr(model, "config") and hasattr(model.config, "dropout"):
        model.config = dataclasses.replace(model.config, dropout=float(p))


def finetune(
    model, tokenizer, train_examples: Sequence[dict], config: SFTConfig | None = None,
    eval_examples: Sequence[dict] | None = None, on_step: Callable[[dict], None] | None = None,
) -> list[dict]:  # fmt: skip
    """Fine-tune ``model`` in place with :func:`sft_loss` and :func:`gptlab.train.train_loop`
    on shuffled passes over the examples. History: a dict per step (``step``, ``loss``, ``lr``,
    ``elapsed_s``), plus ``eval_loss`` on ``eval_examples`` every ``eval_interval`` steps and at
    the end; ``on_step`` gets each. The model is left in eval mode."""
    cfg = config or SFTConfig()
    if cfg.dropout is not None:
        set_dropout(model, cfg.dropout)
    block_size = model.config.block_size
    encoded = _encode_all(train_examples, tokenizer, block_size, cfg.template, cfg.truncate)
    if cfg.batch_size > len(encoded):
        raise ValueError(
            f"batch_size {cfg.batch_size} is larger than the {len(encoded)} training "
            "examples; use a smaller batch or more examples."
        )
    if eval_examples is not None and len(eval_examples) == 0:
        raise ValueError("eval_examples is empty; pass None to skip evaluation.")
    device = next(model.parameters()).device
    optimizer = configure_optimizer(model, cfg.lr, cfg.weight_decay)
    generator = torch.Generator().manual_seed(cfg.seed)
    order: list[int] = []
    start = time.perf_counter()

    def get_batch() -> tuple[Tensor, Tensor]:
        if len(order) < cfg.batch_size:  # a new pass, reshuffled (a partial batch is dropped)
            order[:] = torch.randperm(len(encoded), generator=generator).tolist()
        rows, order[: cfg.batch_size] = order[: cfg.batch_size], []
        ids, labels = collate([encoded[i] for i in rows], cfg.pad_id)
        return ids.to(device), labels.to(device)

    def eval_fn(m) -> dict[str, float]:
        kwargs = dict(template=cfg.template, pad_id=cfg.pad_id, truncate=cfg.truncate)
        return {"eval_loss": response_loss(m, tokenizer, eval_examples, **kwargs)}

    def timed(record: dict) -> None:
        record["elapsed_s"] = time.perf_counter() - start
        if on_step is not None:
            on_step(record)

    history = train_loop(
        model, get_batch, lambda m, batch: sft_loss(m, *batch), optimizer,
        lambda s: lr_schedule(s, cfg.lr, cfg.warmup_steps, cfg.steps, cfg.min_lr), cfg.steps,
        grad_clip=cfg.grad_clip, eval_fn=eval_fn if eval_examples is not None else None,
        eval_every=cfg.eval_interval, on_step=timed,
    )  # fmt: skip
    model.eval()
    return history


def generate_responses(
    model, tokenizer, examples: Sequence[dict], max_new_tokens: int = 32,
    template: str = DEFAULT_TEMPLATE, temperature: float = 0.0, top_k: int | None = None,
    generator: torch.Generator | None = None, batch_size: int = 64, truncate: bool = True,
    repetition_penalty: float = 1.0,
) -> list[str]:  # fmt: skip
    """Every example's answer (greedy by default): the text before :data:`END_OF_RESPONSE`,
    stripped, in at most ``max_new_tokens`` tokens (:func:`gptlab.generate.generate_by_length`).
    A prompt of ``block_size`` tokens or more loses tokens from the left (``truncate=True``) or
    raises."""
    if len(examples) == 0:
        return []
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}.")
    block_size = model.config.block_size
    prompts = [list(tokenizer.encode(format_prompt(ex, template))) for ex in examples]
    if not truncate and max(map(len, prompts)) >= block_size:
        raise ValueError(
            f"A prompt has {max(map(len, prompts))} tokens, which leaves no room for an answer "
            f"in block_size {block_size}. Pass truncate=True or shorten it."
        )
    new_ids = generate_by_length(
        model, [ids[-(block_size - 1) :] for ids in prompts], max_new_tokens, block_size,
        batch_size, temperature=temperature, top_k=top_k, generator=generator,
        repetition_penalty=repetition_penalty, stop=[tokenizer.encode(END_OF_RESPONSE)],
    )  # fmt: skip
    return [tokenizer.decode(ids).split(END_OF_RESPONSE, 1)[0].strip() for ids in new_ids]


def generate_response(
    model, tokenizer, example: dict, max_new_tokens: int = 32, template: str = DEFAULT_TEMPLATE,
    temperature: float = 0.0, top_k: int | None = None, generator: torch.Generator | None = None,
    repetition_penalty: float = 1.0,
) -> str:  # fmt: skip
    """The answer to one example (its ``"response"`` is unused); see :func:`generate_responses`."""
    return generate_responses(
        model, tokenizer, [example], max_new_tokens, template, temperature, top_k, generator,
        repetition_penalty=repetition_penalty,
    )[0]  # fmt: skip


def accuracy_by_task(examples: Sequence[dict], predictions: Sequence[str]) -> dict[str, float]:
    """Exact-match accuracy per ``example["task"]`` (and ``"all"``), in [0, 1]."""
    if len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions.")
    hits = map(exact_match, predictions, (ex["response"] for ex in examples))
    return {task: sum(v) / len(v) for task, v in _by_task(examples, hits).items()}
