"""CI support: the machine expectations a runner pool promises, and which CI system we run under."""
