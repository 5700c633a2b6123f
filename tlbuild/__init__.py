"""tlbuild: daily timelapse videos from camera footage, built incrementally with doit."""

__version__ = "0.1.0"
