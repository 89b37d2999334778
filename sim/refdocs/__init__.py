"""Generated references: the file formats' Markdown docs and the catalogue tables.

`python -m sim.refdocs.scenario` (and `.experiment`, `.campaign`) prints
docs/<format>-reference.md from the models in `sim.spec`; `--check FILE` says whether the
committed file is current. `catalog` formats the tables of `salvo catalog`.
"""
