"""Self-checking exercises of chapter 12 (the Hugging Face workflow).

In the notebook::

    from gptlab.exercises import ch12
    ch12.conv1d_weight.check(linear_to_conv1d)
    ch12.merges_line.check(merges_line)
    ch12.hf_causal_loss.check(hf_causal_loss)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gptlab.exercises import Exercise, Incorrect
from gptlab.tokenizers import bytes_to_unicode

__all__ = ["conv1d_weight", "merges_line", "hf_causal_loss"]


# --------------------------------------------------------------------------------------------
# (a) nn.Linear weight -> Hugging Face Conv1D weight
# --------------------------------------------------------------------------------------------


def _ref_linear_to_conv1d(weight: torch.Tensor) -> torch.Tensor:
    return weight.t().contiguous()  # (out, in) -> (in, out)


def _check_linear_to_conv1d(f) -> None:
    from transformers.pytorch_utils import Conv1D

    g = torch.Generator().manual_seed(12)
    for n_in, n_out in [(4, 12), (8, 8), (6, 24), (16, 4)]:
        linear = torch.nn.Linear(n_in, n_out)
        with torch.no_grad():
            linear.weight.copy_(torch.randn(n_out, n_in, generator=g))
            linear.bias.copy_(torch.randn(n_out, generator=g))
        weight = linear.weight.detach().clone()
        got = f(weight.clone())
        if not isinstance(got, torch.Tensor):
            raise Incorrect(f"return a torch.Tensor, got {type(got).__name__}.")
        if tuple(got.shape) != (n_in, n_out):
            if tuple(got.shape) == (n_out, n_in):
                raise Incorrect(
                    f"for an nn.Linear({n_in}, {n_out}) the weight is (out, in) = {(n_out, n_in)}; "
                    f"Conv1D stores it as (in, out) = {(n_in, n_out)}, but your result still has "
                    f"shape {(n_out, n_in)}. Swap the two dimensions."
                )
            raise Incorrect(
                f"the Conv1D weight of nn.Linear({n_in}, {n_out}) has shape (in, out) = "
                f"{(n_in, n_out)}, got {tuple(got.shape)}."
            )
        if torch.equal(got, weight.reshape(n_in, n_out)) and n_in != n_out:
            raise Incorrect(
                "you used reshape (or view): it keeps the numbers in memory order and "
                "only changes the shape, which scrambles the matrix. A transpose "
                "(.t() or .T) swaps rows and columns."
            )
        if n_in == n_out and torch.equal(got, weight):
            raise Incorrect(
                "for a square weight your result is the unchanged matrix: Conv1D "
                "computes x @ W, nn.Linear computes x @ W.T, so W must be transposed "
                "even when the shape does not change."
            )
        conv = Conv1D(n_out, n_in)  # Conv1D(nf=out_features, nx=in_features)
        with torch.no_grad():
            conv.weight.copy_(got)
            conv.bias.copy_(linear.bias)
            x = torch.randn(3, 5, n_in, generator=g)
            if not torch.allclose(conv(x), linear(x), atol=1e-5):
                raise Incorrect(
                    "a Conv1D with your weight does not compute the same outputs as the "
                    "nn.Linear. The Conv1D weight is the Linear weight transposed."
                )


conv1d_weight = Exercise(
    name="conv1d_weight",
    prompt="Write linear_to_conv1d(weight): the Hugging Face Conv1D weight (in, out) that computes the "
    "same function as an nn.Linear with weight (out, in).",
    checker=_check_linear_to_conv1d,
    hint_text="nn.Linear computes x @ W.T + b; Conv1D computes x @ W + b. Which W' gives x @ W' == x @ W.T?",
    solution_text="def linear_to_conv1d(weight):\n    return weight.t().contiguous()  # (out, in) -> (in, out)",
    reference=lambda: _ref_linear_to_conv1d,
    wrong_answers=[
        lambda: lambda w: w.clone(),
        lambda: lambda w: w.reshape(w.shape[1], w.shape[0]),
    ],
)


# --------------------------------------------------------------------------------------------
# (b) one line of merges.txt
# --------------------------------------------------------------------------------------------


def _ref_merges_line(left: bytes, right: bytes) -> str:
    chars = bytes_to_unicode()
    return "".join(chars[b] for b in left) + " " + "".join(chars[b] for b in right)


_MERGE_CASES = [
    (b" t", b"he"),
    (b"\n", b"\n"),
    (b"R", b"OMEO"),
    (b" ", b"  "),
    (bytes([0xE4, 0xB8]), bytes([0xAD])),  # the two halves of a Chinese character
    (b"\t", b"def"),
    (bytes([0xF0, 0x9F]), bytes([0x98, 0x80])),  # halves of an emoji
    (b"'", b"ll"),
]


def _check_merges_line(f) -> None:
    for left, right in _MERGE_CASES:
        want = _ref_merges_line(left, right)
        try:
            got = f(left, right)
        except UnicodeDecodeError:
            raise Incorrect(
                f"merges_line({left!r}, {right!r}) tried to decode the bytes as UTF-8. A token can be "
                f"half of a character, so never decode: map each byte on its own with "
                f"bytes_to_unicode()."
            ) from None
        if not isinstance(got, str):
            raise Incorrect(f"return a str (one line of merges.txt), got {type(got).__name__}.")
        if got == want:
            continue
        if got == want.replace(" ", ""):
            raise Incorrect("the two tokens must be separated by one space: 'Ġt he', not 'Ġthe'.")
        if got.endswith("\n") and got.rstrip("\n") == want:
            raise Incorrect("return the line without its trailing newline.")
        if got.count(" ") != 1 or any(ord(c) < 32 for c in got):
            raise Incorrect(
                f"merges_line({left!r}, {right!r}) gave {got!r}, expected {want!r}. Spaces, newlines "
                f"and tabs inside a token are written as printable characters ('Ġ', 'Ċ', 'ĉ' from "
                f"bytes_to_unicode()); the only real space in the line separates the two tokens."
            )
        raise Incorrect(
            f"merges_line({left!r}, {right!r}) gave {got!r}, expected {want!r}. Write "
            f"every byte with bytes_to_unicode() and join the two tokens with one space."
        )


merges_line = Exercise(
    name="merges_line",
    prompt="Write merges_line(left, right): the line of a GPT-2 merges.txt for the merge of the tokens "
    "with bytes `left` and `right` (e.g. b' t', b'he' -> 'Ġt he').",
    checker=_check_merges_line,
    hint_text="chars = bytes_to_unicode() maps each byte value to one printable character; write both "
    "tokens byte by byte and put one space between them.",
    solution_text="from gptlab.tokenizers import bytes_to_unicode\n\n"
    "def merges_line(left, right):\n"
    "    chars = bytes_to_unicode()\n"
    "    write = lambda token: ''.join(chars[b] for b in token)\n"
    "    return write(left) + ' ' + write(right)",
    reference=lambda: _ref_merges_line,
    wrong_answers=[
        lambda: lambda a, b: a.decode("utf-8") + " " + b.decode("utf-8"),
        lambda: lambda a, b: _ref_merges_line(a, b).replace(" ", ""),
        lambda: lambda a, b: a.decode("latin-1") + " " + b.decode("latin-1"),
    ],
)


# --------------------------------------------------------------------------------------------
# (c) the loss of a Hugging Face causal LM: labels are shifted inside
# --------------------------------------------------------------------------------------------


def _ref_hf_causal_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    # position t predicts token t+1: drop the last logit and the first label
    shift_logits = logits[:, :-1, :]  # (B, T-1, V)
    shift_labels = labels[:, 1:]  # (B, T-1)
    return F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)), shift_labels.reshape(-1), ignore_index=-100
    )


def _loss_cases():
    g = torch.Generator().manual_seed(1212)
    cases = []
    for B, T, V in [(2, 7, 11), (3, 5, 20), (1, 9, 6)]:
        logits = torch.randn(B, T, V, generator=g, dtype=torch.float64) * 2
        labels = torch.randint(0, V, (B, T), generator=g)
        cases.append((logits, labels))
    logits, labels = cases[1]
    masked = labels.clone()
    masked[:, :2] = -100  # a prompt that is not learned from
    cases.append((logits, masked))
    return cases


def _check_hf_causal_loss(f) -> None:
    for logits, labels in _loss_cases():
        want = _ref_hf_causal_loss(logits, labels)
        got = f(logits.clone(), labels.clone())
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            raise Incorrect("return the mean loss as a one-element tensor (a scalar).")
        got = got.reshape(())
        if torch.allclose(got, want, rtol=1e-6, atol=1e-9):
            continue
        B, T, V = logits.shape
        no_shift = F.cross_entropy(logits.reshape(-1, V), labels.reshape(-1), ignore_index=-100)
        if torch.allclose(got, no_shift, rtol=1e-6):
            raise Incorrect(
                "you compared the logits at position t with the label at position t. In "
                "Hugging Face the labels are the inputs themselves; the model shifts them: "
                "the logits at t are scored against labels[:, t + 1]."
            )
        wrong_way = F.cross_entropy(
            logits[:, 1:].reshape(-1, V), labels[:, :-1].reshape(-1), ignore_index=-100
        )
        if torch.allclose(got, wrong_way, rtol=1e-6):
            raise Incorrect(
                "you shifted the wrong way: drop the LAST position of the logits and the "
                "FIRST label (position t predicts token t + 1)."
            )
        if (labels == -100).any():
            raise Incorrect(
                "with -100 in the labels your loss differs: positions labelled -100 must "
                "be left out of the mean (ignore_index=-100)."
            )
        raise Incorrect(
            f"the loss is {float(got):.6f}, expected {float(want):.6f}. Use "
            f"F.cross_entropy on logits[:, :-1] and labels[:, 1:], flattened to (N, V) "
            f"and (N,)."
        )


hf_causal_loss = Exercise(
    name="hf_causal_loss",
    prompt="Write hf_causal_loss(logits, labels): the loss that GPT2LMHeadModel(input_ids, labels=labels) "
    "computes, where labels are the input ids themselves (shifted inside), -100 = ignored.",
    checker=_check_hf_causal_loss,
    hint_text="The logits at position t predict the token at t + 1: compare logits[:, :-1] with "
    "labels[:, 1:] using F.cross_entropy(..., ignore_index=-100) after flattening.",
    solution_text="def hf_causal_loss(logits, labels):\n"
    "    V = logits.size(-1)\n"
    "    return F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1),\n"
    "                           ignore_index=-100)",
    reference=lambda: _ref_hf_causal_loss,
    wrong_answers=[
        lambda: (
            lambda lg, lb: F.cross_entropy(
                lg.reshape(-1, lg.size(-1)), lb.reshape(-1), ignore_index=-100
            )
        ),
        lambda: (
            lambda lg, lb: F.cross_entropy(
                lg[:, 1:].reshape(-1, lg.size(-1)), lb[:, :-1].reshape(-1), ignore_index=-100
            )
        ),
    ],
)
