"""Running many nights: executors (serial, processes, Dask), progress, seeded replications,
resumable runs, sweeps, replicated campaigns and traces; the library behind `salvo run`,
`salvo sweep` and `salvo campaign`."""
