"""Chapter 12 (Hugging Face): Conv1D weights, merges.txt, the causal-LM loss, the export (build)."""
# fmt: off

import torch
import torch.nn.functional as F

from gptlab.exercises import Exercise, tiny_gpt
from gptlab.tokenizers import bytes_to_unicode


def linear_to_conv1d(weight):
    return weight.t()  # nn.Linear keeps W (out, in), x @ W.T; Conv1D keeps (in, out), x @ W
conv1d_weight = Exercise(12, "conv1d_weight", "recall", 3,
    "linear_to_conv1d(weight): the weight (in, out) of the Hugging Face Conv1D that computes "
    "what an nn.Linear with this weight (out, in) computes.",
    linear_to_conv1d, lambda: [(torch.randn(12, 4),), (torch.randn(8, 8),), (torch.randn(3, 6),)],
    hint_text="nn.Linear computes x @ W.T + b, Conv1D x @ W' + b: which W' gives the same?",
    mistakes=[(lambda w: w, "Conv1D computes x @ W, nn.Linear x @ W.T: transpose the weight "
               "(it matters even when the matrix is square)."),
        (lambda w: w.reshape(w.shape[1], w.shape[0]), "reshape keeps the numbers in memory "
         "order and scrambles the matrix; a transpose (.t()) swaps rows and columns.")])

def merges_line(left, right):
    chars = bytes_to_unicode()  # one printable character per byte: never decode UTF-8
    return "".join(chars[b] for b in left) + " " + "".join(chars[b] for b in right)
merges_line = Exercise(12, "merges_line", "apply", 10,
    "merges_line(left, right): the line of a GPT-2 merges.txt for the merge of the tokens with "
    "bytes `left` and `right` (e.g. b' t', b'he' -> 'Ġt he').",
    merges_line, lambda: [(b" t", b"he"), (b"\n", b"\n"), (b"R", b"OMEO"), (b" ", b"  "),
                          (bytes([0xE4, 0xB8]), bytes([0xAD])), (b"'", b"ll")],
    hint_text="Map each byte of both tokens with bytes_to_unicode(); join the two with one space.",
    mistakes=[(lambda a, b: a.decode() + " " + b.decode(), "a token can be half of a character "
               "and spaces must become 'Ġ': never decode, map each byte with bytes_to_unicode()."),
        (lambda a, b: merges_line.reference(a, b).replace(" ", ""), "separate the two tokens "
         "with one space: 'Ġt he', not 'Ġthe'."),
        (lambda a, b: merges_line.reference(a, b) + "\n", "return the line without its newline.")])

def hf_causal_loss(logits, labels):
    shift_logits, shift_labels = logits[:, :-1], labels[:, 1:]  # position t predicts t + 1
    return F.cross_entropy(shift_logits.flatten(0, 1), shift_labels.flatten(), ignore_index=-100)
hf_causal_loss = Exercise(12, "hf_causal_loss", "apply", 10,
    "hf_causal_loss(logits, labels): the loss GPT2LMHeadModel(input_ids, labels=labels) computes, "
    "where labels are the input ids themselves (shifted inside), -100 = ignored.",
    hf_causal_loss, lambda: [(torch.randn(B, T, V, dtype=torch.float64), torch.randint(0, V, (B, T))
        .masked_fill(torch.arange(T) >= T - 2, -100)) for B, T, V in [(2, 7, 11), (3, 5, 20)]],
    hint_text="Shift inside: logits[:, :-1] against labels[:, 1:], with ignore_index=-100.",
    mistakes=[(lambda lg, y: F.cross_entropy(lg.flatten(0, 1), y.flatten(), ignore_index=-100),
               "the labels are the inputs, unshifted: score logits[:, :-1] against labels[:, 1:]."),
        (lambda lg, y: F.cross_entropy(lg[:, 1:].flatten(0, 1), y[:, :-1].flatten(),
                                       ignore_index=-100), "the shift goes the other way: the "
         "logits at position t are scored against the label at t + 1."),
        (lambda lg, y: F.cross_entropy(lg[:, :-1].flatten(0, 1), y[:, 1:].clamp(min=0).flatten()),
         "positions labelled -100 must be ignored (ignore_index=-100).")])

def to_hf_state_dict(state_dict):
    conv1d = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
    out = {}
    for name, tensor in state_dict.items():
        if name.endswith(conv1d):  # nn.Linear keeps (out, in); HF's Conv1D keeps (in, out)
            tensor = tensor.t()
        out[name if name == "lm_head.weight" else "transformer." + name] = tensor
    return out
def _run_export(answer, seed, n_layer):
    from transformers import GPT2Config, GPT2LMHeadModel
    model = tiny_gpt(seed, vocab_size=37, block_size=12, n_layer=n_layer)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=37, n_positions=12, n_embd=16, n_layer=n_layer,
                                    n_head=2, bos_token_id=36, eos_token_id=36)).eval()
    sd, want = answer(model.state_dict()), hf.state_dict()
    wrong = sorted(k for k in set(sd) | set(want) if k != "lm_head.weight" and (
        k not in sd or k not in want or sd[k].shape != want[k].shape))
    if not wrong:  # else return the names that are missing, unexpected or of the wrong shape
        hf.load_state_dict(sd, strict=False)
    return wrong or hf(torch.randint(0, 37, (2, 12))).logits.detach()
def _after(edit):  # a wrong export: the right one, then edit(name, tensor) -> (name, tensor)
    return lambda sd: dict(edit(k, v) for k, v in to_hf_state_dict.reference(sd).items())
to_hf_state_dict = Exercise(12, "to_hf_state_dict", "build", 20,
    "to_hf_state_dict(state_dict): a gptlab GPT's state_dict renamed and laid out for Hugging "
    "Face's GPT2LMHeadModel, which must then give the same logits.",
    to_hf_state_dict, lambda: [(1, 1), (2, 2)], run=_run_export,
    forbidden=("gptlab.hf.gpt_to_hf", "gptlab.model.GPT.to_hf"),
    hint_text="Every name but lm_head.weight gains the prefix 'transformer.'; the four Conv1D "
    "weights (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj) are transposed; nothing else is.",
    mistakes=[(_after(lambda k, v: (k, v.t() if ".h." in k and v.dim() == 2 else v)), "the "
               "Conv1D weights are not transposed: Hugging Face's Conv1D stores (in, out)."),
        (_after(lambda k, v: (k, v.t() if k.endswith(("wte.weight", "wpe.weight")) else v)),
         "transpose only the four Conv1D weights: the embeddings keep their (rows, C) layout."),
        (_after(lambda k, v: (k.removeprefix("transformer."), v)), "Hugging Face's names start "
         "with 'transformer.' (all but lm_head.weight)."),
        (_after(lambda k, v: (k.replace("transformer.ln_f", "ln_f"), v)), "the final LayerNorm "
         "is inside the transformer too: transformer.ln_f.weight and transformer.ln_f.bias."),
        (_after(lambda k, v: ("transformer." + k if k == "lm_head.weight" else k, v)), "lm_head "
         "sits outside the transformer: its name stays lm_head.weight.")])
