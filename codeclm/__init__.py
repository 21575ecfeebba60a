"""codeclm: CodecLM (Wang et al., NAACL 2024) as one declarative DSPy program."""

import os

# litellm fetches a cost map over the network at import unless told otherwise.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from codeclm.errors import CodecLMError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["CodecLMError", "__version__"]
