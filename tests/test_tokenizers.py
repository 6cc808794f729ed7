"""Tests for gptlab.tokenizers: our BPE must match GPT-2 exactly and train correctly."""

from __future__ import annotations

import json
import logging
import random
import warnings
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
import regex

from gptlab.tokenizers import (
    GPT2_SPLIT_PATTERN,
    BPETokenizer,
    CharTokenizer,
    bytes_to_unicode,
    gpt2_files,
    gpt2_tokenizer,
)

# ---------------------------------------------------------------------------------------
# shared data and fixtures
# ---------------------------------------------------------------------------------------


def _python_docs() -> str:
    """About 465 kB of English prose and code from the standard library's help topics."""
    from pydoc_data.topics import topics

    return "".join(topics[key] for key in sorted(topics))


@pytest.fixture(scope="module")
def docs() -> str:
    return _python_docs()


@pytest.fixture(scope="module")
def gpt2():
    return gpt2_tokenizer()


@pytest.fixture(scope="module")
def ours_gpt2() -> BPETokenizer:
    return BPETokenizer.from_gpt2()


@pytest.fixture(scope="module")
def trained(docs: str) -> BPETokenizer:
    return BPETokenizer.train(docs[:100_000], vocab_size=512)


PYTHON_SOURCE = '''\
def fib(n: int) -> int:
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


if __name__ == "__main__":
\tprint(fib(10))  # 55
'''

PARITY_CASES = {
    "prose": "The quick brown fox jumps over the lazy dog. It was the best of times, "
    "it was the worst of times; it was the age of wisdom.",
    "python": PYTHON_SOURCE,
    "whitespace_runs": "a  b   c\t\td \t \n e\n\n\nf   \n  ",
    "trailing_spaces": "end of line   ",
    "newlines": "\n\n\n",
    "leading_spaces": "   x",
    "only_spaces": "     ",
    "digits": "12345 3.14159 2026",
    "contractions": "I'm, you'll, they've, it's, 'S, we'd, she'LL, don't",
    "emoji": "😀👍🏽",
    "emoji_in_text": "Great job 👍🏽 see you 😀!",
    "chinese": "你好，世界",
    "mixed_unicode": "Café naïve façade — Ελληνικά, русский текст, مرحبا بالعالم, ẞ ǅ ½ ²",
    "endoftext": "first document<|endoftext|>second document <|endoftext|> third",
    "endoftext_alone": "<|endoftext|>",
    "partial_special": "<|endoftext| and <|endof",
    "empty": "",
}


# ---------------------------------------------------------------------------------------
# GPT-2 files and the Hugging Face tokenizer
# ---------------------------------------------------------------------------------------


def test_gpt2_files_exist() -> None:
    encoder_json, vocab_bpe = gpt2_files()
    assert encoder_json.name == "encoder.json" and encoder_json.is_file()
    assert vocab_bpe.name == "vocab.bpe" and vocab_bpe.is_file()


def test_bytes_to_unicode_is_reversible_and_printable() -> None:
    table = bytes_to_unicode()
    assert sorted(table) == list(range(256))
    assert len(set(table.values())) == 256
    assert all(ch.isprintable() and not ch.isspace() for ch in table.values())
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[ord("A")] == "A"


def test_gpt2_tokenizer_basics(gpt2) -> None:
    assert gpt2.encode("Hello world") == [15496, 995]
    assert gpt2.vocab_size == 50257 == len(gpt2)
    assert gpt2.eot_id == 50256
    assert gpt2.encode("<|endoftext|>") == [50256]
    text = "Hello world, round trip!\n  ok"
    assert gpt2.decode(gpt2.encode(text)) == text
    from transformers import GPT2TokenizerFast

    assert isinstance(gpt2.hf, GPT2TokenizerFast)
    assert hasattr(gpt2.hf, "save_pretrained")
    assert gpt2_tokenizer() is gpt2  # cached


def test_gpt2_tokenizer_long_text_is_quiet(gpt2, caplog: pytest.LogCaptureFixture) -> None:
    text = "word" + " word" * 4999  # far beyond GPT-2's 1024-token context
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.WARNING):
            ids = gpt2.encode(text)
    assert len(ids) == 5000
    assert not caplog.records


# ---------------------------------------------------------------------------------------
# our BPE loaded from GPT-2's files: exact parity with the reference
# ---------------------------------------------------------------------------------------


def test_from_gpt2_shape(ours_gpt2: BPETokenizer) -> None:
    assert ours_gpt2.vocab_size == 50257 == len(ours_gpt2)
    assert len(ours_gpt2.merges) == 50000
    assert ours_gpt2.special_tokens == {"<|endoftext|>": 50256}
    assert ours_gpt2.token_bytes(995) == b" world"
    assert ours_gpt2.byte_to_id[ord("!")] == 0 and ours_gpt2.byte_to_id[ord(" ")] == 220
    assert "50257" in repr(ours_gpt2)


@pytest.mark.parametrize("text", list(PARITY_CASES.values()), ids=list(PARITY_CASES))
def test_parity_with_gpt2(text: str, gpt2, ours_gpt2: BPETokenizer) -> None:
    ids = ours_gpt2.encode(text)
    assert ids == gpt2.encode(text)
    assert ours_gpt2.decode(ids).encode("utf-8") == text.encode("utf-8")


def test_parity_on_long_text(docs: str, gpt2, ours_gpt2: BPETokenizer) -> None:
    text = docs[:200_000]
    ids = ours_gpt2.encode(text)
    assert ids == gpt2.encode(text)
    assert ours_gpt2.decode(ids) == text


def test_parity_on_long_chunks(gpt2, ours_gpt2: BPETokenizer) -> None:
    rng = random.Random(7)
    # chunks far longer than a word go through the heap-based merge code
    texts = [
        "".join(rng.choice("abcdefghij") for _ in range(3000)),
        "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(800)),
        "a" * 1000 + " " + "ab" * 700,
        " " * 5000 + "x",
        "=" * 400 + "-+" * 300,
    ]
    for text in texts:
        ids = ours_gpt2.encode(text)
        assert ids == gpt2.encode(text)
        assert ours_gpt2.decode(ids) == text


def _random_text(rng: random.Random) -> str:
    pieces = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "      \t\n\n\r",
        "0123456789",
        "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
        "😀👍🏽🎉🚀❤️",
        "你好世界中文字符",
        "éèàçñöüßΩЖж",
    ]
    alphabet = "".join(pieces)
    words = ["'s", "'ll", "<|endoftext|>", " the", "  ", "\n\n"]
    out: list[str] = []
    for _ in range(rng.randint(0, 40)):
        if rng.random() < 0.1:
            out.append(rng.choice(words))
        else:
            out.append(rng.choice(alphabet))
    return "".join(out)


def test_parity_random_strings(gpt2, ours_gpt2: BPETokenizer) -> None:
    rng = random.Random(2026)
    for _ in range(300):
        text = _random_text(rng)
        ids = ours_gpt2.encode(text)
        assert ids == gpt2.encode(text), repr(text)
        assert ours_gpt2.decode(ids).encode("utf-8") == text.encode("utf-8"), repr(text)


def test_decode_accepts_tensors(ours_gpt2: BPETokenizer) -> None:
    import torch

    assert ours_gpt2.decode(torch.tensor([15496, 995])) == "Hello world"


def test_gpt2_save_pretrained_round_trip(tmp_path: Path, gpt2) -> None:
    from transformers import AutoTokenizer

    gpt2.hf.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "Hello world<|endoftext|> again"
    assert reloaded.encode(text) == gpt2.encode(text)


def test_tokens_helper(ours_gpt2: BPETokenizer) -> None:
    assert ours_gpt2.tokens("Hello world") == ["Hello", " world"]
    assert ours_gpt2.tokens("") == []


def test_from_gpt2_save_load(tmp_path: Path, ours_gpt2: BPETokenizer) -> None:
    path = ours_gpt2.save(tmp_path / "gpt2.json")
    loaded = BPETokenizer.load(path)
    text = PARITY_CASES["mixed_unicode"] + PARITY_CASES["endoftext"]
    assert loaded.encode(text) == ours_gpt2.encode(text)
    assert loaded.byte_to_id == ours_gpt2.byte_to_id


# ---------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------


def _reference_train(text: str, num_merges: int) -> dict[tuple[int, int], int]:
    """Slow, obvious BPE training: recount every pair before every merge."""
    chunks = Counter(regex.findall(GPT2_SPLIT_PATTERN, text))
    words = {chunk: list(chunk.encode("utf-8")) for chunk in chunks}
    merges: dict[tuple[int, int], int] = {}
    for step in range(num_merges):
        counts: Counter[tuple[int, int]] = Counter()
        for chunk, freq in chunks.items():
            word = words[chunk]
            for pair in pairwise(word):
                counts[pair] += freq
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))  # most frequent, then smallest ids
        new_id = 256 + step
        merges[best] = new_id
        for chunk, word in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            words[chunk] = out
    return merges


def test_train_matches_reference_algorithm(docs: str) -> None:
    text = docs[:20_000] + " aaaa aaaaa aaa " * 20  # includes overlapping pairs
    tok = BPETokenizer.train(text, vocab_size=256 + 80)
    assert tok.merges == _reference_train(text, 80)


def test_train_vocab_size_and_rank_order(trained: BPETokenizer) -> None:
    assert trained.vocab_size == 512 == len(trained.vocab)
    assert len(trained.merges) == 512 - 256
    assert trained.byte_to_id == list(range(256))
    # merges are stored in rank order: the k-th merge creates id 256 + k from older ids
    for rank, ((a, b), new_id) in enumerate(trained.merges.items()):
        assert new_id == 256 + rank
        assert a < new_id and b < new_id
        assert trained.vocab[new_id] == trained.vocab[a] + trained.vocab[b]


def test_train_is_deterministic(docs: str, trained: BPETokenizer) -> None:
    again = BPETokenizer.train(docs[:100_000], vocab_size=512)
    assert list(again.merges.items()) == list(trained.merges.items())


def test_trained_round_trip_with_unseen_characters(trained: BPETokenizer, docs: str) -> None:
    texts = [
        docs[150_000:160_000],
        "Unseen: 😀 你好 ẞ Ж \x00 \t\r\n end  ",
        "",
        "<|endoftext|>",  # not registered: ordinary text here
    ]
    for text in texts:
        ids = trained.encode(text)
        assert all(0 <= i < trained.vocab_size for i in ids)
        assert trained.decode(ids).encode("utf-8") == text.encode("utf-8")


def test_trained_compresses_held_out_text(trained: BPETokenizer, docs: str) -> None:
    held_out = docs[300_000:350_000]
    n_tokens = len(trained.encode(held_out))
    assert n_tokens < 0.6 * len(held_out.encode("utf-8"))


def test_train_with_special_tokens(docs: str) -> None:
    tok = BPETokenizer.train(docs[:30_000], vocab_size=300, special_tokens=["<|endoftext|>"])
    assert tok.vocab_size == 300
    assert tok.special_tokens == {"<|endoftext|>": 299}
    ids = tok.encode("one<|endoftext|>two")
    assert 299 in ids
    assert tok.decode(ids) == "one<|endoftext|>two"
    padded = BPETokenizer(tok.merges, special_tokens=tok.special_tokens | {"<|pad|>": 300})
    assert padded.encode("<|pad|>one<|endoftext|>") == [300, *tok.encode("one"), 299]


def test_train_warns_when_text_runs_out_of_pairs() -> None:
    with pytest.warns(UserWarning, match="ran out of pairs"):
        tok = BPETokenizer.train("abab", vocab_size=300)
    assert tok.vocab_size == 258
    assert tok.decode(tok.encode("abab ba")) == "abab ba"


def test_save_load_round_trip(tmp_path: Path, trained: BPETokenizer, docs: str) -> None:
    path = trained.save(tmp_path / "sub" / "tok.json")
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["tok.json"]  # no temporary left
    loaded = BPETokenizer.load(path)
    assert list(loaded.merges.items()) == list(trained.merges.items())
    assert loaded.vocab == trained.vocab and loaded.pattern == trained.pattern
    text = docs[200_000:210_000] + " 😀"
    assert loaded.encode(text) == trained.encode(text)
    trained.save(path)  # overwriting works too
    assert BPETokenizer.load(path).merges == trained.merges


def test_load_errors_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(FileNotFoundError, match="missing.json"):
        BPETokenizer.load(missing)
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"format": "gptlab-bpe", "merg', encoding="utf-8")
    with pytest.raises(ValueError, match="corrupt.json"):
        BPETokenizer.load(corrupt)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"hello": 1}), encoding="utf-8")
    with pytest.raises(ValueError, match="wrong.json"):
        BPETokenizer.load(wrong)
    bad_merge = tmp_path / "bad_merge.json"
    data = json.loads(BPETokenizer().save(bad_merge).read_text(encoding="utf-8"))
    data["merges"] = [[999, 1, 256]]
    bad_merge.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="bad_merge.json"):
        BPETokenizer.load(bad_merge)


# ---------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("vocab_size", [255, 0, -1, 300.0, "512", True])
def test_train_rejects_bad_vocab_size(vocab_size: object) -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        BPETokenizer.train("some text", vocab_size)  # type: ignore[arg-type]


def test_decode_rejects_unknown_id(trained: BPETokenizer, ours_gpt2: BPETokenizer) -> None:
    with pytest.raises(ValueError, match="1000000"):
        trained.decode([10**6])
    with pytest.raises(ValueError, match="50257"):
        ours_gpt2.decode([15496, 50257])
    with pytest.raises(ValueError, match="-1"):
        trained.decode([-1])
    with pytest.raises(ValueError):
        trained.token_bytes(10**6)


def test_bytes_only_tokenizer() -> None:
    tok = BPETokenizer()
    assert tok.vocab_size == 256
    assert tok.encode("hé") == [104, 195, 169]
    assert tok.decode([104, 195]) == "h\ufffd"  # a cut multi-byte character


# ---------------------------------------------------------------------------------------
# CharTokenizer
# ---------------------------------------------------------------------------------------


def test_char_tokenizer_round_trip() -> None:
    tok = CharTokenizer("hello world")
    assert tok.chars == sorted(set("hello world"))
    assert tok.vocab_size == len(tok) == 8
    assert tok.decode(tok.encode("hello")) == "hello"
    assert tok.encode(" ") == [0]


def test_char_tokenizer_unseen_character() -> None:
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match=r"'z'.*position 2"):
        tok.encode("abzc")
    with_unk = CharTokenizer("abc", unk_token="?")
    assert with_unk.decode(with_unk.encode("abzc")) == "ab?c"


def test_char_tokenizer_bad_ids_and_empty_text() -> None:
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match="3"):
        tok.decode([0, 3])
    with pytest.raises(ValueError):
        tok.decode([-1])
    with pytest.raises(ValueError):
        CharTokenizer("")
