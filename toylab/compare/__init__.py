"""`toylab compare`: a fair comparison of optimizers — tuned on tuning seeds, scored on held-out
seeds — by steps to a target and final value, with paired intervals and performance profiles.

`stats` holds the statistics as pure functions (their math and rules in its docstring),
`protocol` runs the tuning and scoring runs (ordinary cached, batched runs) and applies them,
`output` prints the table and writes the figure, the CSV and the JSON.
"""
