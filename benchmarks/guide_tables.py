"""The user guide's two headline tables, generated from the one benchmark command's results.

``run_benchmarks.py`` writes every fit to ``results.json``; this script summarises the
headline rows of one or more such files into ``benchmarks/headline.json`` (the one place
the figures live) and writes the tables the user guide includes,
``docs/tables/planted.txt`` and ``docs/tables/corpora.txt``::

    python benchmarks/run_benchmarks.py --part simulated --seeds 1 --cases headline \\
        --methods dlbm sc sb ceiling --threads 1 --no-plots --out /tmp/planted
    python benchmarks/run_benchmarks.py --data-dir ../shared/data --part real --seeds 5 \\
        --input raw binary --jobs 2 --threads 1 --no-plots --out /tmp/real
    python benchmarks/guide_tables.py /tmp/planted/results.json /tmp/real/results.json

``python benchmarks/guide_tables.py --check`` rewrites nothing and fails when the tables in
``docs/tables`` are not those of ``benchmarks/headline.json`` (tests/test_figures.py runs it).
"""

import argparse
import json
import math
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
HEADLINE = ROOT / "benchmarks" / "headline.json"
TABLES = ROOT / "docs" / "tables"

PEERS = ("sc", "sc-tfidf", "sb", "kmeans-tfidf", "sparsebm")
PEER_TITLES = {"sc": "SpectralCoclustering", "sc-tfidf": "SpectralCoclustering, tf-idf",
               "sb": "SpectralBiclustering", "kmeans-tfidf": "KMeans, tf-idf",
               "sparsebm": "sparsebm LBM"}


def _mean_std(values):
    """Mean and standard deviation (ddof=1; 0 for one value) of the finite values."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None
    mean = sum(values) / len(values)
    std = (math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
           if len(values) > 1 else 0.0)
    return [round(mean, 6), round(std, 6), len(values)]


def summarise(records):
    """``{part: {dataset: {method_key: {field: [mean, std, n]}}}}`` of the headline rows:
    the headline planted cases and every corpus."""
    groups = {}
    for record in records:
        if record["part"] == "simulated" and not record["dataset"].startswith("headline "):
            continue
        key = (record["part"], record["dataset"], record["method_key"])
        groups.setdefault(key, []).append(record)
    out = {"real": {}, "simulated": {}}
    for (part, dataset, method), group in groups.items():
        fields = ("nmi", "seconds") if part == "real" else ("cari", "seconds")
        ok = [r for r in group if r["status"] == "ok"]
        out[part].setdefault(dataset, {})[method] = {
            field: _mean_std([r[field] for r in ok]) for field in fields}
    return out


def _fmt(entry, field, digits=3):
    """``mean ± std`` (``mean`` alone for one seed); '-' where nothing was measured,
    'fails' where every fit failed."""
    if entry is None:
        return "-"
    if entry.get(field) is None:
        return "fails"
    mean, std, n = entry[field]
    return f"{mean:.{digits}f}" if n == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _seconds(entry):
    if entry is None or entry.get("seconds") is None:
        return "-"
    return f"{entry['seconds'][0]:.1f}"


def rst_table(header, rows):
    """A simple reST table (``====`` rules) of string cells."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    rule = "  ".join("=" * width for width in widths)
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([rule, line(header), rule, *map(line, rows), rule]) + "\n"


def planted_table(planted):
    """The planted table: CARI of the DLBM, the ceiling and the spectral peers, seconds."""
    header = ["case", "DLBM", "ceiling", "SpectralCoclustering", "SpectralBiclustering",
              "DLBM s (SB s)"]
    rows = []
    for dataset, methods in planted.items():
        cells = [dataset.removeprefix("headline ")]
        for key in ("dlbm", "ceiling", "sc", "sb"):
            cells.append(_fmt(methods.get(key), "cari"))
        cells.append(f"{_seconds(methods.get('dlbm'))} ({_seconds(methods.get('sb'))})")
        rows.append(cells)
    return rst_table(header, rows)


def best_peer(methods):
    """``(key, entry)`` of the peer with the best mean NMI."""
    peers = [(key, methods[key]) for key in PEERS if key in methods and methods[key]["nmi"]]
    return max(peers, key=lambda item: item[1]["nmi"][0]) if peers else (None, None)


def corpora_table(real):
    """The corpus table: document NMI of the DLBM on the values as passed and on X > 0, the
    best peer, and the DLBM's seconds."""
    header = ["corpus", "DLBM, values as passed", "DLBM, X > 0", "best peer", "DLBM s"]
    rows = []
    for dataset, methods in real.items():
        key, peer = best_peer(methods)
        rows.append([dataset, _fmt(methods.get("dlbm-raw"), "nmi"),
                     _fmt(methods.get("dlbm"), "nmi"),
                     f"{_fmt(peer, 'nmi')} ({PEER_TITLES.get(key, '-')})",
                     _seconds(methods.get("dlbm-raw"))])
    return rst_table(header, rows)


def tables(headline):
    """``{file name: text}`` of the tables of a headline summary."""
    return {"planted.txt": planted_table(headline["simulated"]),
            "corpora.txt": corpora_table(headline["real"])}


def merge(old, new):
    """The summary ``new`` over ``old``: datasets of a part measured again replace theirs."""
    return {part: {**old.get(part, {}), **new.get(part, {})} for part in ("real", "simulated")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="*", help="results.json files of run_benchmarks.py")
    parser.add_argument("--check", action="store_true",
                        help="fail when docs/tables differ from benchmarks/headline.json")
    args = parser.parse_args(argv)
    headline = json.loads(HEADLINE.read_text()) if HEADLINE.exists() else {}
    if args.check:
        stale = [name for name, text in tables(headline).items()
                 if not (TABLES / name).exists() or (TABLES / name).read_text() != text]
        if stale:
            sys.exit(f"docs/tables out of date: {', '.join(stale)}; run "
                     "python benchmarks/guide_tables.py")
        return
    for path in args.results:
        records = json.loads(pathlib.Path(path).read_text())["runs"]
        headline = merge(headline, summarise(records))
    HEADLINE.write_text(json.dumps(headline, indent=1) + "\n")
    TABLES.mkdir(exist_ok=True)
    for name, text in tables(headline).items():
        (TABLES / name).write_text(text)
        print(text)


if __name__ == "__main__":
    main()
