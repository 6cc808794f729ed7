"""Plotting helpers shared by the chapters (matplotlib): every figure gets a title and
labelled axes. Each function returns the ``Axes`` it drew on."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch


def new_axes(
    title: str, xlabel: str, ylabel: str, figsize: tuple[float, float] = (6.4, 4.0), ax=None
):
    """An ``Axes`` with its title and axis labels set (a new figure unless ``ax`` is given)."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def heatmap(
    matrix: torch.Tensor,
    title: str,
    xlabel: str,
    ylabel: str,
    xticklabels: Sequence[str] | None = None,
    yticklabels: Sequence[str] | None = None,
    ax=None,
    cmap: str = "viridis",
    annotate: bool = False,
):
    """A 2-D tensor ``(rows, cols)`` as a heat map, e.g. attention weights ``(T_q, T_k)``."""
    data = matrix.detach().float().cpu().numpy()
    ax = new_axes(title, xlabel, ylabel, figsize=(5.2, 4.4), ax=ax)
    image = ax.imshow(data, cmap=cmap, aspect="auto")
    if xticklabels is not None:
        ax.set_xticks(range(len(xticklabels)), labels=list(xticklabels), rotation=90)
    if yticklabels is not None:
        ax.set_yticks(range(len(yticklabels)), labels=list(yticklabels))
    if annotate:
        for i in range(data.shape[0]):
            for j in range(data.shape[1]):
                color = "white" if data[i, j] < data.max() / 2 else "black"
                ax.text(
                    j, i, f"{data[i, j]:.2f}", ha="center", va="center", fontsize=7, color=color
                )
    ax.figure.colorbar(image, ax=ax)
    return ax


def plot_loss_curves(
    history,
    train_chars_per_token: float | None = None,
    val_chars_per_token: float | None = None,
    baseline: float | None = None,
    baseline_label: str = "bigram baseline",
    title: str = "Loss during training",
    x: str = "step",
    ax=None,
):
    """Training and validation loss from a ``gptlab.train`` history (a list of dicts).

    With ``train_chars_per_token`` and ``val_chars_per_token`` the losses are divided by them
    and shown in nats per character; otherwise in nats per token. ``x`` is ``"step"`` or
    ``"tokens"``; ``baseline`` draws a horizontal line (in the same unit).
    """
    per_char = train_chars_per_token is not None and val_chars_per_token is not None
    unit = "nats/char" if per_char else "nats/token"
    xs = [h[x] for h in history]
    train = [h["train_loss"] / (train_chars_per_token if per_char else 1.0) for h in history]
    val = [h["val_loss"] / (val_chars_per_token if per_char else 1.0) for h in history]
    ax = new_axes(
        title, "optimizer step" if x == "step" else "training tokens seen", f"loss ({unit})", ax=ax
    )
    ax.plot(xs, train, marker="o", markersize=3, label="train")
    ax.plot(xs, val, marker="o", markersize=3, label="validation")
    if baseline is not None:
        ax.axhline(baseline, color="gray", linestyle=":", label=baseline_label)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_lr_schedule(cfg, title: str = "Learning rate: linear warmup, then cosine decay", ax=None):
    """The learning rate of every optimizer step of a ``gptlab.train.TrainConfig`` run."""
    from gptlab.train import lr_schedule

    steps = list(range(cfg.max_steps))
    ax = new_axes(title, "optimizer step", "learning rate", ax=ax)
    ax.plot(
        steps, [lr_schedule(s, cfg.lr, cfg.warmup_steps, cfg.max_steps, cfg.min_lr) for s in steps]
    )
    warmup = f"end of warmup (step {cfg.warmup_steps})"
    ax.axvline(cfg.warmup_steps, color="gray", linestyle=":", label=warmup)
    ax.axhline(
        cfg.min_lr, color="gray", linestyle="--", linewidth=0.8, label=f"min_lr = {cfg.min_lr:g}"
    )
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def token_label(text: str) -> str:
    """A token's text made visible on an axis: a newline shows as ``↵``, a space as ``␣`` and
    any other invisible character as its escape code (e.g. ``\\x1b``)."""
    text = text.replace("\n", "↵").replace(" ", "␣")
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def token_bars(
    probs,
    labels: Sequence[str],
    title: str,
    ylabel: str = "probability",
    highlight=None,
    ax=None,
):
    """Bar chart of next-token probabilities ``(n,)``, one bar per token labelled ``labels[i]``.

    ``highlight`` (``n`` booleans, e.g. the tokens kept by top-k or top-p) draws those bars in
    colour and the others in grey, with a legend.
    """
    values = torch.as_tensor(probs).detach().float().cpu().numpy()
    ax = new_axes(title, "candidate next token", ylabel, figsize=(8.0, 3.8), ax=ax)
    positions = list(range(len(values)))
    if highlight is None:
        ax.bar(positions, values, color="tab:blue")
    else:
        from matplotlib.patches import Patch

        kept = [bool(h) for h in torch.as_tensor(highlight).tolist()]
        ax.bar(positions, values, color=["tab:orange" if k else "lightgray" for k in kept])
        legend = [
            Patch(color="tab:orange", label="kept"),
            Patch(color="lightgray", label="removed"),
        ]
        ax.legend(handles=legend)
    ax.set_xticks(positions, labels=list(labels), rotation=90)
    return ax
