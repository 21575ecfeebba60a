"""The server process's start-up checks: the llama-cpp-python version its patches are written for, and the
GGUF header reader that names the repacked weights (checked against the ``gguf`` package's writer and reader).

Runs against: no model: the server entry point (``python -m codeclm.local.server``) in a subprocess with a fake
llama-cpp-python version; tiny GGUF files written here with ``gguf.GGUFWriter`` (no weights).
"""

import os
import sys

import numpy as np
import pytest

from codeclm.errors import LocalModelError
from codeclm.local.launcher.process import LocalServer
from codeclm.local.server import version
from local_helpers import SMALL

# The server's entry point, with the installed llama-cpp-python claiming another version.
FAKE_VERSION = ("import runpy, sys, llama_cpp; llama_cpp.__version__ = '0.3.99'; sys.argv = sys.argv[:2]; "
                "runpy.run_module('codeclm.local.server', run_name='__main__', alter_sys=True)")


def test_the_version_the_patches_are_written_for_passes():
    assert version.mismatch(version.PATCHED_FOR) is None


def test_another_llama_cpp_python_stops_the_server_with_one_line(cache):
    """The launcher's start-up error carries the server's one line: which version, which is installed, the fix."""
    pytest.importorskip("llama_cpp")
    with pytest.raises(LocalModelError) as info:
        LocalServer(SMALL, command=[sys.executable, "-c", FAKE_VERSION, str(os.getpid())], startup_timeout=120).start()
    message = str(info.value)
    expected = ("codeclm: the embedded server's patches are written for llama-cpp-python 0.3.36, but 0.3.99 is "
                "installed: pip install 'llama-cpp-python[server]==0.3.36'")
    assert "exited with code 2" in message and expected in message and "\n" not in message
    log = (cache / "logs" / f"{SMALL}.log").read_text().splitlines()
    assert log[-1] == expected  # one line, the server's last: nothing was loaded or patched


def _gguf(path, tensors):
    """A GGUF file holding ``tensors`` (name, ggml type, shape in llama.cpp's order), bytes all zero."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter

    writer = GGUFWriter(str(path), "llama")
    writer.add_string("general.name", "tiny")  # metadata of every kind the reader must skip
    writer.add_array("tokenizer.ggml.tokens", ["<s>", "a", "bb", "ccc\u00e9"])
    writer.add_array("tokenizer.ggml.token_type", [1, 2, 3, 1])
    writer.add_array("tokenizer.ggml.scores", [0.5, -1.0, 2.0, 0.0])
    writer.add_uint32("llama.context_length", 2048)
    writer.add_uint64("general.count", 7)
    writer.add_int8("general.small", -3)
    writer.add_uint16("general.mid", 9)
    writer.add_float32("llama.rope.freq_base", 10000.0)
    writer.add_float64("general.precise", 0.25)
    writer.add_bool("general.flag", True)
    for name, kind, shape in tensors:
        if kind == GGMLQuantizationType.F32:
            writer.add_tensor(name, np.zeros(list(reversed(shape)), dtype=np.float32))
            continue
        block, size = GGML_QUANT_SIZES[kind]  # a quantized row is stored as bytes: row length / block x block bytes
        rows = int(np.prod(shape[1:]))
        writer.add_tensor(name, np.zeros((rows, shape[0] // block * size), dtype=np.uint8), raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_repacked_weights_are_the_x86_repack_codes_block_matrices(tmp_path):
    """Q4_0 / Q4_K / IQ4_NL matrices in blocks whose row count is a multiple of 8; nothing else."""
    pytest.importorskip("gguf")
    from gguf import GGMLQuantizationType as T

    from codeclm.local.server import repack

    path = _gguf(tmp_path / "tiny.gguf", [
        ("token_embd.weight", T.Q4_0, [64, 16]),  # not in a block
        ("blk.0.attn_q.weight", T.Q4_0, [64, 16]),
        ("blk.0.attn_k.weight", T.Q4_0, [64, 12]),  # 12 rows: not a multiple of 8
        ("blk.0.ffn_up.weight", T.Q4_K, [256, 8]),
        ("blk.0.ffn_down.weight", T.IQ4_NL, [64, 8]),
        ("blk.0.ffn_gate.weight", T.Q4_1, [64, 8]),  # a type the repack code leaves alone
        ("blk.0.attn_norm.weight", T.F32, [64]),
    ])
    from gguf import GGUFReader

    reference = {t.name: (int(t.tensor_type), [int(n) for n in t.shape]) for t in GGUFReader(str(path)).tensors}
    assert repack.tensor_types(str(path)) == reference and reference["blk.0.attn_k.weight"] == (int(T.Q4_0), [64, 12])
    assert repack.repacked_names(str(path)) == ["blk.0.attn_q.weight", "blk.0.ffn_up.weight", "blk.0.ffn_down.weight"]
