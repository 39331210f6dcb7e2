#!/usr/bin/env python3
"""Keeps SPEC.md's grammar identical to lang/grammar.ebnf.

  sync-spec-grammar.py          rewrite the ```ebnf block of SPEC.md from grammar.ebnf
  sync-spec-grammar.py --check  exit 1 (with a diff) if they differ; the test suite runs this
"""
import difflib, pathlib, re, sys

root = pathlib.Path(__file__).resolve().parent.parent
spec_path, grammar_path = root / "SPEC.md", root / "lang" / "grammar.ebnf"
spec, grammar = spec_path.read_text(), grammar_path.read_text()
match = re.search(r"```ebnf\n(.*?)```", spec, re.S)
if not match:
    sys.exit("SPEC.md: no ```ebnf block found")
if match.group(1) == grammar:
    sys.exit(0)
if "--check" in sys.argv:
    sys.stdout.writelines(difflib.unified_diff(grammar.splitlines(True), match.group(1).splitlines(True),
                                               "lang/grammar.ebnf", "SPEC.md (ebnf block)"))
    sys.exit("SPEC.md's grammar differs from lang/grammar.ebnf: run scripts/sync-spec-grammar.py")
spec_path.write_text(spec[:match.start(1)] + grammar + spec[match.end(1):])
