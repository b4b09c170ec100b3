"""Overlay (CONTRACT §5): drawing instructions derived from factor output, versioned per series."""
