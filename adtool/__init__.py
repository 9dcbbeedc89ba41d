"""adtool: source-to-source automatic differentiation of Fortran and C, with
checkpointing under the user's control."""
__version__ = "0.1.0"
