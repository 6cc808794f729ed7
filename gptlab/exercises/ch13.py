"""Chapter 13 (evaluation and prompting): perplexity per token, BLEU's brevity penalty, and a
scorer that ranks answer choices by their log-probability (build).
"""
# fmt: off

import math

import torch

from gptlab.exercises import Exercise, tiny_gpt


def token_perplexity(nats_per_char, chars_per_token):
    return math.exp(nats_per_char * chars_per_token)  # a token carries chars_per_token chars
token_perplexity = Exercise(
    13, "token_perplexity", "recall", 5,
    "token_perplexity(nats_per_char, chars_per_token): the perplexity per token of a model whose "
    "loss is nats_per_char per character, with tokens of chars_per_token characters on average.",
    token_perplexity, lambda: [(1.4, 3.1), (2.5, 1.0), (0.9, 4.25)],
    hint_text="The total loss is the same whichever unit you share it out over: how many nats "
    "does one token carry if each character carries nats_per_char?",
    mistakes=[
        (lambda loss, cpt: math.exp(loss), "exp(nats per char) is the perplexity per character; "
         "a token's loss is the per-character loss times chars_per_token."),
        (lambda loss, cpt: math.exp(loss / cpt), "a token is longer than a character, so its "
         "loss is larger: multiply by chars_per_token."),
        (lambda loss, cpt: 2.0 ** (loss * cpt), "the loss is in nats: undo it with exp, not 2 **."),
    ])

def brevity_penalty(hyp_len, ref_len):
    return 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
brevity_penalty = Exercise(
    13, "brevity_penalty", "apply", 5,
    "brevity_penalty(hyp_len, ref_len): BLEU's brevity penalty for a hypothesis of hyp_len words "
    "(c) against a reference of ref_len words (r).",
    brevity_penalty, lambda: [(c, r) for c, r in [(10, 12), (12, 10), (7, 7), (3, 20), (1, 2)]],
    hint_text="Papineni et al. (2002): no penalty when the hypothesis is longer than the "
    "reference; otherwise exp(1 - r / c), which falls as c shrinks below r.",
    mistakes=[
        (lambda c, r: 1.0 if c > r else math.exp(1 - c / r), "the ratio is upside down: "
         "exp(1 - r / c) (reference length over hypothesis length)."),
        (lambda c, r: math.exp(1 - max(c, r) / min(c, r)), "longer hypotheses are not "
         "penalised: the penalty is 1 when c > r."),
        (lambda c, r: min(1.0, c / r), "the penalty is exponential, exp(1 - r / c), not linear."),
    ])

def choice_scores(model, prompt_ids, choices_ids, normalize="sum"):
    scores = []
    for choice in choices_ids:
        ids = torch.tensor([prompt_ids + choice])
        logits, _ = model(ids[:, :-1])  # position t predicts token t + 1
        logp = logits.log_softmax(dim=-1)[0]  # (T-1, V)
        start = len(prompt_ids) - 1  # the position that predicts the choice's first token
        picked = logp[start:].gather(-1, ids[0, start + 1:, None]).squeeze(-1)  # the choice only
        scores.append(picked.sum().item() if normalize == "sum" else picked.mean().item())
    return scores

def _run_scores(answer, seed, normalize):
    model = tiny_gpt(seed, vocab_size=50, block_size=16)
    prompt = torch.randint(0, 50, (5 + seed,)).tolist()
    choices = [torch.randint(0, 50, (n,)).tolist() for n in (1, 3, 2)]
    with torch.no_grad():
        return answer(model, prompt, choices, normalize)

def _scorer(pick):  # a wrong scorer: pick(log-probs (T-1, V), ids (T,), prompt length) -> scores
    def scores(model, prompt, choices, normalize="sum"):
        out = []
        for c in choices:
            ids = torch.tensor(prompt + c)
            s = pick(model(ids[None, :-1])[0][0].log_softmax(-1), ids, len(prompt))
            out.append((s.sum() if normalize == "sum" else s.mean()).item())
        return out
    return scores
choice_scores = Exercise(
    13, "choice_scores", "build", 20,
    "choice_scores(model, prompt_ids, choices_ids, normalize='sum'): ln P(choice | prompt) for "
    "each choice, summed over its tokens ('sum') or averaged per token ('mean').",
    choice_scores, lambda: [(1, "sum"), (2, "mean"), (3, "sum")], run=_run_scores,
    forbidden=("gptlab.evaluate.score_choices", "gptlab.evaluate._choice_scores"),
    hint_text="Run the model on prompt + choice (all but the last token); log_softmax; the "
    "choice's k-th token is predicted at position len(prompt) - 1 + k; add (or average) those "
    "log-probabilities.",
    mistakes=[
        (_scorer(lambda lp, ids, p: lp.gather(-1, ids[1:, None])[:, 0]), "you scored the "
         "prompt's tokens too: only the choice's tokens count."),
        (_scorer(lambda lp, ids, p: lp[p:].gather(-1, ids[p:-1, None])[:, 0] if len(ids) > p + 1
                 else lp[p - 1:].gather(-1, ids[p:, None])[:, 0] * 0), "off by one: the token at "
         "position t is predicted by the logits at position t - 1."),
        (_scorer(lambda lp, ids, p: lp.exp().gather(-1, ids[1:, None])[p - 1:, 0]), "add "
         "LOG-probabilities (log_softmax), not probabilities."),
    ])
