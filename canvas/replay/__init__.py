"""Replay packages (§7): prepare, build, status and window over stored ledgers."""
