"""Replies as vLLM builds them for ``/v1/completions`` with ``echo`` and ``logprobs``, to test scoring without a GPU.

Re-implemented from vLLM 0.11.0 (read from its wheel): ``OpenAIServingCompletion.request_output_to_completion_response``
and ``_create_completion_logprobs`` (entrypoints/openai/serving_completion.py) and
``convert_ids_list_to_tokens`` (transformers_utils/detokenizer_utils.py):

- the prompt is tokenized with ``add_special_tokens`` (default true: the tokenizer's BOS is added);
- with echo, the tokens are the prompt's then the generated one; each is decoded ALONE with
  ``tokenizer.decode([id])`` (special tokens kept as text; part of a split character is U+FFFD);
- ``text_offset`` is a running sum of those decoded lengths, starting at 0;
- the first prompt token's logprob is null.

The tokenizers are Hugging Face ``tokenizers`` models trained here on a few sentences, with each chat
template's special tokens and BOS (byte-level BPE like Llama 3 / Qwen / Phi-3; Metaspace like the
SentencePiece models Mistral and Gemma): the real models' tokenizer files need the Hub. The logprob
values are made up (-0.01 * position): these replies test which tokens are read, not the numbers.
"""

from __future__ import annotations

import uuid
from functools import cache

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

# template -> (BOS the tokenizer adds or None, special tokens, byte-level (else Metaspace))
TOKENIZERS = {
    "chatml": (None, ["<|im_start|>", "<|im_end|>"], True),
    "llama3": ("<|begin_of_text|>", ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"], True),
    "mistral": ("<s>", ["<s>", "</s>", "[INST]", "[/INST]"], False),
    "gemma": ("<bos>", ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"], False),
    "phi3": (None, ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"], True),
}
CORPUS = ["You are a helpful assistant. Answer the question.", "What is the capital of France?",
          "The capital of France is Paris.", "Nine multiplied by eight equals seventy-two.",
          "system user assistant model", "Hello there, how are you today? I am fine, thanks.",
          "Déjà vu: naïve café, 東京 and 🙂 emoji.\n\nNew lines\n"] * 3


@cache
def tokenizer_for(template: str) -> Tokenizer:
    bos, specials, byte_level = TOKENIZERS[template]
    if byte_level:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    else:
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
        tok.decoder = decoders.Metaspace(prepend_scheme="first")
        trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=["<unk>", *specials], show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    if bos:
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, tok.token_to_id(bos))])
    return tok


def vllm_reply(template: str, prompt: str, *, add_special_tokens: bool = True) -> dict:
    """vLLM's reply to ``{"prompt": prompt, "echo": true, "logprobs": 0, "max_tokens": 1}``."""
    tok = tokenizer_for(template)
    prompt_ids = tok.encode(prompt, add_special_tokens=add_special_tokens).ids
    generated = tok.token_to_id(".") if tok.token_to_id(".") is not None else prompt_ids[-1]
    ids = [*prompt_ids, generated]
    tokens = [tok.decode([i], skip_special_tokens=False) for i in ids]
    offsets, position = [], 0
    for token in tokens:
        offsets.append(position)
        position += len(token)
    logprobs = [None] + [round(-0.01 * (i + 1), 4) for i in range(1, len(ids))]
    return {
        "id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "text": prompt + tokens[-1], "finish_reason": "length", "stop_reason": None,
                     "prompt_logprobs": None,
                     "logprobs": {"text_offset": offsets, "token_logprobs": logprobs, "tokens": tokens,
                                  "top_logprobs": [None] + [{t: lp} for t, lp in zip(tokens[1:], logprobs[1:])]}}],
        "usage": {"prompt_tokens": len(prompt_ids), "completion_tokens": 1, "total_tokens": len(ids)},
    }
