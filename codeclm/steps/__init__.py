"""One DSPy module per CodecLM step, with what they share: the Step base, signatures, adapters, guards, verdicts."""
