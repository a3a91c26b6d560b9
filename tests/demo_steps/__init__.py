"""The demo's steps (tests/demo.py): each module with run(demo) is one step."""


class DemoError(Exception):
    """A step or the demo could not show what it shows: the message says what failed on which host."""
