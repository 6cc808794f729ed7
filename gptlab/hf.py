"""Hand our model and tokenizer to Hugging Face ``transformers``, and read them back.

Chapter 12 of the course. Two functions do the work:

- :func:`hf_tokenizer` turns a :class:`gptlab.tokenizers.BPETokenizer` into a
  ``transformers.PreTrainedTokenizerFast`` (the Rust ``tokenizers`` library underneath) that
  gives exactly our ids on any text and decodes them back to the same bytes.
- :func:`export_hf` writes a folder (``config.json``, ``generation_config.json``,
  ``model.safetensors``, ``tokenizer.json``, ``tokenizer_config.json``) that
  ``AutoModelForCausalLM.from_pretrained(folder)`` and ``AutoTokenizer.from_pretrained(folder)``
  load without any network access.

:func:`load_hf` reads such a folder back (always offline, with clear errors).

How the tokenizer is translated. Hugging Face stores a byte-level BPE the way OpenAI stored
GPT-2's: every token is a *string* in which each byte is written as one printable character
(:func:`gptlab.tokenizers.bytes_to_unicode`: the space is ``Ġ``, the newline ``Ċ``), the
vocabulary maps those strings to ids, and the merges are listed as pairs of strings, most
important (lowest rank) first. Our tokenizer stores the same facts as bytes and ids:
``vocab[id] -> bytes`` and ``merges[(id_a, id_b)] -> new_id`` in rank order, with
``byte_to_id[b]`` the id of the single byte ``b`` (``b`` itself for a tokenizer we trained;
GPT-2's own numbering for :meth:`BPETokenizer.from_gpt2`). Writing each token's bytes with
``bytes_to_unicode`` and keeping our ids and merge order is therefore a complete, exact
translation. The text is cut into chunks by the same regular expression (GPT-2's split), with
no space added in front (``add_prefix_space=False``), and the ``ByteLevel`` decoder turns the
characters back into bytes.

``transformers`` is imported inside the functions, so ``import gptlab.hf`` stays fast.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from gptlab.tokenizers import GPT2_SPLIT_PATTERN, BPETokenizer, bytes_to_unicode

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

    from gptlab.model import GPT

__all__ = ["hf_tokenizer", "export_hf", "load_hf", "token_string", "merges_lines",
           "EXPORTED_FILES"]

PathLike = Union[str, "os.PathLike[str]"]

#: The files :func:`export_hf` writes (``generation_config.json`` included).
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
    """The merges of ``bpe`` as the lines of a GPT-2 ``merges.txt`` (most important first).

    Each line is the two tokens of a merge, written with :func:`token_string`, separated
    by one space: the merge of ``b" t"`` and ``b"he"`` is the line ``"Ġt he"``. (A space
    inside a token is always written ``Ġ``, so the separator is never ambiguous.)
    """
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
                f"keys its vocabulary by token text, so a tokenizer with two ids for the same "
                f"bytes (or a special token that looks like an ordinary one) cannot be exported "
                f"with the same ids."
            )
        vocab[text] = token_id
    return vocab


def hf_tokenizer(bpe: BPETokenizer, model_max_length: int | None = None) -> PreTrainedTokenizerFast:
    """A Hugging Face fast tokenizer that gives exactly ``bpe``'s ids and decodes like it.

    Args:
        bpe: a byte-level :class:`~gptlab.tokenizers.BPETokenizer` (ours or GPT-2's).
        model_max_length: the longest input the model takes (its ``block_size``); stored in
            the tokenizer so that ``truncation=True`` knows where to cut. Default: unlimited.

    Returns:
        a ``transformers.PreTrainedTokenizerFast``: ``tok(text)["input_ids"]`` and
        ``tok.encode(text)`` equal ``bpe.encode(text)`` (no token is added in front or at the
        end), and ``tok.decode(ids)`` equals ``bpe.decode(ids)``. If ``bpe`` has the special
        token ``"<|endoftext|>"`` it becomes the end-of-text (and beginning-of-text) token, as in
        GPT-2; other special tokens are registered as additional special tokens.

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
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, dropout=None, fuse_unk=False,
                               byte_fallback=False, ignore_merges=False))
    if bpe.pattern == GPT2_SPLIT_PATTERN:
        # GPT-2's split is built into the ByteLevel pre-tokenizer (use_regex=True)
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        # A custom pattern: cut with it first, then map bytes to characters. (Text that the
        # pattern does not match at all would be dropped by our encoder but kept here; patterns
        # that match every character, as GPT-2's does, behave the same.)
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(bpe.pattern), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    tok.decoder = decoders.ByteLevel()
    # Special tokens are matched in the raw text before the split, as our encode() does.
    if bpe.special_tokens:
        tok.add_special_tokens([AddedToken(s, special=True, normalized=False)
                                for s in bpe.special_tokens])

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

    With an end-of-text token (GPT-2) both are its id, as in GPT-2's own files. Our
    Shakespeare tokenizer has no special token at all: the model never learned to end a
    text, so there is no end-of-text id and generation runs until ``max_new_tokens``, like
    :func:`gptlab.generate.generate` (an ordinary token as "end of text" would cut texts
    short wherever it happens to come up).

    Hugging Face still wants a padding id, to fill the rows of a batch that finished early;
    it must be an id of the vocabulary. ``generate`` also treats every padding id it finds
    in a prompt given without an ``attention_mask`` as padding and hides it, so the padding
    id must never occur in real text. We take the token of the byte ``0xFF``: that byte never
    appears in UTF-8, so no text ever encodes to it.
    """
    if hf_tok.eos_token_id is not None:
        return hf_tok.eos_token_id, hf_tok.eos_token_id
    pad = hf_tok.get_vocab().get(token_string(b"\xff"))
    if pad is None:  # not a byte-level vocabulary: keep its own padding id, or 0
        pad = hf_tok.pad_token_id if hf_tok.pad_token_id is not None else 0
    return None, int(pad)


class _QuietProgress:
    """Hide transformers' "Loading weights" / "Writing model shards" bars for a moment."""

    def __enter__(self) -> None:
        from transformers.utils import logging as hf_logging

        self._logging = hf_logging
        self._was_enabled = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()

    def __exit__(self, *exc: object) -> None:
        if self._was_enabled:
            self._logging.enable_progress_bar()


def export_hf(model: GPT, tokenizer: BPETokenizer | PreTrainedTokenizerFast,
              folder: PathLike) -> Path:
    """Write ``model`` and ``tokenizer`` into ``folder`` in Hugging Face's format.

    The folder holds the files of :data:`EXPORTED_FILES`: the weights as safetensors (the
    tied ``lm_head`` stored once), the ``GPT2Config``, a generation config and the fast
    tokenizer. Load it back with ``AutoModelForCausalLM.from_pretrained(folder)`` and
    ``AutoTokenizer.from_pretrained(folder)`` (or :func:`load_hf`): no network is needed.

    Args:
        model: a :class:`gptlab.model.GPT` (any device or dtype; exported as float32).
        tokenizer: a :class:`~gptlab.tokenizers.BPETokenizer` (translated with
            :func:`hf_tokenizer`) or an already translated ``PreTrainedTokenizerFast``.
        folder: where to write; created (with its parents) if needed. Existing files of the
            same names are replaced.

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

    hf_model = model.to_hf()  # float32, CPU, eval mode
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
    with _QuietProgress():
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
    with _QuietProgress():
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return model.eval(), tokenizer
