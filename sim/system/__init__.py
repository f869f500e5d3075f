"""The system simulator: fault windows, the closed loop of each preset, cost, reports."""
