"""Synchrotron portal emulator and the EPN source tree served by the lab sshd."""
