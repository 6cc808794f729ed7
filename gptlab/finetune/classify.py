"""Fine-tuning a GPT for classification: which kind of work does a passage come from?

The task (chapter 09): given a passage of ``L`` tokens of Shakespeare, say whether it comes
from a comedy, a history, a tragedy or a poem. The labels come from our own table
:data:`gptlab.data.WORKS`; the classes are :data:`gptlab.data.GENRES`, in that order.

Splits are made by *whole works*, so no work (and no line of it) is in two splits:

- ``test``: the works in :data:`gptlab.data.VAL_WORKS` (one of each genre), which were also
  held out from pretraining, so the pretrained model has never read them;
- ``val`` and ``train``: the remaining works, split by work within each genre by
  :func:`split_works` (deterministic: a seeded draw, about a fifth of each genre's works for
  validation, at least one when the genre has two or more works).

The model, :class:`GPTClassifier`, reads a passage with a :class:`gptlab.model.GPT`, takes the
final hidden state of the *last* token (after the final LayerNorm ``ln_f``), the only position
whose causal attention has seen the whole passage, and maps it with one linear layer to class
logits. :func:`set_trainable` chooses what fine-tuning may change (the head, the last block
and the head, or everything) and :func:`fit` trains it.

Shape letters: ``N`` passages, ``L`` passage length in tokens (``T`` inside the model), ``B``
batch, ``C`` channels (``n_embd``), ``K`` classes.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gptlab import data as gdata
from gptlab.model import GPT

__all__ = [
    "GenrePassages",
    "GPTClassifier",
    "FitResult",
    "TRAINABLE_MODES",
    "split_works",
    "windows",
    "label_ids",
    "make_passages",
    "genre_passages",
    "class_weights",
    "balanced_probabilities",
    "set_trainable",
    "count_trainable",
    "fit",
    "predict",
    "accuracy",
    "confusion_matrix",
    "majority_baseline",
]

SPLITS: tuple[str, ...] = ("train", "val", "test")

#: What :func:`set_trainable` can unfreeze.
TRAINABLE_MODES: tuple[str, ...] = ("head", "last_block", "full")


class _Encoder(Protocol):
    def encode(self, text: str) -> list[int]: ...


# ---------------------------------------------------------------------------------------------
# Splitting by works
# ---------------------------------------------------------------------------------------------


def split_works(seed: int = 0, val_fraction: float = 0.2) -> dict[str, tuple[str, ...]]:
    """Assign every work of :data:`gptlab.data.WORKS` to exactly one of train, val and test.

    ``test`` is :data:`gptlab.data.VAL_WORKS` (held out from pretraining too). The other works
    are split *within each genre*: their slugs, sorted, are shuffled by a generator seeded with
    ``(seed, genre)``, and the first ``max(1, round(val_fraction * n))`` go to ``val`` (none when
    the genre has a single remaining work), the rest to ``train``. So each genre with at least
    two remaining works appears in both train and val, and the result depends only on ``seed``.

    Returns:
        ``{"train": slugs, "val": slugs, "test": slugs}``, each a sorted tuple.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}.")
    split: dict[str, list[str]] = {"train": [], "val": [], "test": sorted(gdata.VAL_WORKS)}
    for genre in gdata.GENRES:
        pool = sorted(w.slug for w in gdata.WORKS if w.genre == genre and w.slug not in gdata.VAL_WORKS)
        n_val = max(1, round(val_fraction * len(pool))) if len(pool) >= 2 else 0
        rng = random.Random(f"gptlab-classify:{seed}:{genre}")  # str seeds are stable across runs
        shuffled = pool[:]
        rng.shuffle(shuffled)
        split["val"] += shuffled[:n_val]
        split["train"] += shuffled[n_val:]
    return {name: tuple(sorted(slugs)) for name, slugs in split.items()}


# ---------------------------------------------------------------------------------------------
# Passages and labels
# ---------------------------------------------------------------------------------------------


@dataclass
class GenrePassages:
    """Labelled passages: ``ids`` ``(N, L)`` token ids, ``labels`` ``(N,)`` class ids.

    ``works[i]`` is the slug of the work that passage ``i`` comes from and ``classes[k]`` the
    name of class ``k``.
    """

    ids: Tensor  # (N, L) int64
    labels: Tensor  # (N,) int64 in [0, K)
    works: tuple[str, ...]
    classes: tuple[str, ...] = gdata.GENRES

    def __post_init__(self) -> None:
        if self.ids.dim() != 2:
            raise ValueError(f"ids must have shape (N, L), got {tuple(self.ids.shape)}.")
        n = self.ids.size(0)
        if tuple(self.labels.shape) != (n,) or len(self.works) != n:
            raise ValueError(
                f"ids {tuple(self.ids.shape)}, labels {tuple(self.labels.shape)} and "
                f"{len(self.works)} work names must describe the same N passages."
            )

    def __len__(self) -> int:
        return self.ids.size(0)

    @property
    def length(self) -> int:
        """Tokens per passage ``L``."""
        return self.ids.size(1)

    def counts(self) -> Tensor:
        """Passages per class, ``(K,)``."""
        return torch.bincount(self.labels, minlength=len(self.classes))


def windows(ids: Sequence[int] | Tensor, length: int, max_windows: int | None = None,
            name: str = "the text") -> Tensor:
    """Cut a token stream into non-overlapping windows of ``length`` tokens: ``(n, length)``.

    The tail that does not fill a window is dropped. With ``max_windows``, only that many
    windows are kept, evenly spaced over the stream (always the same ones).

    Raises:
        ValueError: ``length`` is not a positive integer, or the stream is shorter than one
            window (the message names ``name``).
    """
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"length must be a positive integer, got {length!r}.")
    stream = torch.as_tensor(ids, dtype=torch.long).reshape(-1)
    n = len(stream) // length
    if n == 0:
        raise ValueError(
            f"{name} has only {len(stream)} tokens, shorter than the requested passage length "
            f"{length}; use a smaller length or leave this text out."
        )
    out = stream[: n * length].view(n, length)  # (n, L)
    if max_windows is not None:
        if max_windows < 1:
            raise ValueError(f"max_windows must be at least 1, got {max_windows}.")
        if max_windows < n:
            keep = torch.linspace(0, n - 1, max_windows).round().long().unique()
            out = out[keep]
    return out


def label_ids(names: Sequence[str], classes: Sequence[str] = gdata.GENRES) -> Tensor:
    """Class names -> class ids ``(N,)``: the position of each name in ``classes``.

    Raises:
        ValueError: a name is not in ``classes`` (the message names it and the valid set).
    """
    index = {c: i for i, c in enumerate(classes)}
    out = []
    for name in names:
        if name not in index:
            raise ValueError(f"label {name!r} is not in the label set; valid labels are "
                             f"{', '.join(repr(c) for c in classes)}.")
        out.append(index[name])
    return torch.tensor(out, dtype=torch.long)


def make_passages(texts: Mapping[str, str], labels: Mapping[str, str], tokenizer: _Encoder,
                  length: int = 64, max_per_work: int | None = None,
                  classes: Sequence[str] = gdata.GENRES) -> GenrePassages:
    """Tokenize each text and cut it into labelled passages of ``length`` tokens.

    Args:
        texts: name -> text (for example a work's slug -> its text).
        labels: name -> class name, for every name in ``texts``.
        tokenizer: anything with ``encode(str) -> list[int]``.
        length: tokens per passage ``L``.
        max_per_work: keep at most this many passages per text, evenly spaced (``None``: all).
        classes: the label set, in class-id order.

    Returns:
        :class:`GenrePassages` with ``ids`` ``(N, L)`` and ``labels`` ``(N,)``, texts in the
        order of ``texts``.

    Raises:
        ValueError: no texts; a text without a label, or with a label not in ``classes``; a
            text shorter than ``length`` tokens.
    """
    if not texts:
        raise ValueError("no texts were given, so there are no passages to build (empty dataset).")
    parts, ys, works = [], [], []
    for name, text in texts.items():
        if name not in labels:
            raise ValueError(f"text {name!r} has no label; give one of {', '.join(classes)}.")
        y = int(label_ids([labels[name]], classes)[0])
        chunk = windows(tokenizer.encode(text), length, max_per_work, name=f"text {name!r}")
        parts.append(chunk)
        ys.append(torch.full((len(chunk),), y, dtype=torch.long))
        works += [name] * len(chunk)
    return GenrePassages(torch.cat(parts), torch.cat(ys), tuple(works), tuple(classes))


def genre_passages(split: str, tokenizer: _Encoder, length: int = 64,
                   max_per_work: int | None = None, seed: int = 0,
                   val_fraction: float = 0.2) -> GenrePassages:
    """The passages of one split of the genre task (see :func:`split_works`).

    Every work of the split is tokenized with ``tokenizer`` and cut into non-overlapping
    windows of ``length`` tokens (at most ``max_per_work`` per work, evenly spaced), labelled
    with the work's genre from :data:`gptlab.data.WORKS`.

    Returns:
        :class:`GenrePassages`: ``ids`` ``(N, L)``, ``labels`` ``(N,)`` in
        ``range(len(GENRES))``, ``works`` the slug of each passage.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}.")
    slugs = split_works(seed, val_fraction)[split]
    corpus = gdata.shakespeare_works()
    genre = {w.slug: w.genre for w in gdata.WORKS}
    return make_passages({s: corpus[s] for s in slugs}, genre, tokenizer, length, max_per_work)


# ---------------------------------------------------------------------------------------------
# Class imbalance
# ---------------------------------------------------------------------------------------------


def _check_labels(labels: Tensor, n_classes: int, classes: Sequence[str] | None = None) -> None:
    if not isinstance(labels, Tensor) or labels.dim() != 1:
        raise ValueError("labels must be a 1-D tensor of class ids (N,).")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"labels must hold integer class ids, got dtype {labels.dtype}.")
    bad = (labels < 0) | (labels >= n_classes)
    if bool(bad.any()):
        names = f" ({', '.join(f'{i}: {c}' for i, c in enumerate(classes))})" if classes else ""
        raise ValueError(f"label {int(labels[bad][0])} is not in the label set; valid class ids "
                         f"are 0..{n_classes - 1}{names}.")


def class_weights(labels: Tensor, n_classes: int) -> Tensor:
    """Balanced class weights ``(K,)``: ``w_k = N / (K * n_k)``.

    With these weights in the cross-entropy every class contributes the same total weight,
    however rare it is (a class with half the examples counts twice per example).

    Raises:
        ValueError: no labels, a label outside ``0..K-1``, or a class with no examples.
    """
    if labels.numel() == 0:
        raise ValueError("no labels were given (empty dataset).")
    _check_labels(labels, n_classes)
    counts = torch.bincount(labels, minlength=n_classes).double()
    if bool((counts == 0).any()):
        missing = [i for i in range(n_classes) if counts[i] == 0]
        raise ValueError(f"class(es) {missing} have no examples, so they cannot be weighted.")
    return (labels.numel() / (n_classes * counts)).float()


def balanced_probabilities(labels: Tensor) -> Tensor:
    """Sampling probabilities ``(N,)`` that draw every present class equally often.

    ``p_i = 1 / (K' * n_{y_i})`` with ``K'`` the number of classes that occur: each class gets
    total probability ``1 / K'``, shared evenly among its examples.
    """
    if labels.numel() == 0:
        raise ValueError("no labels were given (empty dataset).")
    counts = torch.bincount(labels)
    present = int((counts > 0).sum())
    return 1.0 / (present * counts[labels].double())


# ---------------------------------------------------------------------------------------------
# The classifier
# ---------------------------------------------------------------------------------------------


class GPTClassifier(nn.Module):
    """A GPT with a classification head on the last token: ids ``(B, T)`` -> logits ``(B, K)``.

    The GPT runs as usual up to its final LayerNorm; the hidden state of the last position,
    ``(B, C)``, goes through ``head`` (``nn.Linear(C, K)``). The language-model output layer
    ``lm_head`` is not used.

    Args:
        gpt: the backbone (pretrained or freshly initialised); it becomes ``self.gpt``.
        n_classes: number of classes ``K``.
        class_weights: optional ``(K,)`` weights for the cross-entropy (see :func:`class_weights`).
        classes: optional class names, used in error messages and by the notebook.
    """

    def __init__(self, gpt: GPT, n_classes: int = len(gdata.GENRES),
                 class_weights: Tensor | None = None, classes: Sequence[str] | None = None) -> None:
        super().__init__()
        if not isinstance(gpt, GPT):
            raise TypeError(f"GPTClassifier wraps a gptlab.model.GPT, got {type(gpt).__name__}.")
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}.")
        if classes is not None and len(classes) != n_classes:
            raise ValueError(f"{len(classes)} class names were given for {n_classes} classes.")
        self.gpt = gpt
        self.n_classes = n_classes
        self.classes = tuple(classes) if classes is not None else None
        self.head = nn.Linear(gpt.config.n_embd, n_classes)
        nn.init.normal_(self.head.weight, mean=0.0, std=0.02)  # GPT-2's initialisation
        nn.init.zeros_(self.head.bias)
        if class_weights is not None:
            class_weights = torch.as_tensor(class_weights, dtype=torch.float32)
            if tuple(class_weights.shape) != (n_classes,) or bool((class_weights < 0).any()):
                raise ValueError(f"class_weights must be {n_classes} non-negative numbers, got "
                                 f"shape {tuple(class_weights.shape)}.")
        self.register_buffer("class_weights", class_weights)

    def features(self, idx: Tensor) -> Tensor:
        """The last token's final hidden state: ids ``(B, T)`` -> ``(B, C)``.

        Same computation as :meth:`GPT.forward` up to ``ln_f``; LayerNorm acts on each
        position separately, so applying ``ln_f`` to the last position only is exact.
        """
        gpt = self.gpt
        idx = gpt._check_idx(idx, 0)  # (B, T), with GPT's clear errors (length, id range)
        pos = torch.arange(idx.size(1), device=idx.device)  # (T,)
        x = gpt.drop(gpt.wte(idx) + gpt.wpe(pos))  # (B, T, C)
        for block in gpt.h:
            x = block(x)  # (B, T, C)
        return gpt.ln_f(x[:, -1, :])  # (B, C)

    def forward(self, idx: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Class logits ``(B, K)`` and, with ``labels`` ``(B,)``, the (weighted) cross-entropy.

        Raises:
            ValueError: labels of the wrong shape or type, or a label outside ``0..K-1``.
        """
        logits = self.head(self.features(idx))  # (B, C) -> (B, K)
        loss = None
        if labels is not None:
            _check_labels(labels, self.n_classes, self.classes)
            if labels.size(0) != logits.size(0):
                raise ValueError(f"got {labels.size(0)} labels for {logits.size(0)} passages.")
            loss = F.cross_entropy(logits, labels.long(), weight=self.class_weights)
        return logits, loss


# ---------------------------------------------------------------------------------------------
# What to train
# ---------------------------------------------------------------------------------------------


def set_trainable(classifier: GPTClassifier, mode: str) -> int:
    """Freeze or unfreeze parameters for a fine-tuning mode; return how many are trainable.

    - ``"head"``: only ``head`` (a linear probe on frozen features);
    - ``"last_block"``: ``head``, the last transformer block ``gpt.h[-1]`` and the final
      LayerNorm ``gpt.ln_f`` that follows it;
    - ``"full"``: every parameter (the embeddings too).
    """
    if mode not in TRAINABLE_MODES:
        raise ValueError(f"mode must be one of {', '.join(TRAINABLE_MODES)}, not {mode!r}.")
    for p in classifier.parameters():
        p.requires_grad_(mode == "full")
    train_now: list[nn.Module] = [classifier.head]
    if mode == "last_block":
        train_now += [classifier.gpt.h[-1], classifier.gpt.ln_f]
    for module in train_now:
        for p in module.parameters():
            p.requires_grad_(True)
    return count_trainable(classifier)


def count_trainable(module: nn.Module) -> int:
    """Number of parameters with ``requires_grad`` (tied matrices counted once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# ---------------------------------------------------------------------------------------------
# Training and evaluation
# ---------------------------------------------------------------------------------------------


@dataclass
class FitResult:
    """What :func:`fit` did: a history of losses and the time the training steps took."""

    history: list[dict[str, float]] = field(default_factory=list)  # step, loss, lr[, val_accuracy]
    train_s: float = 0.0  # wall time of the training steps (evaluation not included)
    steps: int = 0
    trainable: int = 0  # trainable parameters
    val_accuracy: float | None = None  # on the whole validation set, after training


def _tensors(dataset: Any, what: str) -> tuple[Tensor, Tensor]:
    if isinstance(dataset, GenrePassages):
        ids, labels = dataset.ids, dataset.labels
    else:
        ids, labels = dataset
    if ids.dim() != 2 or labels.dim() != 1 or ids.size(0) != labels.size(0):
        raise ValueError(f"the {what} set must be ids (N, L) and labels (N,), got "
                         f"{tuple(ids.shape)} and {tuple(labels.shape)}.")
    if ids.size(0) == 0:
        raise ValueError(f"the {what} set is empty: there is nothing to "
                         f"{'train on' if what == 'training' else 'evaluate'}.")
    return ids, labels


@torch.no_grad()
def predict(classifier: GPTClassifier, ids: Tensor, batch_size: int = 128) -> Tensor:
    """Predicted class ids ``(N,)`` for passages ``ids`` ``(N, L)`` (eval mode, no gradients)."""
    if ids.size(0) == 0:
        raise ValueError("no passages to predict (empty dataset).")
    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    out = [classifier(ids[i : i + batch_size].to(device))[0].argmax(-1).cpu()
           for i in range(0, ids.size(0), batch_size)]
    classifier.train(was_training)
    return torch.cat(out)


def fit(classifier: GPTClassifier, train: GenrePassages | tuple[Tensor, Tensor],
        val: GenrePassages | tuple[Tensor, Tensor] | None = None, steps: int = 100,
        lr: float = 1e-3, batch_size: int = 32, generator: torch.Generator | None = None, *,
        balanced: bool = False, weight_decay: float = 0.01, warmup: float = 0.1,
        grad_clip: float | None = 1.0, eval_every: int = 0) -> FitResult:
    """Train the trainable parameters of ``classifier`` for ``steps`` AdamW steps.

    Each step draws ``batch_size`` passages at random from ``train`` with ``generator`` —
    uniformly, or with ``balanced=True`` so that every class is drawn equally often
    (:func:`balanced_probabilities`). The learning rate rises linearly over the first
    ``warmup`` fraction of the steps and then falls linearly to zero. Weight decay applies to
    matrices only. Freeze parameters first with :func:`set_trainable`.

    Returns:
        :class:`FitResult`: ``history`` has one entry per step (``step``, ``loss``, ``lr``, and
        ``val_accuracy`` every ``eval_every`` steps), ``train_s`` the wall time of the steps
        alone, ``val_accuracy`` the accuracy on all of ``val`` at the end.
    """
    ids, labels = _tensors(train, "training")
    _check_labels(labels, classifier.n_classes, classifier.classes)
    if val is not None:
        val_ids, val_labels = _tensors(val, "validation")
    if steps < 1 or batch_size < 1 or lr <= 0:
        raise ValueError("steps and batch_size must be at least 1 and lr positive.")
    params = [p for p in classifier.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the classifier has no trainable parameters; call set_trainable first.")
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=lr)
    n_warm = max(1, math.ceil(warmup * steps))

    def lr_factor(step: int) -> float:  # linear warmup, then linear decay to 0
        if step < n_warm:
            return (step + 1) / n_warm
        return max(0.0, (steps - step) / max(1, steps - n_warm))

    probs = balanced_probabilities(labels) if balanced else None
    device = next(classifier.parameters()).device
    result = FitResult(steps=steps, trainable=count_trainable(classifier))
    classifier.train()
    elapsed = 0.0
    for step in range(steps):
        start = time.perf_counter()
        if probs is None:
            rows = torch.randint(ids.size(0), (batch_size,), generator=generator)
        else:
            rows = torch.multinomial(probs, batch_size, replacement=True, generator=generator)
        lr_now = lr * lr_factor(step)
        for group in optimizer.param_groups:
            group["lr"] = lr_now
        _, loss = classifier(ids[rows].to(device), labels[rows].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        elapsed += time.perf_counter() - start
        entry = {"step": step + 1, "loss": loss.item(), "lr": lr_now}
        if val is not None and eval_every and (step + 1) % eval_every == 0 and step + 1 < steps:
            entry["val_accuracy"] = accuracy(predict(classifier, val_ids), val_labels)
            classifier.train()
        result.history.append(entry)
    result.train_s = elapsed
    classifier.eval()
    if val is not None:
        result.val_accuracy = accuracy(predict(classifier, val_ids), val_labels)
        result.history[-1]["val_accuracy"] = result.val_accuracy
    return result


def _check_pair(preds: Tensor, labels: Tensor) -> None:
    if preds.shape != labels.shape or preds.dim() != 1:
        raise ValueError(f"preds and labels must both be (N,), got {tuple(preds.shape)} and "
                         f"{tuple(labels.shape)}.")
    if preds.numel() == 0:
        raise ValueError("no predictions (empty dataset): accuracy is undefined.")


def accuracy(preds: Tensor, labels: Tensor) -> float:
    """Fraction of ``preds`` ``(N,)`` equal to ``labels`` ``(N,)``."""
    _check_pair(preds, labels)
    return (preds == labels).double().mean().item()


def confusion_matrix(preds: Tensor, labels: Tensor, n: int) -> Tensor:
    """Counts ``(n, n)``: entry ``[i, j]`` is how many passages of true class ``i`` were
    predicted as class ``j`` (rows: truth, columns: prediction; the diagonal is correct)."""
    _check_pair(preds, labels)
    for what, t in (("label", labels), ("prediction", preds)):
        bad = (t < 0) | (t >= n)
        if bool(bad.any()):
            raise ValueError(f"{what} {int(t[bad][0])} is not in the label set 0..{n - 1}.")
    flat = labels.long() * n + preds.long()  # (N,) index of the cell in the flattened matrix
    return torch.bincount(flat, minlength=n * n).view(n, n)


def majority_baseline(labels: Tensor, train_labels: Tensor | None = None) -> float:
    """Accuracy on ``labels`` of always predicting one class: the most frequent class of
    ``train_labels`` (what a model could learn without reading), or of ``labels`` itself
    when ``train_labels`` is None (the best constant guess, the usual "majority baseline")."""
    if labels.numel() == 0:
        raise ValueError("no labels were given (empty dataset).")
    source = labels if train_labels is None else train_labels
    majority = int(torch.bincount(source).argmax())
    return (labels == majority).double().mean().item()
