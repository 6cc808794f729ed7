"""Chapter 10 (instruction tuning): masked labels, padding, the response loss, a batch's loss."""
# fmt: off

import torch
import torch.nn.functional as F

from gptlab.exercises import Exercise, tiny_gpt

IGNORE = -100  # cross_entropy's ignore_index: the label of a position that is not scored

def build_labels(prompt_ids, response_ids):
    ids = list(prompt_ids) + list(response_ids)
    labels = [IGNORE] * len(prompt_ids) + list(response_ids)  # only the response is scored
    return ids, labels
build_labels = Exercise(10, "build_labels", "recall", 5,
    "build_labels(prompt_ids, response_ids) -> (ids, labels): labels -100, then the response.",
    build_labels, lambda: [([5, 6, 7], [8, 9]), ([1], [2, 3, 4, 5]), ([4, 4, 4, 4], [0])],
    run=lambda f, p, r: [list(map(int, x)) for x in f(p, r)],
    hint_text="ids is prompt + response; labels is [-100] * len(prompt) followed by the response.",
    mistakes=[(lambda p, r: (p + r, p + [IGNORE] * len(r)), "you masked the response and scored "
               "the prompt: it is the other way round."),
        (lambda p, r: (p + r, [IGNORE] * (len(p) - 1) + r + [IGNORE]), "the labels are shifted "
         "by one: keep labels aligned with ids; the loss does the shift."),
        (lambda p, r: (p + r, p + r), "the prompt is not masked: its labels must be -100.")])

def pad_batch(batch, pad_id):
    T = max(len(ids) for ids, _ in batch)
    ids = torch.tensor([list(x) + [pad_id] * (T - len(x)) for x, _ in batch])  # on the right
    labels = torch.tensor([list(y) + [IGNORE] * (T - len(y)) for _, y in batch])  # not scored
    return ids, labels  # (B, T) each
pad_batch = Exercise(10, "pad_batch", "apply", 10,
    "pad_batch(batch, pad_id): (ids, labels) pairs -> two (B, T) tensors, right-padded with "
    "pad_id (ids) and -100 (labels).",
    pad_batch, lambda: [([([3, 4, 5, 6], [-100, -100, 5, 6]), ([7, 8], [-100, 8]), ([9, 10, 11],
        [-100, 10, 11])], 0), ([([1, 2], [-100, 2]), ([2, 3, 4, 5, 6], [-100] * 3 + [5, 6])], 99)],
    hint_text="T = the longest; torch.full((B, T), pad_id) and (B, T) of -100; copy each row in.",
    mistakes=[(lambda b, p: (pad_batch.reference(b, p)[0], pad_batch.reference([(y, y) for _, y in
        b], p)[0]), "pad the labels with -100, not pad_id, or the model learns to predict pads."),
        (lambda b, p: tuple(t.flip(1) for t in pad_batch.reference([(x[::-1], y[::-1]) for x, y in
         b], p)), "pad on the right, so that the real tokens keep positions 0, 1, 2, ...")])

def response_only_loss(logits, labels):
    pred, target = logits[:, :-1], labels[:, 1:]  # position t predicts token t + 1
    return F.cross_entropy(pred.flatten(0, 1), target.flatten(), ignore_index=IGNORE)
def _masked_nll(pred, target):  # the loss at each position (0 where not scored), and the mask
    return F.cross_entropy(pred.transpose(1, 2), target, reduction="none"), target != IGNORE
response_only_loss = Exercise(10, "response_only_loss", "apply", 10,
    "response_only_loss(logits, labels): logits (B, T, V) of ids (B, T), labels (B, T) with -100 "
    "where not scored; the mean cross-entropy over the scored next-token predictions.",
    response_only_loss, lambda: [(lambda y: (2 * torch.randn(*y.shape, V).double(), y))(pad_batch
        .reference([build_labels.reference([0] * p, torch.randint(V, (r,)).tolist()) for p, r in
        prs], 0)[1]) for V, prs in [(13, [(4, 5), (2, 4)]), (29, [(5, 7), (7, 3), (3, 4)])]],
    hint_text="Shift (logits[:, :-1] predict labels[:, 1:]); F.cross_entropy(ignore_index=-100).",
    mistakes=[(lambda lg, y: F.cross_entropy(lg.flatten(0, 1), y.flatten(), ignore_index=IGNORE),
               "no shift: position t predicts token t + 1; compare logits[:, :-1], labels[:, 1:]."),
        (lambda lg, y: (lambda n, m: n.sum() / m.numel())(*_masked_nll(lg[:, :-1], y[:, 1:])),
         "you divided by every position, scored or not: average over the scored tokens only."),
        (lambda lg, y: (lambda n, m: (n.sum(1) / m.sum(1)).mean())(*_masked_nll(lg[:, :-1],
         y[:, 1:])), "you averaged per example first: average over all scored tokens at once.")])

def sft_batch_loss(model, examples, pad_id):
    rows = [(list(p) + list(r), [IGNORE] * len(p) + list(r)) for p, r in examples]
    T = max(len(ids) for ids, _ in rows)
    ids = torch.tensor([x + [pad_id] * (T - len(x)) for x, _ in rows])  # (B, T), on the right
    labels = torch.tensor([y + [IGNORE] * (T - len(y)) for _, y in rows])  # padding: not scored
    logits, _ = model(ids[:, :-1])  # (B, T-1, V): position t predicts token t + 1
    return F.cross_entropy(logits.flatten(0, 1), labels[:, 1:].flatten(), ignore_index=IGNORE)
def _run_sft(answer, seed, lengths):
    model = tiny_gpt(seed, vocab_size=30, block_size=16)  # seeds the examples too
    ex = [(x[:p], x[p:]) for p, r in lengths for x in [torch.randint(1, 30, (p + r,)).tolist()]]
    return torch.no_grad()(answer)(model, ex, 0)
def _sft_with(label_of=lambda p, r: [IGNORE] * len(p) + r, pad=pad_batch.reference,
              loss=response_only_loss.reference):  # the chapter's steps, one of them wrong
    def sft_loss(model, examples, pad_id):
        ids, labels = pad([(p + r, label_of(p, r)) for p, r in examples], pad_id)
        return loss(model(ids)[0], labels)
    return sft_loss
sft_batch_loss = Exercise(10, "sft_batch_loss", "build", 25,
    "sft_batch_loss(model, examples, pad_id): from (prompt_ids, response_ids) pairs, the padded "
    "batch with prompt-masked labels and the model's mean loss on the response tokens.",
    sft_batch_loss, lambda: [(1, [(3, 4), (5, 2), (1, 3)]), (2, [(7, 1)]), (3, [(2, 9), (4, 3)])],
    run=_run_sft,
    hint_text="ids = prompt + response, labels = [-100] * len(prompt) + response; pad on the right "
    "(pad_id, -100); score model(ids[:, :-1]) against labels[:, 1:], ignore_index=-100.",
    mistakes=[(_sft_with(label_of=lambda p, r: p + r), "the prompt is scored: label it -100."),
        (_sft_with(pad=pad_batch.mistakes[0][0]), "the padding is scored: pad labels with -100."),
        (_sft_with(loss=response_only_loss.mistakes[0][0]), "no shift: the logits at position t "
         "predict token t + 1, so score the model's output on ids[:, :-1] against labels[:, 1:]."),
        (_sft_with(label_of=lambda p, r: [IGNORE] * len(p) + r[:-1] + [IGNORE]), "the last "
         "response token (the end-of-response marker) must be scored: it teaches when to stop."),
        (_sft_with(pad=pad_batch.mistakes[1][0]), "pad on the right: with padding on the left "
         "the real tokens move to later positions and attend to the padding.")])
