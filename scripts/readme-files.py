#!/usr/bin/env python3
"""Writes the files a README section lays out: every fenced code block of the section whose
info string names `file=PATH` is written to DEST/PATH, word for word.

    readme-files.py README.md "Section title" DEST
"""
import pathlib
import re
import sys

readme, title, dest = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
text = pathlib.Path(readme).read_text()
start = text.find(f"\n## {title}\n")
if start < 0:
    sys.exit(f"readme-files: no section `## {title}` in {readme}")
end = text.find("\n## ", start + 1)
section = text[start : end if end > 0 else len(text)]
blocks = re.findall(r"^```\w* file=(\S+)\n(.*?)^```$", section, re.S | re.M)
if not blocks:
    sys.exit(f"readme-files: section `{title}` names no file")
for path, body in blocks:
    target = dest / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body)
    print(f"readme-files: {target}", file=sys.stderr)
