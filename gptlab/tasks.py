"""Small instruction-following tasks derived from Shakespeare's plays, plus short chat pairs.

Every example is a dict ``{"task", "instruction", "input", "response"}`` of short one-line
strings, in deterministic splits (:func:`make_tasks`). See chapters 10, 11 and 13."""

import random
import re
from collections import Counter
from functools import cache, lru_cache
from itertools import accumulate, pairwise

from gptlab.data import WORKS, dialogues, shakespeare_works
from gptlab.metrics import normalize_answer

#: name the play of a line with a clue (:func:`play_clues`); write the next verse line; name
#: the main character who speaks; reply to a message (:func:`gptlab.data.dialogues`).
TASKS: tuple[str, ...] = ("play", "continue", "speaker", "chat")

#: Eight plays from the pretraining split (none of them in VAL_WORKS) for the "play" task.
PLAY_TASK_WORKS: tuple[str, ...] = (
    "julius_caesar", "lear", "macbeth", "merchant_of_venice", "midsummer_nights_dream",
    "othello", "romeo_and_juliet", "tempest",
)  # fmt: skip

#: For the "speaker" task, per play, the heading as printed in the text -> the name in the answer.
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

_TITLES = {w.slug: w.title for w in WORKS}
_PLAYS = tuple(w.slug for w in WORKS if w.genre != "poem")

# A speaker heading is a line of its own: a name ending with "." ("ROMEO.", "Ham.", some with
# a direction: "FIRST LORD. [Aside.]") or, in A Midsummer Night's Dream, "THESEUS".
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


@cache
def _turns(slug: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(heading, lines of speech) for every turn of a play, in order. A stage direction alone
    in a paragraph leaves the turn open (Macbeth's dagger speech follows ``[Exit Servant.]``);
    an act or scene heading closes it."""
    turns: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for paragraph in re.split(r"\n[ \t]*\n", shakespeare_works()[slug]):
        lines = [line for line in paragraph.split("\n") if line.strip()]
        if not lines:
            continue
        first = lines[0].strip()
        match = _HEADING.match(first)
        if match and len(lines) > 1 and not _NOT_NAMES.match(first):
            current = _speech_lines(lines[1:])
            turns.append((" ".join((match.group(1) or match.group(2)).split()), current))
        elif _NOT_NAMES.match(first) or match:
            current = None  # ACT II. / SCENE III. / a lone name: the speech is over
        elif current is not None:  # more speech, or a stage direction within it
            current.extend(_speech_lines(lines))
    kept = [(name, tuple(speech)) for name, speech in turns if speech]
    # A heading that does not recur is more likely a stray capitalised word than a name.
    counts = Counter(name for name, _ in kept)
    return tuple((name, speech) for name, speech in kept if counts[name] >= MIN_TURNS)


def speaker_lines(slugs: str | list[str] | None = None) -> list[dict]:
    """Every speech turn of the given plays (default: all plays), in order, as dicts ``{"work":
    slug, "speaker": heading, "text": speech, "turn": i}``: the heading without its full stop
    (``"ROMEO"``, ``"Ham"``), the lines joined by ``"\\n"``. ValueError for an unknown slug."""
    slugs = _PLAYS if slugs is None else [slugs] if isinstance(slugs, str) else slugs
    out: list[dict] = []
    for slug in slugs:
        if slug not in _TITLES:
            raise ValueError(f"unknown work {slug!r}; see gptlab.data.WORKS (e.g. 'macbeth').")
        out += [{"work": slug, "speaker": name, "text": "\n".join(speech), "turn": i}
                for i, (name, speech) in enumerate(_turns(slug))]  # fmt: skip
    return out


def split_of_turn(turn: int) -> str:
    """The split of speech turn ``turn``: blocks of :data:`BLOCK_TURNS` turns, block ``b`` is
    test when ``b % 10 == 9``, val when ``b % 10 == 8``, else train."""
    return {9: "test", 8: "val"}.get(turn // BLOCK_TURNS % 10, "train")


def play_clues() -> dict[str, tuple[str, ...]]:
    """Proper nouns that point to one play of :data:`PLAY_TASK_WORKS`: slug -> words. A clue
    occurs at least 4 times capitalised inside lines of that play's training turns, never in
    lower case, and never in the other seven ("Banquo", "Rialto", "Verona", ...)."""
    counts: dict[str, Counter[str]] = {slug: Counter() for slug in PLAY_TASK_WORKS}
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
                        counts[slug][word] += 1
    return {
        slug: tuple(sorted(
            word for word, n in counts[slug].items()
            if n >= 4 and len(word) >= 3 and word not in lower
            and not any(word in counts[other] for other in PLAY_TASK_WORKS if other != slug)))
        for slug in PLAY_TASK_WORKS
    }  # fmt: skip


def _verse_like(line: str) -> bool:
    """Verse lines start with a capital letter; wrapped prose usually does not."""
    first = line.lstrip("'\"([-")
    return bool(first) and first[0].isupper()


def _example(task: str, inp: str, response: str, instruction: str | None = None) -> dict:
    instruction = instruction or INSTRUCTIONS[task]
    return {"task": task, "instruction": instruction, "input": inp, "response": response}


def _pools() -> list[tuple[str, dict[str, list[dict]]]]:
    """(task, split -> candidate examples) before sampling; "play" has one pool per play."""
    play = {slug: {s: [] for s in SPLITS} for slug in PLAY_TASK_WORKS}
    cont, speaker, chat = ({s: [] for s in SPLITS} for _ in range(3))
    clues = play_clues()
    for slug in PLAY_TASK_WORKS:
        for turn in speaker_lines(slug):
            split, verse = split_of_turn(turn["turn"]), turn["text"].split("\n")
            play[slug][split] += [
                _example("play", line, _TITLES[slug]) for line in verse
                if _verse_like(line) and len(line.split()) >= 5 and len(line) <= MAX_INPUT_CHARS
                and any(word in clues[slug] for word in _WORD.findall(line))
            ]  # fmt: skip
            cont[split] += [
                _example("continue", a, b) for a, b in pairwise(verse)
                if all(_verse_like(v) and len(v.split()) >= 4 and len(v) <= 80 for v in (a, b))
            ]  # fmt: skip
    for slug, names in SPEAKER_TASK_CHARACTERS.items():
        *shown, last = names.values()
        choices = ", ".join(shown) + " or " + last
        instruction = INSTRUCTIONS["speaker"].format(title=_TITLES[slug], choices=choices)
        for turn in speaker_lines(slug):
            if turn["speaker"] not in names:
                continue
            starts = accumulate(turn["text"].split("\n"), lambda a, b: f"{a} {b}")
            fits = [words for words in starts if len(words) <= MAX_INPUT_CHARS]  # whole lines
            if fits and len(fits[-1]) >= 25:
                example = _example("speaker", fits[-1], names[turn["speaker"]], instruction)
                speaker[split_of_turn(turn["turn"])].append(example)
    group, previous = -1, None  # pairs that chain (a response is the next prompt): one group
    for pair in dialogues():
        if previous != (pair["category"], pair["prompt"]):
            group += 1
        previous = (pair["category"], pair["response"])
        prompt, response = " ".join(pair["prompt"].split()), " ".join(pair["response"].split())
        if len(prompt) <= MAX_INPUT_CHARS and len(response) <= MAX_RESPONSE_CHARS:
            chat[split_of_turn(group * BLOCK_TURNS)].append(_example("chat", prompt, response))
    return [*(("play", play[slug]) for slug in PLAY_TASK_WORKS),
            ("continue", cont), ("speaker", speaker), ("chat", chat)]  # fmt: skip


def _passages(example: dict) -> set[str]:
    fields = ("input", "response") if example["task"] == "continue" else ("input",)
    return {normalize_answer(example[f]) for f in fields}


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
    """The derived tasks ``{"train": [...], "val": [...], "test": [...]}`` (fresh copies). Plays
    split by :func:`split_of_turn`, chat by conversation number the same way; a val or test
    example whose text (normalised) occurs in an earlier split is dropped. ``seed``, an integer
    (else ValueError), only picks which examples of each pool are kept (:data:`SPLIT_SIZES`)
    and their order."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}.")
    return {split: [dict(ex) for ex in exs] for split, exs in _make_tasks_cached(seed)}
