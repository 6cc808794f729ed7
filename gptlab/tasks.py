"""Small instruction-following tasks derived from Shakespeare's plays, plus short chat pairs.

Chapter 10 fine-tunes the reference model on these; chapters 11 and 13 reuse them. Every
example is a plain dict::

    {"task": "play" | "continue" | "speaker" | "chat",
     "instruction": str, "input": str, "response": str}

The four tasks:

- ``"play"``: name the play a verse line comes from. Lines come from the eight training
  plays in :data:`PLAY_TASK_WORKS`, so the answer is one of eight titles (chance: 1/8), and
  each line names a person or place found in only one of them (:func:`play_clues`), so that
  the answer can be read from the line. (A random single line rarely identifies its play,
  and a model this small then just guesses.)
- ``"continue"``: given one verse line, write the line that follows it in the same speech.
- ``"speaker"``: say which of a play's main characters speaks the given words (the
  candidates are named in the instruction; see :data:`SPEAKER_TASK_CHARACTERS`).
- ``"chat"``: reply to a message; prompt/response pairs from ``chatterbot-corpus``
  (:func:`gptlab.data.dialogues`).

How the splits are made (deterministic; ``seed`` only picks *which* examples are kept):

- **Plays, by position.** A play's speech turns are numbered in order and grouped in blocks
  of :data:`BLOCK_TURNS` consecutive turns. Block ``b`` belongs to *test* when
  ``b % 10 == 9``, to *val* when ``b % 10 == 8``, otherwise to *train*. Every example is
  built from the lines of one turn, so a line is used only by the split that owns its block,
  whichever task uses it.
- **Chat, by conversation.** Consecutive pairs that chain (one pair's response is the next
  pair's prompt, same category) form a conversation; conversation ``c`` (numbered in corpus
  order) goes to test when ``c % 10 == 9``, to val when ``c % 10 == 8``, otherwise to train.
- **No repeated text.** Short lines recur ("Farewell.", "Hello"). A val or test example whose
  input (or, for ``"continue"``, response) also occurs in train is dropped, and so is a test
  example whose text occurs in val. Comparison ignores case, punctuation at the ends and
  repeated spaces.

All texts are short (inputs at most :data:`MAX_INPUT_CHARS`, responses at most
:data:`MAX_RESPONSE_CHARS` characters, on one line), so that a formatted example fits the
reference model's 128-token context.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache

from gptlab.data import VAL_WORKS, WORKS, dialogues, shakespeare_works

__all__ = [
    "TASKS",
    "INSTRUCTIONS",
    "PLAY_TASK_WORKS",
    "SPEAKER_TASK_CHARACTERS",
    "BLOCK_TURNS",
    "SPLIT_SIZES",
    "speaker_lines",
    "play_clues",
    "split_of_turn",
    "make_tasks",
    "normalize_text",
]

TASKS: tuple[str, ...] = ("play", "continue", "speaker", "chat")

#: Eight plays from the pretraining split (none of them in VAL_WORKS) for the "play" task.
PLAY_TASK_WORKS: tuple[str, ...] = (
    "julius_caesar",
    "lear",
    "macbeth",
    "merchant_of_venice",
    "midsummer_nights_dream",
    "othello",
    "romeo_and_juliet",
    "tempest",
)

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

#: Consecutive speech turns per block in the position-based split.
BLOCK_TURNS = 10
MAX_INPUT_CHARS = 160
MAX_RESPONSE_CHARS = 90

#: Examples kept per task and split (fewer when a pool is smaller). "play" is per play.
SPLIT_SIZES: dict[str, dict[str, int]] = {
    "play": {"train": 100, "val": 8, "test": 12},
    "continue": {"train": 500, "val": 40, "test": 60},
    "speaker": {"train": 800, "val": 40, "test": 60},
    "chat": {"train": 500, "val": 40, "test": 60},
}

_TITLES = {w.slug: w.title for w in WORKS}
_PLAYS = tuple(w.slug for w in WORKS if w.genre != "poem")

# A speaker heading stands alone on a line after a blank line: a name (capitalised words,
# apostrophes, hyphens) ending with "." -- "ROMEO.", "Romeo.", "Ham.", "LADY MACBETH." -- or,
# in A Midsummer Night's Dream, an upper-case name without the full stop ("THESEUS"). A few
# headings carry a stage direction: "FIRST LORD. [Aside.]".
_HEADING = re.compile(
    r"^(?:([A-Z][A-Za-z'\- ]{0,30})\.(?:\s*[\[{][^\]]*\])?|([A-Z][A-Z'\- ]{1,30}))$")
_NOT_NAMES = re.compile(r"^(ACT|SCENE|THE END|FINIS|EPILOGUE$|PERSONS|DRAMATIS)", re.I)
_BRACKETS = re.compile(r"[\[{][^\]}]*([\]}]|$)")  # "[Exit.]", a few typed "{Aside.]"
_WORD = re.compile(r"[A-Za-z]+")
#: A heading must occur at least this often in a play to count as a speaker.
MIN_TURNS = 3


def normalize_text(text: str) -> str:
    """Lower-case, collapse white space, strip punctuation at both ends (for comparisons)."""
    text = " ".join(text.split()).casefold()
    return text.strip(" .,;:!?'\"-()[]")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _speech_lines(lines: list[str]) -> list[str]:
    """Lines of speech with stage directions (``[...]``, possibly over several lines) removed."""
    text = _BRACKETS.sub(" ", "\n".join(lines))
    # A line ending in "]" with no "[" is the tail of a direction whose start was lost.
    return [" ".join(line.split()) for line in text.split("\n")
            if line.strip() and not line.rstrip().endswith("]")]


def _parse_play(text: str) -> list[tuple[str, list[str]]]:
    """(heading, lines of speech) for every turn in a play, in order.

    The text is read as paragraphs (separated by blank lines). A paragraph whose first line is
    a speaker heading starts a turn. A paragraph that is only a stage direction (``[Exit
    Servant.]``) leaves the turn open, and a plain paragraph after it continues the same
    speech (Macbeth's dagger speech comes after ``[Exit Servant.]``). An act or scene heading
    closes the turn. Stage directions inside a speech are removed.
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
            name = " ".join((match.group(1) or match.group(2)).split())
            current = _speech_lines(lines[1:])
            turns.append((name, current))
        elif first.startswith("["):
            rest = _speech_lines(lines)
            if rest and current is not None:  # a direction, then more speech in the same paragraph
                current.extend(rest)
        elif _NOT_NAMES.match(first) or _HEADING.match(first):
            current = None  # ACT II. / SCENE III. / a lone name: the speech is over
        elif current is not None:
            current.extend(_speech_lines(lines))
    turns = [(name, speech) for name, speech in turns if speech]
    # Keep headings that recur: a lone capitalised line is more likely a stray word than a name.
    counts: dict[str, int] = {}
    for name, _ in turns:
        counts[name] = counts.get(name, 0) + 1
    return [(name, speech) for name, speech in turns if counts[name] >= MIN_TURNS]


@lru_cache(maxsize=None)
def _turns(slug: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((name, tuple(speech)) for name, speech in _parse_play(shakespeare_works()[slug]))


def speaker_lines(slugs=None) -> list[dict]:
    """Every speech turn of the given plays (default: all plays), in order.

    Returns dicts ``{"work": slug, "speaker": heading, "text": speech, "turn": i}``: the
    speaker as the heading prints it (``"ROMEO"``/``"Romeo"``/``"Ham"``, without the full
    stop), the speech with its verse lines joined by ``"\\n"``, and ``turn`` its position in
    the play (0, 1, ...), which :func:`split_of_turn` maps to a split. Poems have no turns.
    """
    if slugs is None:
        slugs = _PLAYS
    elif isinstance(slugs, str):
        slugs = [slugs]
    out: list[dict] = []
    for slug in slugs:
        if slug not in _TITLES:
            raise ValueError(f"unknown work {slug!r}; valid slugs are in gptlab.data.WORKS, "
                             f"for example {', '.join(PLAY_TASK_WORKS[:3])}.")
        for i, (name, speech) in enumerate(_turns(slug)):
            out.append({"work": slug, "speaker": name, "text": "\n".join(speech), "turn": i})
    return out


def split_of_turn(turn: int) -> str:
    """The split that owns speech turn number ``turn`` of a play (see the module docstring)."""
    block = turn // BLOCK_TURNS
    return {9: "test", 8: "val"}.get(block % 10, "train")


def _split_of_group(index: int) -> str:
    return {9: "test", 8: "val"}.get(index % 10, "train")


@lru_cache(maxsize=1)
def _play_clues() -> dict[str, tuple[str, ...]]:
    counts = {slug: {} for slug in PLAY_TASK_WORKS}  # slug -> {capitalised word: count}
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
    clues = {}
    for slug in PLAY_TASK_WORKS:
        clues[slug] = tuple(sorted(
            word for word, n in counts[slug].items()
            if n >= 4 and len(word) >= 3 and word not in lower
            and not any(word in counts[other] for other in PLAY_TASK_WORKS if other != slug)))
    return clues


def play_clues() -> dict[str, tuple[str, ...]]:
    """Proper nouns that point to one play of :data:`PLAY_TASK_WORKS`: slug -> words.

    A word is a clue for a play when, in the training turns of the eight plays, it occurs at
    least 4 times capitalised inside a line of that play, never in lower case, and never
    inside a line of the other seven ("Banquo", "Dunsinane", "Rialto", "Verona", ...).
    """
    return dict(_play_clues())


def _has_clue(line: str, clues: tuple[str, ...]) -> bool:
    return any(word in clues for word in _WORD.findall(line))


def _verse_like(line: str) -> bool:
    """Verse lines start with a capital letter; wrapped prose usually does not."""
    first = line.lstrip("'\"([-")
    return bool(first) and first[0].isupper()


def _example(task: str, instruction: str, inp: str, response: str) -> dict:
    return {"task": task, "instruction": instruction, "input": inp, "response": response}


def _play_pools() -> dict[str, dict[str, list[dict]]]:
    """task -> split -> candidate examples from the plays (before sampling)."""
    pools = {t: {"train": [], "val": [], "test": []} for t in ("play", "continue", "speaker")}
    by_play: dict[str, dict[str, list[dict]]] = {}
    clues = _play_clues()
    for slug in PLAY_TASK_WORKS:
        by_play[slug] = {"train": [], "val": [], "test": []}
        for turn in speaker_lines(slug):
            split = split_of_turn(turn["turn"])
            verse = turn["text"].split("\n")
            for line in verse:
                if _verse_like(line) and len(line.split()) >= 5 and len(line) <= MAX_INPUT_CHARS \
                        and _has_clue(line, clues[slug]):
                    by_play[slug][split].append(
                        _example("play", INSTRUCTIONS["play"], line, _TITLES[slug]))
            for a, b in zip(verse, verse[1:]):
                if _verse_like(a) and _verse_like(b) and len(a.split()) >= 4 \
                        and len(b.split()) >= 4 and len(a) <= 80 and len(b) <= 80:
                    pools["continue"][split].append(
                        _example("continue", INSTRUCTIONS["continue"], a, b))
    pools["play"] = by_play  # type: ignore[assignment]  (sampled per play)

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
                pools["speaker"][split_of_turn(turn["turn"])].append(
                    _example("speaker", instruction, words, names[turn["speaker"]]))
    return pools


def _chat_pools() -> dict[str, list[dict]]:
    pairs = dialogues()
    pools: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
    group = -1
    previous = None
    for pair in pairs:
        chained = previous is not None and previous["category"] == pair["category"] \
            and previous["response"] == pair["prompt"]
        if not chained:
            group += 1
        previous = pair
        prompt, response = _one_line(pair["prompt"]), _one_line(pair["response"])
        if len(prompt) <= MAX_INPUT_CHARS and len(response) <= MAX_RESPONSE_CHARS:
            pools[_split_of_group(group)].append(
                _example("chat", INSTRUCTIONS["chat"], prompt, response))
    return pools


def _passages(example: dict) -> set[str]:
    texts = {normalize_text(example["input"])}
    if example["task"] == "continue":
        texts.add(normalize_text(example["response"]))
    return texts


def _sample(pool: list[dict], n: int, rng: random.Random) -> list[dict]:
    if len(pool) <= n:
        return list(pool)
    return rng.sample(pool, n)


@lru_cache(maxsize=8)
def _make_tasks_cached(seed: int) -> tuple[tuple[str, tuple[dict, ...]], ...]:
    pools = _play_pools()
    chat = _chat_pools()
    splits = ("train", "val", "test")
    candidates: dict[str, list[dict]] = {s: [] for s in splits}

    # Remove val/test examples whose text also occurs in an earlier split, before sampling.
    seen: set[str] = set()
    for split in splits:
        task_pools: list[tuple[str, list[dict]]] = []
        for slug in PLAY_TASK_WORKS:
            task_pools.append(("play", pools["play"][slug][split]))  # type: ignore[index]
        task_pools.append(("continue", pools["continue"][split]))
        task_pools.append(("speaker", pools["speaker"][split]))
        task_pools.append(("chat", chat[split]))
        kept_here: list[tuple[str, list[dict]]] = []
        for task, pool in task_pools:
            if split != "train":
                pool = [ex for ex in pool if not (_passages(ex) & seen)]
            kept_here.append((task, pool))
        for task, pool in kept_here:
            for ex in pool:
                seen |= _passages(ex)
        candidates[split] = kept_here  # type: ignore[assignment]

    out: dict[str, list[dict]] = {}
    for split in splits:
        rng = random.Random(f"gptlab.tasks:{seed}:{split}")
        chosen: list[dict] = []
        for task, pool in candidates[split]:  # type: ignore[misc]
            chosen.extend(_sample(pool, SPLIT_SIZES[task][split], rng))
        rng.shuffle(chosen)
        out[split] = chosen
    return tuple((split, tuple(exs)) for split, exs in out.items())


def make_tasks(seed: int = 0) -> dict[str, list[dict]]:
    """The derived tasks: ``{"train": [...], "val": [...], "test": [...]}``.

    Each example is ``{"task", "instruction", "input", "response"}`` (all strings). The split
    of every example is fixed by its position (see the module docstring); ``seed`` chooses
    which examples of each pool are kept and their order. The same seed always gives the
    same lists. Sizes per task and split are in :data:`SPLIT_SIZES` ("play": per play).
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}.")
    return {split: [dict(ex) for ex in exs] for split, exs in _make_tasks_cached(seed)}
