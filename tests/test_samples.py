"""The bundled sample inbox is exactly what the sample generator writes."""

from __future__ import annotations

from pathlib import Path

from workbooks.samples import write_samples

BUNDLED = Path(__file__).parents[1] / "samples" / "inbox"


def test_the_bundled_sample_inbox_is_what_the_generator_writes(tmp_path: Path) -> None:
    written = write_samples(tmp_path)

    assert sorted(p.name for p in BUNDLED.iterdir()) == sorted(p.name for p in written)
    for path in written:
        assert (BUNDLED / path.name).read_bytes() == path.read_bytes(), f"regenerate with: budgetflow samples {BUNDLED}"


def test_writing_the_samples_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in write_samples(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in write_samples(tmp_path / "b")}
    assert first == second
