"""Independent correct answers for chapter 09's exercises."""

import torch


def classify_manual_loss(gpt, head, idx, labels, weights):
    """Index the tables; the weighted cross-entropy written out."""
    h = gpt.wte.weight[idx] + gpt.wpe.weight[: idx.shape[1]]
    for block in gpt.h:
        h = block(h)
    last = gpt.ln_f(h[:, idx.shape[1] - 1])
    logits = last @ head.weight.T + head.bias
    logp = torch.log_softmax(logits, dim=-1)
    w = weights[labels]
    loss = -(w * logp[torch.arange(len(labels)), labels]).sum() / w.sum()
    return logits, loss


def classify_nll(gpt, head, idx, labels, weights):
    """Run the trunk on the whole batch, select the last state with narrow; nll_loss."""
    x = gpt.drop(gpt.wte(idx) + gpt.wpe(torch.arange(idx.size(-1)).unsqueeze(0)))
    for i in range(gpt.config.n_layer):
        x = gpt.h[i](x)
    logits = head(gpt.ln_f(x.narrow(1, x.size(1) - 1, 1)).squeeze(1))
    loss = torch.nn.functional.nll_loss(logits.log_softmax(-1), labels, weight=weights)
    return logits, loss


ALTERNATIVES = {
    "classify": [classify_manual_loss, classify_nll],
    "confusion": [
        lambda p, y, n: torch.zeros(n, n, dtype=torch.long).index_put_(
            (y, p), torch.ones_like(y), accumulate=True
        )
    ],
}
