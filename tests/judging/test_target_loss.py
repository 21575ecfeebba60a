"""Scheme target-loss: the target's mean loss on the strong answer's tokens, in the target's chat format.

Runs against: fake LMs (tests/fakes.py ScriptedLM: scripted answers per step), no server.
"""

from fakes import ScriptedLM, word_scores

from codeclm.engine.chat_formats import prompt_prefix
from codeclm.judging.schemes import make_judge
from codeclm.steps.contrast import ContrastiveFilter
from codeclm.steps.respond import Respond
from codeclm.prompting.templates import PromptLibrary


def test_only_the_answer_tokens_count_and_the_text_is_in_the_targets_chat_format(root):
    prompt = PromptLibrary(root / "prompts").render("respond")
    answer = "Paris is the capital."
    lm = ScriptedLM(lambda s, m: "", scorer=word_scores(lambda text, token: -1.5 if token in answer.split() else -9.0))
    verdict = make_judge("target-loss", prompt, lm, chat_template="chatml")(instruction="Capital of France?", strong=answer)
    assert verdict.scheme == "target-loss" and verdict.gap == 1.5  # the prompt's tokens (loss 9) never count
    assert verdict.orders[0].raw.startswith("3 of 4 answer tokens in new words")  # "capital." restates the question
    assert lm.scored == [prompt_prefix("chatml", prompt.instructions, "Capital of France?") + answer]
    assert lm.scored[0].startswith("<|im_start|>system\n") and "<|im_start|>assistant\n" + answer in lm.scored[0]


def test_the_target_is_not_asked_to_answer_under_target_loss(root):
    prompt = PromptLibrary(root / "prompts").render("respond")
    strong = ScriptedLM(lambda s, m: {"response": "A long strong answer about TCP: handshakes, ordering, retransmission, flow control."})
    target = ScriptedLM(lambda s, m: {"response": "never asked"}, scorer=word_scores(lambda t, tok: -2.0))
    f = ContrastiveFilter(Respond(prompt, strong, role="strong"), Respond(prompt, target, role="target"),
                          make_judge("target-loss", prompt, target))
    contrast = f(instruction="Explain TCP.", key="k")
    assert contrast.target is None and contrast.verdict.gap == 2.0 and target.calls == [] and len(target.scored) == 1


def test_named_chat_formats_render_the_assistant_opening():
    assert prompt_prefix("llama3", "S", "U").endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert prompt_prefix("mistral", "S", "U") == "[INST] S\n\nU [/INST]"  # no BOS: the server adds it
    custom = "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}[assistant] "
    assert prompt_prefix(custom, "S", "U") == "[system] S\n[user] U\n[assistant] "


def test_restated_words_and_punctuation_carry_no_news():
    from codeclm.judging.target_loss import new_word_losses

    answer = "9 multiplied by 8 equals 72."
    tokens = [(-0.1, 0), (-0.2, 1), (-0.1, 12), (-0.1, 15), (-0.9, 17), (-4.0, 24), (-0.3, 27)]  # 9| multiplied| by| 8| equals| 72|.
    assert new_word_losses("What is 9 multiplied by 8?", answer, tokens) == [0.9, 4.0]
    assert new_word_losses("Say it.", "it.", [(-1.0, 0), (-2.0, 2)]) == []  # nothing new: the judge scores 0
    # a word split in several tokens counts each of its tokens; case does not matter
    assert new_word_losses("paris?", "Ottawa, not Paris", [(-1.0, 0), (-2.0, 3), (-0.5, 6), (-0.1, 8), (-0.2, 12)]) == [1.0, 2.0, 0.1]
