"""Fake judges for the judging tests: ScriptedLM scripts that answer each scheme's signature."""

from fakes import WithLogprobs, chat_answer, field_value, logprob_tokens


def p_log(p):
    import math

    return math.log(max(p, 1e-12))


def preference(p_first: float, strong_text: str | None = None, p_strong: float | None = None):
    """A or B. With `strong_text`, P(strong better) = p_strong whatever the order; else P(A) = p_first."""

    def answer(messages):
        p_a = p_first
        if strong_text is not None:
            p_a = p_strong if field_value(messages, "answer_a") == strong_text else 1 - p_strong
        text = chat_answer({"preferred": "A" if p_a >= 0.5 else "B"})
        label = "A" if p_a >= 0.5 else "B"
        return WithLogprobs(text, logprob_tokens(text, label, {"A": p_log(p_a), "B": p_log(1 - p_a)}))

    return answer


def pointwise(rating_of):
    """Rates an answer by `rating_of(answer) -> {digit: p}`; the sampled digit is the likeliest."""

    def answer(messages):
        probs = rating_of(field_value(messages, "answer"))
        best = max(probs, key=probs.get)
        text = chat_answer({"rating": int(best)})
        return WithLogprobs(text, logprob_tokens(text, best, {k: p_log(v) for k, v in probs.items()}))

    return answer


def positional_pairwise(messages):
    """The local 1.5B as a Vicuna judge: first answer 8, second 7, always."""
    return {"score_1": 8, "score_2": 7, "explanation": "Both answers are helpful."}
