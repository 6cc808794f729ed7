"""Chapter 02 (tokenization): BPE's merge step, its choice of pair, and the encoder (build)."""
# fmt: off

from collections import Counter

from gptlab.exercises import Exercise


def merge_pair(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
            i += 2  # both ids of the pair are used up
        else:
            out.append(ids[i])
            i += 1
    return out
def _merge_no_skip(ids, pair, new_id):  # a wrong merge: every id may start a pair
    return [new_id if (a, b) == tuple(pair) else a for a, b in zip(ids, [*ids[1:], None])]
merge = Exercise(2, "merge", "apply", 10,
    "merge(ids, pair, new_id): each occurrence of pair in ids, left to right, replaced by new_id.",
    merge_pair, lambda: [([5, 6, 7, 5, 6], (5, 6), 99), ([1, 2, 3], (2, 3), 256), ([], (1, 2), 256),
        ([4, 4, 4], (4, 4), 300), ([4, 4, 4, 4], (4, 4), 300), ([8, 9, 9, 8], (9, 8), 257)],
    hint_text="Walk with an index i: at the pair, append new_id, i += 2; else ids[i], i += 1.",
    mistakes=[(lambda ids, p, n: next((ids[:i] + [n] + ids[i + 2:] for i in range(len(ids))
               if tuple(ids[i:i + 2]) == tuple(p)), ids), "replace every occurrence, not only "
               "the first one."),
        (_merge_no_skip, "after a match, skip BOTH ids of the pair: an id that was merged "
         "cannot start another pair (and must not stay in the list)."),
        (lambda ids, p, n: merge_pair(ids[::-1], p[::-1], n)[::-1], "scan from the left: with "
         "overlapping occurrences such as 4, 4, 4 the leftmost pair is merged first.")])

def most_frequent_pair(ids):
    counts = Counter(zip(ids, ids[1:]))
    return min(counts, key=lambda p: (-counts[p], p))  # most frequent, then smallest pair
most_frequent_pair = Exercise(2, "most_frequent_pair", "apply", 5,
    "most_frequent_pair(ids): the most frequent neighbouring pair; on a tie, the smallest pair.",
    most_frequent_pair, lambda: [([1, 2, 3, 1, 2],), ([9, 8, 1, 2, 9, 8, 1, 2],), ([4, 2],),
        ([7, 7, 3, 5, 3, 5, 7, 7],), ([3, 5, 9, 9, 3, 5, 9, 9],),
        ([260, 101, 32, 116, 32, 116, 260, 101],)],
    hint_text="Count zip(ids, ids[1:]) with a Counter; min() with the key (-count, pair).",
    mistakes=[
        (lambda ids: Counter(zip(ids, ids[1:])).most_common(1)[0][0], "on a tie you returned "
         "the pair seen first; break ties by the smallest pair, (a, b) < (c, d) as tuples."),
        (lambda ids: max(Counter(zip(ids, ids[1:])).items(), key=lambda kv: (kv[1], kv[0]))[0],
         "on a tie you returned the LARGEST pair; break ties by the smallest."),
        (lambda ids: min((c := Counter(zip(ids, ids[1:]))), key=lambda p: (c[p], p)),
         "that is the LEAST frequent pair: sort by minus the count (or use max on the count).")])

def bpe_encode(ids, merges):
    rank = {pair: r for r, pair in enumerate(merges)}  # earlier merges come first
    ids = list(ids)
    while len(ids) >= 2:
        pair = min(zip(ids, ids[1:]), key=lambda p: rank.get(p, len(rank)))
        if pair not in rank:
            break  # no pair left that the tokenizer knows how to merge
        ids = merge_pair(ids, pair, merges[pair])
    return ids
def _encode_with(key, choose=min, merge=merge_pair, rounds=99):  # a wrong encoder
    def encode(ids, merges):
        ids = list(ids)
        for _ in range(rounds):
            if not (known := [p for p in zip(ids, ids[1:]) if p in merges]):
                break
            pair = choose(known, key=lambda p: key(p, ids, list(merges)))
            ids = merge(ids, pair, merges[pair])
        return ids
    return encode
_M = [{(2, 3): 10, (1, 2): 11, (1, 10): 12, (12, 4): 13}, {(5, 5): 20, (20, 20): 21, (21, 6): 22},
      {(7, 8): 30, (8, 9): 31, (30, 9): 32, (31, 31): 33}]
bpe_encode = Exercise(2, "bpe_encode", "build", 20,
    "bpe_encode(ids, merges): the byte-pair encoding of one chunk's ids, given merges, a dict "
    "{pair: new_id} in the order the merges were learned.",
    bpe_encode, lambda: [([1, 2, 3, 1, 2, 3, 4], _M[0]), ([5, 5, 5, 5, 6], _M[1]), ([], _M[0]),
        ([7, 8, 9, 8, 9, 8, 9], _M[2]), ([1, 2, 3, 2, 3, 4], _M[0]), ([6, 5, 5], _M[1])],
    hint_text="Repeat: among the neighbouring pairs of ids, find the one learned EARLIEST (its "
    "position in merges); stop if none is in merges; otherwise merge all its occurrences.",
    mistakes=[(_encode_with(lambda p, ids, order: 0), "you merged the leftmost known pair; merge "
               "the pair that was learned earliest (its rank in merges), wherever it is."),
        (_encode_with(lambda p, ids, order: order.index(p), max), "you merged the pair learned "
         "LAST first; earlier merges take priority."),
        (_encode_with(lambda p, ids, order: (-list(zip(ids, ids[1:])).count(p), p)), "you merged "
         "the most frequent pair: that is how merges are LEARNED; to encode, apply them by rank."),
        (_encode_with(lambda p, ids, order: order.index(p), rounds=1), "you stopped after one "
         "merge: keep merging until no neighbouring pair is in merges."),
        (_encode_with(lambda p, ids, order: order.index(p), merge=_merge_no_skip), "a merged id "
         "started another pair: after a match skip both ids, so 5 5 5 becomes (5 5) 5.")])
