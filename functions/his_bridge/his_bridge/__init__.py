"""The HIS bridge: the only code that talks to the hospital's middleware.

Deployed by ``infra/`` as its own Lambda inside the VPC (VPN route, no internet, no WeChat secrets).
It consumes request messages from the HIS request queue, calls the middleware with signed requests
and publishes each outcome to the HIS result queue.
"""
