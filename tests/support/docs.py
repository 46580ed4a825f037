"""Generated parts of the documentation: a section between two markers equals what the code
says. `python -m tests.support.docs` (`make docs`) writes them; tests check they are current."""

from __future__ import annotations

from pathlib import Path

from wikistream.settings import reference_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"
GENERATED = {
    (DOCS / "configuration.md", "settings-reference"): reference_markdown,
}


def section(text: str, marker: str) -> str:
    """The text between `<!-- marker:start -->` and `<!-- marker:end -->`."""
    start, end = f"<!-- {marker}:start -->\n", f"<!-- {marker}:end -->"
    return text.split(start, 1)[1].split(end, 1)[0]


def spliced(text: str, marker: str, content: str) -> str:
    start, end = f"<!-- {marker}:start -->\n", f"<!-- {marker}:end -->"
    head, rest = text.split(start, 1)
    return head + start + content + end + rest.split(end, 1)[1]


def main() -> None:
    for (path, marker), generate in GENERATED.items():
        text = path.read_text(encoding="utf-8")
        path.write_text(spliced(text, marker, generate()), encoding="utf-8")
        print(f"{path.relative_to(DOCS.parent)}: {marker} written")


if __name__ == "__main__":
    main()
