"""Tests for gptlab.hf: our BPE as a Hugging Face tokenizer (same ids, same text back) and a
model folder that transformers loads offline with the same logits and the same generations.

Everything uses a tiny BPE trained here and a tiny random GPT; nothing is downloaded."""

from __future__ import annotations

import json
import random

import pytest
import torch

from gptlab.generate import generate
from gptlab.hf import (
    EXPORTED_FILES,
    export_hf,
    hf_tokenizer,
    load_hf,
    merges_lines,
    token_string,
)
from gptlab.model import GPT, GPTConfig
from gptlab.tokenizers import BPETokenizer

ATOL = 1e-5
RTOL = 1e-5  # float32 logits of size ~10: rounding differs between kernels


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _training_text() -> str:
    """About 60 kB of English prose and Python code (the standard library's help topics)."""
    from pydoc_data.topics import topics

    return "".join(topics[key] for key in sorted(topics))[:60_000]


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return BPETokenizer.train(_training_text(), vocab_size=400)


@pytest.fixture(scope="module")
def bpe_eot() -> BPETokenizer:
    return BPETokenizer.train(_training_text(), vocab_size=330, special_tokens=["<|endoftext|>"])


@pytest.fixture(scope="module")
def gpt2_bpe() -> BPETokenizer:
    return BPETokenizer.from_gpt2()


@pytest.fixture(scope="module")
def gpt2_hf(gpt2_bpe):
    return hf_tokenizer(gpt2_bpe)


def _tiny_gpt(vocab_size: int, seed: int = 0, bias: bool = True) -> GPT:
    torch.manual_seed(seed)
    model = GPT(
        GPTConfig(
            vocab_size=vocab_size,
            block_size=48,
            n_layer=2,
            n_head=2,
            n_embd=32,
            dropout=0.0,
            bias=bias,
        )
    )
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # noise everywhere, so that biases and LayerNorms matter
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return model.eval()


@pytest.fixture(scope="module")
def model(bpe) -> GPT:
    return _tiny_gpt(bpe.vocab_size)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, model, bpe):
    return export_hf(model, bpe, tmp_path_factory.mktemp("hf") / "tiny")


TEXTS = {
    "prose": "It was the best of times, it was the worst of times. She'll say: \"we've won!\"",
    "code": "def f(x: int) -> int:\n    return x ** 2  # square\n\n\nprint(f(3))\n",
    "whitespace": "   leading\t\ttabs  and   runs    \n\n\n  \r\n trailing   ",
    "digits": "3.14159 2024-06-01 1,000,000 0x1F 12345678901234567890",
    "emoji": "I 💜 🤖s! 👩‍👩‍👧 🇫🇷 ✨",
    "chinese": "我们的模型读字节，而不是字。 中文，日本語、한국어",
    "mixed": "naïve café — “quotes” ‘and’ … ﬁ ß ∑ \u00a0nbsp\u2003em\u200bzw",
    "contractions": "'s 's'S 'll 'LL I'd they're 'tis o'er",
    "empty": "",
    "one space": " ",
    "newlines": "\n",
}


def _random_strings(n: int, seed: int = 0) -> list[str]:
    """Strings drawn from awkward corners of Unicode (and from pieces that stress the split)."""
    rng = random.Random(seed)
    pools = [
        range(0x00, 0x80),
        range(0x80, 0x250),
        range(0x300, 0x370),
        range(0x4E00, 0x4F00),
        range(0x1F300, 0x1F650),
        range(0x10000, 0x30000),
        range(0x660, 0x670),
        [
            0x09,
            0x0A,
            0x0B,
            0x0C,
            0x0D,
            0x1C,
            0x1D,
            0x1E,
            0x1F,
            0x20,
            0x85,
            0xA0,
            0x1680,
            0x180E,
            0x2000,
            0x2007,
            0x200B,
            0x2028,
            0x2029,
            0x202F,
            0x205F,
            0x3000,
            0xFEFF,
        ],
    ]
    pieces = ["'s", "'ll", "'T", " ", "  ", "\n", "\t", "a", "Z", "7", "!", "é", "😀", "中", "''"]
    out = []
    for i in range(n):
        k = rng.randint(0, 30)
        if i % 2:
            s = "".join(chr(rng.choice(rng.choice(pools))) for _ in range(k))
        else:
            s = "".join(rng.choice(pieces) for _ in range(k))
        out.append(s)
    return out


# -- the tokenizer ------------------------------------------------------------------------------


def test_token_string_and_merges_lines(bpe):
    assert token_string(b" the") == "Ġthe"
    assert token_string(b"\n") == "Ċ"
    assert token_string(bytes([0xE4, 0xB8])) == "ä¸"
    lines = merges_lines(bpe)
    assert len(lines) == len(bpe.merges)
    for line, (a, b) in zip(lines, bpe.merges, strict=True):
        left, right = line.split(" ")
        assert left == token_string(bpe.vocab[a]) and right == token_string(bpe.vocab[b])


@pytest.mark.parametrize("name", list(TEXTS))
def test_tokenizer_same_ids_and_text(bpe, name):
    tok = hf_tokenizer(bpe)
    text = TEXTS[name]
    ids = bpe.encode(text)
    assert tok.encode(text) == ids
    assert tok(text)["input_ids"] == ids
    assert tok.decode(ids) == text


@pytest.mark.parametrize("which", ["trained", "gpt2"])
def test_tokenizer_random_strings(bpe, gpt2_bpe, gpt2_hf, which):
    ours, tok = (bpe, hf_tokenizer(bpe)) if which == "trained" else (gpt2_bpe, gpt2_hf)
    for text in _random_strings(400, seed=1 if which == "trained" else 2):
        ids = ours.encode(text)
        assert tok.encode(text) == ids, repr(text)
        assert tok.decode(ids) == text, repr(text)


def test_tokenizer_gpt2_on_all_texts(gpt2_bpe, gpt2_hf):
    tok = gpt2_hf
    assert len(tok) == 50257 and tok.eos_token == "<|endoftext|>" and tok.eos_token_id == 50256
    for text in [*TEXTS.values(), "one<|endoftext|>two"]:
        assert tok.encode(text) == gpt2_bpe.encode(text)


def test_decode_random_ids_like_ours(bpe):
    """Cut anywhere, even inside a UTF-8 character: both give the same replacement characters."""
    tok = hf_tokenizer(bpe)
    rng = random.Random(3)
    for _ in range(300):
        ids = [rng.randrange(bpe.vocab_size) for _ in range(rng.randint(0, 12))]
        assert tok.decode(ids) == bpe.decode(ids)


def test_special_tokens(bpe_eot):
    tok = hf_tokenizer(bpe_eot)
    eot = bpe_eot.special_tokens["<|endoftext|>"]
    text = "first text<|endoftext|>second\n"
    assert tok.encode(text) == bpe_eot.encode(text)
    assert eot in tok.encode(text)
    assert tok.eos_token_id == eot and tok.bos_token_id == eot
    assert tok.decode(bpe_eot.encode(text)) == text


def test_tokenizer_same_bytes_twice_refused():
    # 257 = "ab" + "c" and 259 = "a" + "bc": two ids for b"abc"
    merges = {(97, 98): 256, (256, 99): 257, (98, 99): 258, (97, 258): 259}
    with pytest.raises(ValueError, match="both written 'abc'"):
        hf_tokenizer(BPETokenizer(merges))


def test_tokenizer_wrong_type():
    from gptlab.tokenizers import CharTokenizer

    with pytest.raises(TypeError, match="BPETokenizer"):
        hf_tokenizer(CharTokenizer("abc"))


# -- the exported folder --------------------------------------------------------------------------


def test_export_writes_the_files(folder):
    assert sorted(p.name for p in folder.iterdir()) == sorted(EXPORTED_FILES)
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "gpt2" and config["vocab_size"] == 400


def test_generation_config_ids(folder, bpe):
    """No end-of-text token; the padding id is a real id that no text encodes to."""
    gen = json.loads((folder / "generation_config.json").read_text())
    assert gen.get("eos_token_id") is None
    pad = gen["pad_token_id"]
    assert 0 <= pad < bpe.vocab_size and bpe.vocab[pad] == b"\xff"
    assert gen["max_new_tokens"] <= 48  # fits in the context


def test_generation_config_with_end_of_text(tmp_path, bpe_eot):
    model = _tiny_gpt(bpe_eot.vocab_size)
    out = export_hf(model, bpe_eot, tmp_path / "eot")
    gen = json.loads((out / "generation_config.json").read_text())
    eot = bpe_eot.special_tokens["<|endoftext|>"]
    assert gen["eos_token_id"] == eot and gen["pad_token_id"] == eot


def test_auto_classes_same_logits_and_ids(folder, model, bpe, no_network):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf_model = AutoModelForCausalLM.from_pretrained(folder).eval()
    hf_tok = AutoTokenizer.from_pretrained(folder)
    for text in (TEXTS["prose"], TEXTS["code"], TEXTS["emoji"]):
        ids = bpe.encode(text)
        assert hf_tok(text)["input_ids"] == ids, f"ids differ on {text!r}"
        assert hf_tok.decode(ids) == text, f"decoding differs on {text!r}"
        x = torch.tensor([ids[:48]])
        with torch.no_grad():
            theirs = hf_model(x).logits
            ours, _ = model(x)
        torch.testing.assert_close(theirs, ours, atol=ATOL, rtol=RTOL)


def test_load_hf_and_from_hf(folder, model, no_network):
    hf_model, hf_tok = load_hf(folder)
    assert not hf_model.training and len(hf_tok) == 400
    back = GPT.from_hf(folder)
    x = torch.randint(0, 400, (2, 48), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(back(x)[0], model(x)[0], atol=ATOL, rtol=RTOL)


def test_greedy_generate_same_as_ours(folder, model, bpe, no_network):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf_model = AutoModelForCausalLM.from_pretrained(folder).eval()
    hf_tok = AutoTokenizer.from_pretrained(folder)
    prompt = "def f(x):\n    return"  # holds a newline and spaces
    ids = torch.tensor([bpe.encode(prompt)])
    ours = generate(model, ids, max_new_tokens=20, temperature=0)
    theirs = hf_model.generate(
        **hf_tok(prompt, return_tensors="pt"), max_new_tokens=20, do_sample=False
    )
    assert torch.equal(theirs, ours)
    # without an attention mask too (HF would hide pad ids found in the prompt)
    theirs = hf_model.generate(ids, max_new_tokens=20, do_sample=False)
    assert torch.equal(theirs, ours)


def test_pipeline_generates(folder, no_network):
    from transformers import pipeline, set_seed

    generator = pipeline("text-generation", model=str(folder), tokenizer=str(folder), device="cpu")
    set_seed(0)
    first = generator("def f(x):", max_new_tokens=12, do_sample=True)[0]["generated_text"]
    set_seed(0)
    again = generator("def f(x):", max_new_tokens=12, do_sample=True)[0]["generated_text"]
    assert first.startswith("def f(x):") and len(first) > len("def f(x):")
    assert first == again
    # the default length (from generation_config.json) stays inside the context
    assert generator("def")[0]["generated_text"].startswith("def")


def test_bias_free_model_exports(tmp_path, bpe):
    model = _tiny_gpt(bpe.vocab_size, bias=False)
    out = export_hf(model, bpe, tmp_path / "nobias")
    hf_model, _ = load_hf(out)
    x = torch.randint(0, bpe.vocab_size, (1, 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(hf_model(x).logits, model(x)[0], atol=ATOL, rtol=RTOL)


# -- errors ---------------------------------------------------------------------------------------


def test_vocab_size_mismatch(tmp_path, bpe):
    model = _tiny_gpt(bpe.vocab_size + 1)
    with pytest.raises(ValueError, match="400 tokens but the model's vocab_size is 401"):
        export_hf(model, bpe, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_export_into_a_file(tmp_path, model, bpe):
    path = tmp_path / "file.txt"
    path.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        export_hf(model, bpe, path)


def test_export_wrong_types(tmp_path, model, bpe):
    with pytest.raises(TypeError, match="GPT model"):
        export_hf(model.to_hf(), bpe, tmp_path / "x")
    with pytest.raises(TypeError, match="expected a gptlab BPETokenizer, got str"):
        export_hf(model, "gpt2", tmp_path / "x")


def test_load_missing_folder(tmp_path, no_network):
    with pytest.raises(FileNotFoundError, match="no folder at"):
        load_hf(tmp_path / "nowhere")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="tokenizer.json missing"):
        load_hf(tmp_path / "half")
