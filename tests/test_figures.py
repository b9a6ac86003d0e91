"""The headline figures are quoted the same everywhere (benchmarks/figures.json)."""

import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIGURES = json.loads((ROOT / "benchmarks" / "figures.json").read_text(encoding="utf-8"))


def test_every_figure_has_a_command_and_a_file():
    for figure in FIGURES["figures"]:
        assert figure["text"] and figure["command"] and figure["files"]


@pytest.mark.parametrize("figure", FIGURES["figures"], ids=lambda figure: figure["name"])
def test_each_file_quotes_the_figure_as_recorded(figure):
    for name in figure["files"]:
        text = (ROOT / name).read_text(encoding="utf-8")
        assert figure["text"] in text, f"{name} no longer quotes {figure['name']}: " \
                                       f"{figure['text']!r}"
