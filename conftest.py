"""Settings shared by every test suite in the repository."""

from hypothesis import HealthCheck, settings

# Two cores shared by several suites make per-example timings meaningless: speed is measured in
# benchmarks/, never by failing a test that happened to run while the machine was busy.
settings.register_profile("cloudtty", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("cloudtty")
