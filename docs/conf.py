# Copyright (c) mmgcp contributors. All rights reserved.
"""Sphinx configuration of the mmgcp manual: Markdown pages read by MyST, the built-in alabaster
theme (no network, no theme package). ``tools/build_docs.sh`` builds it with warnings as errors."""
project = 'mmgcp'
author = 'mmgcp contributors'
copyright = 'mmgcp contributors'

extensions = ['myst_parser']
source_suffix = {'.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['_build', 'Thumbs.db', '.DS_Store']

# `page.md#section` links resolve to headings, slugified as GitHub does, so the same links work
# on GitHub and in the built manual (tests/test_docs/test_links.py uses the same slugs).
myst_heading_anchors = 6
myst_heading_slug_func = 'github'

html_theme = 'alabaster'
html_theme_options = {'nosidebar': False, 'page_width': '1100px'}
html_sidebars = {'**': ['about.html', 'navigation.html', 'searchbox.html']}
html_static_path = []
