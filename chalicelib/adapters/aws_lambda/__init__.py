"""Adapters on AWS Lambda's own API (direct invokes of our other functions)."""
