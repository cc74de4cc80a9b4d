"""A fake WeChat platform (api.weixin.qq.com + open.weixin.qq.com) for the local stack and tests, with a
WeChat simulator page at ``/_sim/``. See README.md."""
