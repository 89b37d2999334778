"""Results as data: statistics, summaries, manifests, text tables, atomic files and the chunk
store of resumable runs. Imports only `sim.vocab`: results never reach the model."""
