"""Simulated incidents: raw incident directories and their per-minute core."""

from analysis.simulate.volume import VolumeExport, generate_edge_log_volume

__all__ = ["VolumeExport", "generate_edge_log_volume"]
