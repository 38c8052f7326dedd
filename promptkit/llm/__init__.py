"""Chat models from spec strings, with one cache and one retry policy for every backend."""

from promptkit.llm.base import ChatModel, Chunk, Generation, GenParams
from promptkit.llm.specs import DEFAULT_MODEL, get_model

__all__ = ["DEFAULT_MODEL", "ChatModel", "Chunk", "GenParams", "Generation", "get_model"]
