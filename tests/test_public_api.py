from __future__ import annotations

import agent_orchestrated_etl as aoetl

EXPECTED = {
    "AoetlError",
    "DataOrchestrator",
    "FatalError",
    "NotSupportedError",
    "PipelineSpec",
    "RunResult",
    "SchemaConflictError",
    "SourceNotFoundError",
    "SpecError",
    "TableResult",
    "TooManyBadRowsError",
    "TransientError",
    "UnknownConnectorError",
    "UserError",
    "__version__",
    "build_spec",
    "home_dir",
    "load_spec",
}


def test_exports_are_present_and_sorted() -> None:
    assert set(aoetl.__all__) == EXPECTED
    assert aoetl.__all__ == sorted(aoetl.__all__)
    for name in aoetl.__all__:
        assert hasattr(aoetl, name), name


def test_every_error_derives_from_one_root() -> None:
    for name in aoetl.__all__:
        obj = getattr(aoetl, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, aoetl.AoetlError)
