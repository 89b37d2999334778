"""Figures and reports from results folders (``salvo plot``, ``salvo report``): files in,
figures out, the model never run. Nothing is imported here, so each module costs only its own.

style (colours, rc style, saving), readers (results files), registry (figure kinds,
plot_results), run, nightmap, sweep (and Sobol'), campaign, campaign_sweep (figures of each
kind of folder), report (report.md, report.html).
"""
