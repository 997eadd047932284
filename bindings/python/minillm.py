"""mini-llm from Python, through the C API (include/minillm/minillm_c.h) and ctypes only.

    import minillm

    with minillm.Model("model.gguf") as model:           # or a Hugging Face model folder
        session = model.session(n_ctx=2048)
        text = session.generate("Once upon a time", temperature=0, max_tokens=64,
                                on_piece=lambda piece, token: print(piece, end="") or True)
        ids = model.tokenize("Once upon a time")
        session.reset()
        logits = session.eval(ids)                       # n_vocab floats of the last position

Failures raise minillm.Error, whose .status is a minillm.Status (BAD_FILE, CONTEXT_FULL, ...).
The shared library is found through the environment variable MINILLM_LIBRARY (a path to
libminillm_c.so), then next to this file, then in ../../lib (an installed layout), then wherever
the system loader looks.
"""

import array
import ctypes
import ctypes.util
import enum
import os
import pathlib

__all__ = ["Error", "Model", "Session", "Status", "load_library"]


class Status(enum.IntEnum):
    """minillm_status: the kinds of failure, one to one with minillm::ErrorKind."""

    OK = 0
    INVALID_ARGUMENT = 1
    BAD_FILE = 2
    UNSUPPORTED = 3
    CONTEXT_FULL = 4
    CANCELLED = 5
    OUT_OF_MEMORY = 6
    INTERNAL = 7


class Error(Exception):
    """A failed call: .status says what kind of failure, .message what went wrong."""

    def __init__(self, status, message):
        self.status = Status(status)
        self.message = message
        super().__init__(f"{message} [{self.status.name}]")


class _Sampling(ctypes.Structure):
    _fields_ = [
        ("temperature", ctypes.c_float),
        ("top_k", ctypes.c_int32),
        ("top_p", ctypes.c_float),
        ("min_p", ctypes.c_float),
        ("repeat_penalty", ctypes.c_float),
        ("seed", ctypes.c_uint64),
        ("max_tokens", ctypes.c_int32),
    ]


_PIECE_FN = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t, ctypes.c_int32, ctypes.c_void_p
)

_lib = None


def _candidates():
    if os.environ.get("MINILLM_LIBRARY"):
        yield os.environ["MINILLM_LIBRARY"]
        return
    here = pathlib.Path(__file__).resolve().parent
    for folder in (here, here.parent.parent / "lib"):
        for found in sorted(folder.glob("libminillm_c.so*")):
            yield str(found)
    name = ctypes.util.find_library("minillm_c")
    yield name or "libminillm_c.so"


def load_library():
    """The C library, loaded once, with the argument and result types of every function."""
    global _lib
    if _lib is not None:
        return _lib
    errors = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            break
        except OSError as e:
            errors.append(str(e))
    else:
        raise OSError("libminillm_c not found (set MINILLM_LIBRARY): " + "; ".join(errors))

    p = ctypes.c_void_p
    status = ctypes.c_int
    size_p = ctypes.POINTER(ctypes.c_size_t)
    ids_p = ctypes.POINTER(ctypes.c_int32)
    floats_p = ctypes.POINTER(ctypes.c_float)
    signatures = {
        "minillm_last_error": (ctypes.c_char_p, []),
        "minillm_status_name": (ctypes.c_char_p, [ctypes.c_int]),
        "minillm_sampling_default": (_Sampling, []),
        "minillm_model_load": (status, [ctypes.c_char_p, ctypes.POINTER(p)]),
        "minillm_model_free": (None, [p]),
        "minillm_model_n_vocab": (ctypes.c_int32, [p]),
        "minillm_model_bos": (ctypes.c_int32, [p]),
        "minillm_model_eos": (ctypes.c_int32, [p]),
        "minillm_session_new": (status, [p, ctypes.c_uint32, ctypes.c_int32, ctypes.POINTER(p)]),
        "minillm_session_free": (None, [p]),
        "minillm_session_reset": (status, [p]),
        "minillm_session_n_past": (ctypes.c_uint32, [p]),
        "minillm_session_n_ctx": (ctypes.c_uint32, [p]),
        "minillm_tokenize":
            (status, [p, ctypes.c_char_p, ctypes.c_int32, ids_p, ctypes.c_size_t, size_p]),
        "minillm_detokenize":
            (status, [p, ids_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, size_p]),
        "minillm_token_to_piece":
            (status, [p, ctypes.c_int32, ctypes.c_char_p, ctypes.c_size_t, size_p]),
        "minillm_eval":
            (status, [p, ids_p, ctypes.c_size_t, ctypes.POINTER(floats_p), size_p]),
        "minillm_generate":
            (status, [p, ctypes.c_char_p, ctypes.POINTER(_Sampling), _PIECE_FN, p]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    _lib = lib
    return lib


def _check(code):
    if code != Status.OK:
        message = _lib.minillm_last_error().decode("utf-8", "replace")
        raise Error(code, message)


def _id_array(ids):
    ids = list(ids)
    return (ctypes.c_int32 * max(len(ids), 1))(*ids), len(ids)


_UNSET = ctypes.c_size_t(-1).value  # a count the library has not written


def _sized(call, make_buffer, capacity_of):
    """Runs call(buffer, capacity, &count) once to learn the count (capacity 0) and once to fill
    a buffer of that size; returns (buffer, count)."""
    count = ctypes.c_size_t(_UNSET)
    code = call(None, 0, ctypes.byref(count))
    if count.value == _UNSET:  # failed before counting: a real error
        _check(code)
    buffer = make_buffer(count.value)
    _check(call(buffer, capacity_of(buffer), ctypes.byref(count)))
    return buffer, count.value


def _text(call):
    buffer, length = _sized(call, lambda n: ctypes.create_string_buffer(n + 1), len)
    return buffer.raw[:length]


class _Handle:
    """An object of the C library: freed by close(), by a `with` block's end, or when collected."""

    _free = None  # the name of the C function that frees it
    _what = "object"

    def close(self):
        if self._handle:
            getattr(_lib, self._free)(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_handle", None) and _lib is not None:
            self.close()

    def _h(self):
        if not self._handle:
            raise Error(Status.INVALID_ARGUMENT, "the " + self._what + " is closed")
        return self._handle


class Model(_Handle):
    """A loaded model and its tokenizer. Usable from several threads at once."""

    _free = "minillm_model_free"
    _what = "model"

    def __init__(self, path):
        self._handle = None
        lib = load_library()
        handle = ctypes.c_void_p()
        _check(lib.minillm_model_load(os.fsencode(path), ctypes.byref(handle)))
        self._handle = handle

    @property
    def n_vocab(self):
        return _lib.minillm_model_n_vocab(self._h())

    @property
    def bos(self):
        return _lib.minillm_model_bos(self._h())

    @property
    def eos(self):
        return _lib.minillm_model_eos(self._h())

    def tokenize(self, text, add_bos=True):
        data = text.encode("utf-8")

        def call(ids, capacity, count):
            return _lib.minillm_tokenize(self._h(), data, int(add_bos), ids, capacity, count)

        ids, n = _sized(call, lambda n: (ctypes.c_int32 * max(n, 1))(), len)
        return list(ids[:n])

    def detokenize(self, ids):
        """The text of the ids (bytes that are not valid UTF-8 become U+FFFD)."""
        arr, n = _id_array(ids)
        raw = _text(lambda buf, cap, length:
                    _lib.minillm_detokenize(self._h(), arr, n, buf, cap, length))
        return raw.decode("utf-8", "replace")

    def token_to_piece(self, token):
        """The bytes one token stands for."""
        return _text(lambda buf, cap, length:
                     _lib.minillm_token_to_piece(self._h(), token, buf, cap, length))

    def session(self, n_ctx=0, n_threads=0):
        return Session(self, n_ctx, n_threads)


class Session(_Handle):
    """One sequence with its KV cache. Use it from one thread at a time."""

    _free = "minillm_session_free"
    _what = "session"

    def __init__(self, model, n_ctx=0, n_threads=0):
        self._handle = None
        handle = ctypes.c_void_p()
        _check(_lib.minillm_session_new(model._h(), n_ctx, n_threads, ctypes.byref(handle)))
        self._handle = handle

    @property
    def n_past(self):
        return _lib.minillm_session_n_past(self._h())

    @property
    def n_ctx(self):
        return _lib.minillm_session_n_ctx(self._h())

    def reset(self):
        _check(_lib.minillm_session_reset(self._h()))

    def eval(self, ids):
        """Appends the ids and returns the logits of the last one (an array of n_vocab floats)."""
        arr, n = _id_array(ids)
        logits = ctypes.POINTER(ctypes.c_float)()
        n_vocab = ctypes.c_size_t(0)
        _check(_lib.minillm_eval(self._h(), arr, n, ctypes.byref(logits), ctypes.byref(n_vocab)))
        return array.array("f", ctypes.string_at(logits, n_vocab.value * 4))

    def generate(self, prompt, temperature=None, top_k=None, top_p=None, min_p=None,
                 repeat_penalty=None, seed=None, max_tokens=None, on_piece=None):
        """Continues the sequence with prompt and generates; returns the generated text.

        Parameters left at None keep the library's defaults (minillm_sampling_default).
        on_piece(text, token) receives each piece as it is complete UTF-8; returning a false
        value stops generation. An exception it raises stops generation and is raised here.
        """
        params = _lib.minillm_sampling_default()
        for name, value in (("temperature", temperature), ("top_k", top_k), ("top_p", top_p),
                            ("min_p", min_p), ("repeat_penalty", repeat_penalty), ("seed", seed),
                            ("max_tokens", max_tokens)):
            if value is not None:
                setattr(params, name, value)
        pieces = []
        raised = []

        def piece_fn(data, length, token, _user):
            try:
                text = ctypes.string_at(data, length).decode("utf-8", "replace")
                pieces.append(text)
                return 1 if on_piece is None or on_piece(text, token) else 0
            except BaseException as e:  # must not unwind through C
                raised.append(e)
                return 0

        callback = _PIECE_FN(piece_fn)  # kept alive until the call returns
        code = _lib.minillm_generate(self._h(), prompt.encode("utf-8"), ctypes.byref(params),
                                     callback, None)
        if raised:
            raise raised[0]
        _check(code)
        return "".join(pieces)
