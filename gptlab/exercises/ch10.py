"""Chapter 10 (instruction tuning): labels that mask the prompt, the response-only loss, and a
whole batch from (prompt, response) pairs to the masked loss (build).
"""
# fmt: off

import torch
import torch.nn.functional as F

from gptlab.exercises import Exercise, tiny_gpt

IGNORE = -100  # cross_entropy's ignore_index: the label of a position that is not scored

def build_labels(prompt_ids, response_ids):
    ids = list(prompt_ids) + list(response_ids)
    labels = [IGNORE] * len(prompt_ids) + list(response_ids)  # only the response is scored
    return ids, labels
build_labels = Exercise(
    10, "build_labels", "recall", 5,
    "build_labels(prompt_ids, response_ids) -> (ids, labels): the example's ids, and labels "
    "that are -100 on the prompt and the token ids on the response.",
    build_labels, lambda: [([5, 6, 7], [8, 9]), ([1], [2, 3, 4, 5]), ([4, 4, 4, 4], [0])],
    run=lambda f, p, r: [list(map(int, x)) for x in f(p, r)],
    hint_text="ids is prompt + response; labels is [-100] * len(prompt) followed by the response.",
    mistakes=[
        (lambda p, r: (p + r, p + [IGNORE] * len(r)), "you masked the response and scored the "
         "prompt: it is the other way round."),
        (lambda p, r: (p + r, [IGNORE] * (len(p) - 1) + r + [IGNORE]), "the labels are shifted "
         "by one: keep labels aligned with ids; the loss does the shift."),
        (lambda p, r: (p + r, p + r), "the prompt is not masked: its labels must be -100."),
    ])

def response_only_loss(logits, labels):
    pred, target = logits[:, :-1], labels[:, 1:]  # position t predicts token t + 1
    return F.cross_entropy(pred.flatten(0, 1), target.flatten(), ignore_index=IGNORE)

def _logits_and_labels():
    cases = []
    for B, T, V, prompts, ends in [(2, 9, 13, [4, 2], [9, 6]), (3, 12, 29, [5, 7, 3], [12, 10, 7])]:
        labels = torch.full((B, T), IGNORE)
        for b in range(B):
            labels[b, prompts[b]:ends[b]] = torch.randint(0, V, (ends[b] - prompts[b],))
        cases.append((2 * torch.randn(B, T, V, dtype=torch.float64), labels))
    return cases

def _masked_nll(pred, target):
    nll = F.cross_entropy(pred.transpose(1, 2), target.clamp(min=0), reduction="none")
    return nll, target != IGNORE
response_only_loss = Exercise(
    10, "response_only_loss", "apply", 10,
    "response_only_loss(logits, labels): logits (B, T, V) of ids (B, T), labels (B, T) with -100 "
    "where not scored; the mean cross-entropy over the scored next-token predictions.",
    response_only_loss, _logits_and_labels,
    hint_text="Shift: logits[:, :-1] predict labels[:, 1:]. Then F.cross_entropy with "
    "ignore_index=-100 averages over the scored tokens only.",
    mistakes=[
        (lambda lg, y: F.cross_entropy(lg.flatten(0, 1), y.flatten(), ignore_index=IGNORE),
         "no shift: position t predicts token t + 1: compare logits[:, :-1] with labels[:, 1:]."),
        (lambda lg, y: (lambda n, m: (n * m).sum() / m.numel())(*_masked_nll(lg[:, :-1], y[:, 1:])),
         "you divided by every position, scored or not: average over the scored tokens only."),
        (lambda lg, y: (lambda n, m: ((n * m).sum(1) / m.sum(1)).mean())(
            *_masked_nll(lg[:, :-1], y[:, 1:])), "you averaged each example, then the examples: "
         "average over all scored tokens of the batch, so long responses weigh more."),
    ])

def sft_batch_loss(model, examples, pad_id):
    rows = [(list(p) + list(r), [IGNORE] * len(p) + list(r)) for p, r in examples]
    T = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), T), pad_id)  # padded on the right
    labels = torch.full((len(rows), T), IGNORE)  # padding is not scored
    for b, (row_ids, row_labels) in enumerate(rows):
        ids[b, :len(row_ids)], labels[b, :len(row_labels)] = torch.tensor(row_ids), torch.tensor(
            row_labels)
    logits, _ = model(ids[:, :-1])  # (B, T-1, V): position t predicts token t + 1
    return F.cross_entropy(logits.flatten(0, 1), labels[:, 1:].flatten(), ignore_index=IGNORE)

def _run_sft(answer, seed, lengths):
    model = tiny_gpt(seed, vocab_size=30, block_size=16)
    examples = [(torch.randint(1, 30, (p,)).tolist(), torch.randint(1, 30, (r,)).tolist())
                for p, r in lengths]
    with torch.no_grad():
        return answer(model, examples, 0)

def _sft_with(label_of=lambda p, r: [IGNORE] * len(p) + r, pad_label=IGNORE, shift=True):
    def f(model, examples, pad_id):
        T = max(len(p) + len(r) for p, r in examples)
        ids = torch.tensor([p + r + [pad_id] * (T - len(p) - len(r)) for p, r in examples])
        y = torch.tensor([label_of(p, r) + [pad_label] * (T - len(p) - len(r))
                          for p, r in examples])
        if shift:
            return F.cross_entropy(model(ids[:, :-1])[0].flatten(0, 1), y[:, 1:].flatten())
        return F.cross_entropy(model(ids)[0].flatten(0, 1), y.flatten())
    return f
sft_batch_loss = Exercise(
    10, "sft_batch_loss", "build", 25,
    "sft_batch_loss(model, examples, pad_id): from (prompt_ids, response_ids) pairs, the padded "
    "batch with prompt-masked labels and the model's mean loss on the response tokens.",
    sft_batch_loss, lambda: [(1, [(3, 4), (5, 2), (1, 6)]), (2, [(7, 1)]), (3, [(2, 9), (4, 3)])],
    run=_run_sft,
    hint_text="Per example: ids = prompt + response, labels = [-100] * len(prompt) + response. "
    "Pad on the right (ids with pad_id, labels with -100); the model reads ids[:, :-1] and its "
    "logits are scored against labels[:, 1:] with ignore_index=-100.",
    mistakes=[
        (_sft_with(label_of=lambda p, r: p + r), "the prompt is scored: its labels must be -100."),
        (_sft_with(pad_label=0), "the padding is scored: pad the labels with -100, not pad_id."),
        (_sft_with(shift=False), "no shift: the logits at position t predict token t + 1, so the "
         "model reads ids[:, :-1] and is scored on labels[:, 1:]."),
    ])
