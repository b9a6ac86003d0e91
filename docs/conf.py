"""Sphinx configuration of the skcocluster documentation.

Build (from the repository root)::

    python -m pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

The gallery (``examples/``) is executed during the build; set the environment variable
``SKCOCLUSTER_DOCS_NO_GALLERY=1`` to build the pages without running it. Nothing is
downloaded at build time (no intersphinx), and the pages need no network to display
(MathJax comes with them).
"""

import os
import re
import sys

# The package is installed in editable mode; this also lets an un-installed checkout build.
sys.path.insert(0, os.path.abspath(".."))

import skcocluster  # noqa: E402

# The gallery runs every example in this process. One torch thread: on a loaded machine
# (CI's 2 shared cores) torch's default of one thread per core makes small fits tens of
# times slower (threads wait on each other), see the user guide's performance note.
os.environ.setdefault("OMP_NUM_THREADS", "1")
try:
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - torch is a dependency
    pass

import matplotlib  # noqa: E402

matplotlib.use("Agg")

# -- Project -------------------------------------------------------------------------------

project = "skcocluster"
author = "skcocluster developers"
copyright = "skcocluster developers"
release = skcocluster.__version__
version = ".".join(release.split(".")[:2])

# -- General -------------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # MathJax 3 shipped with the pages: the package (docs extra) sets mathjax_path to its
    # own copy and copies it into _static/mathjax/ at the end of the build, so formulas
    # render with no network (the default loads MathJax from a CDN, and offline the
    # formulas stayed raw LaTeX).
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
default_role = "literal"

autosummary_generate = True
autodoc_default_options = {}
autodoc_typehints = "none"

# numpydoc renders the parameter and attribute tables; the autosummary class template
# lists the methods itself, so numpydoc must not add a second (stub-less) member table.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# A fitted attribute used as a size in a type, "ndarray of shape (n_iter_,)", is read by
# reStructuredText as a link target ("n_iter_") that does not exist. scikit-learn quotes
# them (`n_features_in_`); this quotes those that are not, before numpydoc parses the
# docstring, so that the docstrings can stay readable as plain text.
_SHAPE_LINE = re.compile(r"^\s*[*\w][\w, *]* : .*\bshape\b")
_BARE_ATTRIBUTE = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?=\s*[,)])")


def _quote_attributes_in_shapes(app, what, name, obj, options, lines):
    for index, line in enumerate(lines):
        if _SHAPE_LINE.match(line):
            names, type_ = line.split(" : ", 1)
            lines[index] = names + " : " + _BARE_ATTRIBUTE.sub(r"``\1``", type_)


def setup(app):
    # Before numpydoc (priority 500), which parses the docstring into sections.
    app.connect("autodoc-process-docstring", _quote_attributes_in_shapes, priority=400)


# -- Gallery -------------------------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "doc_module": ("skcocluster",),
    "backreferences_dir": os.path.join("generated", "backreferences"),
    # No reference_url (deprecated and ignored since sphinx-gallery 0.22): the names in
    # the examples' code link to the pages being built on their own, and external
    # packages would come from intersphinx_mapping, which this offline build does not use.
    "plot_gallery": "False" if os.environ.get("SKCOCLUSTER_DOCS_NO_GALLERY") else "True",
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "write_computation_times": False,
    "min_reported_time": 1,
    "remove_config_comments": True,
    "thumbnail_size": (320, 240),
}

# -- HTML ----------------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skcocluster {release}"
html_static_path = []
html_show_sourcelink = False
# The left panel lists every page (docs/_templates/sidebar-site-nav.html says why the
# theme's default panel was empty on this site).
html_sidebars = {"**": ["sidebar-site-nav.html"]}
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
