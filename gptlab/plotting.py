"""Matplotlib helpers shared by the chapters: titled, labelled figures; each returns its Axes."""

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Patch


def new_axes(
    title: str, xlabel: str, ylabel: str, figsize: tuple[float, float] = (6.4, 4.0), ax=None
):
    """An ``Axes`` with its title and axis labels set (a new figure unless ``ax`` is given)."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
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
        for (i, j), value in np.ndenumerate(data):
            color = "white" if value < data.max() / 2 else "black"
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=color)
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
    """Training and validation loss of a ``gptlab.train`` history (a list of dicts) against
    ``x`` (``"step"`` or ``"tokens"``), in nats per character if both ``*_chars_per_token``
    are given, else per token; ``baseline`` draws a horizontal line in the same unit."""
    per_char = train_chars_per_token is not None and val_chars_per_token is not None
    train_div, val_div = (train_chars_per_token, val_chars_per_token) if per_char else (1.0, 1.0)
    xlabel = "optimizer step" if x == "step" else "training tokens seen"
    ax = new_axes(title, xlabel, f"loss ({'nats/char' if per_char else 'nats/token'})", ax=ax)
    xs = [h[x] for h in history]
    for key, div, name in (("train_loss", train_div, "train"), ("val_loss", val_div, "validation")):
        ax.plot(xs, [h[key] / div for h in history], marker="o", markersize=3, label=name)
    if baseline is not None:
        ax.axhline(baseline, color="gray", linestyle=":", label=baseline_label)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def token_label(text: str) -> str:
    """A token's text made visible on an axis: a newline shows as ``↵``, a space as ``␣`` and
    any other invisible character as its escape code (e.g. ``\\x1b``)."""
    text = text.replace("\n", "↵").replace(" ", "␣")
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def token_bars(
    probs, labels: Sequence[str], title: str, ylabel: str = "probability", highlight=None, ax=None
):
    """Bar chart of next-token probabilities ``(n,)`` labelled ``labels``; ``highlight`` (``n``
    booleans, e.g. the tokens kept by top-k or top-p) draws the others in grey."""
    values = torch.as_tensor(probs).detach().float().cpu().numpy()
    ax = new_axes(title, "candidate next token", ylabel, figsize=(8.0, 3.8), ax=ax)
    positions = list(range(len(values)))
    if highlight is None:
        ax.bar(positions, values, color="tab:blue")
    else:
        kept = [bool(h) for h in torch.as_tensor(highlight).tolist()]
        ax.bar(positions, values, color=["tab:orange" if k else "lightgray" for k in kept])
        kept_patch = Patch(color="tab:orange", label="kept")
        ax.legend(handles=[kept_patch, Patch(color="lightgray", label="removed")])
    ax.set_xticks(positions, labels=list(labels), rotation=90)
    return ax
