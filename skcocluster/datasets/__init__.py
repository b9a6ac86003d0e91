"""Synthetic co-clustering data generators, loaders and fetchers for document-term matrices."""

from ._facets import make_multi_facet_blocks
from ._fetchers import fetch_classic3, fetch_corpus, fetch_cstr, fetch_reviews, fetch_webace
from ._loaders import load_cstr, load_matlab, load_matrix_market, load_npz
from ._samples_generator import make_latent_position_blocks, make_lbm

__all__ = [
    "make_lbm",
    "make_latent_position_blocks",
    "make_multi_facet_blocks",
    "load_matlab",
    "load_matrix_market",
    "load_npz",
    "load_cstr",
    "fetch_corpus",
    "fetch_cstr",
    "fetch_classic3",
    "fetch_webace",
    "fetch_reviews",
]
