"""Scripted answers of a strong LLM for every CodecLM step, shared by fake-LM and stub-server tests."""

from fakes import field_value

STRONG_ANSWER = "STRONG answer: the steps, the reasons and one worked example."  # more than a few words (guards.too_short)


def strong_script(judge=None):
    """A strong LM that encodes, decodes, writes rubrics, improves and answers; `judge` scores pairs."""

    def script(step, messages):
        if step == "encode":
            text = field_value(messages, "instruction")
            return {"use_case": "code generation" if "Python" in text else "travel planning", "skills": ["planning", "python"]}
        if step == "decode":
            # distinct per metadata (use case and skills): the run drops near-duplicates across the whole output
            topic = f"{field_value(messages, 'use_case')} using {field_value(messages, 'skills')}"
            return {"new_instructions": [f"Write a task about {topic}, number 1", f"Explain {topic} to a beginner, as number 2"]}
        if step == "rubrics":
            return {"rubrics": ["many constraints", "deep reasoning", "rare facts"],
                    "actions": ["add a constraint", "require reasoning steps", "ask for rare facts"]}
        if step == "improve":
            return {"improved_instruction": field_value(messages, "instruction") + " [harder: " + field_value(messages, "action") + "]"}
        if step == "respond":
            return {"response": STRONG_ANSWER}
        if step == "judge":
            return (judge or default_judge)(messages)
        raise AssertionError(step)

    return script


def default_judge(messages):
    first_is_strong = field_value(messages, "answer_1") == STRONG_ANSWER
    return {"score_1": 9 if first_is_strong else 4, "score_2": 4 if first_is_strong else 9, "explanation": "ok"}


def harder_wins(messages):
    """Gap 0 for basic instructions; a clear gap once an action made the instruction harder."""
    hard = "[harder:" in field_value(messages, "instruction")
    strong_first = field_value(messages, "answer_1") == STRONG_ANSWER
    s, t = (9, 2) if hard else (7, 7)
    return {"score_1": s if strong_first else t, "score_2": t if strong_first else s, "explanation": "ok"}


def half_kept(messages):
    """As `harder_wins`, but "number 2" instructions (the second of each metadata's two) stay too easy: dropped."""
    instruction = field_value(messages, "instruction")
    hard = "[harder:" in instruction and "number 2" not in instruction
    strong_first = field_value(messages, "answer_1") == STRONG_ANSWER
    s, t = (9, 2) if hard else (7, 7)
    return {"score_1": s if strong_first else t, "score_2": t if strong_first else s, "explanation": "ok"}
