"""Results of the record processors (``processors.py``, ``convert.py``), as plain dataclasses.

Lists run parallel to the batch a function was given, so the engine can index them by record.
"""
from __future__ import annotations

from dataclasses import dataclass, field

OK = "Ok"
DROPPED = "Dropped"
PROCESSING_FAILED = "ProcessingFailed"
RESULTS = (OK, DROPPED, PROCESSING_FAILED)


@dataclass(frozen=True, slots=True)
class TransformResult:
    """What the transform function answered for one record."""

    record_id: str
    result: str  # Ok | Dropped | ProcessingFailed
    data: bytes | None = None  # the transformed record, for Ok
    partition_keys: dict[str, str] | None = None  # metadata.partitionKeys (partitionKeyFromLambda)


@dataclass(frozen=True, slots=True)
class TransformOutcome:
    """A valid transform response: one result per input record, in input order."""

    records: list[TransformResult]

    def indexes(self, result: str) -> list[int]:
        return [i for i, r in enumerate(self.records) if r.result == result]


@dataclass(frozen=True, slots=True)
class ConversionResult:
    """JSON -> Parquet for one batch.

    ``failures`` holds ``(index, message)`` for each input record that could not be converted;
    ``failure_codes`` runs parallel to it with the Firehose error code of each
    (``DataFormatConversion.ParseError`` or ``DataFormatConversion.MalformedData``).
    ``parquet`` is None when no record converted (Firehose writes no empty object).
    """

    parquet: bytes | None
    converted: int
    failures: list[tuple[int, str]] = field(default_factory=list)
    failure_codes: list[str] = field(default_factory=list)
