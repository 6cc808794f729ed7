"""Sphinx extension for translated builds (tools/zh.py): glue references in translated text.

Sphinx parses each translated paragraph as a small document of its own, with the parser of the
page's file type: for a notebook, myst-nb's notebook parser, which starts an empty notebook of
its own, so every glued number in a translated paragraph would fail ("No key ... found in glue
data for this document"). This extension parses a notebook's translated paragraphs as MyST
Markdown (which they are) and hands them the notebook being translated, where the glue roles
find their values. Docstrings (the API reference) are parsed as the reStructuredText they are.
"""

from __future__ import annotations

import re

import sphinx.transforms.i18n as i18n
from myst_nb import sphinx_ as nb_sphinx
from sphinx.io import SphinxI18nReader

# A reStructuredText cross-reference role, which only docstrings use (MyST writes {func}`x`).
RST_ROLE = re.compile(r"(?<![\w`]):(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj):`")

_translating: list = []  # the document whose paragraphs are being translated (a stack)
_renderers: dict = {}  # id(document) -> the notebook renderer myst-nb made for it


def setup(app):
    apply = i18n.Locale.apply
    new_document = SphinxI18nReader.new_document

    def apply_keeping_document(self, **kwargs):
        _translating.append(self.document)
        try:
            return apply(self, **kwargs)
        finally:
            _translating.pop()

    def new_document_with_notebook(self):
        document = new_document(self)
        if _translating and id(_translating[-1]) in _renderers:
            document["nb_renderer"] = _renderers[id(_translating[-1])]
        return document

    # myst-nb drops the notebook's renderer from the document at the end of parsing, before
    # Sphinx translates it: keep it, by document, for the translated paragraphs.
    parse = nb_sphinx.Parser.parse

    def parse_keeping_renderer(self, inputstring, document):
        class Keep(dict):
            def pop(self, key, *default):
                value = dict.pop(self, key, *default)
                if key == "nb_renderer":
                    _renderers[id(document)] = value
                return value

        document.attributes = Keep(document.attributes)
        try:
            return parse(self, inputstring, document)
        finally:
            document.attributes = dict(document.attributes)

    nb_sphinx.Parser.parse = parse_keeping_renderer
    # The part captions of _toc.yml reach the landing page's toctrees after Sphinx translated
    # it: translate them from that page's catalog.
    app.connect("doctree-read", translate_toctree_captions)

    publish_msgstr = i18n.publish_msgstr

    def publish_msgstr_as_markdown(app, source, source_path, source_line, config, settings):
        # A translated heading such as "1. 词元作为向量" would parse as a numbered list (the
        # English one is a heading, never a list item): escape the number.
        source = re.sub(r"^(\d+)\. ", r"\1\\. ", source)
        if source_path.endswith(".ipynb"):
            source_path += ".md"  # the file type decides the parser: MyST Markdown
        elif RST_ROLE.search(source):
            # autodoc's docstrings (book/api.md) are reStructuredText: `:func:` is a role there
            source_path += ".rst"
        patch = publish_msgstr(app, source, source_path, source_line, config, settings)
        root = patch
        while root.parent is not None:
            root = root.parent
        root.attributes.pop("nb_renderer", None)  # it must not be pickled with the page
        return patch

    i18n.publish_msgstr = publish_msgstr_as_markdown
    i18n.Locale.apply = apply_keeping_document
    SphinxI18nReader.new_document = new_document_with_notebook
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def translate_toctree_captions(app, doctree) -> None:
    from sphinx import addnodes
    from sphinx.locale import init as init_locale
    from sphinx.util.i18n import docname_to_domain

    domain = docname_to_domain(app.env.docname, app.config.gettext_compact)
    dirs = [str(app.srcdir / d) for d in app.config.locale_dirs]
    catalog, found = init_locale(dirs, app.config.language, domain)
    if not found:
        return
    for node in doctree.findall(addnodes.toctree):
        if node.get("caption"):
            node["caption"] = catalog.gettext(node["caption"])
