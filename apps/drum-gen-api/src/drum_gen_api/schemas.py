"""Request and response models of the HTTP API.

Defaults and limits are drum-gen's own (``drum_gen.defaults``, and the sampling and request checks of
``drum_gen.sampling``/``drum_gen.generator`` run as validators), so the API accepts exactly what
``drum-gen generate`` accepts and a bad value is a 422 naming the field, never a failed task later.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from drum_gen.defaults import GENERATION, MAX_BARS, TEMPO_RANGE
from drum_gen.styles import UnknownStyleError, get_style
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

SUPPORTED_TIME_SIGNATURES = {(4, 4)}
"""What drum-gen can write: its generator, its shipped model and its style rules are 4/4 only."""
MAX_SEED = 2**31 - 2
"""The largest seed the generator draws itself (``torch.randint(0, 2**31 - 1)``), safe in every JSON client."""


class TimeSignature(BaseModel):
    model_config = ConfigDict(extra="forbid")

    numerator: int = Field(4, ge=1, le=16)
    denominator: Literal[2, 4, 8, 16] = 4


class GenerateRequest(BaseModel):
    """One pattern request; ``producer_style`` is accepted as the original API's name for ``style``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"style": "J Dilla", "bars": 4, "tempo": 90, "seed": 7}]},
    )

    style: str = Field(
        validation_alias=AliasChoices("style", "producer_style"),
        description="style name or alias (see GET /api/v1/styles), e.g. 'J Dilla' or 'dilla'",
        min_length=1,
        max_length=100,
    )
    bars: int = Field(GENERATION.bars, ge=1, le=MAX_BARS)
    tempo: float | None = Field(
        GENERATION.tempo_bpm,
        ge=TEMPO_RANGE[0],
        le=TEMPO_RANGE[1],
        description="BPM; null: the middle of the style's tempo range",
    )
    time_signature: TimeSignature = Field(default_factory=TimeSignature)
    humanize: bool = Field(GENERATION.humanize, description="apply the style's swing and feel once")
    temperature: float = GENERATION.temperature
    top_k: int = Field(GENERATION.top_k, description="0 = off")
    top_p: float = Field(GENERATION.top_p, description="1 = off")
    seed: int | None = Field(
        None,
        ge=0,
        le=MAX_SEED,
        description="same seed and options, same MIDI; null: drawn for you and reported",
    )
    enforce_style_rules: bool = Field(
        GENERATION.enforce_style_rules,
        description="guarantee backbeat and downbeat kick (constrained decoding)",
    )

    @field_validator("style")
    @classmethod
    def _known_style(cls, value: str) -> str:
        try:
            return get_style(value).name
        except UnknownStyleError as err:
            raise ValueError(str(err)) from None

    @field_validator("temperature", "top_k", "top_p")
    @classmethod
    def _sampling(cls, value: Any, info: Any) -> Any:
        from drum_gen.sampling import SamplingConfig

        SamplingConfig(**{info.field_name: value})  # drum-gen's own bounds; its ValueError names them
        return value

    @field_validator("time_signature")
    @classmethod
    def _supported_meter(cls, value: TimeSignature) -> TimeSignature:
        meter = (value.numerator, value.denominator)
        if meter not in SUPPORTED_TIME_SIGNATURES:
            raise ValueError(
                f"time signature {meter[0]}/{meter[1]} is not supported: drum-gen generates 4/4 only "
                "(its model is trained on 4/4 bars and its style rules are 4/4 rules)"
            )
        return value

    @model_validator(mode="after")
    def _whole_request(self) -> GenerateRequest:
        from drum_gen.generator import GenerationRequest

        GenerationRequest(**self.generator_fields())  # the library's final say on the combination
        return self

    def generator_fields(self) -> dict[str, Any]:
        return {
            "style": self.style,
            "bars": self.bars,
            "tempo_bpm": self.tempo,
            "humanize": self.humanize,
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "seed": self.seed,
            "enforce_style_rules": self.enforce_style_rules,
        }

    def to_task(self) -> dict[str, Any]:
        """The JSON the task receives, with a seed drawn now if none was given (reported, reproducible)."""
        data = self.model_dump(mode="json")
        if data["seed"] is None:
            data["seed"] = secrets.randbelow(MAX_SEED + 1)
        return data


class Accepted(BaseModel):
    task_id: str
    status: str
    status_url: str
    download_url: str


class TaskStatus(BaseModel):
    task_id: str
    status: Literal["queued", "processing", "completed", "failed"]
    progress: int = Field(ge=0, le=100)
    created_at: str
    started_at: str | None = None
    completed_at: str | None = None
    error: str | None = None
    attempts: int = Field(description="process starts of this task; >1 only after a worker was lost")
    worker: str | None = Field(None, description="host:pid of the process that ran (or runs) it")
    request: dict[str, Any]
    result: dict[str, Any] | None = None
    download_url: str | None = None


class StyleInfo(BaseModel):
    name: str
    aliases: list[str]
    tempo_range: tuple[float, float]
    swing_percent: float
    swing_resolution: int
    description: str


class ErrorBody(BaseModel):
    detail: Any
