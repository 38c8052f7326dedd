"""In-process llama.cpp backend (the default): no server, no key, packaged GGUF weights."""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from promptkit.errors import MissingDependencyError, NotFoundError, UserError
from promptkit.llm.base import ChatModel, Chunk, GenParams, Message
from promptkit.threads import prepare_openmp

# A window for GGUF files given by path; packaged models carry their own (packaged.PACKAGED).
DEFAULT_N_CTX = 2048
THREADS_ENV = "PROMPTKIT_LLAMA_THREADS"


# Up to this many cores, decoding uses all of them (measured: bench/bench_threads.py).
SMALL_MACHINE_CORES = 4


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):   # not Linux
        return os.cpu_count() or 1


def default_threads() -> int | None:
    """Decode threads: $PROMPTKIT_LLAMA_THREADS, else every core on a small machine (up to
    SMALL_MACHINE_CORES), else None (llama.cpp's own choice: half the cores, which on SMT
    machines is the physical ones). Prompt processing always uses all cores (llama.cpp's
    n_threads_batch default).

    On 2 cores with OMP_WAIT_POLICY=PASSIVE (threads.py), 2 decode threads against llama.cpp's
    1: decode x1.47 idle and x2.42 beside a busy core, prompt x1.12 / x1.77
    (bench/bench_threads.py, Qwen2.5-Coder-1.5B Q4_K_M).
    """
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        cores = _available_cores()
        return cores if cores <= SMALL_MACHINE_CORES else None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise UserError(f"{THREADS_ENV}={value!r} is not a positive whole number",
                        hint=f"Unset it, or give the number of threads, e.g. {THREADS_ENV}=2.")
    return n


def smollm2_path() -> Path:
    from promptkit.llm.packaged import smollm2_path as locate

    return locate()


_instances: dict[tuple[str, int, int | None], object] = {}
_instances_lock = threading.Lock()


def _load(path: Path, n_ctx: int, n_threads: int | None, seed: int):
    """One Llama per (model file, context size) per process: loading costs time and memory."""
    prepare_openmp()
    try:
        from llama_cpp import Llama
    except ImportError:
        raise MissingDependencyError("the llama.cpp backend", "llamacpp") from None
    key = (str(path), n_ctx, n_threads)
    with _instances_lock:
        llm = _instances.get(key)
        if llm is None:
            if not _instances:
                atexit.register(_close_all)
            llm = _instances[key] = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads,
                                          seed=seed, verbose=False)
        return llm


def _close_all() -> None:
    # Freed while the interpreter still works: left to garbage collection at shutdown,
    # llama_cpp's destructor runs after its C bindings are gone and prints a traceback.
    with _instances_lock:
        while _instances:
            _instances.popitem()[1].close()


def resolve_gguf(name: str) -> tuple[str, Path, int]:
    """A packaged alias, `hf:<org>/<repo>/<file.gguf>` or a path to a .gguf file ->
    (canonical name, file path, window)."""
    from promptkit.llm.packaged import PACKAGED

    if name in PACKAGED:
        packaged = PACKAGED[name]
        return name, packaged.locate(), packaged.n_ctx
    if name.startswith("hf:"):   # from the Hugging Face cache (or the Hub, when online)
        from promptkit.llm.hub import resolve_gguf as from_hub

        return (*from_hub(name), DEFAULT_N_CTX)
    looks_like_path = "/" in name or "\\" in name or name.endswith(".gguf")
    if not looks_like_path:
        raise NotFoundError("llama.cpp model", name, PACKAGED,
                            hint="Give a packaged name or the path to a .gguf file, e.g. "
                                 "llamacpp:/models/qwen2.5-0.5b-instruct-q4_k_m.gguf")
    path = Path(name).expanduser().resolve()
    if not path.is_file():
        raise UserError(f"GGUF model file not found: {path}",
                        hint="Check the path in the model spec (llamacpp:/path/to/model.gguf).")
    _check_gguf(path)
    return str(path), path, DEFAULT_N_CTX


GGUF_MAGIC = b"GGUF"


def _check_gguf(path: Path) -> None:
    """Refuse a file that is not GGUF here, by its first bytes: llama.cpp's own failure is a
    bare ValueError after a slow load attempt."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise UserError(f"cannot read the model file {path}: {exc.strerror or exc}") from None
    if head != GGUF_MAGIC:
        raise UserError(f"{path} is not a GGUF model file (it does not start with 'GGUF')",
                        hint="llama.cpp loads .gguf files only; convert the model (llama.cpp's "
                             "convert_hf_to_gguf.py) or download a GGUF build of it.")


_grammars: dict[str, object] = {}


def schema_grammar(schema: dict):
    """The llama.cpp grammar (GBNF) that holds decoding to `schema`, built once per schema.

    Built here rather than through `response_format`, whose converter falls back silently to
    "any JSON" when a schema cannot be converted: here that is the user's error, said so.
    """
    import json

    from llama_cpp.llama_grammar import LlamaGrammar

    key = json.dumps(schema, sort_keys=True)
    if key not in _grammars:
        try:
            _grammars[key] = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        except Exception as exc:  # noqa: BLE001 - the converter raises bare Exceptions
            raise UserError(f"llama.cpp cannot turn this JSON Schema into a grammar: {exc}",
                            hint="Simplify the schema (plain objects, arrays, enums, strings, "
                                 "numbers), or ask without constraint.") from None
    return _grammars[key]


class LlamaCppModel(ChatModel):
    """A GGUF model run by llama-cpp-python in this process, with the GGUF's chat template."""

    backend = "llamacpp"
    can_constrain = True  # a grammar from the JSON Schema
    max_concurrency = 1   # one Llama object is not thread-safe
    retries = 0           # nothing transient to retry in-process
    timeout_s = None

    def __init__(self, name: str, *, n_ctx: int | None = None, context_window: int | None = None,
                 n_threads: int | None = None, seed: int = 0, reuse_prefix: bool = False):
        canonical, self.path, window = resolve_gguf(name)
        self.spec = f"llamacpp:{canonical}"
        # `context_window` is the name every backend takes; `n_ctx` the llama.cpp one.
        self.context_window = n_ctx or context_window or window
        self.n_threads = n_threads if n_threads is not None else default_threads()
        self.seed = seed
        # Keep the previous call's evaluated tokens and start from the longest token prefix
        # the new prompt shares with them (llama.cpp compares token ids, so only an identical
        # prefix is reused). Off by default: see `_stream`.
        self.reuse_prefix = reuse_prefix
        self._formatter = None

    @property
    def llm(self):
        return _load(self.path, self.context_window, self.n_threads, self.seed)

    def limit_key(self) -> str:
        return f"llamacpp:{self.path}"

    def describe(self) -> dict:
        return {**super().describe(), "n_threads": self.n_threads,
                "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def format_prompt(self, messages: Sequence[Message]) -> str:
        """The exact prompt text the GGUF's chat template makes of `messages`."""
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            llm = self.llm
            template = llm.metadata.get("tokenizer.chat_template")
            if not template:
                raise UserError(f"{self.path.name} has no chat template in its metadata",
                                hint="Use an instruct/chat GGUF; base models only complete text.")
            eos = llm._model.token_get_text(llm.token_eos())
            bos = llm._model.token_get_text(llm.token_bos())
            self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        return self._formatter(messages=list(messages)).prompt

    def count_message_tokens(self, messages: Sequence[Message]) -> int:
        prompt = self.format_prompt(messages)
        return len(self.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))

    def _stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]:
        llm = self.llm
        prompt_tokens = self.count_message_tokens(messages)
        if prompt_tokens >= self.context_window:
            raise UserError(f"the prompt takes {prompt_tokens} tokens; {self.spec} has a "
                            f"{self.context_window}-token window",
                            hint="Shorten the input or pass fewer passages (lower -k), or load "
                                 "the model with a larger window: get_model(spec, n_ctx=4096).")
        # Without a reset, llama.cpp reuses the KV cache of the previous call's matching
        # token prefix. The reused keys and values are those of the same tokens, but computed
        # in a different batch split, so an answer could in principle depend on what ran
        # before; callers that order work for reuse (experiment sweeps) opt in and measure
        # that the answers stay the same (bench/prefix_reuse.py).
        if not self.reuse_prefix:
            llm.reset()
        grammar = schema_grammar(params.json_schema) if params.json_schema else None
        stream = llm.create_chat_completion(
            messages=list(messages), temperature=params.temperature, top_p=params.top_p,
            max_tokens=params.max_tokens, stop=list(params.stop) or None,
            repeat_penalty=params.repeat_penalty or 1.0,
            seed=params.seed if params.seed is not None else self.seed, stream=True,
            grammar=grammar)
        finish = None
        for part in stream:
            choice = part["choices"][0]
            text = choice["delta"].get("content") or ""
            finish = choice.get("finish_reason") or finish
            if text:
                yield Chunk(text=text)
        # The stream carries no usage. After a reset the context holds exactly the prompt and
        # the evaluated completion tokens; a run cut by max_tokens never evaluates its last one.
        completion = llm.n_tokens - prompt_tokens + (1 if finish == "length" else 0)
        yield Chunk(prompt_tokens=prompt_tokens,
                    completion_tokens=completion if completion >= 0 else None,
                    finish_reason=finish)
