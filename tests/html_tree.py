"""A small HTML tree for tests, built with the standard library's parser (no regular expressions on markup)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})


@dataclass
class Element:
    """An element: tag, attributes (entities decoded) and children (elements and text)."""

    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    def iter(self, tag: str | None = None, **attrs: str) -> Iterator[Element]:
        """This element and its descendants in document order, with the tag and attributes given (data_ward=...)."""
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        if (tag is None or self.tag == tag) and all(self.attrs.get(k) == v for k, v in wanted.items()):
            yield self
        for c in self.children:
            if isinstance(c, Element):
                yield from c.iter(tag, **attrs)

    def find(self, tag: str | None = None, **attrs: str) -> Element:
        """The first matching element; fails the test if there is none."""
        found = next(self.iter(tag, **attrs), None)
        assert found is not None, f"no <{tag}> with {attrs}"
        return found

    def text(self) -> str:
        """All text inside, entities decoded, as a reader (or a screen reader) gets it."""
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def has_class(self, name: str) -> bool:
        """Whether the class attribute lists name."""
        return name in self.attrs.get("class", "").split()


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(el)
        if tag not in VOID:
            self.stack.append(el)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        assert tag not in VOID, f"end tag for void element <{tag}>"
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(page: str) -> Element:
    """The document's tree; fails the test on a mis-nested or unclosed element."""
    b = _Builder()
    b.feed(page)
    b.close()
    assert b.stack == [b.root], f"unclosed elements: {[e.tag for e in b.stack[1:]]}"
    return b.root
