"""Chapter 09 (classification): confusion matrix, balanced accuracy, a classifier's loss (build)."""
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
confusion = Exercise(9, "confusion", "apply", 10,
    "my_confusion_matrix(preds, labels, n) -> (n, n) counts, rows = true class, columns = "
    "predicted class.",
    my_confusion_matrix, _predictions, run=lambda f, p, y, n: f(p, y, n).long(),
    hint_text="Start from torch.zeros(n, n, dtype=torch.long) and add 1 at [label, pred] for "
    "every passage (or bincount the cell indices labels * n + preds).",
    mistakes=[(lambda p, y, n: my_confusion_matrix(y, p, n), "rows are the TRUE classes and "
               "columns the predictions: you have them the other way round."),
        (lambda p, y, n: my_confusion_matrix(p, y, int(torch.cat([p, y]).max()) + 1),
         "every class has a row and a column, even one that never occurs: use n, not max id + 1."),
        (lambda p, y, n: torch.diag(torch.bincount(y[p == y], minlength=n)), "count the "
         "mistakes too: every passage adds 1 at [its label, its prediction].")])

def balanced_accuracy(cm):
    cm = cm.double()
    return (cm.diag() / cm.sum(dim=1)).mean().item()  # the mean of the per-class recalls
balanced_accuracy = Exercise(9, "balanced_accuracy", "recall", 5,
    "balanced_accuracy(cm) -> float: the mean over classes of the recall cm[k, k] / (row sum "
    "k), for a confusion matrix with rows = true classes.",
    balanced_accuracy, lambda: [(torch.tensor(cm),) for cm in ([[50, 3, 7, 0], [4, 40, 6, 0],
        [9, 5, 56, 0], [2, 0, 1, 2]], [[10, 0], [5, 85]], [[3, 1, 1], [0, 4, 0], [2, 2, 20]])],
    hint_text="Each class's recall is its diagonal entry over its row sum; take the plain mean.",
    mistakes=[(lambda cm: (cm.trace() / cm.sum()).item(), "that is the plain accuracy, which "
               "large classes dominate: average the per-class recalls instead."),
        (lambda cm: (cm.double().diag() / cm.sum(0)).mean().item(), "you divided by the column "
         "sums (precision); rows are the true classes: recall = diagonal / row sum."),
        (lambda cm: (cm.double().diag() / cm.sum(1)).sum().item(), "average the recalls: "
         "divide their sum by the number of classes.")])

def my_classify(gpt, head, idx, lengths, labels, weights):
    h = gpt.hidden_states(idx)  # (B, T, C) after ln_f; causal, so no real token sees the padding
    last = h[torch.arange(idx.size(0)), lengths - 1]  # (B, C): each row's last REAL token
    logits = head(last)  # (B, K)
    return logits, F.cross_entropy(logits, labels.long(), weight=weights)
def _run_classifier(answer, seed, B, T, K, dtype=torch.long):
    gpt, head = tiny_gpt(seed, vocab_size=60, block_size=12, n_layer=2), torch.nn.Linear(16, K)
    lengths = torch.cat([torch.tensor([T, max(1, T // 2)]), torch.randint(1, T + 1, (B - 2,))])
    idx = torch.randint(1, 60, (B, T)).masked_fill(torch.arange(T) >= lengths[:, None], 0)
    labels, weights = torch.randint(K, (B,), dtype=dtype), torch.rand(K) + 0.2
    return torch.no_grad()(answer)(gpt, head, idx, lengths, labels, weights)
def _wrong(pick=lambda h, n: h[torch.arange(len(h)), n - 1], loss=F.cross_entropy, cast=True):
    def classify(gpt, head, idx, n, y, w):  # the reference with one step changed
        z = head(pick(gpt.hidden_states(idx), n))
        return z, loss(z, y.long() if cast else y, weight=w)
    return classify
classify = Exercise(9, "classify", "build", 20,
    "my_classify(gpt, head, idx, lengths, labels, weights) -> (logits (B, K), loss): passages idx "
    "(B, T) padded on the right (row b has lengths[b] real tokens); the last real token's final "
    "hidden state through the head; the class-weighted cross-entropy (labels of any int dtype).",
    my_classify, lambda: [(1, 4, 10, 4), (2, 3, 12, 3), (3, 5, 7, 5, torch.int32)],
    run=_run_classifier,
    hint_text="h = gpt.hidden_states(idx) is (B, T, C); row b ends at lengths[b] - 1, so take "
    "h[torch.arange(B), lengths - 1]; head; cross_entropy(logits, labels.long(), weight=weights).",
    mistakes=[(_wrong(lambda h, n: h[:, -1]), "position -1 is padding in the shorter rows: read "
               "each row's last real token, h[b, lengths[b] - 1]."),
        (_wrong(lambda h, n: h[torch.arange(len(h)), n]), "off by one: a row of n real tokens "
         "ends at position n - 1."),
        (_wrong(lambda h, n: h[:, 0]), "that is the FIRST token's state: with causal attention "
         "only the last real token has read the whole passage."),
        (_wrong(lambda h, n: (h * (torch.arange(h.size(1))[:, None] < n[:, None, None])).sum(1)
                / n[:, None]), "mean pooling is a fair idea, but the chapter's classifier reads "
         "the last real token, h[b, lengths[b] - 1]."),
        (_wrong(loss=lambda z, y, weight: F.cross_entropy(z.softmax(-1), y, weight=weight)),
         "cross_entropy takes the raw logits and applies log-softmax itself: no softmax first."),
        (_wrong(loss=lambda z, y, weight: F.cross_entropy(z, y)), "the loss ignores the class "
         "weights: pass weight=weights to cross_entropy."),
        (_wrong(cast=False), "cross_entropy wants int64 class ids: convert with labels.long().")])
