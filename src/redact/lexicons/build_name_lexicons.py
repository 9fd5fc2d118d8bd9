#!/usr/bin/env python3
"""Regenerate the name lexicons in this folder.

Inputs (download with pip, no install needed):
    pip download names==0.3.0 --no-deps --no-binary :all:        # US Census 1990 lists (public domain data, MIT code)
    pip download philter-ucsf==1.0.3 --no-deps --no-binary :all: # BSD-3 name lists + non-name word allow-list
    apt-get install wamerican                                    # SCOWL word list (/usr/share/dict/american-english)

Usage:
    python3 build_name_lexicons.py NAMES_DIR PHILTER_FILTERS_DIR [DICT]

Output: names.tsv, one lower-case name per line, sorted, "name<TAB>flags":
    F given name, L family name, C listed in the US Census 1990 files (common names), G Census given name,
    A ambiguous: also an ordinary English / clinical / IT word ("will", "may", "hope", "long"),
      only treated as a name with context or next to another name
    X never a name: IT / EHR / device / language vocabulary from it_words.txt ("Epic", "Rover", "Spanish")
Only the philter blacklists/whitelist JSON files are read; its data/ folder is never touched.
"""
import json
import os
import re
import sys

names_dir, philter_dir = sys.argv[1], sys.argv[2]
dict_path = sys.argv[3] if len(sys.argv) > 3 else "/usr/share/dict/american-english"
here = os.path.dirname(os.path.abspath(__file__))
ok = re.compile(r"^[a-z][a-z'\-]*[a-z]$")


def census(fn):
    out = set()
    with open(os.path.join(names_dir, fn)) as f:
        for line in f:
            parts = line.split()
            if parts:
                out.add(parts[0].lower())
    return out


def pjson(rel):
    with open(os.path.join(philter_dir, rel)) as f:
        return {k.lower() for k in json.load(f)}


first = census("dist.male.first") | census("dist.female.first") | pjson("blacklists/firstnames_minus_fps.json")
last = census("dist.all.last") | pjson("blacklists/lastnames_minus_fps.json")
first = {n for n in first if ok.match(n) and len(n) >= 2}
last = {n for n in last if ok.match(n) and len(n) >= 2}

# ordinary words: SCOWL lower-case entries (proper nouns are capitalised there and are skipped)
# plus philter's non-name allow-list (English + clinical vocabulary)
words = set()
with open(dict_path, encoding="utf-8", errors="ignore") as f:
    for line in f:
        w = line.strip()
        if w and w == w.lower():
            words.add(w.removesuffix("'s"))
# philter's allow-list also holds some real names (noise); trust it only for names outside the Census lists
census_names = census("dist.male.first") | census("dist.female.first") | census("dist.all.last")
words |= pjson("whitelists/whitelist_plus_fps_091718_nonames.json") - census_names
# hand-curated: IT / EHR / device / language words that are never names (flag X), and calendar / place words
# that are names only with context
def curated(fn):
    with open(os.path.join(here, fn)) as f:
        return {w.strip().lower() for w in f if w.strip() and not w.startswith("#")}


it_words = curated("it_words.txt")
words |= it_words | curated("ambiguous_words.txt")

ambiguous = (first | last) & words
# very short names are ambiguous too (initials, "al", "ed", "jo")
ambiguous |= {n for n in first | last if len(n) <= 2}


census_first = census("dist.male.first") | census("dist.female.first")
census_last = census("dist.all.last")

# one file: name TAB flags. F = given name, L = family name, C = in the US Census 1990 lists (common, curated),
# A = ambiguous (also an ordinary English / clinical / IT word: a name only with context)
with open(os.path.join(here, "names.tsv"), "w") as f:
    for n in sorted(first | last):
        flags = ""
        flags += "F" if n in first else ""
        flags += "L" if n in last else ""
        flags += "C" if n in census_first or n in census_last else ""
        flags += "G" if n in census_first else ""
        flags += "A" if n in ambiguous else ""
        flags += "X" if n in it_words else ""
        f.write(f"{n}\t{flags}\n")
print("names", len(first | last), "ambiguous", len(ambiguous))
