"""Small instruction-following tasks derived from Shakespeare's plays, plus short chat pairs.

Chapter 10 fine-tunes the reference model on these; chapters 11 and 13 reuse them. Every
example is a dict ``{"task", "instruction", "input", "response"}`` of strings. Tasks:

- ``"play"``: name the play a verse line comes from; lines come from the eight plays of
  :data:`PLAY_TASK_WORKS` and each names a person or place found in only one of them
  (:func:`play_clues`), so the answer can be read from the line.
- ``"continue"``: given a verse line, write the next line of the same speech.
- ``"speaker"``: which of a play's main characters (:data:`SPEAKER_TASK_CHARACTERS`) speaks.
- ``"chat"``: reply to a message (pairs from :func:`gptlab.data.dialogues`).

Splits are deterministic (``seed`` only picks which examples are kept). Plays: speech turns
are grouped in blocks of :data:`BLOCK_TURNS`; block ``b`` is test when ``b % 10 == 9``, val
when ``b % 10 == 8``, else train. Chat: pairs that chain (a response is the next prompt)
form a conversation, split the same way by conversation number. A val or test example
whose text (after :func:`gptlab.metrics.normalize_answer`) occurs in an earlier split is
dropped. Texts are one line and short, so an example fits the reference model's context.
"""

from __future__ import annotations

import random
import re
from functools import cache, lru_cache
from itertools import pairwise

from gptlab.data import WORKS, dialogues, shakespeare_works
from gptlab.metrics import normalize_answer

__all__ = [
    "BLOCK_TURNS",
    "INSTRUCTIONS",
    "PLAY_TASK_WORKS",
    "SPEAKER_TASK_CHARACTERS",
    "SPLIT_SIZES",
    "TASKS",
    "make_tasks",
    "normalize_text",
    "play_clues",
    "speaker_lines",
    "split_of_turn",
]

TASKS: tuple[str, ...] = ("play", "continue", "speaker", "chat")

#: Eight plays from the pretraining split (none of them in VAL_WORKS) for the "play" task.
PLAY_TASK_WORKS: tuple[str, ...] = (
    "julius_caesar", "lear", "macbeth", "merchant_of_venice", "midsummer_nights_dream",
    "othello", "romeo_and_juliet", "tempest",
)  # fmt: skip

#: For the "speaker" task: play -> {heading as printed in the text: name in the answer}.
SPEAKER_TASK_CHARACTERS: dict[str, dict[str, str]] = {
    "julius_caesar": {"BRUTUS": "Brutus", "CASSIUS": "Cassius"},
    "macbeth": {"MACBETH": "Macbeth", "LADY MACBETH": "Lady Macbeth"},
    "othello": {"OTHELLO": "Othello", "IAGO": "Iago", "DESDEMONA": "Desdemona"},
    "romeo_and_juliet": {"Romeo": "Romeo", "Juliet": "Juliet", "Nurse": "Nurse"},
}

INSTRUCTIONS: dict[str, str] = {
    "play": "Which Shakespeare play is this line from?",
    "continue": "Continue the verse with the next line.",
    "speaker": "Who speaks these words in {title}: {choices}?",
    "chat": "Reply to the message.",
}

BLOCK_TURNS = 10  #: consecutive speech turns per block in the position-based split
MAX_INPUT_CHARS = 160
MAX_RESPONSE_CHARS = 90
MIN_TURNS = 3  #: a heading must occur this often in a play to count as a speaker

#: Examples kept per task and split (fewer when a pool is smaller). "play" is per play.
SPLIT_SIZES: dict[str, dict[str, int]] = {
    "play": {"train": 100, "val": 8, "test": 12},
    "continue": {"train": 500, "val": 40, "test": 60},
    "speaker": {"train": 800, "val": 40, "test": 60},
    "chat": {"train": 500, "val": 40, "test": 60},
}
SPLITS = ("train", "val", "test")

#: The name chapter 10 uses for :func:`gptlab.metrics.normalize_answer` (the same function).
normalize_text = normalize_answer

_TITLES = {w.slug: w.title for w in WORKS}
_PLAYS = tuple(w.slug for w in WORKS if w.genre != "poem")

# A speaker heading stands alone on a line after a blank line: a name ending with "."
# ("ROMEO.", "Ham.", "LADY MACBETH.", some with a direction: "FIRST LORD. [Aside.]") or, in
# A Midsummer Night's Dream, an upper-case name without the full stop ("THESEUS").
_HEADING = re.compile(
    r"^(?:([A-Z][A-Za-z'\- ]{0,30})\.(?:\s*[\[{][^\]]*\])?|([A-Z][A-Z'\- ]{1,30}))$"
)
_NOT_NAMES = re.compile(r"^(ACT|SCENE|THE END|FINIS|EPILOGUE$|PERSONS|DRAMATIS)", re.I)
_BRACKETS = re.compile(r"[\[{][^\]}]*([\]}]|$)")  # "[Exit.]", a few typed "{Aside.]"
_WORD = re.compile(r"[A-Za-z]+")


def _speech_lines(lines: list[str]) -> list[str]:
    """Lines of speech with stage directions (``[...]``, possibly over several lines) removed."""
    text = _BRACKETS.sub(" ", "\n".join(lines))
    # A line ending in "]" with no "[" is the tail of a direction whose start was lost.
    return [" ".join(line.split()) for line in text.split("\n")
            if line.strip() and not line.rstrip().endswith("]")]  # fmt: skip


def _parse_play(text: str) -> list[tuple[str, list[str]]]:
    """(heading, lines of speech) for every turn of a play, in order.

    A paragraph that starts with a heading starts a turn; a paragraph that is only a stage
    direction leaves it open (Macbeth's dagger speech follows ``[Exit Servant.]``); an act
    or scene heading closes it.
    """
    turns: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for paragraph in re.split(r"\n[ \t]*\n", text):
        lines = [line for line in paragraph.split("\n") if line.strip()]
        if not lines:
            continue
        first = lines[0].strip()
        match = _HEADING.match(first)
        if match and len(lines) > 1 and not _NOT_NAMES.match(first):
            current = _speech_lines(lines[1:])
            turns.append((" ".join((match.group(1) or match.group(2)).split()), current))
        elif first.startswith("["):
            if current is not None:  # a direction, then maybe more speech in the paragraph
                current.extend(_speech_lines(lines))
        elif _NOT_NAMES.match(first) or match:
            current = None  # ACT II. / SCENE III. / a lone name: the speech is over
        elif current is not None:
            current.extend(_speech_lines(lines))
    turns = [(name, speech) for name, speech in turns if speech]
    # Keep headings that recur: a lone capitalised line is more likely a stray word than a name.
    counts: dict[str, int] = {}
    for name, _ in turns:
        counts[name] = counts.get(name, 0) + 1
    return [(name, speech) for name, speech in turns if counts[name] >= MIN_TURNS]


@cache
def _turns(slug: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((name, tuple(speech)) for name, speech in _parse_play(shakespeare_works()[slug]))


def speaker_lines(slugs: str | list[str] | None = None) -> list[dict]:
    """Every speech turn of the given plays (default: all plays), in order.

    Dicts ``{"work": slug, "speaker": heading, "text": speech, "turn": i}``: the heading as
    printed, without its full stop (``"ROMEO"``, ``"Ham"``), the verse lines joined by
    ``"\\n"``, and the turn's position in the play (see :func:`split_of_turn`).

    Raises:
        ValueError: an unknown slug.
    """
    slugs = _PLAYS if slugs is None else [slugs] if isinstance(slugs, str) else slugs
    out: list[dict] = []
    for slug in slugs:
        if slug not in _TITLES:
            raise ValueError(
                f"unknown work {slug!r}; valid slugs are in gptlab.data.WORKS, "
                f"for example {', '.join(PLAY_TASK_WORKS[:3])}."
            )
        for i, (name, speech) in enumerate(_turns(slug)):
            out.append({"work": slug, "speaker": name, "text": "\n".join(speech), "turn": i})
    return out


def _split_of(group: int) -> str:
    return {9: "test", 8: "val"}.get(group % 10, "train")


def split_of_turn(turn: int) -> str:
    """The split that owns speech turn number ``turn`` of a play (see the module docstring)."""
    return _split_of(turn // BLOCK_TURNS)


@lru_cache(maxsize=1)
def _play_clues() -> dict[str, tuple[str, ...]]:
    counts: dict[str, dict[str, int]] = {slug: {} for slug in PLAY_TASK_WORKS}
    lower: set[str] = set()
    for slug in PLAY_TASK_WORKS:
        for turn in speaker_lines(slug):
            if split_of_turn(turn["turn"]) != "train":
                continue
            for line in turn["text"].split("\n"):
                for i, word in enumerate(_WORD.findall(line)):
                    if word[0].islower():
                        lower.add(word.capitalize())
                    elif i > 0:  # the first word of a line is capitalised anyway
                        counts[slug][word] = counts[slug].get(word, 0) + 1
    return {
        slug: tuple(sorted(
            word for word, n in counts[slug].items()
            if n >= 4 and len(word) >= 3 and word not in lower
            and not any(word in counts[other] for other in PLAY_TASK_WORKS if other != slug)))
        for slug in PLAY_TASK_WORKS
    }  # fmt: skip


def play_clues() -> dict[str, tuple[str, ...]]:
    """Proper nouns that point to one play of :data:`PLAY_TASK_WORKS`: slug -> words.

    A clue occurs at least 4 times capitalised inside lines of that play's training turns,
    never in lower case, and never in the other seven ("Banquo", "Rialto", "Verona", ...).
    """
    return dict(_play_clues())


def _verse_like(line: str) -> bool:
    """Verse lines start with a capital letter; wrapped prose usually does not."""
    first = line.lstrip("'\"([-")
    return bool(first) and first[0].isupper()


def _example(task: str, instruction: str, inp: str, response: str) -> dict:
    return {"task": task, "instruction": instruction, "input": inp, "response": response}


def _pools() -> list[tuple[str, dict[str, list[dict]]]]:
    """(task, split -> candidate examples) before sampling; "play" has one pool per play."""
    play = {slug: {s: [] for s in SPLITS} for slug in PLAY_TASK_WORKS}
    cont, speaker, chat = ({s: [] for s in SPLITS} for _ in range(3))
    clues = _play_clues()
    for slug in PLAY_TASK_WORKS:
        for turn in speaker_lines(slug):
            split, verse = split_of_turn(turn["turn"]), turn["text"].split("\n")
            for line in verse:
                if (
                    _verse_like(line)
                    and len(line.split()) >= 5
                    and len(line) <= MAX_INPUT_CHARS
                    and any(word in clues[slug] for word in _WORD.findall(line))
                ):
                    play[slug][split].append(
                        _example("play", INSTRUCTIONS["play"], line, _TITLES[slug])
                    )
            for a, b in pairwise(verse):
                if (
                    _verse_like(a)
                    and _verse_like(b)
                    and len(a.split()) >= 4
                    and len(b.split()) >= 4
                    and len(a) <= 80
                    and len(b) <= 80
                ):
                    cont[split].append(_example("continue", INSTRUCTIONS["continue"], a, b))
    for slug, names in SPEAKER_TASK_CHARACTERS.items():
        shown = list(names.values())
        choices = ", ".join(shown[:-1]) + " or " + shown[-1]
        instruction = INSTRUCTIONS["speaker"].format(title=_TITLES[slug], choices=choices)
        for turn in speaker_lines(slug):
            if turn["speaker"] not in names:
                continue
            words = ""
            for line in turn["text"].split("\n"):
                joined = (words + " " + line).strip()
                if len(joined) > MAX_INPUT_CHARS:
                    break
                words = joined
            if len(words) >= 25:
                speaker[split_of_turn(turn["turn"])].append(
                    _example("speaker", instruction, words, names[turn["speaker"]])
                )
    group, previous = -1, None
    for pair in dialogues():
        if not (
            previous
            and previous["category"] == pair["category"]
            and previous["response"] == pair["prompt"]
        ):
            group += 1  # a new conversation
        previous = pair
        prompt, response = " ".join(pair["prompt"].split()), " ".join(pair["response"].split())
        if len(prompt) <= MAX_INPUT_CHARS and len(response) <= MAX_RESPONSE_CHARS:
            chat[_split_of(group)].append(_example("chat", INSTRUCTIONS["chat"], prompt, response))
    return [*(("play", play[slug]) for slug in PLAY_TASK_WORKS),
            ("continue", cont), ("speaker", speaker), ("chat", chat)]  # fmt: skip


def _passages(example: dict) -> set[str]:
    texts = {normalize_answer(example["input"])}
    if example["task"] == "continue":
        texts.add(normalize_answer(example["response"]))
    return texts


@lru_cache(maxsize=8)
def _make_tasks_cached(seed: int) -> tuple[tuple[str, tuple[dict, ...]], ...]:
    pools = _pools()
    seen: set[str] = set()  # texts of earlier splits
    out = []
    for split in SPLITS:
        # drop val/test examples whose text occurs in an earlier split, before sampling
        kept = [(task, [ex for ex in pool[split] if split == "train" or not _passages(ex) & seen])
                for task, pool in pools]  # fmt: skip
        seen |= {text for _, pool in kept for ex in pool for text in _passages(ex)}
        rng = random.Random(f"gptlab.tasks:{seed}:{split}")
        chosen: list[dict] = []
        for task, pool in kept:
            n = SPLIT_SIZES[task][split]
            chosen.extend(list(pool) if len(pool) <= n else rng.sample(pool, n))
        rng.shuffle(chosen)
        out.append((split, tuple(chosen)))
    return tuple(out)


def make_tasks(seed: int = 0) -> dict[str, list[dict]]:
    """The derived tasks: ``{"train": [...], "val": [...], "test": [...]}``, fresh copies.

    The split of every example is fixed by its position; ``seed`` chooses which examples of
    each pool are kept and their order (the same seed gives the same lists). Sizes per task
    and split are in :data:`SPLIT_SIZES`.

    Raises:
        ValueError: a seed that is not an integer.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}.")
    return {split: [dict(ex) for ex in exs] for split, exs in _make_tasks_cached(seed)}
