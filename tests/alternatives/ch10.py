"""Independent correct answers for chapter 10's exercises."""

import torch
import torch.nn.functional as F

from gptlab.finetune.sft import collate


def loss_with_gptlab_collate(model, examples, pad_id):
    """Build the pairs, reuse gptlab's collate, and score the shifted logits by hand."""
    batch = [(p + r, [-100] * len(p) + r) for p, r in examples]
    ids, labels = collate(batch, pad_id)
    logp = model(ids)[0][:, :-1].log_softmax(-1)
    target = labels[:, 1:]
    scored = target != -100
    picked = logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return -(picked * scored).sum() / scored.sum()


def loss_token_by_token(model, examples, pad_id):
    """Sum the log-probabilities of each response token over each example, then divide once."""
    total, count = 0.0, 0
    for prompt, response in examples:
        ids = torch.tensor([prompt + response])
        logits, _ = model(ids[:, :-1])
        for j in range(len(response)):
            t = len(prompt) + j  # the position of the response token in ids
            total = total + F.cross_entropy(
                logits[0, t - 1 : t], ids[0, t : t + 1], reduction="sum"
            )
            count += 1
    return total / count


ALTERNATIVES = {"sft_batch_loss": [loss_with_gptlab_collate, loss_token_by_token]}
