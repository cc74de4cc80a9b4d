"""HIS simulator: a standalone implementation of the hospital middleware contract (``spec/``) for the local stack
and for tests over real HTTP. See ``server.py`` for the HTTP surface and ``simulator.py`` for the Python API.

    from devstack.his_simulator.server import start_in_thread
    server, thread, base_url = start_in_thread("127.0.0.1", 0)
    ...
    server.shutdown()
"""
