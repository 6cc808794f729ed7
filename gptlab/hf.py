"""Hugging Face ``transformers`` and gptlab: weights, tokenizer and whole folders (ch. 06, 12).

- :func:`gpt_from_hf` / :func:`gpt_to_hf` (``GPT.from_hf`` / ``GPT.to_hf``) convert weights
  between our GPT and ``GPT2LMHeadModel``, preserving the logits.
- :func:`hf_tokenizer` turns a :class:`gptlab.tokenizers.BPETokenizer` into a
  ``PreTrainedTokenizerFast`` that gives exactly our ids and decodes to the same bytes.
- :func:`export_hf` writes a folder that ``AutoModelForCausalLM`` and ``AutoTokenizer`` load
  offline; :func:`load_hf` reads it back.

The tokenizer translation is exact: Hugging Face writes each byte of a token as one printable
character (:func:`gptlab.tokenizers.bytes_to_unicode`: the space is ``Ġ``, the newline
``Ċ``), maps those strings to ids and lists merges as pairs of strings, most important first;
we keep our ids and merge order, split text with the same regular expression (GPT-2's), add
no prefix space, and let the ``ByteLevel`` decoder turn characters back into bytes.

``transformers`` is imported inside the functions, so importing this module stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from gptlab.tokenizers import GPT2_SPLIT_PATTERN, BPETokenizer, bytes_to_unicode

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedModel, PreTrainedTokenizerFast

    from gptlab.model import GPT, GPTConfig

__all__ = [
    "gpt_from_hf",
    "gpt_to_hf",
    "hf_tokenizer",
    "export_hf",
    "load_hf",
    "token_string",
    "merges_lines",
    "EXPORTED_FILES",
    "WeightsNotCachedError",
]

PathLike = Union[str, "os.PathLike[str]"]

#: The files :func:`export_hf` writes.
EXPORTED_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
)

#: GPT-2's name for its one special token; used as end-of-text when the tokenizer has it.
END_OF_TEXT = "<|endoftext|>"

# ---------------------------------------------------------------------------------------------
# Weights: our GPT <-> GPT2LMHeadModel (chapter 06)
# ---------------------------------------------------------------------------------------------


class WeightsNotCachedError(OSError):
    """Pretrained weights asked for by Hub name are not cached and cannot be downloaded."""


# Hugging Face's GPT-2 uses `Conv1D` layers (a name inherited from OpenAI's TensorFlow code):
# x @ W + b with W stored as (in, out). nn.Linear computes x @ W.T + b with W stored as
# (out, in). Same maths, transposed storage: these weights are transposed both ways.
_CONV1D_WEIGHTS = (
    "attn.c_attn.weight",
    "attn.c_proj.weight",
    "mlp.c_fc.weight",
    "mlp.c_proj.weight",
)


def _hf_name(name: str) -> str:
    """Our parameter name -> Hugging Face's: ``h.0.ln_1.weight`` ->
    ``transformer.h.0.ln_1.weight``; ``lm_head.weight`` stays."""
    return name if name.startswith("lm_head.") else "transformer." + name


def _our_name(hf_name: str) -> str:
    """Hugging Face's parameter name -> ours (drop the ``transformer.`` prefix)."""
    return hf_name.removeprefix("transformer.")


def _hf_offline() -> bool:
    """Whether offline mode is requested *now* (huggingface_hub reads it once, at import)."""
    flags = (
        os.environ.get(n, "").strip().lower() for n in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )
    return any(f in {"1", "true", "yes", "on"} for f in flags)


def _not_cached_message(name: str, reason: str) -> str:
    try:
        from huggingface_hub import constants

        cache = constants.HF_HUB_CACHE
    except Exception:  # pragma: no cover - the cache location is only for the message
        cache = "~/.cache/huggingface/hub"
    return (
        f"Could not load the pretrained weights {name!r}: the weights are not in the local "
        f"Hugging Face cache ({cache}) and {reason}. To fix this, connect to the internet once "
        f"and run `GPT2LMHeadModel.from_pretrained({name!r})` (or `hf download {name}`, called "
        f"`huggingface-cli download {name}` in older versions) to cache them, or pass the path "
        f"of a folder saved with `model.save_pretrained(folder)`."
    )


def _load_hf_model(model_or_path: Any) -> GPT2LMHeadModel:
    """Return a ``GPT2LMHeadModel`` from an instance, a local folder or a Hub name."""
    import torch
    from transformers import GPT2LMHeadModel

    if isinstance(model_or_path, GPT2LMHeadModel):
        return model_or_path
    if isinstance(model_or_path, torch.nn.Module):
        raise TypeError(
            f"from_hf expects a transformers.GPT2LMHeadModel, got {type(model_or_path).__name__}; "
            f"load the model with GPT2LMHeadModel.from_pretrained(...) instead."
        )
    if not isinstance(model_or_path, (str, os.PathLike)):
        raise TypeError(
            f"from_hf expects a GPT2LMHeadModel, a folder path or a Hub name, "
            f"got {model_or_path!r}."
        )
    text = os.fspath(model_or_path)
    folder = os.path.expanduser(text)
    if os.path.isdir(folder):  # a local folder never touches the network
        return GPT2LMHeadModel.from_pretrained(folder, local_files_only=True)
    if (
        isinstance(model_or_path, Path)
        or text.startswith((".", "/", "~", "\\"))
        or os.path.exists(folder)
    ):
        raise FileNotFoundError(
            f"{text!r} is not a folder. Pass a folder written by model.save_pretrained(folder) "
            f"(with config.json and model.safetensors), a GPT2LMHeadModel, or a Hub name "
            f"like 'gpt2'."
        )
    # A Hub name: the local cache first, so that cached weights never need the network.
    try:
        return GPT2LMHeadModel.from_pretrained(text, local_files_only=True)
    except OSError as exc:
        if _hf_offline():
            raise WeightsNotCachedError(
                _not_cached_message(text, "offline mode is on (HF_HUB_OFFLINE=1)")
            ) from exc
    try:
        return GPT2LMHeadModel.from_pretrained(text)
    except Exception as exc:  # network errors come in many types; the cause stays attached
        raise WeightsNotCachedError(
            _not_cached_message(text, f"downloading them failed ({type(exc).__name__}: {exc})")
        ) from exc


def _config_from_hf(hf_config: GPT2Config, bias: bool, dropout: float | None) -> GPTConfig:
    """Translate a ``GPT2Config``; refuse variants that our GPT does not implement."""
    from gptlab.model import GPTConfig

    act = getattr(hf_config, "activation_function", "gelu_new")
    if act not in ("gelu_new", "gelu_pytorch_tanh"):
        raise NotImplementedError(
            f"this GPT uses GELU with the tanh approximation ('gelu_new' / 'gelu_pytorch_tanh'), "
            f"but the Hugging Face config has activation_function={act!r}; the logits would differ."
        )
    for flag in (
        "scale_attn_by_inverse_layer_idx",
        "reorder_and_upcast_attn",
        "add_cross_attention",
    ):
        if getattr(hf_config, flag, False):
            raise NotImplementedError(
                f"the Hugging Face config sets {flag}=True, which this GPT does not implement; "
                f"only the original GPT-2 architecture can be converted."
            )
    if not getattr(hf_config, "scale_attn_weights", True):
        raise NotImplementedError(
            "the Hugging Face config has scale_attn_weights=False (no 1/sqrt(hs) scaling), "
            "which this GPT does not implement."
        )
    C, n_inner = hf_config.n_embd, getattr(hf_config, "n_inner", None)
    if n_inner is not None and n_inner != 4 * C:
        raise NotImplementedError(
            f"the Hugging Face config has n_inner={n_inner}, but this GPT's MLP width is "
            f"4 * n_embd = {4 * C}."
        )
    eps = getattr(hf_config, "layer_norm_epsilon", 1e-5)
    if not math.isclose(eps, 1e-5, rel_tol=1e-6):
        raise NotImplementedError(
            f"the Hugging Face config has layer_norm_epsilon={eps}, but this GPT uses 1e-5."
        )
    return GPTConfig(
        vocab_size=hf_config.vocab_size,
        block_size=getattr(hf_config, "n_positions", None) or hf_config.n_ctx,
        n_layer=hf_config.n_layer,
        n_head=hf_config.n_head,
        n_embd=C,
        dropout=hf_config.resid_pdrop if dropout is None else dropout,
        bias=bias,
    )


def gpt_from_hf(
    model_or_path: GPT2LMHeadModel | PathLike, *, bias: bool = True, dropout: float | None = None
) -> GPT:
    """Build a :class:`gptlab.model.GPT` with the weights of a Hugging Face GPT-2.

    Args:
        model_or_path: a ``transformers.GPT2LMHeadModel``; a folder written by
            ``save_pretrained`` (read without network); or a Hub name such as ``"gpt2"``,
            read from the local cache first and downloaded only when missing and online.
        bias: ``False`` builds a bias-free model; allowed only when every bias is zero (as
            in models that :func:`gpt_to_hf` exported from a bias-free GPT).
        dropout: dropout of the new model; default: the Hugging Face ``resid_pdrop``.

    Returns:
        the model in eval mode, float32, on the CPU. ``GPT.from_hf`` calls this.

    Raises:
        WeightsNotCachedError: a Hub name whose weights are not cached, while offline.
        NotImplementedError: a variant of GPT-2 (other activation, untied output layer ...).
        ValueError: ``bias=False`` but a bias is not zero; a parameter is missing or unknown.
    """
    import torch

    from gptlab.model import GPT

    hf_model = _load_hf_model(model_or_path)
    model = GPT(_config_from_hf(hf_model.config, bias=bias, dropout=dropout))
    # named_parameters() skips old checkpoints' causal-mask buffers and lists a tied
    # lm_head.weight only once, as transformer.wte.weight.
    hf_params = dict(hf_model.named_parameters())
    with torch.no_grad():
        for name, param in model.named_parameters():
            src = hf_params.pop(_hf_name(name), None)
            if src is None:
                raise ValueError(
                    f"the Hugging Face model has no parameter {_hf_name(name)!r} "
                    f"(for our {name!r})."
                )
            src = src.t() if name.endswith(_CONV1D_WEIGHTS) else src  # (in, out) -> (out, in)
            if src.shape != param.shape:
                raise ValueError(
                    f"shape mismatch for {name}: ours {tuple(param.shape)}, Hugging Face's "
                    f"{tuple(src.shape)} (after transposing Conv1D weights)."
                )
            param.copy_(src)
        # What is left: an untied lm_head (must equal wte) and, for bias=False, the biases.
        for hf_name, src in hf_params.items():
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
                raise ValueError(
                    f"unexpected Hugging Face parameter {hf_name!r}; is this a GPT-2 model?"
                )
    return model.eval()


def gpt_to_hf(model: GPT) -> GPT2LMHeadModel:
    """Export a :class:`gptlab.model.GPT` to a ``GPT2LMHeadModel`` (float32, CPU, eval mode).

    Same logits; save it with ``save_pretrained(folder)``. Hugging Face's GPT-2 always has
    biases: a ``bias=False`` model exports zeros, the same function. ``GPT.to_hf`` calls this.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    c = model.config
    hf_model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=c.vocab_size,
            n_positions=c.block_size,
            n_embd=c.n_embd,
            n_layer=c.n_layer,
            n_head=c.n_head,
            activation_function="gelu_new",
            layer_norm_epsilon=1e-5,
            resid_pdrop=c.dropout,
            embd_pdrop=c.dropout,
            attn_pdrop=c.dropout,
            tie_word_embeddings=True,
            # GPT-2's <|endoftext|> is the last id; setting it keeps tiny vocabularies valid.
            bos_token_id=c.vocab_size - 1,
            eos_token_id=c.vocab_size - 1,
        )
    )
    ours = dict(model.named_parameters())
    with torch.no_grad():
        for hf_name, hf_param in hf_model.named_parameters():  # tied lm_head listed once
            name = _our_name(hf_name)
            if name in ours:
                src = ours.pop(name)
                hf_param.copy_(src.t() if name.endswith(_CONV1D_WEIGHTS) else src)
            elif hf_name.endswith(".bias") and not c.bias:
                hf_param.zero_()  # a zero bias is the same as no bias
            else:
                raise RuntimeError(f"no parameter of ours maps to Hugging Face's {hf_name!r}.")
    if ours:
        raise RuntimeError(f"parameters not exported: {sorted(ours)}.")
    return hf_model.eval()


# ---------------------------------------------------------------------------------------------
# The tokenizer
# ---------------------------------------------------------------------------------------------


def token_string(token: bytes) -> str:
    """How GPT-2's files write a token's bytes: one printable character per byte.

    ``token_string(b" the") == "Ġthe"``, ``token_string(b"\\n") == "Ċ"``.
    """
    chars = _byte_chars()
    return "".join([chars[b] for b in token])


@functools.cache
def _byte_chars() -> tuple[str, ...]:
    """``bytes_to_unicode()`` as a tuple indexed by byte value (built once)."""
    mapping = bytes_to_unicode()
    return tuple(mapping[b] for b in range(256))


def merges_lines(bpe: BPETokenizer) -> list[str]:
    """The merges of ``bpe`` as the lines of a GPT-2 ``merges.txt`` (most important first):
    the two tokens written with :func:`token_string`, separated by a space (``"Ġt he"``)."""
    _check_bpe(bpe)
    return [f"{token_string(bpe.vocab[a])} {token_string(bpe.vocab[b])}" for a, b in bpe.merges]


def _check_bpe(bpe: Any) -> None:
    if not isinstance(bpe, BPETokenizer):
        raise TypeError(
            f"expected a gptlab BPETokenizer (trained with BPETokenizer.train, loaded with "
            f"BPETokenizer.load or gptlab.pretrained), got {type(bpe).__name__}. Only byte-level "
            f"BPE tokenizers can be written in Hugging Face's GPT-2 format."
        )


def _vocab_strings(bpe: BPETokenizer) -> dict[str, int]:
    """token string -> id for every id (special tokens are written as their plain text)."""
    specials = {i: s for s, i in bpe.special_tokens.items()}
    vocab: dict[str, int] = {}
    for token_id in range(bpe.vocab_size):
        text = specials.get(token_id)
        if text is None:
            text = token_string(bpe.vocab[token_id])
        if text in vocab:
            raise ValueError(
                f"token ids {vocab[text]} and {token_id} are both written {text!r}; Hugging Face "
                f"keys its vocabulary by token text, so two ids for the same bytes (or a special "
                f"token that looks like an ordinary one) cannot be exported with the same ids."
            )
        vocab[text] = token_id
    return vocab


def hf_tokenizer(bpe: BPETokenizer, model_max_length: int | None = None) -> PreTrainedTokenizerFast:
    """A Hugging Face fast tokenizer that gives exactly ``bpe``'s ids and decodes like it.

    Args:
        bpe: a byte-level :class:`~gptlab.tokenizers.BPETokenizer` (ours or GPT-2's).
        model_max_length: the model's ``block_size``, so that ``truncation=True`` knows where
            to cut. Default: unlimited.

    Returns:
        a ``PreTrainedTokenizerFast`` whose ``encode`` equals ``bpe.encode`` (nothing added
        in front or at the end) and ``decode`` equals ``bpe.decode``. ``"<|endoftext|>"``, if
        present, becomes the end- and beginning-of-text token, as in GPT-2; other special
        tokens become additional special tokens.

    Raises:
        TypeError: ``bpe`` is not a :class:`~gptlab.tokenizers.BPETokenizer`.
        ValueError: two ids stand for the same token text (not expressible in the format).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    _check_bpe(bpe)
    vocab = _vocab_strings(bpe)
    merges = [(token_string(bpe.vocab[a]), token_string(bpe.vocab[b])) for a, b in bpe.merges]

    # ignore_merges=False: always replay the merges (never shortcut a chunk found whole in the
    # vocabulary); no unknown token is needed, every byte has a token.
    tok = Tokenizer(
        models.BPE(
            vocab=vocab,
            merges=merges,
            dropout=None,
            fuse_unk=False,
            byte_fallback=False,
            ignore_merges=False,
        )
    )
    if bpe.pattern == GPT2_SPLIT_PATTERN:
        # GPT-2's split is built into the ByteLevel pre-tokenizer (use_regex=True)
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        # A custom pattern: cut with it first, then map bytes to characters. (Text that the
        # pattern does not match at all would be dropped by our encoder but kept here; patterns
        # that match every character, as GPT-2's does, behave the same.)
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(bpe.pattern), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    tok.decoder = decoders.ByteLevel()
    # Special tokens are matched in the raw text before the split, as our encode() does.
    if bpe.special_tokens:
        tok.add_special_tokens(
            [AddedToken(s, special=True, normalized=False) for s in bpe.special_tokens]
        )

    kwargs: dict[str, Any] = {}
    others = [s for s in bpe.special_tokens if s != END_OF_TEXT]
    if END_OF_TEXT in bpe.special_tokens:
        kwargs.update(bos_token=END_OF_TEXT, eos_token=END_OF_TEXT)
    if others:
        kwargs["additional_special_tokens"] = others
    if model_max_length is not None:
        kwargs["model_max_length"] = int(model_max_length)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        clean_up_tokenization_spaces=False,  # decode must give back the exact text
        add_prefix_space=False,
        **kwargs,
    )


# ---------------------------------------------------------------------------------------------
# Export and load
# ---------------------------------------------------------------------------------------------


def _generation_ids(hf_tok: PreTrainedTokenizerFast) -> tuple[int | None, int]:
    """(eos_token_id, pad_token_id) for the generation config.

    With an end-of-text token (GPT-2) both are its id. Our Shakespeare tokenizer has none: the
    model never learned to end a text, so generation runs to ``max_new_tokens``. The padding
    id must still be in the vocabulary and never occur in real text (``generate`` hides
    padding ids found in a prompt): the token of the byte ``0xFF``, which UTF-8 never uses.
    """
    if hf_tok.eos_token_id is not None:
        return hf_tok.eos_token_id, hf_tok.eos_token_id
    pad = hf_tok.get_vocab().get(token_string(b"\xff"))
    if pad is None:  # not a byte-level vocabulary: keep its own padding id, or 0
        pad = hf_tok.pad_token_id if hf_tok.pad_token_id is not None else 0
    return None, int(pad)


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


def export_hf(
    model: GPT, tokenizer: BPETokenizer | PreTrainedTokenizerFast, folder: PathLike
) -> Path:
    """Write ``model`` and ``tokenizer`` into ``folder`` in Hugging Face's format.

    The folder holds :data:`EXPORTED_FILES`: safetensors weights (the tied ``lm_head`` once),
    the ``GPT2Config``, a generation config and the fast tokenizer; ``AutoModelForCausalLM``
    and ``AutoTokenizer`` (or :func:`load_hf`) load it without network.

    Args:
        model: a :class:`gptlab.model.GPT` (any device or dtype; exported as float32).
        tokenizer: a :class:`~gptlab.tokenizers.BPETokenizer` (translated with
            :func:`hf_tokenizer`) or a ``PreTrainedTokenizerFast``.
        folder: created if needed; files of the same names are replaced.

    Returns:
        the folder, as a ``Path``.

    Raises:
        TypeError: ``model`` is not a GPT, or the tokenizer is of an unknown kind.
        ValueError: the tokenizer's vocabulary size differs from the model's ``vocab_size``.
        NotADirectoryError: ``folder`` exists and is a file.
    """
    from transformers import GenerationConfig, PreTrainedTokenizerBase

    from gptlab.model import GPT

    if not isinstance(model, GPT):
        raise TypeError(f"export_hf expects a gptlab GPT model, got {type(model).__name__}.")
    if isinstance(tokenizer, BPETokenizer):
        hf_tok = hf_tokenizer(tokenizer, model_max_length=model.config.block_size)
    elif isinstance(tokenizer, PreTrainedTokenizerBase):
        hf_tok = tokenizer
    else:
        raise TypeError(
            f"export_hf expects a BPETokenizer or a transformers tokenizer, got "
            f"{type(tokenizer).__name__}."
        )
    V = model.config.vocab_size
    if len(hf_tok) != V:
        raise ValueError(
            f"the tokenizer has {len(hf_tok)} tokens but the model's vocab_size is {V}: they do "
            f"not belong together (ids would mean different tokens, or be out of range). Export "
            f"the tokenizer the model was trained with."
        )
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} exists and is not a folder; choose another path.")
    folder.mkdir(parents=True, exist_ok=True)

    hf_model = gpt_to_hf(model)  # float32, CPU, eval mode
    eos_id, pad_id = _generation_ids(hf_tok)
    hf_model.config.bos_token_id = eos_id
    hf_model.config.eos_token_id = eos_id
    hf_model.config.pad_token_id = pad_id
    hf_model.generation_config = GenerationConfig(
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        # Default length: half the context, so that a short prompt plus the new tokens fits
        # in the position table (GPT-2 has no positions beyond block_size). Without it the
        # text-generation pipeline asks for 256 new tokens and fails past position 127.
        max_new_tokens=max(1, model.config.block_size // 2),
    )
    with _quiet_progress():
        hf_model.save_pretrained(folder)  # safetensors by default
        hf_tok.save_pretrained(folder)
    return folder


def load_hf(folder: PathLike) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """Load a folder written by :func:`export_hf` (or any local GPT-2-style folder), offline.

    Returns ``(AutoModelForCausalLM model in eval mode, AutoTokenizer tokenizer)``.

    Raises:
        FileNotFoundError: ``folder`` does not exist, or lacks ``config.json`` or the
            tokenizer files (the message lists what is there).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no folder at {folder}. Write one with gptlab.hf.export_hf(model, tokenizer, folder) "
            f"or model.save_pretrained(folder) + tokenizer.save_pretrained(folder)."
        )
    present = sorted(p.name for p in folder.iterdir())
    missing = [name for name in ("config.json", "tokenizer.json") if name not in present]
    if missing:
        raise FileNotFoundError(
            f"{folder} is not a complete Hugging Face model folder: {', '.join(missing)} missing "
            f"(found: {', '.join(present) or 'nothing'}). Export with gptlab.hf.export_hf."
        )
    with _quiet_progress():
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return model.eval(), tokenizer
