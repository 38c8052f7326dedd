"""Pipeline settings spelled once for every file that configures a pipeline: eval configs
(`pipeline:`), suites (`retrieval:`, `params:`) and experiments (`retrieval:`, `params:`)
extend these models, so a field, its default, its bounds and its checks mean the same
everywhere."""

from __future__ import annotations

from pydantic import Field, model_validator

from promptkit.choices import Order
from promptkit.userfiles import StrictModel


class GenerationSettings(StrictModel):
    """Overrides of the prompt version's own generation params; unset keeps the prompt's."""

    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, allow_inf_nan=False)

    def generation_options(self) -> dict:
        """These settings as `Pipeline(...)` keyword arguments."""
        return {"max_tokens": self.max_tokens, "temperature": self.temperature}


GENERATION_KEYS = tuple(GenerationSettings.model_fields)


class RerankSettings(StrictModel):
    # Rerank stage: a cross-encoder folder or hf:<org>/<name> ("fake" in tests) reorders
    # `rerank_candidates` retrieved passages (default max(4k, 20)) and keeps the best k.
    rerank: str | None = None
    rerank_candidates: int | None = Field(default=None, ge=1)


class RetrievalSettings(RerankSettings):
    """Which collection, how many passages and in what order the model reads them."""

    collection: str = "demo"
    k: int = Field(default=4, ge=1)
    order: Order = "ranked"
    mmr: bool = False
    hybrid: bool = False

    def pipeline_options(self) -> dict:
        """These settings as `Pipeline(...)` keyword arguments (the collection aside)."""
        return {"k": self.k, "order": self.order, "mmr": self.mmr, "hybrid": self.hybrid,
                "rerank": self.rerank, "rerank_candidates": self.rerank_candidates}

    @model_validator(mode="after")
    def _candidates_cover_k(self):
        from promptkit.errors import UserError
        from promptkit.retrieval.rerank import check_candidates

        try:
            check_candidates(self.k, self.rerank_candidates)
        except UserError as exc:
            raise ValueError(exc.message) from None
        return self
