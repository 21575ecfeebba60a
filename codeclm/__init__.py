"""codeclm: CodecLM (Wang et al., NAACL 2024) as one declarative DSPy program."""

import os

# litellm fetches a cost map over the network at import unless told otherwise.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from codeclm.api import load_program  # noqa: E402
from codeclm.config import ProgramConfig, load_config  # noqa: E402
from codeclm.errors import CodecLMError  # noqa: E402
from codeclm.evaluation import evaluate  # noqa: E402
from codeclm.export import to_hf_dataset  # noqa: E402
from codeclm.program import CodecLM  # noqa: E402
from codeclm.records import Dropped, Record, Seed  # noqa: E402
from codeclm.run import run, run_file  # noqa: E402
from codeclm.signatures import Metadata  # noqa: E402

__version__ = "0.1.0"
__all__ = [
    "CodecLM", "CodecLMError", "Dropped", "Metadata", "ProgramConfig", "Record", "Seed",
    "evaluate", "load_config", "load_program", "run", "run_file", "to_hf_dataset", "__version__",
]
