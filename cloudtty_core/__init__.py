"""cloudtty-core: the CloudShell model, state machine, planner and plugin system."""
