"""bsmhunt report: plots and tables from the outputs of a bsmhunt job (tools/plot/report.py)."""
