"""gptlab.tasks: deterministic derived tasks, disjoint splits, well-formed examples, the parser."""

from __future__ import annotations

import collections
import re

import pytest

from gptlab import tasks
from gptlab.data import VAL_WORKS, WORKS
from gptlab.metrics import normalize_answer

TITLES = {w.slug: w.title for w in WORKS}
KEYS = {"task", "instruction", "input", "response"}


@pytest.fixture(scope="module")
def splits():
    return tasks.make_tasks(0)


def test_shape_and_sizes(splits):
    assert set(splits) == {"train", "val", "test"}
    for split, examples in splits.items():
        counts = collections.Counter(ex["task"] for ex in examples)
        assert set(counts) == set(tasks.TASKS), (split, counts)
        for task, n in counts.items():
            cap = tasks.SPLIT_SIZES[task][split] * (
                len(tasks.PLAY_TASK_WORKS) if task == "play" else 1
            )
            assert 0.5 * cap <= n <= cap, (split, task, n, cap)  # pools are large enough
        plays = collections.Counter(ex["response"] for ex in examples if ex["task"] == "play")
        assert len(plays) == len(tasks.PLAY_TASK_WORKS)  # every play is represented
        assert max(plays.values()) <= tasks.SPLIT_SIZES["play"][split]


def test_every_example_is_well_formed(splits):
    for examples in splits.values():
        for ex in examples:
            assert set(ex) == KEYS
            assert ex["task"] in tasks.TASKS
            for key in KEYS:
                value = ex[key]
                assert isinstance(value, str) and value == value.strip() and value, (key, ex)
                assert "\n" not in value and "  " not in value, ex  # one line, single spaces
            assert len(ex["input"]) <= tasks.MAX_INPUT_CHARS
            assert len(ex["response"]) <= tasks.MAX_RESPONSE_CHARS
            assert "[" not in ex["input"] or ex["task"] == "chat"  # no stage directions
            assert ex["instruction"] in tasks.INSTRUCTIONS.values() or ex["task"] == "speaker"


def test_answers_are_what_the_instruction_asks_for(splits):
    allowed_titles = {TITLES[s] for s in tasks.PLAY_TASK_WORKS}
    clues = tasks.play_clues()
    slug_of = {TITLES[s]: s for s in tasks.PLAY_TASK_WORKS}
    assert (
        clues["macbeth"] and "Banquo" in clues["macbeth"] and "Verona" in clues["romeo_and_juliet"]
    )
    for slug, words in clues.items():  # a clue points to one play only
        assert not set(words) & {w for other, ws in clues.items() if other != slug for w in ws}
    assert not set(tasks.PLAY_TASK_WORKS) & set(VAL_WORKS)  # plays from the training works only
    for examples in splits.values():
        for ex in examples:
            if ex["task"] == "play":
                assert ex["response"] in allowed_titles
                words = set(re.findall(r"[A-Za-z]+", ex["input"]))
                assert words & set(clues[slug_of[ex["response"]]]), ex  # the line names a clue
            elif ex["task"] == "speaker":
                m = re.fullmatch(r"Who speaks these words in (.+): (.+)\?", ex["instruction"])
                assert m, ex["instruction"]
                choices = re.split(r", | or ", m.group(2))
                assert ex["response"] in choices and len(choices) >= 2
                assert m.group(1) in {TITLES[s] for s in tasks.SPEAKER_TASK_CHARACTERS}


def test_deterministic(splits):
    again = tasks.make_tasks(0)
    assert again == splits
    tasks._make_tasks_cached.cache_clear()  # really rebuild, not just read the cache
    tasks._turns.cache_clear()
    assert tasks.make_tasks(0) == splits
    other = tasks.make_tasks(1)
    assert other != splits  # a different sample ...
    key = lambda ex: (ex["task"], ex["input"], ex["response"])  # noqa: E731
    for split in splits:  # ... drawn from the same split pools, so still disjoint
        for s2 in splits:
            if s2 != split:
                assert not {key(e) for e in other[split]} & {key(e) for e in splits[s2]}


def test_make_tasks_returns_fresh_copies(splits):
    fresh = tasks.make_tasks(0)
    fresh["train"][0]["response"] = "changed"
    assert tasks.make_tasks(0)["train"][0]["response"] != "changed"
    with pytest.raises(ValueError, match="integer"):
        tasks.make_tasks("0")


def test_no_text_is_shared_between_splits(splits):
    def texts(examples):
        out = set()
        for ex in examples:
            out.add(normalize_answer(ex["input"]))
            if ex["task"] == "continue":
                out.add(normalize_answer(ex["response"]))
        return out

    train, val, test = (texts(splits[s]) for s in ("train", "val", "test"))
    assert not train & val
    assert not train & test
    assert not val & test


def test_split_follows_the_position_rule(splits):
    """Every Shakespeare example comes from a speech turn that its split owns."""
    owner: dict[str, set[str]] = collections.defaultdict(set)  # line -> splits of its turns
    speeches: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)  # by first 20 chars
    for turn in tasks.speaker_lines(
        sorted(set(tasks.PLAY_TASK_WORKS) | set(tasks.SPEAKER_TASK_CHARACTERS))
    ):
        split = tasks.split_of_turn(turn["turn"])
        for line in turn["text"].split("\n"):
            owner[line].add(split)
        joined = " ".join(turn["text"].split("\n"))
        speeches[joined[:20]].append((joined, split))
    for split, examples in splits.items():
        for ex in examples:
            if ex["task"] in ("play", "continue"):
                assert split in owner[ex["input"]], ex
            if ex["task"] == "continue":
                assert split in owner[ex["response"]], ex
            if ex["task"] == "speaker":  # the start of a speech of a turn that this split owns
                assert any(
                    joined.startswith(ex["input"]) and s == split
                    for joined, s in speeches[ex["input"][:20]]
                ), ex


def test_split_of_turn():
    got = [tasks.split_of_turn(t) for t in range(0, 200, 10)]
    assert got[:8] == ["train"] * 8 and got[8] == "val" and got[9] == "test" and got[10] == "train"
    assert tasks.split_of_turn(89) == "val" and tasks.split_of_turn(90) == "test"


def test_speaker_lines_parses_the_plays():
    macbeth = tasks.speaker_lines("macbeth")
    assert all(set(t) == {"work", "speaker", "text", "turn"} for t in macbeth)
    assert [t["turn"] for t in macbeth] == list(range(len(macbeth)))
    # The dagger speech follows "[Exit Servant.]" and continues the turn that began before it.
    dagger = [t for t in macbeth if "\nIs this a dagger which I see before me,\n" in t["text"]]
    assert len(dagger) == 1 and dagger[0]["speaker"] == "MACBETH"
    speakers = collections.Counter(t["speaker"] for t in macbeth)
    assert speakers["MACBETH"] > 100 and speakers["LADY MACBETH"] > 40
    # Three heading styles: "Romeo." (title case), "Ham." (abbreviated), "THESEUS" (no full stop).
    assert (
        collections.Counter(t["speaker"] for t in tasks.speaker_lines("romeo_and_juliet"))["Romeo"]
        > 100
    )
    assert collections.Counter(t["speaker"] for t in tasks.speaker_lines("hamlet"))["Ham"] > 300
    assert (
        collections.Counter(t["speaker"] for t in tasks.speaker_lines("midsummer_nights_dream"))[
            "THESEUS"
        ]
        > 30
    )
    for turn in macbeth:
        assert turn["text"].strip() and not turn["text"].startswith("[")
        assert not turn["speaker"].startswith(("ACT", "SCENE"))
    assert tasks.speaker_lines("sonnets") == []  # poems have no speakers
    everything = tasks.speaker_lines()
    assert len(everything) > 20000 and {t["work"] for t in everything} >= set(tasks.PLAY_TASK_WORKS)
    with pytest.raises(ValueError, match="unknown work"):
        tasks.speaker_lines(["macbth"])


def test_examples_fit_the_reference_model():
    """With the reference tokenizer and template every example fits in 128 tokens."""
    import gptlab
    from gptlab.finetune import sft

    model, tok = gptlab.pretrained("shakespeare")  # committed: a failure to load is a failure
    n = 0
    for examples in tasks.make_tasks(0).values():
        for ex in examples:
            ids, labels = sft.encode_example(ex, tok, model.config.block_size)
            assert len(ids) <= model.config.block_size
            n += 1
    assert n > 2000
