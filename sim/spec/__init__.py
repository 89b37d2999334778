"""File formats: YAML and CSV in, validated pydantic specs out, every problem at FILE:LINE.

`yamlio` loads and reports, `types` and `reflect` are the field types and the walk over them,
`catalog` the shipped type catalogue; `scenario` (one night), `campaign` (months of nights),
`experiment` (with `expressions` and `paths`: variants of either) and `observed` (reported
nights) are the formats. A spec imports only other specs and `sim.vocab`.
"""
