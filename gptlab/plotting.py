"""Plotting helpers shared by the chapters (matplotlib only).

Every figure in the book has a title and labelled axes; these helpers keep that
consistent. Each function returns the matplotlib ``Axes`` it drew on.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import torch


def new_axes(title: str, xlabel: str, ylabel: str, figsize: tuple[float, float] = (6.4, 4.0), ax=None):
    """An ``Axes`` with its title and axis labels set (a new figure unless ``ax`` is given)."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def heatmap(matrix: torch.Tensor, title: str, xlabel: str, ylabel: str,
            xticklabels: Sequence[str] | None = None, yticklabels: Sequence[str] | None = None,
            ax=None, cmap: str = "viridis", colorbar: bool = True, annotate: bool = False):
    """Draw a 2-D tensor ``(rows, cols)`` as a heat map, e.g. attention weights ``(T_query, T_key)``."""
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
                ax.text(j, i, f"{data[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if data[i, j] < data.max() / 2 else "black")
    if colorbar:
        ax.figure.colorbar(image, ax=ax)
    return ax
