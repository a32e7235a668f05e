"""Simulated incidents: raw incident directories and their per-minute core."""

from analysis.simulate.incident import (
    BucketTarget,
    DataIntegrityError,
    ErrorProcess,
    IncidentParams,
    SimulatedIncident,
    WebinarSpec,
    WrittenIncident,
    main,
    shipped_params,
    simulate,
    synthetic_params,
    truth_of,
    verify_directory,
    write_incident,
)
from analysis.simulate.volume import VolumeExport, generate_edge_log_volume

__all__ = [
    "BucketTarget",
    "DataIntegrityError",
    "ErrorProcess",
    "IncidentParams",
    "SimulatedIncident",
    "VolumeExport",
    "WebinarSpec",
    "WrittenIncident",
    "generate_edge_log_volume",
    "main",
    "shipped_params",
    "simulate",
    "synthetic_params",
    "truth_of",
    "verify_directory",
    "write_incident",
]
