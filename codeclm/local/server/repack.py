"""Repacked weights on CPUs whose llama.cpp build crashes in its AMX kernels (runs in the server process).

llama-cpp-python 0.3.36 built natively on an AMX CPU segfaults in ``ggml_backend_amx_mul_mat``,
so codeclm turns llama.cpp's extra weight buffers off there (:mod:`codeclm.local.server.amx`). That also
turns off the CPU_REPACK buffer, whose interleaved layout makes matrix products over several
tokens cheaper. ``overrides(path)`` puts back the repacked layout without the AMX buffer: it
reads the tensor types from the GGUF header and names, for llama.cpp's ``tensor_buft_overrides``,
each weight the x86 repack code converts (Q4_0, Q4_K and IQ4_NL matrices whose row count is a
multiple of 8, as ``ggml_repack_get_optimal_repack_type`` does with AVX2). What it gains:
docs/speed.md, "repacked weights on AMX CPUs".

The header is read here, not with ``gguf.GGUFReader``: the reader turns every metadata array
element (Qwen2.5's 151k-token vocabulary and its merges) into Python objects, about a hundred
times slower than this reader (docs/speed.md, "Not adopted"), and the server reads it at every
start. ``tests/local/test_server_startup.py`` checks this reader against files
written by ``gguf.GGUFWriter``.
"""

from __future__ import annotations

import ctypes
import os
import re
import struct

_REPACKED = {2: "Q4_0", 12: "Q4_K", 20: "IQ4_NL"}  # ggml type ids the x86 repack code converts (AVX2)
_SCALAR_BYTES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # GGUF metadata value types


class _Override(ctypes.Structure):
    _fields_ = [("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p)]


def tensor_types(path: str) -> dict[str, tuple[int, list[int]]]:
    """Each tensor's ggml type id and shape, from the GGUF header (the metadata is skipped)."""
    with open(path, "rb") as f:
        def u32() -> int:
            return struct.unpack("<I", f.read(4))[0]

        def u64() -> int:
            return struct.unpack("<Q", f.read(8))[0]

        def string() -> bytes:
            return f.read(u64())

        def skip(kind: int) -> None:
            if kind == 8:
                string()
            elif kind == 9:
                item, count = u32(), u64()
                if item == 8:
                    for _ in range(count):
                        string()
                else:
                    f.seek(_SCALAR_BYTES[item] * count, 1)
            else:
                f.seek(_SCALAR_BYTES[kind], 1)

        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        u32()  # version
        n_tensors, n_kv = u64(), u64()
        for _ in range(n_kv):
            string()
            skip(u32())
        tensors = {}
        for _ in range(n_tensors):
            name = string().decode()
            shape = [u64() for _ in range(u32())]
            tensors[name] = (u32(), shape)
            u64()  # offset
    return tensors


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
