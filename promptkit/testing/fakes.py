"""Deterministic fakes for tests (ours and users'): no model, no download, same output every run.

Each fake lives beside what it stands in for (an embedder in `embedders`, chat models in `llm`,
a retriever in `retrieval`), so lower layers never reach up into `testing`; this module gathers
them under one import for test code.
"""

from promptkit.embedders.fake import HashEmbedder
from promptkit.llm.fake import (
                                FakeCall,
                                FakeChatModel,
                                FunctionChatModel,
                                echo_last_user,
                                fake_model_from_spec,
)
from promptkit.retrieval.fake import FakeHit, FakeRetriever

__all__ = ["FakeCall", "FakeChatModel", "FakeHit", "FakeRetriever", "FunctionChatModel",
           "HashEmbedder", "echo_last_user", "fake_model_from_spec"]
