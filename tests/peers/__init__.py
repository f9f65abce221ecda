"""Local protocol peers: real servers that speak an exchange's wire protocol for tests."""
