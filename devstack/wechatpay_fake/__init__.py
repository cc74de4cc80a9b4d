"""A fake WeChat Pay (APIv3) for the local stack and the tests; see README.md."""
