"""Self-checking exercises of chapter 09 (fine-tuning for classification).

In the notebook::

    from gptlab.exercises import ch09
    ch09.last_token_features.check(last_token_features)
    ch09.confusion.check(my_confusion_matrix)
    ch09.balanced_accuracy.check(balanced_accuracy)
"""

from __future__ import annotations

import math

from gptlab.exercises import Exercise, Incorrect

__all__ = ["last_token_features", "confusion", "balanced_accuracy"]


def _tensor(value, what: str):
    import torch

    if not isinstance(value, torch.Tensor):
        raise Incorrect(f"{what} should return a torch.Tensor, got {type(value).__name__}.")
    return value


# --------------------------------------------------------------------------------------------
# (a) the last token's final hidden state
# --------------------------------------------------------------------------------------------


def _ref_last_token_features(gpt, idx):
    import torch

    pos = torch.arange(idx.size(1))  # (T,)
    x = gpt.drop(gpt.wte(idx) + gpt.wpe(pos))  # (B, T, C)
    for block in gpt.h:
        x = block(x)
    return gpt.ln_f(x)[:, -1, :]  # (B, C)


def _gpt_and_ids():
    import torch

    from gptlab.model import GPT, GPTConfig

    torch.manual_seed(9)
    gpt = GPT(GPTConfig(vocab_size=60, block_size=12, n_layer=2, n_head=2, n_embd=16)).eval()
    # a non-trivial final LayerNorm, so that forgetting it shows
    with torch.no_grad():
        gpt.ln_f.weight.uniform_(0.5, 2.0)
        gpt.ln_f.bias.uniform_(-0.5, 0.5)
    idx = torch.randint(60, (3, 10), generator=torch.Generator().manual_seed(1))
    return gpt, idx


def _check_last_token_features(f) -> None:
    import torch

    gpt, idx = _gpt_and_ids()
    with torch.no_grad():
        got = _tensor(f(gpt, idx), "last_token_features")
        want = _ref_last_token_features(gpt, idx)
        B, T, C = idx.size(0), idx.size(1), gpt.config.n_embd
        if tuple(got.shape) == (B, T, C):
            raise Incorrect(
                f"The result has shape {tuple(got.shape)} = (B, T, C): keep only the "
                "last position, x[:, -1, :], to get (B, C)."
            )
        if tuple(got.shape) == (B, gpt.config.vocab_size):
            raise Incorrect(
                "The result has vocab_size columns: you went through lm_head. The "
                "classifier reads the hidden state after ln_f, shape (B, C)."
            )
        if tuple(got.shape) != (B, C):
            raise Incorrect(f"Expected shape (B, C) = {(B, C)}, got {tuple(got.shape)}.")
        if torch.allclose(got, want, atol=1e-5):
            return
        x = gpt.drop(gpt.wte(idx) + gpt.wpe(torch.arange(T)))
        for block in gpt.h:
            x = block(x)
        if torch.allclose(got, x[:, -1, :], atol=1e-5):
            raise Incorrect(
                "Close, but the final LayerNorm is missing: GPT applies gpt.ln_f "
                "after the last block, and lm_head (and our head) read its output."
            )
        if torch.allclose(got, gpt.ln_f(x)[:, 0, :], atol=1e-5):
            raise Incorrect(
                "This is the FIRST token's state. With causal attention the first "
                "position has seen only itself; the last one has seen the whole "
                "passage, so take x[:, -1, :]."
            )
        if torch.allclose(got, gpt.ln_f(x).mean(1), atol=1e-5) or torch.allclose(
            got, gpt.ln_f(x.mean(1)), atol=1e-5
        ):
            raise Incorrect(
                "This is the mean over positions (mean pooling), a fine idea but not "
                "what was asked: take the last position, gpt.ln_f(x)[:, -1, :]."
            )
        x0 = gpt.wte(idx)
        for block in gpt.h:
            x0 = block(x0)
        if torch.allclose(got, gpt.ln_f(x0)[:, -1, :], atol=1e-5):
            raise Incorrect(
                "The position embeddings are missing: the input to the first block "
                "is gpt.wte(idx) + gpt.wpe(torch.arange(T))."
            )
        raise Incorrect(
            "The values differ from GPT's own hidden states. Embed (wte + wpe, "
            "then drop), run every block in gpt.h, apply gpt.ln_f, keep x[:, -1, :]."
        )


def _wrong_no_ln_f():
    import torch

    def f(gpt, idx):
        x = gpt.drop(gpt.wte(idx) + gpt.wpe(torch.arange(idx.size(1))))
        for block in gpt.h:
            x = block(x)
        return x[:, -1, :]

    return f


def _wrong_first_token():
    import torch

    def f(gpt, idx):
        x = gpt.drop(gpt.wte(idx) + gpt.wpe(torch.arange(idx.size(1))))
        for block in gpt.h:
            x = block(x)
        return gpt.ln_f(x)[:, 0, :]

    return f


def _wrong_all_positions():
    import torch

    def f(gpt, idx):
        x = gpt.drop(gpt.wte(idx) + gpt.wpe(torch.arange(idx.size(1))))
        for block in gpt.h:
            x = block(x)
        return gpt.ln_f(x)

    return f


last_token_features = Exercise(
    name="last_token_features",
    prompt="Write last_token_features(gpt, idx) -> (B, C): run a gptlab GPT's modules on token "
    "ids idx (B, T) and return the final hidden state (after ln_f) of the last position.",
    checker=_check_last_token_features,
    hint_text="x = gpt.drop(gpt.wte(idx) + gpt.wpe(torch.arange(T))); run each block of gpt.h; "
    "then gpt.ln_f; then keep position -1.",
    solution_text=(
        "def last_token_features(gpt, idx):\n"
        "    pos = torch.arange(idx.size(1))               # (T,)\n"
        "    x = gpt.drop(gpt.wte(idx) + gpt.wpe(pos))     # (B, T, C)\n"
        "    for block in gpt.h:\n"
        "        x = block(x)                              # (B, T, C)\n"
        "    return gpt.ln_f(x)[:, -1, :]                  # (B, C)"
    ),
    reference=lambda: _ref_last_token_features,
    wrong_answers=[_wrong_no_ln_f, _wrong_first_token, _wrong_all_positions],
)


# --------------------------------------------------------------------------------------------
# (b) the confusion matrix
# --------------------------------------------------------------------------------------------


def _ref_confusion(preds, labels, n):
    import torch

    cm = torch.zeros(n, n, dtype=torch.long)
    for y, p in zip(labels.tolist(), preds.tolist(), strict=True):
        cm[y, p] += 1
    return cm


def _confusion_cases():
    import torch

    g = torch.Generator().manual_seed(3)
    cases = [(torch.tensor([0, 1, 1, 2, 3, 3]), torch.tensor([0, 0, 1, 2, 3, 1]), 4)]
    for n, N in ((4, 50), (3, 7), (5, 30)):
        labels = torch.randint(n, (N,), generator=g)
        preds = torch.where(
            torch.rand(N, generator=g) < 0.6, labels, torch.randint(n, (N,), generator=g)
        )
        cases.append((preds, labels, n))
    cases.append((torch.tensor([1, 1]), torch.tensor([0, 0]), 3))  # a class never predicted
    return cases


def _check_confusion(f) -> None:
    import torch

    for preds, labels, n in _confusion_cases():
        got = _tensor(f(preds.clone(), labels.clone(), n), "my_confusion_matrix")
        want = _ref_confusion(preds, labels, n)
        where = f"For labels={labels.tolist()}, preds={preds.tolist()}, n={n}:"
        if tuple(got.shape) != (n, n):
            raise Incorrect(
                f"{where} expected shape (n, n) = {(n, n)}, got {tuple(got.shape)}; "
                "every class gets a row and a column, even one that never occurs "
                "(use n, not the largest id seen)."
            )
        if torch.equal(got.long(), want):
            continue
        if torch.equal(got.long(), want.T):
            raise Incorrect(
                f"{where} your matrix is transposed: the convention here is rows = "
                "true class, columns = predicted class, so entry [i, j] counts "
                "passages of class i predicted as j."
            )
        if got.is_floating_point() and torch.allclose(got.sum(1), torch.ones(n), atol=1e-6):
            raise Incorrect(
                f"{where} return raw counts, not row-normalised fractions (the "
                "notebook divides by the row sums only for the plot)."
            )
        raise Incorrect(f"{where} expected {want.tolist()}, got {got.tolist()}.")


def _wrong_transposed():
    def f(preds, labels, n):
        return _ref_confusion(preds, labels, n).T

    return f


def _wrong_size_from_data():
    import torch

    def f(preds, labels, n):
        m = int(torch.cat([preds, labels]).max()) + 1
        return _ref_confusion(preds, labels, m)

    return f


confusion = Exercise(
    name="confusion",
    prompt="Write my_confusion_matrix(preds, labels, n) -> (n, n) counts, rows = true class, "
    "columns = predicted class.",
    checker=_check_confusion,
    hint_text="Start from torch.zeros(n, n, dtype=torch.long) and add 1 at [label, pred] for "
    "every passage (or use torch.bincount(labels * n + preds, minlength=n * n)).",
    solution_text=(
        "def my_confusion_matrix(preds, labels, n):\n"
        "    flat = labels * n + preds                     # (N,) cell index, row-major\n"
        "    return torch.bincount(flat, minlength=n * n).view(n, n)"
    ),
    reference=lambda: _ref_confusion,
    wrong_answers=[_wrong_transposed, _wrong_size_from_data],
)


# --------------------------------------------------------------------------------------------
# (c) balanced accuracy (mean recall) from a confusion matrix
# --------------------------------------------------------------------------------------------


def _ref_balanced_accuracy(cm) -> float:
    cm = cm.double()
    return (cm.diag() / cm.sum(1)).mean().item()


_MATRICES = [
    [
        [50, 3, 7, 0],
        [4, 40, 6, 0],
        [9, 5, 56, 0],
        [2, 0, 1, 2],
    ],  # a rare class that is badly recognised
    [[10, 0], [5, 85]],
    [[3, 1, 1], [0, 4, 0], [2, 2, 20]],
]


def _check_balanced_accuracy(f) -> None:
    import torch

    for rows in _MATRICES:
        cm = torch.tensor(rows)
        answer = f(cm.clone())
        if isinstance(answer, torch.Tensor) and answer.numel() == 1:
            answer = answer.item()
        if isinstance(answer, bool) or not isinstance(answer, (int, float)):
            raise Incorrect(
                f"balanced_accuracy should return a number, got {type(answer).__name__}."
            )
        want = _ref_balanced_accuracy(cm)
        if math.isclose(answer, want, rel_tol=1e-6):
            continue
        c = cm.double()
        where = f"For the confusion matrix {rows}: expected {want:.4f}, got {answer:.4f}."
        if math.isclose(answer, (c.trace() / c.sum()).item(), rel_tol=1e-6):
            raise Incorrect(
                f"{where} That is the plain accuracy, which large classes dominate. "
                "Compute each class's recall (its diagonal entry over its row sum), "
                "then average the recalls with equal weight."
            )
        if math.isclose(answer, (c.diag() / c.sum(0)).mean().item(), rel_tol=1e-6):
            raise Incorrect(
                f"{where} You divided by the column sums, which gives each class's "
                "precision. Rows are the true classes: recall = diagonal / row sum."
            )
        raise Incorrect(f"{where} Average over classes k of cm[k, k] / cm[k].sum().")


balanced_accuracy = Exercise(
    name="balanced_accuracy",
    prompt="Write balanced_accuracy(cm) -> float: the mean over classes of the recall "
    "cm[k, k] / (row sum k), for a confusion matrix with rows = true classes.",
    checker=_check_balanced_accuracy,
    hint_text="cm.diag() / cm.sum(1) gives every class's recall at once; take the mean "
    "(convert to float first).",
    solution_text=(
        "def balanced_accuracy(cm):\n"
        "    cm = cm.double()\n"
        "    return (cm.diag() / cm.sum(1)).mean().item()"
    ),
    reference=lambda: _ref_balanced_accuracy,
    wrong_answers=[
        lambda: lambda cm: (cm.double().trace() / cm.double().sum()).item(),
        lambda: lambda cm: (cm.double().diag() / cm.double().sum(0)).mean().item(),
    ],
)
