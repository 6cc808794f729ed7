"""Self-checking exercises of chapter 10 (instruction tuning).

In the notebook::

    from gptlab.exercises import ch10
    ch10.build_labels.check(build_labels)
    ch10.response_only_loss.check(response_only_loss)
    ch10.pad_batch.check(pad_batch)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gptlab.exercises import Exercise, Incorrect

__all__ = ["build_labels", "response_only_loss", "pad_batch"]

IGNORE = -100


# --------------------------------------------------------------------------------------------
# (a) labels with the prompt masked
# --------------------------------------------------------------------------------------------


def _ref_build_labels(prompt_ids, response_ids):
    ids = list(prompt_ids) + list(response_ids)
    labels = [IGNORE] * len(prompt_ids) + list(response_ids)
    return ids, labels


def _as_list(value, what: str) -> list[int]:
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise Incorrect(f"{what} should be a list of ints, got {type(value).__name__}.")
    return [int(v) for v in value]


def _check_build_labels(f) -> None:
    cases = [([5, 17, 9, 2], [41, 7, 3]), ([1], [8, 8]), ([4, 4, 4, 4, 4, 6], [12])]
    for prompt, response in cases:
        out = f(list(prompt), list(response))
        if not isinstance(out, tuple) or len(out) != 2:
            raise Incorrect("return a pair (ids, labels).")
        ids, labels = _as_list(out[0], "ids"), _as_list(out[1], "labels")
        want_ids, want_labels = _ref_build_labels(prompt, response)
        if ids != want_ids:
            raise Incorrect(
                f"ids should be the prompt followed by the response: {want_ids} for "
                f"prompt {prompt} and response {response}; got {ids}."
            )
        if len(labels) != len(ids):
            raise Incorrect(
                f"labels must have one entry per token (length {len(ids)}), got "
                f"{len(labels)}. The model shifts them itself (sft_loss compares "
                f"position t with label t + 1), so do not shift here."
            )
        if labels[len(prompt) :] == [IGNORE] * len(response):
            raise Incorrect(
                "you masked the response: it is the prompt that is given (-100) and the "
                "response that is learned (labels = its ids)."
            )
        if labels == want_ids:
            raise Incorrect(
                "nothing is masked: the prompt's labels must be -100 so that the prompt "
                "adds nothing to the loss."
            )
        shifted = [IGNORE] * (len(prompt) - 1) + list(response) + [IGNORE]
        if labels in (shifted, want_ids[1:] + [IGNORE]):
            raise Incorrect(
                "your labels are shifted by one. Keep labels aligned with ids "
                "(labels[t] is ids[t] or -100); the loss does the shift."
            )
        if labels != want_labels:
            raise Incorrect(
                f"for prompt {prompt} and response {response} the labels should be "
                f"{want_labels}, got {labels}."
            )


def _wrong_build_labels_masks_response(prompt_ids, response_ids):
    return list(prompt_ids) + list(response_ids), list(prompt_ids) + [IGNORE] * len(response_ids)


def _wrong_build_labels_shifted(prompt_ids, response_ids):
    ids = list(prompt_ids) + list(response_ids)
    labels = [IGNORE] * (len(prompt_ids) - 1) + list(response_ids) + [IGNORE]
    return ids, labels


build_labels = Exercise(
    name="build_labels",
    prompt="Write build_labels(prompt_ids, response_ids) -> (ids, labels): the token ids of the "
    "whole example and labels of the same length with -100 on the prompt.",
    checker=_check_build_labels,
    hint_text="ids = prompt_ids + response_ids; labels = [-100] * len(prompt_ids) + response_ids. "
    "No shifting: position t of the model predicts label t + 1 inside the loss.",
    solution_text=(
        "def build_labels(prompt_ids, response_ids):\n"
        "    ids = list(prompt_ids) + list(response_ids)\n"
        "    labels = [-100] * len(prompt_ids) + list(response_ids)\n"
        "    return ids, labels"
    ),
    reference=lambda: _ref_build_labels,
    wrong_answers=[lambda: _wrong_build_labels_masks_response, lambda: _wrong_build_labels_shifted],
)


# --------------------------------------------------------------------------------------------
# (b) the response-only loss from logits
# --------------------------------------------------------------------------------------------


def _ref_response_only_loss(logits, labels):
    # logits (B, T, V) from ids (B, T); position t predicts token t + 1
    pred = logits[:, :-1, :]  # (B, T-1, V)
    target = labels[:, 1:]  # (B, T-1)
    return F.cross_entropy(pred.reshape(-1, pred.size(-1)), target.reshape(-1), ignore_index=IGNORE)


def _loss_cases():
    g = torch.Generator().manual_seed(10)
    cases = []
    for B, T, V, prompts, lengths in [
        (2, 9, 13, [4, 2], [9, 6]),
        (3, 12, 29, [5, 7, 3], [12, 10, 7]),
    ]:
        logits = torch.randn(B, T, V, generator=g, dtype=torch.float64) * 2
        labels = torch.full((B, T), IGNORE, dtype=torch.long)
        for b in range(B):
            labels[b, prompts[b] : lengths[b]] = torch.randint(
                0, V, (lengths[b] - prompts[b],), generator=g
            )
        cases.append((logits, labels))
    return cases


def _check_response_only_loss(f) -> None:
    for logits, labels in _loss_cases():
        got = f(logits.clone(), labels.clone())
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            raise Incorrect("return the loss as a scalar tensor (one number for the whole batch).")
        want = _ref_response_only_loss(logits, labels)
        if torch.allclose(got.double(), want, rtol=1e-6, atol=1e-8):
            continue
        unshifted = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE
        )
        if torch.allclose(got.double(), unshifted, rtol=1e-6):
            raise Incorrect(
                "you compared position t's logits with label t. Position t predicts the "
                "NEXT token: use logits[:, :-1] against labels[:, 1:]."
            )
        pred, target = logits[:, :-1], labels[:, 1:]
        mask = target != IGNORE
        nll = F.cross_entropy(pred.transpose(1, 2), target.clamp(min=0), reduction="none")
        if torch.allclose(got.double(), (nll * mask).sum() / mask.numel(), rtol=1e-6):
            raise Incorrect(
                "you divided by every position, masked or not. The mean must be over "
                "the scored (response) tokens only: divide by mask.sum()."
            )
        if torch.allclose(got.double(), nll.mean(), rtol=1e-6):
            raise Incorrect(
                "the -100 positions were scored (as if their target were token 0). "
                "Skip them: ignore_index=-100 or a mask."
            )
        per_row = (nll * mask).sum(1) / mask.sum(1)
        if torch.allclose(got.double(), per_row.mean(), rtol=1e-6):
            raise Incorrect(
                "you averaged each sequence, then the sequences. Training averages over "
                "all response tokens of the batch at once (each token counts the same)."
            )
        raise Incorrect(f"expected {want.item():.6f}, got {float(got):.6f}.")


def _wrong_loss_unshifted(logits, labels):
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE
    )


def _wrong_loss_all_positions(logits, labels):
    pred, target = logits[:, :-1], labels[:, 1:]
    mask = target != IGNORE
    nll = F.cross_entropy(pred.transpose(1, 2), target.clamp(min=0), reduction="none")
    return (nll * mask).sum() / mask.numel()


def _wrong_loss_per_row(logits, labels):
    pred, target = logits[:, :-1], labels[:, 1:]
    mask = target != IGNORE
    nll = F.cross_entropy(pred.transpose(1, 2), target.clamp(min=0), reduction="none")
    return ((nll * mask).sum(1) / mask.sum(1)).mean()


response_only_loss = Exercise(
    name="response_only_loss",
    prompt="Write response_only_loss(logits, labels): logits (B, T, V) computed from ids (B, T), "
    "labels (B, T) with -100 where nothing is scored; return the mean cross-entropy over "
    "the scored tokens.",
    checker=_check_response_only_loss,
    hint_text="Shift: logits[:, :-1] predict labels[:, 1:]. Flatten to (N, V) and (N,) and call "
    "F.cross_entropy(..., ignore_index=-100).",
    solution_text=(
        "def response_only_loss(logits, labels):\n"
        "    pred = logits[:, :-1, :]          # (B, T-1, V)\n"
        "    target = labels[:, 1:]            # (B, T-1)\n"
        "    return F.cross_entropy(pred.reshape(-1, pred.size(-1)), target.reshape(-1),\n"
        "                           ignore_index=-100)"
    ),
    reference=lambda: _ref_response_only_loss,
    wrong_answers=[
        lambda: _wrong_loss_unshifted,
        lambda: _wrong_loss_all_positions,
        lambda: _wrong_loss_per_row,
    ],
)


# --------------------------------------------------------------------------------------------
# (c) padding a batch
# --------------------------------------------------------------------------------------------


def _ref_pad_batch(batch, pad_id):
    T = max(len(ids) for ids, _ in batch)
    ids_out = torch.full((len(batch), T), pad_id, dtype=torch.long)
    labels_out = torch.full((len(batch), T), IGNORE, dtype=torch.long)
    for b, (ids, labels) in enumerate(batch):
        ids_out[b, : len(ids)] = torch.tensor(ids)
        labels_out[b, : len(labels)] = torch.tensor(labels)
    return ids_out, labels_out


def _pad_cases():
    return [
        (
            [
                ([3, 4, 5, 6], [IGNORE, IGNORE, 5, 6]),
                ([7, 8], [IGNORE, 8]),
                ([9, 10, 11], [IGNORE, 10, 11]),
            ],
            0,
        ),
        ([([1, 2], [IGNORE, 2]), ([2, 3, 4, 5, 6], [IGNORE, IGNORE, IGNORE, 5, 6])], 99),
    ]


def _check_pad_batch(f) -> None:
    for batch, pad_id in _pad_cases():
        out = f([(list(a), list(b)) for a, b in batch], pad_id)
        if not isinstance(out, tuple) or len(out) != 2:
            raise Incorrect("return a pair (ids, labels) of tensors.")
        ids, labels = out
        if not isinstance(ids, torch.Tensor) or not isinstance(labels, torch.Tensor):
            raise Incorrect("ids and labels should be torch tensors of shape (B, T).")
        want_ids, want_labels = _ref_pad_batch(batch, pad_id)
        if tuple(ids.shape) != tuple(want_ids.shape) or tuple(labels.shape) != tuple(
            want_labels.shape
        ):
            raise Incorrect(
                f"both tensors should be (B, T) = {tuple(want_ids.shape)}: one row per "
                f"example, T = the longest example; got {tuple(ids.shape)} and "
                f"{tuple(labels.shape)}."
            )
        if not torch.equal(ids.long(), want_ids):
            lefty = all(
                ids[b, ids.size(1) - len(x) :].tolist() == list(x) for b, (x, _) in enumerate(batch)
            )
            if lefty:
                raise Incorrect(
                    "you padded on the left. Pad on the right: the positions of the "
                    "real tokens then stay 0, 1, 2, ... as in training."
                )
            raise Incorrect(f"ids should be {want_ids.tolist()}, got {ids.tolist()}.")
        for b, (x, _) in enumerate(batch):
            tail = labels[b, len(x) :]
            if len(tail) and bool((tail == pad_id).all()):
                raise Incorrect(
                    "the padding positions of labels must be -100, not the pad id: a "
                    "padded label would teach the model to predict padding."
                )
        if not torch.equal(labels.long(), want_labels):
            raise Incorrect(f"labels should be {want_labels.tolist()}, got {labels.tolist()}.")


def _wrong_pad_labels_with_pad_id(batch, pad_id):
    T = max(len(ids) for ids, _ in batch)
    ids_out = torch.full((len(batch), T), pad_id, dtype=torch.long)
    labels_out = torch.full((len(batch), T), pad_id, dtype=torch.long)
    for b, (ids, labels) in enumerate(batch):
        ids_out[b, : len(ids)] = torch.tensor(ids)
        labels_out[b, : len(labels)] = torch.tensor(labels)
    return ids_out, labels_out


def _wrong_pad_left(batch, pad_id):
    T = max(len(ids) for ids, _ in batch)
    ids_out = torch.full((len(batch), T), pad_id, dtype=torch.long)
    labels_out = torch.full((len(batch), T), IGNORE, dtype=torch.long)
    for b, (ids, labels) in enumerate(batch):
        ids_out[b, T - len(ids) :] = torch.tensor(ids)
        labels_out[b, T - len(labels) :] = torch.tensor(labels)
    return ids_out, labels_out


pad_batch = Exercise(
    name="pad_batch",
    prompt="Write pad_batch(batch, pad_id): a list of (ids, labels) pairs of different lengths -> "
    "two (B, T) long tensors, padded on the right (ids with pad_id, labels with -100).",
    checker=_check_pad_batch,
    hint_text="T = the longest ids; start from torch.full((B, T), pad_id) and torch.full((B, T), "
    "-100), then copy each example into the start of its row.",
    solution_text=(
        "def pad_batch(batch, pad_id):\n"
        "    T = max(len(ids) for ids, _ in batch)\n"
        "    ids_out = torch.full((len(batch), T), pad_id, dtype=torch.long)\n"
        "    labels_out = torch.full((len(batch), T), -100, dtype=torch.long)\n"
        "    for b, (ids, labels) in enumerate(batch):\n"
        "        ids_out[b, :len(ids)] = torch.tensor(ids)\n"
        "        labels_out[b, :len(labels)] = torch.tensor(labels)\n"
        "    return ids_out, labels_out"
    ),
    reference=lambda: _ref_pad_batch,
    wrong_answers=[lambda: _wrong_pad_labels_with_pad_id, lambda: _wrong_pad_left],
)
