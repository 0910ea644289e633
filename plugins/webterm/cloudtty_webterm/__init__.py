"""cloudtty web terminal: an xterm.js page and a WebSocket bridged to a PTY.

The server runs in the shell pod. Standalone (and cold pods) configure it from flags and files;
warm workers start before any shell exists and receive their session through the Kubernetes API
(see :mod:`cloudtty_webterm.worker`).
"""

__version__ = "0.1.0"
