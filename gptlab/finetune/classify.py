"""Fine-tuning a GPT for classification: is a passage from a comedy, history, tragedy or poem?

Splits are by whole works; :class:`GPTClassifier` reads the last token's hidden state. Shapes:
``N`` passages, ``L`` tokens each, ``B`` batch, ``C`` channels, ``K`` classes. See chapter 09."""

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gptlab import data as gdata
from gptlab.model import GPT, init_weights
from gptlab.train import configure_optimizer, count_trainable, lr_schedule, train_loop
from gptlab.utils import check_int, eval_mode

SPLITS = ("train", "val", "test")
#: What :func:`set_trainable` can unfreeze.
TRAINABLE_MODES = ("head", "last_block", "full")


def split_works(seed: int = 0, val_fraction: float = 0.2) -> dict[str, tuple[str, ...]]:
    """Every work of :data:`gptlab.data.WORKS` in ``"train"``, ``"val"`` or ``"test"`` (sorted
    tuples of slugs). ``test`` is :data:`gptlab.data.VAL_WORKS`; within each genre the other
    works, shuffled by ``(seed, genre)``, give ``max(1, round(val_fraction * n))`` to ``val``
    (none if only one is left) and the rest to ``train``."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}.")
    split: dict[str, list[str]] = {"train": [], "val": [], "test": sorted(gdata.VAL_WORKS)}
    others = [w for w in gdata.WORKS if w.slug not in gdata.VAL_WORKS]
    for genre in gdata.GENRES:
        pool = sorted(w.slug for w in others if w.genre == genre)
        n_val = max(1, round(val_fraction * len(pool))) if len(pool) >= 2 else 0
        random.Random(f"gptlab-classify:{seed}:{genre}").shuffle(pool)  # str seeds are stable
        split["val"] += pool[:n_val]
        split["train"] += pool[n_val:]
    return {name: tuple(sorted(slugs)) for name, slugs in split.items()}


@dataclass
class GenrePassages:
    """Labelled passages from :func:`genre_passages`: ``ids`` ``(N, L)``, ``labels`` ``(N,)``,
    ``works[i]`` the slug of passage ``i``'s work, ``classes[k]`` the name of class ``k``."""

    ids: Tensor
    labels: Tensor
    works: tuple[str, ...]
    classes: tuple[str, ...] = gdata.GENRES

    def __len__(self) -> int:
        return self.ids.size(0)

    def counts(self) -> Tensor:
        """Passages per class, ``(K,)``."""
        return torch.bincount(self.labels, minlength=len(self.classes))


def windows(
    ids: Sequence[int] | Tensor, length: int, max_windows: int | None = None, name: str = "the text"
) -> Tensor:
    """Non-overlapping windows ``(n, length)`` of ``ids``, the tail dropped; with ``max_windows``
    only that many, evenly spaced. ValueError for a bad ``length`` or too short a stream."""
    check_int(length, f"length must be a positive integer, got {length!r}.")
    stream = torch.as_tensor(ids, dtype=torch.long).reshape(-1)
    n = len(stream) // length
    if n == 0:
        what = f"{name} has only {len(stream)} tokens, shorter than the requested passage length"
        raise ValueError(f"{what} {length}; use a smaller length or leave this text out.")
    out = stream[: n * length].view(n, length)
    if max_windows is not None and max_windows < n:
        if max_windows < 1:
            raise ValueError(f"max_windows must be at least 1, got {max_windows}.")
        out = out[torch.linspace(0, n - 1, max_windows).round().long().unique()]
    return out


def genre_passages(
    split: str, tokenizer: Any, length: int = 64, max_per_work: int | None = None, seed: int = 0,
    val_fraction: float = 0.2,
) -> GenrePassages:  # fmt: skip
    """The passages of one split (:func:`split_works`), each work cut into windows of
    ``length`` tokens (at most ``max_per_work`` each, :func:`windows`), labelled with its genre.
    ValueError for an unknown split or a work shorter than ``length`` tokens."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}.")
    corpus, genre = gdata.shakespeare_works(), {w.slug: w.genre for w in gdata.WORKS}
    parts, labels, works = [], [], []
    for slug in split_works(seed, val_fraction)[split]:
        chunk = windows(tokenizer.encode(corpus[slug]), length, max_per_work, name=f"work {slug!r}")
        parts.append(chunk)
        labels.append(torch.full((len(chunk),), gdata.GENRES.index(genre[slug])))
        works += [slug] * len(chunk)
    return GenrePassages(torch.cat(parts), torch.cat(labels), tuple(works))


def _check_labels(labels: Tensor, n_classes: int, classes=None, what: str = "label") -> None:
    if not isinstance(labels, Tensor) or labels.dim() != 1:
        raise ValueError(f"{what}s must be a 1-D tensor of class ids (N,).")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"{what}s must hold integer class ids, got dtype {labels.dtype}.")
    bad = (labels < 0) | (labels >= n_classes)
    if bool(bad.any()):
        names = f" ({', '.join(f'{i}: {c}' for i, c in enumerate(classes))})" if classes else ""
        valid = f"valid class ids are 0..{n_classes - 1}{names}"
        raise ValueError(f"{what} {int(labels[bad][0])} is not in the label set; {valid}.")


def class_weights(labels: Tensor, n_classes: int) -> Tensor:
    """Balanced class weights ``(K,)``, ``w_k = N / (K * n_k)``: every class weighs the same in
    total in the cross-entropy. ValueError for a bad label or a class with no examples."""
    _check_labels(labels, n_classes)
    counts = torch.bincount(labels, minlength=n_classes).double()
    if missing := (counts == 0).nonzero().flatten().tolist():
        raise ValueError(f"class(es) {missing} have no examples, so they cannot be weighted.")
    return (labels.numel() / (n_classes * counts)).float()


def balanced_probabilities(labels: Tensor) -> Tensor:
    """Sampling probabilities ``(N,)`` that draw every present class equally often:
    ``p_i = 1 / (K' * n_{y_i})`` with ``K'`` the number of classes that occur."""
    if labels.numel() == 0:
        raise ValueError("no labels were given (empty dataset).")
    counts = torch.bincount(labels)
    return 1.0 / (int((counts > 0).sum()) * counts[labels].double())


class GPTClassifier(nn.Module):
    """A GPT with a classification head on the last token: ids ``(B, T)`` -> logits ``(B, K)``.
    ``gpt`` is the backbone (its language-model head is unused), ``n_classes`` is ``K >= 2``,
    ``class_weights`` optional ``(K,)`` cross-entropy weights, ``classes`` optional names."""

    def __init__(
        self, gpt: GPT, n_classes: int = len(gdata.GENRES), class_weights: Tensor | None = None,
        classes: Sequence[str] | None = None,
    ):  # fmt: skip
        super().__init__()
        if not isinstance(gpt, GPT):
            raise TypeError(f"GPTClassifier wraps a gptlab.model.GPT, got {type(gpt).__name__}.")
        check_int(n_classes, f"n_classes must be an integer >= 2, got {n_classes!r}.", minimum=2)
        if classes is not None and len(classes) != n_classes:
            raise ValueError(f"{len(classes)} class names were given for {n_classes} classes.")
        self.gpt, self.n_classes = gpt, n_classes
        self.classes = tuple(classes) if classes is not None else None
        self.head = nn.Linear(gpt.config.n_embd, n_classes)
        init_weights(self.head)  # GPT-2's initialisation
        if class_weights is not None:
            class_weights = torch.as_tensor(class_weights, dtype=torch.float32)
            if tuple(class_weights.shape) != (n_classes,) or bool((class_weights < 0).any()):
                got = tuple(class_weights.shape)
                raise ValueError(f"class_weights must be {n_classes} numbers >= 0, not {got}.")
        self.register_buffer("class_weights", class_weights)

    def features(self, idx: Tensor) -> Tensor:
        """The last token's final hidden state (after ``ln_f``): ``(B, T)`` -> ``(B, C)``."""
        return self.gpt.hidden_states(idx)[:, -1, :]

    def forward(self, idx: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Class logits ``(B, K)`` and, with ``labels`` ``(B,)``, the (weighted) cross-entropy."""
        logits = self.head(self.features(idx))
        if labels is None:
            return logits, None
        _check_labels(labels, self.n_classes, self.classes)
        if labels.size(0) != logits.size(0):
            raise ValueError(f"got {labels.size(0)} labels for {logits.size(0)} passages.")
        return logits, F.cross_entropy(logits, labels.long(), weight=self.class_weights)


def set_trainable(classifier: GPTClassifier, mode: str) -> int:
    """Freeze all but what ``mode`` trains; return the number of trainable parameters.
    ``"head"``: the head only (a linear probe); ``"last_block"``: the head, the last block and
    ``ln_f``; ``"full"``: everything."""
    if mode not in TRAINABLE_MODES:
        raise ValueError(f"mode must be one of {', '.join(TRAINABLE_MODES)}, not {mode!r}.")
    classifier.requires_grad_(mode == "full")
    classifier.head.requires_grad_(True)
    if mode == "last_block":
        classifier.gpt.h[-1].requires_grad_(True)
        classifier.gpt.ln_f.requires_grad_(True)
    return count_trainable(classifier)


def _tensors(dataset: Any, what: str) -> tuple[Tensor, Tensor]:
    ids, labels = (dataset.ids, dataset.labels) if isinstance(dataset, GenrePassages) else dataset
    if ids.dim() != 2 or labels.dim() != 1 or ids.size(0) != labels.size(0):
        shapes = f"{tuple(ids.shape)} and {tuple(labels.shape)}"
        raise ValueError(f"the {what} set must be ids (N, L) and labels (N,), got {shapes}.")
    if ids.size(0) == 0:
        raise ValueError(f"the {what} set is empty: there is nothing to use.")
    return ids, labels


@dataclass
class FitResult:
    """What :func:`fit` did: one history entry per step, and the time of the steps alone."""

    history: list[dict[str, float]] = field(default_factory=list)  # step, loss, lr[, val_accuracy]
    train_s: float = 0.0  # wall time of the training steps (evaluation not included)
    steps: int = 0
    trainable: int = 0
    val_accuracy: float | None = None  # on the whole validation set, after training


def fit(
    classifier: GPTClassifier, train: GenrePassages | tuple[Tensor, Tensor],
    val: GenrePassages | tuple[Tensor, Tensor] | None = None, steps: int = 100, lr: float = 1e-3,
    batch_size: int = 32, generator: torch.Generator | None = None, *, balanced: bool = False,
    weight_decay: float = 0.01, warmup: float = 0.1, grad_clip: float = 1.0, eval_every: int = 0,
) -> FitResult:  # fmt: skip
    """Train ``classifier``'s trainable parameters with :func:`gptlab.train.train_loop` on
    ``batch_size`` passages drawn with replacement (every class equally often if ``balanced``);
    the learning rate warms up over the first ``warmup`` fraction of the steps, then follows a
    cosine to 0. With ``val``, ``val_accuracy`` joins the history every ``eval_every`` steps
    and at the end."""
    ids, labels = _tensors(train, "training")
    _check_labels(labels, classifier.n_classes, classifier.classes)
    optimizer = configure_optimizer(classifier, lr, weight_decay)
    n = ids.size(0)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 0 < batch_size <= n:
        what = f"a positive integer, not larger than the {n} passages of the training set"
        raise ValueError(f"batch_size must be {what}; got {batch_size!r}.")
    probs = balanced_probabilities(labels) if balanced else None
    device = next(classifier.parameters()).device
    n_warm = max(1, math.ceil(warmup * steps))
    val_ids, val_labels = _tensors(val, "validation") if val is not None else (None, None)
    eval_s = 0.0

    def get_batch() -> tuple[Tensor, Tensor]:  # ids (B, L), labels (B,)
        if probs is None:
            rows = torch.randint(n, (batch_size,), generator=generator)
        else:
            rows = torch.multinomial(probs, batch_size, replacement=True, generator=generator)
        return ids[rows].to(device), labels[rows].to(device)

    def eval_fn(_: nn.Module) -> dict[str, float]:
        nonlocal eval_s
        start = time.perf_counter()
        acc = accuracy(predict(classifier, val_ids), val_labels)
        eval_s += time.perf_counter() - start
        return {"val_accuracy": acc}

    start = time.perf_counter()
    history = train_loop(
        classifier, get_batch, lambda m, batch: m(*batch)[1], optimizer,
        lambda s: lr_schedule(s, lr, n_warm, steps), steps, grad_clip=grad_clip,
        eval_fn=eval_fn if val is not None else None, eval_every=eval_every,
    )  # fmt: skip
    classifier.eval()
    train_s = time.perf_counter() - start - eval_s
    trainable = count_trainable(classifier)
    return FitResult(history, train_s, steps, trainable, history[-1].get("val_accuracy"))


@torch.no_grad()
def predict(classifier: GPTClassifier, ids: Tensor, batch_size: int = 128) -> Tensor:
    """Predicted class ids ``(N,)`` for passages ``ids`` ``(N, L)`` (eval mode, no gradients)."""
    if ids.size(0) == 0:
        raise ValueError("no passages to predict (empty dataset).")
    device = next(classifier.parameters()).device
    with eval_mode(classifier):
        batches = (ids[i : i + batch_size].to(device) for i in range(0, ids.size(0), batch_size))
        return torch.cat([classifier(x)[0].argmax(-1).cpu() for x in batches])


def _check_pair(preds: Tensor, labels: Tensor) -> None:
    if preds.shape != labels.shape or preds.dim() != 1:
        shapes = f"{tuple(preds.shape)} and {tuple(labels.shape)}"
        raise ValueError(f"preds and labels must both be (N,), got {shapes}.")
    if preds.numel() == 0:
        raise ValueError("no predictions (empty dataset): accuracy is undefined.")


def accuracy(preds: Tensor, labels: Tensor) -> float:
    """Fraction of ``preds`` ``(N,)`` equal to ``labels`` ``(N,)``."""
    _check_pair(preds, labels)
    return (preds == labels).double().mean().item()


def confusion_matrix(preds: Tensor, labels: Tensor, n: int) -> Tensor:
    """Counts ``(n, n)``: ``[i, j]`` passages of true class ``i`` predicted as ``j``."""
    _check_pair(preds, labels)
    _check_labels(labels, n)
    _check_labels(preds, n, what="prediction")
    return torch.bincount(labels.long() * n + preds.long(), minlength=n * n).view(n, n)


def majority_baseline(labels: Tensor, train_labels: Tensor | None = None) -> float:
    """Accuracy on ``labels`` of always predicting the most frequent class of
    ``train_labels`` (or of ``labels`` itself when None)."""
    if labels.numel() == 0:
        raise ValueError("no labels were given (empty dataset).")
    source = labels if train_labels is None else train_labels
    return (labels == int(torch.bincount(source).argmax())).double().mean().item()
