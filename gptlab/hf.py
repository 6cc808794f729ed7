"""Hugging Face ``transformers`` interop (chapters 06 and 12): :func:`gpt_from_hf` and
:func:`gpt_to_hf` convert between our GPT and ``GPT2LMHeadModel`` with the same logits;
:func:`hf_tokenizer` gives exactly our BPE ids; :func:`export_hf` writes a folder that the Auto
classes load offline and :func:`load_hf` reads it back."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from gptlab.tokenizers import GPT2_SPLIT_PATTERN, BPETokenizer, bytes_to_unicode
from gptlab.utils import short_path, tr

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedModel, PreTrainedTokenizerFast

    from gptlab.model import GPT, GPTConfig

PathLike = Union[str, "os.PathLike[str]"]
#: The files :func:`export_hf` writes.
EXPORTED_FILES = ("config.json", "generation_config.json", "model.safetensors",
                  "tokenizer.json", "tokenizer_config.json")  # fmt: skip
END_OF_TEXT = "<|endoftext|>"  # GPT-2's one special token
_BYTE_CHARS = bytes_to_unicode()  # byte -> the character GPT-2's files write for it

# Hugging Face's GPT-2 uses Conv1D layers, x @ W + b with W stored (in, out): nn.Linear's
# (out, in) transposed. These weights are transposed both ways.
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


class WeightsNotCachedError(OSError):
    """Pretrained weights asked for by Hub name are not cached and cannot be downloaded."""


def _hf_offline() -> bool:
    """Whether offline mode is requested *now* (huggingface_hub reads it once, at import)."""
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    return any(os.environ.get(n, "").strip().lower() in {"1", "true", "yes", "on"} for n in names)


def _not_cached(name: str, reason: str) -> WeightsNotCachedError:
    from huggingface_hub.constants import HF_HUB_CACHE

    cache = short_path(HF_HUB_CACHE)
    return WeightsNotCachedError(tr(
        "Could not load the pretrained weights {q}: the weights are not in the local Hugging "
        "Face cache ({cache}) and {reason}. To fix this, connect to the internet once and run "
        "`GPT2LMHeadModel.from_pretrained({q})` (or `hf download {name}`, called "
        "`huggingface-cli download {name}` in older versions) to cache them, or pass the path "
        "of a folder saved with `model.save_pretrained(folder)`."
    ).format(q=repr(name), name=name, cache=cache, reason=reason))  # fmt: skip


def _load_hf_model(model_or_path: Any) -> GPT2LMHeadModel:
    """Return a ``GPT2LMHeadModel`` from an instance, a local folder or a Hub name."""
    from transformers import GPT2LMHeadModel

    if isinstance(model_or_path, GPT2LMHeadModel):
        return model_or_path
    if not isinstance(model_or_path, (str, os.PathLike)):
        raise TypeError(
            f"from_hf expects a transformers.GPT2LMHeadModel, a folder path or a Hub name, got "
            f"{type(model_or_path).__name__}; load other models with from_pretrained(...) first."
        )
    text = os.fspath(model_or_path)
    folder = os.path.expanduser(text)
    if os.path.isdir(folder):  # a local folder never touches the network
        return GPT2LMHeadModel.from_pretrained(folder, local_files_only=True)
    looks_like_path = isinstance(model_or_path, Path) or text.startswith((".", "/", "~", "\\"))
    if looks_like_path or os.path.exists(folder):
        raise FileNotFoundError(
            f"{text!r} is not a folder. Pass a folder written by model.save_pretrained(folder) "
            f"(config.json, model.safetensors), a GPT2LMHeadModel, or a Hub name like 'gpt2'."
        )
    try:  # a Hub name: the local cache first, so that cached weights never need the network
        return GPT2LMHeadModel.from_pretrained(text, local_files_only=True)
    except OSError as exc:
        if _hf_offline():
            raise _not_cached(text, tr("offline mode is on (HF_HUB_OFFLINE=1)")) from exc
    try:
        return GPT2LMHeadModel.from_pretrained(text)
    except Exception as exc:  # network errors come in many types; the cause stays attached
        why = f"{type(exc).__name__}: {exc}"
        raise _not_cached(text, tr("downloading them failed ({why})").format(why=why)) from exc


def _config_from_hf(cfg: GPT2Config, bias: bool, dropout: float | None) -> GPTConfig:
    """Translate a ``GPT2Config``; NotImplementedError for a variant our GPT does not implement."""
    from gptlab.model import GPTConfig

    C = cfg.n_embd
    ours = {  # what this GPT implements; the first value stands for a missing setting
        "activation_function": ("gelu_new", "gelu_pytorch_tanh"),  # GELU, tanh approximation
        "n_inner": (None, 4 * C),  # the MLP width
        "scale_attn_weights": (True,),  # scores scaled by 1/sqrt(hs)
        "scale_attn_by_inverse_layer_idx": (False,),
        "reorder_and_upcast_attn": (False,),
        "add_cross_attention": (False,),
    }
    settings = {key: getattr(cfg, key, allowed[0]) for key, allowed in ours.items()}
    unsupported = [f"{key}={value!r}" for key, value in settings.items() if value not in ours[key]]
    eps = getattr(cfg, "layer_norm_epsilon", 1e-5)
    if not math.isclose(eps, 1e-5, rel_tol=1e-6):
        unsupported.append(f"layer_norm_epsilon={eps}")
    if unsupported:
        raise NotImplementedError(
            f"the Hugging Face config has {', '.join(unsupported)}, which this GPT does not "
            f"implement: it is the original GPT-2 (GELU with the tanh approximation, an MLP of "
            f"4 * n_embd = {4 * C}, layer_norm_epsilon=1e-5), so the logits would differ."
        )
    block_size = getattr(cfg, "n_positions", None) or cfg.n_ctx
    dropout = cfg.resid_pdrop if dropout is None else dropout
    return GPTConfig(
        cfg.vocab_size, block_size, cfg.n_layer, cfg.n_head, C, dropout=dropout, bias=bias
    )


def _copy_parameters(model: GPT, hf_model: GPT2LMHeadModel, to_hf: bool) -> dict:
    """The key map of both directions: copy our ``x`` into Hugging Face's ``transformer.x``
    (``to_hf``) or back, Conv1D weights transposed (call it under ``torch.no_grad()``); return
    the Hugging Face parameters left over by name. ValueError for a missing or misshapen one."""
    # named_parameters() skips old causal-mask buffers and lists a tied lm_head.weight once.
    hf_params = dict(hf_model.named_parameters())
    for name, param in model.named_parameters():
        hf_name = name if name.startswith("lm_head.") else "transformer." + name
        if hf_name not in hf_params:
            raise ValueError(f"the Hugging Face model lacks {hf_name!r} (our {name!r}).")
        theirs = hf_params.pop(hf_name)
        theirs = theirs.t() if name.endswith(_CONV1D) else theirs  # (in, out) -> (out, in)
        if theirs.shape != param.shape:
            raise ValueError(
                f"shape mismatch for {name}: ours {tuple(param.shape)}, Hugging Face's "
                f"{tuple(theirs.shape)} (after transposing Conv1D weights)."
            )
        destination, source = (theirs, param) if to_hf else (param, theirs)
        destination.copy_(source)  # theirs is a view: copying into it writes the parameter
    return hf_params


def gpt_from_hf(
    model_or_path: GPT2LMHeadModel | PathLike, *, bias: bool = True, dropout: float | None = None
) -> GPT:
    """A :class:`gptlab.model.GPT` (eval mode, float32, CPU) from a ``GPT2LMHeadModel``, a
    ``save_pretrained`` folder (read offline) or a Hub name such as ``"gpt2"`` (local cache
    first). ``bias=False`` needs every bias to be zero; ``dropout`` defaults to ``resid_pdrop``.
    Raises WeightsNotCachedError (a Hub name not cached, offline), NotImplementedError (a GPT-2
    variant: other activation, untied output layer ...) and ValueError (``bias=False`` but a
    bias is not zero; a parameter missing or unknown)."""
    import torch

    from gptlab.model import GPT

    hf_model = _load_hf_model(model_or_path)
    model = GPT(_config_from_hf(hf_model.config, bias, dropout))
    with torch.no_grad():
        rest = _copy_parameters(model, hf_model, to_hf=False)
        # What is left: an untied lm_head (must equal wte) and, for bias=False, the biases.
        for hf_name, src in rest.items():
            if hf_name == "lm_head.weight":
                if not torch.equal(src.to(model.wte.weight), model.wte.weight):
                    raise NotImplementedError(
                        "the Hugging Face model's lm_head.weight differs from its token "
                        "embedding (untied output layer); this GPT always ties them."
                    )
            elif hf_name.endswith(".bias") and not bias:
                if bool(torch.any(src != 0)):
                    raise ValueError(
                        f"cannot convert to a bias=False GPT: the Hugging Face parameter "
                        f"{hf_name} is not zero. Use bias=True (the default) to keep the biases."
                    )
            else:
                raise ValueError(f"unexpected Hugging Face parameter {hf_name!r}: not a GPT-2?")
    return model.eval()


def gpt_to_hf(model: GPT) -> GPT2LMHeadModel:
    """Export a :class:`gptlab.model.GPT` to a ``GPT2LMHeadModel`` (float32, CPU, eval mode)
    with the same logits; a ``bias=False`` model exports zero biases (HF's GPT-2 has them)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    c = model.config
    # GPT-2's <|endoftext|> is the last id; setting it keeps tiny vocabularies valid.
    config = GPT2Config(
        vocab_size=c.vocab_size, n_positions=c.block_size, n_embd=c.n_embd, n_layer=c.n_layer,
        n_head=c.n_head, activation_function="gelu_new", layer_norm_epsilon=1e-5,
        resid_pdrop=c.dropout, embd_pdrop=c.dropout, attn_pdrop=c.dropout,
        tie_word_embeddings=True, bos_token_id=c.vocab_size - 1, eos_token_id=c.vocab_size - 1,
    )  # fmt: skip
    hf_model = GPT2LMHeadModel(config)
    with torch.no_grad():
        rest = _copy_parameters(model, hf_model, to_hf=True)
        for hf_name, hf_param in rest.items():
            if not (hf_name.endswith(".bias") and not c.bias):
                raise RuntimeError(f"no parameter of ours maps to Hugging Face's {hf_name!r}.")
            hf_param.zero_()  # a zero bias is the same as no bias
    return hf_model.eval()


def token_string(token: bytes) -> str:
    """How GPT-2's files write a token's bytes, one character per byte: ``b" the"`` -> ``Ġthe``."""
    return "".join([_BYTE_CHARS[b] for b in token])


def merges_lines(bpe: BPETokenizer) -> list[str]:
    """The merges of ``bpe`` as the lines of a GPT-2 ``merges.txt``: ``"Ġt he"``."""
    if not isinstance(bpe, BPETokenizer):
        raise TypeError(
            f"expected a gptlab BPETokenizer, got {type(bpe).__name__}: only byte-level BPE "
            f"tokenizers can be written in Hugging Face's GPT-2 format."
        )
    return [f"{token_string(bpe.vocab[a])} {token_string(bpe.vocab[b])}" for a, b in bpe.merges]


def _vocab_strings(bpe: BPETokenizer) -> dict[str, int]:
    """token string -> id for every id (special tokens are written as their plain text)."""
    specials = {i: s for s, i in bpe.special_tokens.items()}
    vocab: dict[str, int] = {}
    for token_id in range(bpe.vocab_size):
        text = specials[token_id] if token_id in specials else token_string(bpe.vocab[token_id])
        if text in vocab:
            raise ValueError(
                f"token ids {vocab[text]} and {token_id} are both written {text!r}, but Hugging "
                f"Face keys its vocabulary by token text: two ids for the same bytes (or a "
                f"special token that looks like an ordinary one) cannot be exported."
            )
        vocab[text] = token_id
    return vocab


def hf_tokenizer(bpe: BPETokenizer, model_max_length: int | None = None) -> PreTrainedTokenizerFast:
    """A Hugging Face fast tokenizer whose ``encode``/``decode`` equal ``bpe``'s exactly;
    ``"<|endoftext|>"``, if present, becomes the bos and eos token, as in GPT-2, and
    ``model_max_length`` (the model's ``block_size``) tells truncation where to cut. TypeError
    if ``bpe`` is not a BPETokenizer, ValueError if two ids are written the same."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    merges = [tuple(line.split(" ")) for line in merges_lines(bpe)]  # checks the type
    # ignore_merges=False: always replay the merges, never shortcut a chunk found whole in the
    # vocabulary. No unknown token is needed: every byte has a token.
    tok = Tokenizer(models.BPE(_vocab_strings(bpe), merges, ignore_merges=False))
    # GPT-2's split is built into ByteLevel; a custom pattern cuts first. (Text that a pattern
    # does not match is dropped by our encoder but kept here; GPT-2's matches everything.)
    if bpe.pattern == GPT2_SPLIT_PATTERN:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        split = pre_tokenizers.Split(Regex(bpe.pattern), behavior="isolated")
        byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        tok.pre_tokenizer = pre_tokenizers.Sequence([split, byte_level])
    tok.decoder = decoders.ByteLevel()
    # special tokens are matched in the raw text before the split, as our encode() does
    specials = [AddedToken(t, special=True, normalized=False) for t in bpe.special_tokens]
    tok.add_special_tokens(specials)
    # decode must give back the exact text: no clean-up of spaces
    kwargs: dict[str, Any] = dict(clean_up_tokenization_spaces=False, add_prefix_space=False)
    if END_OF_TEXT in bpe.special_tokens:
        kwargs.update(bos_token=END_OF_TEXT, eos_token=END_OF_TEXT)
    if others := [s for s in bpe.special_tokens if s != END_OF_TEXT]:
        kwargs["additional_special_tokens"] = others
    if model_max_length is not None:
        kwargs["model_max_length"] = int(model_max_length)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)


@contextlib.contextmanager
def _quiet_progress():
    """Hide transformers' "Loading weights" / "Writing model shards" bars for a moment."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def export_hf(model: GPT, tokenizer: BPETokenizer, folder: PathLike) -> Path:
    """Write ``model`` (as float32) and ``tokenizer`` (as :func:`hf_tokenizer`) into ``folder``
    (created if needed): the :data:`EXPORTED_FILES`, which the Auto classes (or :func:`load_hf`)
    load offline. TypeError for a model or tokenizer of the wrong kind, ValueError if their
    vocabulary sizes differ, NotADirectoryError if ``folder`` is a file."""
    from transformers import GenerationConfig

    from gptlab.model import GPT

    if not isinstance(model, GPT):
        raise TypeError(f"export_hf expects a gptlab GPT model, got {type(model).__name__}.")
    hf_tok = hf_tokenizer(tokenizer, model_max_length=model.config.block_size)
    V = model.config.vocab_size
    if len(hf_tok) != V:
        raise ValueError(
            f"the tokenizer has {len(hf_tok)} tokens but the model's vocab_size is {V}: ids would "
            f"mean different tokens. Export the tokenizer the model was trained with."
        )
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} exists and is not a folder; choose another path.")
    folder.mkdir(parents=True, exist_ok=True)
    hf_model = gpt_to_hf(model)
    # Padding: the end-of-text id if there is one, else the token of byte 0xFF, never in UTF-8
    # text (generate hides pad ids found in a prompt).
    eos_id = hf_tok.eos_token_id
    pad_id = eos_id if eos_id is not None else tokenizer.byte_to_id[0xFF]
    ids = dict(bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=pad_id)
    hf_model.config.update(ids)
    # Default length: half the context, so that a prompt plus the new tokens fits in the
    # positions (the text-generation pipeline would otherwise ask for 256 new tokens).
    half = max(1, model.config.block_size // 2)
    hf_model.generation_config = GenerationConfig(**ids, max_new_tokens=half)
    with _quiet_progress():
        hf_model.save_pretrained(folder)  # safetensors by default
        hf_tok.save_pretrained(folder)
    return folder


def load_hf(folder: PathLike) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """Load ``(model in eval mode, tokenizer)`` offline from an :func:`export_hf` folder;
    FileNotFoundError for no folder, or one without ``config.json`` or ``tokenizer.json``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no folder at {folder}. Write one with gptlab.hf.export_hf(model, tokenizer, folder) "
            f"or model.save_pretrained(folder) + tokenizer.save_pretrained(folder)."
        )
    present = sorted(p.name for p in folder.iterdir())
    if missing := [name for name in ("config.json", "tokenizer.json") if name not in present]:
        raise FileNotFoundError(
            f"{folder} is not a complete Hugging Face model folder: {', '.join(missing)} missing "
            f"(found: {', '.join(present) or 'nothing'}). Export with gptlab.hf.export_hf."
        )
    with _quiet_progress():
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return model.eval(), tokenizer
