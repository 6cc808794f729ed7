"""Independent correct answers for chapter 02's exercises."""


def encode_in_training_order(ids, merges):
    """Sennrich et al.'s original procedure: apply every merge in the order it was learned."""
    ids = list(ids)
    for (a, b), new_id in merges.items():
        out, i = [], 0
        while i < len(ids):
            if ids[i : i + 2] == [a, b]:
                out.append(new_id)
                i += 2
            else:
                out.append(ids[i])
                i += 1
        ids = out
    return ids


def encode_by_position(ids, merges):
    """Find the lowest-rank pair by scanning positions; merge in place with list slicing."""
    ranks = list(merges)
    ids = list(ids)
    while True:
        best = None
        for i in range(len(ids) - 1):
            pair = (ids[i], ids[i + 1])
            if pair in merges and (best is None or ranks.index(pair) < ranks.index(best)):
                best = pair
        if best is None:
            return ids
        i = 0
        while i < len(ids) - 1:
            if (ids[i], ids[i + 1]) == best:
                ids[i : i + 2] = [merges[best]]
            i += 1


def most_frequent_by_sorting(ids):
    """All pairs sorted by (minus count, pair); the first is the answer."""
    pairs = list(zip(ids, ids[1:]))
    return sorted(set(pairs), key=lambda p: (-pairs.count(p), p))[0]


ALTERNATIVES = {
    "bpe_encode": [encode_in_training_order, encode_by_position],
    "most_frequent_pair": [most_frequent_by_sorting],
}
