"""Calibration against observed nights: counts -> scenarios, the fit, and predictive checks.

docs/calibration.md explains the mechanisms and the numbers. The package is split by what each
module knows; data flows one way (each module imports only those above it).

The calibration file format and the posture at a date are specs (`sim.spec.calibration`,
`sim.spec.posture`), and the night builder is part of the night model (`sim.night.builder`:
one night given by its date and launches -> a scenario and its replication recipe), so that
campaigns can build their nights the same way; what stays here fits and scores:

* `simulate`: replications of built nights (`simulate_spec`, `predict_nights`) on any executor;
* `emulator`: the model's per-group intercepted fractions on a grid of posture values and salvo
  sizes, run once with fixed seeds (common random numbers);
* `mixture`: night-level draws (beta quantile tables), normal-mixture quantiles, the weighted
  interval score;
* `objective`: the nights' predictive distributions under the emulated model, scored;
* `fit`: `--params`, the block-wise bounded Powell search, standard errors
  (`fit_calibration`);
* `validate`: predictive intervals scored against the observed nights and the
  `QuarterlyRateBaseline`, in-sample or in K-fold cross-validation (`validate_nights`);
* `runs`: calibrate and validate from files, the library behind `salvo calibrate` and
  `salvo validate` (`calibrate_file`, `validate_file`).
"""

# How the fit scores the drone block: "likelihood" (default) or "wis", the weighted interval
# score of the 5/50/95 % quantiles (docs/calibration.md, "Fitting criterion"). Kept here, not in
# `sim.spec.calibration`, so that `sim.cli` can offer the choices without importing the
# calibration modules.
CRITERIA: tuple[str, ...] = ("likelihood", "wis")
DEFAULT_CRITERION = "likelihood"
