"""Test-support code shared by the test suites (real external services to test against)."""
