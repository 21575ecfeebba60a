"""codeclm: CodecLM (Wang et al., NAACL 2024) as one declarative DSPy program."""

import os

# litellm fetches a cost map over the network at import unless told otherwise.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from codeclm.models.config import ProgramConfig, load_config  # noqa: E402
from codeclm.errors import CodecLMError  # noqa: E402
from codeclm.evaluation import evaluate  # noqa: E402
from codeclm.publish.export import to_hf_dataset  # noqa: E402
from codeclm.programs import CodecLM, DataProgram  # noqa: E402
from codeclm.output.records import Dropped, Record, Seed  # noqa: E402
from codeclm.run import run, run_file  # noqa: E402
from codeclm.programs.session import Session, load_program, open_program, session_of  # noqa: E402
from codeclm.steps.signatures import Metadata  # noqa: E402

__version__ = "0.2.0"
__all__ = [
    "CodecLM", "CodecLMError", "DataProgram", "Dropped", "Metadata", "ProgramConfig", "Record", "Seed", "Session",
    "evaluate", "load_config", "load_program", "open_program", "run", "run_file", "session_of", "to_hf_dataset",
    "__version__",
]
