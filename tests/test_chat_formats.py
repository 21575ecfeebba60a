"""Chat formats never put the BOS in the text: the completions server adds the model's own (docs/servers.md).

Runs against: no model and no server (templates rendered in process).
"""

import pytest

from codeclm.engine.chat_formats import BOS_TEXTS, NAMED, prompt_prefix


@pytest.mark.parametrize("template", sorted(NAMED))
def test_named_templates_start_without_a_bos(template):
    assert not prompt_prefix(template, "S", "U").startswith(BOS_TEXTS)


@pytest.mark.parametrize("source", ["{{ bos_token }}[system] {{ system }}\n",  # the usual way: bos_token renders empty
                                    "<|begin_of_text|>[system] {{ system }}\n",  # written literally: removed
                                    "<s>[system] {{ system }}\n"])
def test_a_custom_template_loses_its_leading_bos(source):
    assert prompt_prefix(source, "S", "U") == "[system] S\n"


def test_a_bos_later_in_the_text_is_kept():
    assert prompt_prefix("x <s>{{ system }}", "S", "U") == "x <s>S"
