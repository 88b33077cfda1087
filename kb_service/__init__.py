"""kb: grounded, cited answers from product documentation."""

__version__ = "0.1.0"
