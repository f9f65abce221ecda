"""The chain adapter of Grekko's own contracts (issue 17): artifacts, deploy, call, events.

``build`` compiles ``contracts/`` offline (``make contracts``); ``contracts`` loads the committed
artifacts, deploys them and sends/decodes calls through web3.py; ``keys`` loads the deployer key
from the environment or the OS keyring; ``deploy`` is ``grekko-live contracts deploy``. web3 is
imported only inside these modules' functions and by the modules that need it, never by
``live.cli`` at import time.
"""
