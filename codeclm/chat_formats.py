"""Chat formats: a conversation as the raw text a model reads, for scoring an answer under that model.

The target-loss judging scheme asks a completions endpoint for the log-probabilities of
(system, instruction, answer) written exactly as the target sees them when it answers. Named
formats are the usual Jinja chat templates; a model's own template (the `chat_template` of its
tokenizer or GGUF file) can be given instead. Templates render sandboxed with StrictUndefined.
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
        "<|begin_of_text|>{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n"
        "{{ m.content }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
    ),
    "mistral": (  # the system message is folded into the first user turn
        "<s>{% for m in messages %}{% if m.role == 'user' %}[INST] {% if system %}{{ system }}\n\n{% endif %}"
        "{{ m.content }} [/INST]{% endif %}{% endfor %}"
    ),
    "gemma": (  # no system role: folded into the first user turn
        "<bos>{% for m in messages %}{% if m.role == 'user' %}<start_of_turn>user\n{% if system %}{{ system }}\n\n{% endif %}"
        "{{ m.content }}<end_of_turn>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
    ),
    "phi3": (
        "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}<|end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
    ),
}

_ENV = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def prompt_prefix(template: str, system: str, user: str) -> str:
    """The text a model reads before its answer: system and user turns, then the assistant's opening.

    `template` is a name from NAMED or a Jinja chat template (variables: messages, system,
    add_generation_prompt).
    """
    source = NAMED.get(template, template)
    try:
        return _ENV.from_string(source).render(
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            system=system, add_generation_prompt=True, bos_token="", eos_token="")
    except jinja2.TemplateError as exc:
        raise ConfigError(f"chat_template: cannot render ({exc}); use one of {', '.join(NAMED)} or a Jinja chat template") from None
