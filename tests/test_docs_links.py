"""Every relative link in README.md and docs/*.md leads somewhere: the file exists, and an `#anchor` names a
heading of that file (GitHub's slugs). The README's Documentation list links every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s+.*)?$")
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, …


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lowercased, punctuation but '-' and '_' dropped, spaces → '-'."""
    text = _INLINE_CODE.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading reads as its text
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def _prose_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def anchors(path: Path) -> set[str]:
    """The anchors of a markdown file's headings; a repeated heading gets -1, -2, … as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in _prose_lines(path):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every relative link, inline code left out."""
    found = []
    for number, line in _prose_lines(path):
        prose = _INLINE_CODE.sub("", line)
        targets = [m.group(1) for m in _LINK.finditer(prose)]
        reference = _REFERENCE.match(prose)
        if reference:
            targets.append(reference.group(1))
        found += [(number, target) for target in targets if not _EXTERNAL.match(target)]
    return found


def _problem(path: Path, target: str) -> str | None:
    """Why a link from `path` to `target` leads nowhere, or None."""
    file_part, _, anchor = target.partition("#")
    destination = (path.parent / file_part).resolve() if file_part else path
    if not destination.exists():
        return f"{file_part} does not exist"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"{destination.relative_to(ROOT)} has no heading whose anchor is #{anchor}"
    return None


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(path):
    broken = [f"{path.relative_to(ROOT)}:{number}: ({target}) {problem}"
              for number, target in links(path) if (problem := _problem(path, target))]
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_readme_links_every_docs_page():
    linked = {(ROOT / target.partition("#")[0]).resolve() for _, target in links(ROOT / "README.md")}
    unlisted = [str(page.relative_to(ROOT)) for page in DOCUMENTS[1:] if page.resolve() not in linked]
    assert not unlisted, f"pages the README's Documentation list does not link: {', '.join(unlisted)}"


@pytest.mark.parametrize(("heading", "anchor"), [
    ("The two commands", "the-two-commands"),
    ("The alerting config — `VIGIL_ALERTING_CONFIG`", "the-alerting-config--vigil_alerting_config"),
    ("Prometheus remote write 1.0 and 2.0 — `POST /api/v1/write`",
     "prometheus-remote-write-10-and-20--post-apiv1write"),
    ("Topics and schemas (for downstream teams)", "topics-and-schemas-for-downstream-teams"),
])
def test_anchors_follow_githubs_slugs(heading, anchor):
    assert slug(heading) == anchor
