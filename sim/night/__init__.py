"""One night as a Mesa model: `geo` (routes and envelopes), `laydown` (the drawn night),
`engagement` (the event-driven core), `agents` (views of threats, units, targets), `model`."""
