"""Repacked weights on CPUs whose llama.cpp build crashes in its AMX kernels (runs in the server process).

llama-cpp-python 0.3.36 built natively on an AMX CPU segfaults in ``ggml_backend_amx_mul_mat``,
so codeclm turns llama.cpp's extra weight buffers off there (:mod:`codeclm.local.server.amx`). That also
turns off the CPU_REPACK buffer, whose interleaved layout makes matrix products over several
tokens cheaper. ``overrides(path)`` puts back the repacked layout without the AMX buffer: it
reads the tensor types from the GGUF header and names, for llama.cpp's ``tensor_buft_overrides``,
each weight the x86 repack code converts (Q4_0, Q4_K and IQ4_NL matrices whose row count is a
multiple of 8, as ``ggml_repack_get_optimal_repack_type`` does with AVX2). Measured with the 1.5B
on this project's 2-core Xeon: one sequence 83 -> 72 ms per token, 4 side by side 163 -> 98 ms,
8 side by side 233 -> 175 ms; prompt reading 125 -> 96 tokens/s.
"""

from __future__ import annotations

import ctypes
import os
import re

from gguf import GGMLQuantizationType, GGUFReader

_REPACKED = (GGMLQuantizationType.Q4_0, GGMLQuantizationType.Q4_K, GGMLQuantizationType.IQ4_NL)  # the x86 repack code's (AVX2)


class _Override(ctypes.Structure):
    _fields_ = [("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p)]


def tensor_types(path: str) -> dict[str, tuple[int, list[int]]]:
    """Each tensor's ggml type id and shape (llama.cpp's order: row length first), from the GGUF header."""
    return {tensor.name: (int(tensor.tensor_type), [int(n) for n in tensor.shape]) for tensor in GGUFReader(path).tensors}


def repacked_names(path: str) -> list[str]:
    return [name for name, (kind, shape) in tensor_types(path).items()
            if name.startswith("blk.") and kind in _REPACKED and len(shape) == 2 and shape[1] % 8 == 0]


def _repack_buffer_type():
    """llama.cpp's CPU_REPACK buffer type, from the CPU backend's extra buffer types (None if absent)."""
    import llama_cpp

    libdir = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
    base = ctypes.CDLL(os.path.join(libdir, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
    ggml = ctypes.CDLL(os.path.join(libdir, "libggml.so"), mode=ctypes.RTLD_GLOBAL)
    ggml.ggml_backend_dev_by_type.restype, ggml.ggml_backend_dev_by_type.argtypes = ctypes.c_void_p, [ctypes.c_int]
    base.ggml_backend_dev_backend_reg.restype, base.ggml_backend_dev_backend_reg.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
    base.ggml_backend_reg_get_proc_address.restype = ctypes.c_void_p
    base.ggml_backend_reg_get_proc_address.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    base.ggml_backend_buft_name.restype, base.ggml_backend_buft_name.argtypes = ctypes.c_char_p, [ctypes.c_void_p]
    llama_cpp.llama_backend_init()
    device = ggml.ggml_backend_dev_by_type(0)  # GGML_BACKEND_DEVICE_TYPE_CPU
    address = base.ggml_backend_reg_get_proc_address(base.ggml_backend_dev_backend_reg(device),
                                                     b"ggml_backend_dev_get_extra_bufts")
    if not device or not address:
        return None
    extra = ctypes.CFUNCTYPE(ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p)(address)(device)
    i = 0
    while extra[i]:
        if base.ggml_backend_buft_name(extra[i]) == b"CPU_REPACK":
            return extra[i]
        i += 1
    return None


_KEEP: list = []  # the override array and its patterns must outlive the model load


def overrides(path: str) -> int | None:
    """The address of a NULL-terminated ``llama_model_tensor_buft_override`` array placing the
    repackable weights of ``path`` in CPU_REPACK; None when there are none or no such buffer type."""
    names = repacked_names(path)
    buft = _repack_buffer_type() if names else None
    if not names or not buft:
        return None
    patterns = [f"^{re.escape(name)}$".encode() for name in names]
    array = (_Override * (len(patterns) + 1))(*[_Override(p, buft) for p in patterns], _Override(None, None))
    _KEEP.extend([patterns, array])
    return ctypes.addressof(array)
