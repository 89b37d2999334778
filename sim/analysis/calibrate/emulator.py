"""The emulator: the model's per-group intercepted fractions on a grid, run once."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from sim.experiments.executors import map_ordered
from sim.experiments.progress import Progress
from sim.experiments.replications import replication_rng
from sim.night.builder import NightRow, NightSpec, largest_remainder, night_spec
from sim.night.model import NightModel
from sim.spec.calibration import DEFAULT_PARAMETERS, ROUTES, Calibration, Posture, load_template
from sim.spec.observed import OBSERVED_CLASSES
from sim.spec.posture import quarter_midpoint
from sim.spec.scenario import Scenario

DRONE_REACH: tuple[float, ...] = (0.5, 1.0, 1.5, 2.25, 3.0, 4.5)
# up to 0.95 although `mfg_pk` is bounded at 0.6: a night's pk is drawn around that mean (beta,
# `mfg_pk_rsd`), and a draw beyond the grid's last value would be read at that value
DRONE_PK: tuple[float, ...] = (0.02, 0.1, 0.2, 0.35, 0.6, 0.8, 0.95)
DRONE_N: tuple[int, ...] = (30, 80, 200, 450, 900)
MISSILE_BMD: tuple[float, ...] = (0.02, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4)
MISSILE_N: tuple[int, ...] = (2, 6, 15, 40, 90)
# background EW in the drone grid runs (drones lost to it and the others are counted apart)
EMULATOR_EW = 0.3
# drones launched with each missile in the missile grid runs (they use up SAM rounds first)
MISSILE_DRONES_PER_MISSILE = 15


@dataclass(frozen=True)
class EmulatorGrid:
    """Where the emulator runs the model (the defaults cover the default bounds)."""

    reach: tuple[float, ...] = DRONE_REACH
    pk: tuple[float, ...] = DRONE_PK
    drones: tuple[int, ...] = DRONE_N
    bmd: tuple[float, ...] = MISSILE_BMD
    missiles: tuple[int, ...] = MISSILE_N
    replications: int = 8


@dataclass
class Emulator:
    """The model's per-group intercepted fractions on a grid of posture values and sizes.

    Drone and decoy groups (`drone_groups`), at reach x pk x drones, four fractions: `q` of the
    drones not lost to background EW that are intercepted, `F` of those lost to background EW
    that count as intercepted (not failed first), `a` of those lost to background EW that end
    suppressed (not shot down first) and `e` of the others that end suppressed (EW sites).
    Missile groups (`missile_groups`), at bmd x missiles per class: the intercepted fraction.
    `inflation`: the variance of a night's intercepted drones over the binomial variance.
    """

    grid: EmulatorGrid
    drone_groups: list[str]
    drone_types: list[str]  # "drone" or "decoy", per drone group
    drone_tables: np.ndarray  # (groups, 4, reach, pk, drones)
    missile_groups: list[str]
    missile_tables: np.ndarray  # (groups, bmd, missiles)
    inflation: float
    runs: int
    seconds: float
    raw: dict[str, np.ndarray] = field(default_factory=dict)  # the counts behind the tables


@dataclass(frozen=True)
class _CellTask:
    template: str
    calibration: Calibration
    kind: str  # "drone", "focus" (the focus groups alone) or "missile"
    index: int
    reach: float
    pk: float
    bmd: float
    n: int
    replications: int
    seed: int


def _cell_scenario(task: _CellTask) -> tuple[NightSpec, dict[str, int]]:
    cal = task.calibration
    row_launched = dict.fromkeys(OBSERVED_CLASSES, 0)
    if task.kind in ("drone", "focus"):
        row_launched["drone"] = task.n
    else:
        row_launched.update(cruise=task.n, ballistic=task.n, hypersonic=max(1, task.n // 4))
        row_launched["drone"] = min(MISSILE_DRONES_PER_MISSILE * task.n, DRONE_N[-1])
    posture = Posture(ew=EMULATOR_EW, reach_km=task.reach, bmd=task.bmd)
    params = cal.parameters.model_copy(update={"mfg_pk": task.pk, "mfg_pk_rsd": 0.0, "ew_rsd": 0.0})
    deep = {}
    for cls, spec in params.deep.items():
        # drones at the default deep share of such a night, missiles half and half
        logit = DEFAULT_PARAMETERS.deep["drone"].logit if cls == "drone" else 0.0
        slope = DEFAULT_PARAMETERS.deep["drone"].slope if cls == "drone" else 0.0
        deep[cls] = spec.model_copy(update={"logit": logit, "slope": slope, "rsd": 0.0})
    params = params.model_copy(update={"deep": deep})
    cell = cal.model_copy(update={"parameters": params, "posture": {"2025Q3": posture}})
    row = NightRow(date=quarter_midpoint("2025Q3"), launched=row_launched)
    spec = night_spec(load_template(task.template), row, cell)
    counts = {gid: g.count for gid, g in spec.scenario.salvo.items()}
    if task.kind == "focus":
        # a concentrated raid of n drones on its own (the focus groups' size is their own)
        counts = dict.fromkeys(counts, 0)
        focus_ids, wf = spec.focus_groups["drone"]
        counts.update(zip(focus_ids, largest_remainder(task.n, wf), strict=True))
    return spec, counts


def _run_cell(task: _CellTask) -> tuple[int, np.ndarray, np.ndarray]:
    """Per group and replication: [n, intercepted, suppressed] for unflagged then flagged."""
    spec, counts = _cell_scenario(task)
    plan = spec.plan
    groups = list(spec.scenario.salvo)
    per_group = np.zeros((task.replications, len(groups), 6), dtype=np.int64)
    totals = np.zeros(task.replications, dtype=np.int64)
    for r in range(task.replications):
        rng = replication_rng(task.seed, 10_000 + task.index, r)
        model = NightModel(spec.plain, rng=rng, plan=plan, counts=counts, agent_views=False)
        result = model.run()
        batch = model.threat_batch
        state = model.threat_state
        flagged = batch.t_supp < batch.t_end
        intercepted = (state == 1) | (state == 2)
        suppressed = state == 2
        for flag in (0, 1):
            mask = flagged == bool(flag)
            base = 3 * flag
            per_group[r, :, base] = np.bincount(batch.group[mask], minlength=len(groups))
            per_group[r, :, base + 1] = np.bincount(
                batch.group[mask & intercepted], minlength=len(groups)
            )
            per_group[r, :, base + 2] = np.bincount(
                batch.group[mask & suppressed], minlength=len(groups)
            )
        totals[r] = result.counts["intercepted.drone"] + result.counts["intercepted.decoy"]
    return task.index, per_group, totals


def _features_by_level(level: np.ndarray, columns: Sequence[np.ndarray]) -> np.ndarray:
    """GLM features: a separate intercept and slopes per value of `level` (the steep axis:
    reach, bmd), plus squares and products of the standardised `columns` (smooth axes)."""
    z = [(c - c.mean()) / (c.std() or 1.0) for c in columns]
    out = []
    for value in np.unique(level):
        indicator = (level == value).astype(float)
        out += [indicator, *(indicator * c for c in z)]
    out += [c * c for c in z]
    out += [z[i] * z[j] for i in range(len(z)) for j in range(i)]
    return np.stack(out, axis=1)


def _smooth(
    successes: np.ndarray, trials: np.ndarray, x: np.ndarray, ridge: float = 1e-2
) -> np.ndarray:
    """Fitted probabilities of a binomial GLM (logit link, small ridge) by Newton's method."""
    beta = np.zeros(x.shape[1])
    if trials.sum() <= 0:
        return np.full(len(trials), 0.5)
    penalty = ridge * np.eye(x.shape[1])
    for _ in range(100):
        p = special.expit(x @ beta)
        grad = x.T @ (successes - trials * p) - penalty @ beta
        hess = (x * (trials * p * (1 - p))[:, None]).T @ x + penalty + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.abs(step).max() < 1e-8:
            break
    return special.expit(x @ beta)


def build_emulator(
    calibration: Calibration,
    *,
    grid: EmulatorGrid | None = None,
    seed: int = 1,
    workers: int = 1,
    dask: str | None = None,
    progress: bool = False,
) -> Emulator:
    """Run the model on the emulator grid (fixed seeds: common random numbers), on local
    processes (`workers`) or Dask (`dask`): the grid is the same on any."""
    grid = grid or EmulatorGrid()
    started = time.perf_counter()
    template_data = load_template(calibration.template)
    scenario = Scenario.model_validate(template_data)
    buckets = calibration.builder.buckets
    drone_bucket = buckets.get("drone")
    drone_groups = (
        [g for r in ROUTES for g in getattr(drone_bucket, r)] if drone_bucket is not None else []
    )
    focus_groups = (
        list(drone_bucket.focus) if drone_bucket is not None and drone_bucket.near else []
    )
    missile_groups = [
        g for cls in ("cruise", "ballistic", "hypersonic") if cls in buckets
        for g in (*buckets[cls].deep, *buckets[cls].near)
    ]  # fmt: skip
    tasks: list[_CellTask] = []
    cells = []
    for ir, reach in enumerate(grid.reach):
        for ik, pk in enumerate(grid.pk):
            for i_n, n in enumerate(grid.drones):
                cells.append(("drone", ir, ik, i_n))
                tasks.append(
                    _CellTask(calibration.template, calibration, "drone", len(tasks), reach, pk,
                              1.0, n, grid.replications, seed)
                )  # fmt: skip
    for ib, bmd in enumerate(grid.bmd):
        for i_n, n in enumerate(grid.missiles):
            cells.append(("missile", ib, i_n, 0))
            tasks.append(
                _CellTask(calibration.template, calibration, "missile", len(tasks), 1.5, 0.2, bmd,
                          n, grid.replications, seed)
            )  # fmt: skip
    # the concentrated raid alone (after the other cells: their seeds do not change)
    if focus_groups:
        for ir, reach in enumerate(grid.reach):
            for ik, pk in enumerate(grid.pk):
                for i_n, n in enumerate(grid.drones):
                    cells.append(("focus", ir, ik, i_n))
                    tasks.append(
                        _CellTask(calibration.template, calibration, "focus", len(tasks), reach,
                                  pk, 1.0, n, grid.replications, seed)
                    )  # fmt: skip
    if not drone_groups:
        tasks = [t for t in tasks if t.kind == "missile"]
        cells = [c for c in cells if c[0] == "missile"]
    if not missile_groups:
        keep = [k for k, c in enumerate(cells) if c[0] != "missile"]
        tasks, cells = [tasks[k] for k in keep], [cells[k] for k in keep]
    # the costliest cells first, so the pool ends together
    order = sorted(
        range(len(tasks)), key=lambda k: -tasks[k].n if tasks[k].kind != "missile" else 0
    )
    results = map_ordered(
        _run_cell,
        [tasks[k] for k in order],
        workers=workers,
        dask=dask,
        progress=Progress(len(tasks), label="calibrate: emulator cells", enabled=progress,
                          unit="cell", timed=True),
    )  # fmt: skip
    by_index = {index: (per_group, totals) for index, per_group, totals in results}
    group_ids = list(scenario.salvo)
    d_idx = [group_ids.index(g) for g in drone_groups]
    is_focus = np.array([g in focus_groups for g in drone_groups], dtype=bool)
    m_idx = [group_ids.index(g) for g in missile_groups]
    shape = (len(grid.reach), len(grid.pk), len(grid.drones))
    raw = np.zeros((len(drone_groups), 6, *shape))
    missile_raw = np.zeros((len(missile_groups), 2, len(grid.bmd), len(grid.missiles)))
    var_obs, var_bin = 0.0, 0.0
    for task, cell in zip(tasks, cells, strict=True):
        per_group, totals = by_index[task.index]
        summed = per_group.sum(axis=0)  # (groups, 6)
        if cell[0] == "focus":
            # the focus groups' fractions come from the cells where they fly alone
            _, ir, ik, i_n = cell
            raw[is_focus, :, ir, ik, i_n] = summed[d_idx].reshape(len(d_idx), 6)[is_focus]
        elif cell[0] == "drone":
            _, ir, ik, i_n = cell
            raw[~is_focus, :, ir, ik, i_n] = summed[d_idx].reshape(len(d_idx), 6)[~is_focus]
            n_g = per_group[:, d_idx, 0] + per_group[:, d_idx, 3]
            p_g = (summed[d_idx, 1] + summed[d_idx, 4]) / np.maximum(
                summed[d_idx, 0] + summed[d_idx, 3], 1
            )
            if len(totals) > 1:
                var_obs += float(np.var(totals, ddof=1))
                var_bin += float((n_g.mean(axis=0) * p_g * (1 - p_g)).sum())
        else:
            _, ib, i_n, _ = cell
            missile_raw[:, 0, ib, i_n] = summed[m_idx, 0] + summed[m_idx, 3]
            missile_raw[:, 1, ib, i_n] = summed[m_idx, 1] + summed[m_idx, 4]
    # smooth each table with a binomial GLM in the grid coordinates (the runs are noisy)
    drone_tables = np.zeros((len(drone_groups), 4, *shape))
    if drone_groups:
        r, k, n = np.meshgrid(
            np.array(grid.reach),
            np.log(np.array(grid.pk)),
            np.log(np.array(grid.drones, float)),
            indexing="ij",
        )
        features = _features_by_level(r.ravel(), [k.ravel(), n.ravel()])
        pairs = ((1, 0), (4, 3), (5, 3), (2, 0))  # q, F, a, e as (numerator, denominator) columns
        for g in range(len(drone_groups)):
            for j, (num, den) in enumerate(pairs):
                drone_tables[g, j] = _smooth(
                    raw[g, num].ravel(), raw[g, den].ravel(), features
                ).reshape(shape)
    missile_tables = np.zeros((len(missile_groups), len(grid.bmd), len(grid.missiles)))
    if missile_groups:
        b, n = np.meshgrid(
            np.array(grid.bmd), np.log(np.array(grid.missiles, float)), indexing="ij"
        )
        features = _features_by_level(b.ravel(), [n.ravel()])
        for g in range(len(missile_groups)):
            missile_tables[g] = _smooth(
                missile_raw[g, 1].ravel(), missile_raw[g, 0].ravel(), features
            ).reshape(len(grid.bmd), len(grid.missiles))
    drone_types = [scenario.threat_type(g).class_ for g in drone_groups]
    return Emulator(
        grid=grid,
        drone_groups=drone_groups,
        drone_types=drone_types,
        drone_tables=drone_tables,
        missile_groups=missile_groups,
        missile_tables=missile_tables,
        inflation=max(1.0, var_obs / var_bin) if var_bin > 0 else 1.0,
        runs=len(tasks) * grid.replications,
        seconds=time.perf_counter() - started,
        raw={"drone": raw, "missile": missile_raw},
    )
