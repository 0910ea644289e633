"""Settings shared by every test suite in the repository."""

from hypothesis import HealthCheck, Phase, settings

# Two cores shared by several suites make per-example timings meaningless: speed is measured in
# benchmarks/, never by failing a test that happened to run while the machine was busy.
# No explain phase: it traces every line of every replay, which on the large generated shells
# takes minutes and turns a clear failure into a test timeout.
settings.register_profile(
    "cloudtty",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
settings.load_profile("cloudtty")
