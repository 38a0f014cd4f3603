"""Data layer: readers of the real formats, the project's store, and ``--data`` resolution.

Public entry points::

    from stf.data import open_dataset, read_file, SkeletonStore
    store = open_dataset("ucla:nw-ucla")      # or a converted directory
    sample = read_file("ntu", "S001C001P001R001A001.skeleton")
"""
from .base import FORMATS, DatasetSource, format_module
from .resolve import convert, open_dataset
from .store import SkeletonStore, write_store


def read_file(fmt: str, path, **opts):
    """Read one file of format ``fmt`` -> Sample (or list of Samples for multi-sample files)."""
    return format_module(fmt).read_file(path, **opts)


__all__ = ["FORMATS", "DatasetSource", "SkeletonStore", "convert", "format_module", "open_dataset",
           "read_file", "write_store"]
