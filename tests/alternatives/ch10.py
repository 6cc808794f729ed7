"""Independent correct answers for chapter 10's exercises."""

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

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


def loss_with_targets(model, examples, pad_id):
    """pad_sequence, then the model's own loss with targets already shifted (-100 ignored)."""
    ids = pad_sequence([torch.tensor(p + r) for p, r in examples], True, pad_id)
    labels = pad_sequence([torch.tensor([-100] * len(p) + r) for p, r in examples], True, -100)
    return model(ids[:, :-1], targets=labels[:, 1:])[1]


def pad_with_pad_sequence(batch, pad_id):
    ids = pad_sequence([torch.tensor(x) for x, _ in batch], batch_first=True, padding_value=pad_id)
    labels = pad_sequence([torch.tensor(y) for _, y in batch], batch_first=True, padding_value=-100)
    return ids, labels


def response_loss_masked(logits, labels):
    target = labels[:, 1:]
    mask = target != -100
    nll = -logits[:, :-1].log_softmax(-1).gather(-1, target.clamp(min=0)[..., None])[..., 0]
    return nll[mask].mean()


ALTERNATIVES = {
    "sft_batch_loss": [loss_with_gptlab_collate, loss_token_by_token, loss_with_targets],
    "pad_batch": [collate, pad_with_pad_sequence],
    "response_only_loss": [response_loss_masked],
    "build_labels": [lambda p, r: (torch.tensor(p + r), torch.tensor([-100] * len(p) + r))],
}
