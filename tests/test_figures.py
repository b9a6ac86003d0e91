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


def test_the_user_guide_tables_are_those_of_the_benchmark_results():
    # docs/tables/*.txt are written by benchmarks/guide_tables.py from headline.json.
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "guide_tables", ROOT / "benchmarks" / "guide_tables.py")
    guide_tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guide_tables)
    guide_tables.main(["--check"])  # exits with a message when a table is stale


def test_every_timed_or_sized_figure_of_the_readme_is_recorded():
    # A figure with a unit in README.rst (seconds, minutes, MB, GB) must be one of
    # figures.json's, so that it cannot go stale unnoticed.
    import re

    recorded = " ".join(figure["text"] for figure in FIGURES["figures"])
    readme = (ROOT / "README.rst").read_text(encoding="utf-8")
    for number in re.findall(r"(\d+(?:\.\d+)?) ?(?:s|MB|GB|minutes|seconds)\b", readme):
        alone = rf"(?<![\d.]){re.escape(number)}(?![\d.]\d)"  # not part of another number
        assert re.search(alone, recorded), \
            f"README.rst quotes {number} with a unit; record it in benchmarks/figures.json"
