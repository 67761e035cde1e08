"""The Beam data pipeline: `python -m pipeline --input ... --output OUT [Beam options]`."""
