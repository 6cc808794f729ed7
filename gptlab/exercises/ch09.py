"""Chapter 09 (classification): the confusion matrix, balanced accuracy, and the classifier's
forward pass with its weighted loss (build).
"""
# fmt: off

import torch
import torch.nn.functional as F

from gptlab.exercises import Exercise, tiny_gpt


def my_confusion_matrix(preds, labels, n):
    flat = labels * n + preds  # (N,): the cell [label, pred], row-major
    return torch.bincount(flat, minlength=n * n).view(n, n)

def _predictions():
    cases = [(torch.tensor([0, 0, 1, 2, 3, 1]), torch.tensor([0, 1, 1, 2, 3, 3]), 4),
             (torch.tensor([1, 1]), torch.tensor([0, 0]), 3)]
    for n, N in ((4, 50), (3, 7)):
        labels = torch.randint(n, (N,))
        cases.append((torch.where(torch.rand(N) < 0.6, labels, torch.randint(n, (N,))), labels, n))
    return cases
confusion = Exercise(
    9, "confusion", "apply", 10,
    "my_confusion_matrix(preds, labels, n) -> (n, n) counts, rows = true class, columns = "
    "predicted class.",
    my_confusion_matrix, _predictions, run=lambda f, p, y, n: f(p, y, n).long(),
    hint_text="Start from torch.zeros(n, n, dtype=torch.long) and add 1 at [label, pred] for "
    "every passage (or bincount the cell indices labels * n + preds).",
    mistakes=[
        (lambda p, y, n: my_confusion_matrix(y, p, n), "rows are the TRUE classes and columns "
         "the predictions: you have them the other way round."),
        (lambda p, y, n: my_confusion_matrix(p, y, int(torch.cat([p, y]).max()) + 1),
         "every class gets a row and a column, even one that never occurs: use n, not the "
         "largest id seen."),
        (lambda p, y, n: torch.diag(torch.bincount(y[p == y], minlength=n)), "count the "
         "mistakes too: every passage adds 1 at [its label, its prediction]."),
    ])

def balanced_accuracy(cm):
    cm = cm.double()
    return (cm.diag() / cm.sum(dim=1)).mean().item()  # the mean of the per-class recalls
balanced_accuracy = Exercise(
    9, "balanced_accuracy", "recall", 5,
    "balanced_accuracy(cm) -> float: the mean over classes of the recall cm[k, k] / (row sum "
    "k), for a confusion matrix with rows = true classes.",
    balanced_accuracy,
    lambda: [(torch.tensor([[50, 3, 7, 0], [4, 40, 6, 0], [9, 5, 56, 0], [2, 0, 1, 2]]),),
             (torch.tensor([[10, 0], [5, 85]]),),
             (torch.tensor([[3, 1, 1], [0, 4, 0], [2, 2, 20]]),)],
    hint_text="Each class's recall is its diagonal entry over its row sum; average the recalls "
    "with equal weight.",
    mistakes=[
        (lambda cm: (cm.trace() / cm.sum()).item(), "that is the plain accuracy, which large "
         "classes dominate: average the per-class recalls instead."),
        (lambda cm: (cm.double().diag() / cm.sum(0)).mean().item(), "you divided by the column "
         "sums (precision); rows are the true classes: recall = diagonal / row sum."),
        (lambda cm: (cm.double().diag() / cm.sum(1)).sum().item(), "average the recalls: "
         "divide their sum by the number of classes."),
    ])

def classify(gpt, head, idx, labels, weights):
    x = gpt.wte(idx) + gpt.wpe(torch.arange(idx.size(1)))  # (B, T, C)
    for block in gpt.h:
        x = block(x)
    features = gpt.ln_f(x)[:, -1, :]  # (B, C): the last token has read the whole passage
    logits = head(features)  # (B, K)
    return logits, F.cross_entropy(logits, labels, weight=weights)

def _run_classifier(answer, seed, B, T, K):
    gpt = tiny_gpt(seed, vocab_size=60, block_size=12, n_layer=2)
    head = torch.nn.Linear(16, K)
    with torch.no_grad():
        gpt.ln_f.weight.uniform_(0.5, 2.0)
        idx, labels = torch.randint(60, (B, T)), torch.randint(K, (B,))
        return answer(gpt, head, idx, labels, torch.rand(K) + 0.2)

def _pool(features_of, loss_of=F.cross_entropy):  # a classifier with one step changed
    def f(gpt, head, idx, labels, weights):
        x = gpt.wte(idx) + gpt.wpe(torch.arange(idx.size(1)))
        for block in gpt.h:
            x = block(x)
        logits = head(features_of(gpt, x))
        return logits, loss_of(logits, labels, weight=weights)
    return f
classify = Exercise(
    9, "classify", "build", 20,
    "classify(gpt, head, idx, labels, weights) -> (logits (B, K), loss): the last token's final "
    "hidden state through the head, and the class-weighted cross-entropy.",
    classify, lambda: [(1, 4, 10, 4), (2, 3, 12, 3), (3, 6, 1, 5)], run=_run_classifier,
    forbidden=("gptlab.model.GPT.forward", "gptlab.model.GPT.hidden_states"),
    hint_text="Embed (wte + wpe), run the blocks, ln_f, keep position -1: (B, C); the head gives "
    "(B, K); F.cross_entropy(logits, labels, weight=weights).",
    mistakes=[
        (_pool(lambda g, x: g.ln_f(x)[:, 0]), "that is the FIRST token's state: with causal "
         "attention only the last position has read the whole passage."),
        (_pool(lambda g, x: g.ln_f(x).mean(1)), "mean pooling is a fine idea but not what the "
         "chapter's classifier does: take the last position, ln_f(x)[:, -1]."),
        (_pool(lambda g, x: x[:, -1]), "the final LayerNorm ln_f is missing."),
        (_pool(lambda g, x: g.ln_f(x)[:, -1], lambda lg, y, weight: F.cross_entropy(lg, y)),
         "the loss ignores the class weights: pass weight=weights to cross_entropy."),
    ])
