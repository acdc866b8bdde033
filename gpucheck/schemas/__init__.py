"""JSON Schemas shipped with gpucheck (report, snapshot, bench)."""
