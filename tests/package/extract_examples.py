#!/usr/bin/env python3
"""Writes every C++ program of README.md marked `<!-- example: NAME -->` (the line before its ```cpp fence) to
DIR/NAME.cpp, exactly as printed, so that the installed_package test compiles and runs the README's examples as a
user would copy them. Exits 1 when the README has no such example or a marker is not followed by a C++ block."""
import pathlib
import re
import sys

readme, out_dir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
lines = readme.read_text().split("\n")
found = 0
for i, line in enumerate(lines):
    marker = re.fullmatch(r"<!-- example: ([a-z0-9_]+) -->", line.strip())
    if not marker:
        continue
    if i + 1 >= len(lines) or lines[i + 1].strip() != "```cpp":
        sys.exit(f"extract_examples: the marker '{line.strip()}' (README.md line {i + 1}) is not followed by ```cpp")
    end = next((j for j in range(i + 2, len(lines)) if lines[j].strip() == "```"), None)
    if end is None:
        sys.exit(f"extract_examples: the C++ block after README.md line {i + 1} never ends")
    (out_dir / f"{marker.group(1)}.cpp").write_text("\n".join(lines[i + 2:end]) + "\n")
    found += 1
if found == 0:
    sys.exit("extract_examples: README.md has no <!-- example: NAME --> C++ block")
print(f"extract_examples: {found} example(s) from {readme}")
