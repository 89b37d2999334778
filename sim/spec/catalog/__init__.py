"""Default threat and defence types (threats.yaml, defences.yaml), every number sourced."""
