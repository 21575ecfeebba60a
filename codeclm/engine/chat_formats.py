"""Chat formats: a conversation as the raw text a model reads, for scoring an answer under that model.

The target-loss judging scheme asks a completions endpoint for the log-probabilities of
(system, instruction, answer) written exactly as the target sees them when it answers. Named
formats are the usual Jinja chat templates; a model's own template (the `chat_template` of its
tokenizer or GGUF file) can be given instead. Templates render sandboxed with StrictUndefined.

The text never starts with the BOS token: a completions server adds the model's BOS itself, as
its tokenizer says (vLLM by default, llama.cpp when the GGUF asks for one), so a BOS in the
text would be read twice and change every log-probability. Named templates leave it out;
``bos_token`` renders empty; a leading BOS written literally in a template is removed.
"""

from __future__ import annotations

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from codeclm.errors import ConfigError

NAMED = {
    "chatml": (  # Qwen2.5, SmolLM2, many others
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    ),
    "llama3": (
        "{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n"
        "{{ m.content }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
    ),
    "mistral": (  # the system message is folded into the first user turn
        "{% for m in messages %}{% if m.role == 'user' %}[INST] {% if system %}{{ system }}\n\n{% endif %}"
        "{{ m.content }} [/INST]{% endif %}{% endfor %}"
    ),
    "gemma": (  # no system role: folded into the first user turn
        "{% for m in messages %}{% if m.role == 'user' %}<start_of_turn>user\n{% if system %}{{ system }}\n\n{% endif %}"
        "{{ m.content }}<end_of_turn>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
    ),
    "phi3": (
        "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}<|end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
    ),
}

# The BOS texts of the usual tokenizers (Llama 3, Llama 2 / Mistral / Phi-3, Gemma, GPT-2 style, DeepSeek).
BOS_TEXTS = ("<|begin_of_text|>", "<s>", "<bos>", "<|startoftext|>", "<|endoftext|>", "<\uff5cbegin\u2581of\u2581sentence\uff5c>")

_ENV = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def prompt_prefix(template: str, system: str, user: str) -> str:
    """The text a model reads before its answer: system and user turns, then the assistant's opening.

    `template` is a name from NAMED or a Jinja chat template (variables: messages, system,
    add_generation_prompt).
    """
    source = NAMED.get(template, template)
    try:
        text = _ENV.from_string(source).render(
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            system=system, add_generation_prompt=True, bos_token="", eos_token="")
    except jinja2.TemplateError as exc:
        raise ConfigError(f"chat_template: cannot render ({exc}); use one of {', '.join(NAMED)} or a Jinja chat template") from None
    return without_bos(text)


def without_bos(text: str) -> str:
    """``text`` without a leading BOS text (the server adds the model's own)."""
    for bos in BOS_TEXTS:
        if text.startswith(bos):
            return text[len(bos):]
    return text
