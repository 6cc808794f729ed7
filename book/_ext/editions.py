"""Sphinx extension: every page links to the same page in the other edition (English, 中文).

The two websites are built side by side, _build/html (English) and _build/html-zh (Chinese),
and published the same way, so the link is relative: from a page to the site's root, one folder
up, then the other edition's folder and the same page name. Configured by ``edition_link``:
``{"folder": "html-zh", "label": "中文版", "lang": "zh-CN"}`` in the English book and
``{"folder": "html", "label": "English", "lang": "en"}`` in the Chinese one.
"""

from __future__ import annotations

from html import escape


def add_link(app, pagename, templatename, context, doctree) -> None:
    other = app.config.edition_link
    if not other or doctree is None or "body" not in context:
        return
    root = context["pathto"]("", 1)  # this page -> the site's root folder
    href = f"{root}../{other['folder']}/{pagename}.html"
    link = (
        f'<p class="edition-link"><a href="{escape(href)}" hreflang="{other["lang"]}" '
        f'lang="{other["lang"]}">{escape(other["label"])}</a></p>\n'
    )
    context["body"] = link + context["body"]


def setup(app):
    app.add_config_value("edition_link", {}, "html")
    app.connect("html-page-context", add_link)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
