"""Chapter 12 (the Hugging Face workflow): a line of merges.txt, the causal-LM loss, and the
export of a GPT's weights to GPT2LMHeadModel's names and layout (build).
"""
# fmt: off

import torch
import torch.nn.functional as F

from gptlab.exercises import Exercise, tiny_gpt
from gptlab.tokenizers import bytes_to_unicode


def merges_line(left, right):
    chars = bytes_to_unicode()  # one printable character per byte: never decode UTF-8
    return "".join(chars[b] for b in left) + " " + "".join(chars[b] for b in right)
merges_line = Exercise(
    12, "merges_line", "apply", 10,
    "merges_line(left, right): the line of a GPT-2 merges.txt for the merge of the tokens with "
    "bytes `left` and `right` (e.g. b' t', b'he' -> 'Ġt he').",
    merges_line, lambda: [(b" t", b"he"), (b"\n", b"\n"), (b"R", b"OMEO"), (b" ", b"  "),
                          (bytes([0xE4, 0xB8]), bytes([0xAD])), (b"'", b"ll")],
    hint_text="Map every byte of each token with bytes_to_unicode() and join the two tokens with "
    "one space.",
    mistakes=[
        (lambda a, b: a.decode() + " " + b.decode(), "a token can be half of a character and "
         "spaces must become 'Ġ': never decode, map each byte with bytes_to_unicode()."),
        (lambda a, b: merges_line.reference(a, b).replace(" ", ""), "separate the two tokens "
         "with one space: 'Ġt he', not 'Ġthe'."),
        (lambda a, b: merges_line.reference(a, b) + "\n", "return the line without its newline."),
    ])

def hf_causal_loss(logits, labels):
    shift_logits, shift_labels = logits[:, :-1], labels[:, 1:]  # position t predicts t + 1
    return F.cross_entropy(shift_logits.flatten(0, 1), shift_labels.flatten(), ignore_index=-100)

def _logits_labels():
    cases = []
    for B, T, V in [(2, 7, 11), (3, 5, 20)]:
        labels = torch.randint(0, V, (B, T))
        labels[0, -2:] = -100  # padding
        cases.append((torch.randn(B, T, V, dtype=torch.float64), labels))
    return cases
hf_causal_loss = Exercise(
    12, "hf_causal_loss", "apply", 10,
    "hf_causal_loss(logits, labels): the loss GPT2LMHeadModel(input_ids, labels=labels) computes, "
    "where labels are the input ids themselves (shifted inside), -100 = ignored.",
    hf_causal_loss, _logits_labels,
    hint_text="Hugging Face shifts inside: logits[:, :-1] against labels[:, 1:], cross-entropy "
    "with ignore_index=-100.",
    mistakes=[
        (lambda lg, y: F.cross_entropy(lg.flatten(0, 1), y.flatten(), ignore_index=-100),
         "labels are NOT shifted by the caller: shift inside (logits[:, :-1] vs labels[:, 1:])."),
        (lambda lg, y: F.cross_entropy(lg[:, 1:].flatten(0, 1), y[:, :-1].flatten(),
                                       ignore_index=-100), "the shift goes the other way: the "
         "logits at position t are scored against the label at t + 1."),
        (lambda lg, y: F.cross_entropy(lg[:, :-1].flatten(0, 1), y[:, 1:].clamp(min=0).flatten()),
         "positions labelled -100 must be ignored (ignore_index=-100)."),
    ])

CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")

def to_hf_state_dict(state_dict):
    out = {}
    for name, tensor in state_dict.items():
        if name.endswith(CONV1D):  # nn.Linear keeps (out, in); HF's Conv1D keeps (in, out)
            tensor = tensor.t()
        out[name if name == "lm_head.weight" else "transformer." + name] = tensor
    return out

def _run_export(answer, seed, n_layer):
    from transformers import GPT2Config, GPT2LMHeadModel

    model = tiny_gpt(seed, vocab_size=37, block_size=12, n_layer=n_layer)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=37, n_positions=12, n_embd=16, n_layer=n_layer,
                                    n_head=2, activation_function="gelu_new", bos_token_id=36,
                                    eos_token_id=36)).eval()
    sd, want = answer(model.state_dict()), hf.state_dict()
    wrong = sorted(k for k in set(sd) | set(want) if k != "lm_head.weight" and (
        k not in sd or k not in want or sd[k].shape != want[k].shape))
    if wrong:
        return wrong  # the names that are missing, unexpected or of the wrong shape
    hf.load_state_dict(sd, strict=False)
    with torch.no_grad():
        return hf(torch.randint(0, 37, (2, 12))).logits
to_hf_state_dict = Exercise(
    12, "to_hf_state_dict", "build", 20,
    "to_hf_state_dict(state_dict): a gptlab GPT's state_dict renamed and laid out for Hugging "
    "Face's GPT2LMHeadModel, which must then give the same logits.",
    to_hf_state_dict, lambda: [(1, 1), (2, 2)], run=_run_export,
    forbidden=("gptlab.hf.gpt_to_hf", "gptlab.model.GPT.to_hf"),
    hint_text="Every name but lm_head.weight gains the prefix 'transformer.'; the four Conv1D "
    "weights (c_attn, c_proj, c_fc, mlp.c_proj) are transposed; nothing else changes.",
    mistakes=[
        (lambda sd: {("" if k == "lm_head.weight" else "transformer.") + k: v
                     for k, v in sd.items()},
         "the Conv1D weights are not transposed: Hugging Face's Conv1D stores (in, out)."),
        (lambda sd: {("" if k == "lm_head.weight" else "transformer.") + k: v.t() if v.dim() == 2
                     else v for k, v in sd.items()}, "only the four Conv1D weights are "
         "transposed; the embeddings keep their (rows, C) layout."),
        (lambda sd: {k: v.t() if k.endswith(CONV1D) else v for k, v in sd.items()},
         "Hugging Face's names start with 'transformer.' (all but lm_head.weight)."),
    ])
