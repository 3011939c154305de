# CloudCode (PYTHONSTARTUP, read only by the interactive interpreter): line editing and completion
# as usual, but no ~/.python_history: HOME is the user's working directory, whose files the user
# lists and downloads.
import sys


def _cloudcode_interactivehook():
    try:
        import readline
        import rlcompleter  # noqa: F401

        readline.parse_and_bind("tab: complete")
    except ImportError:
        pass


sys.__interactivehook__ = _cloudcode_interactivehook
del sys, _cloudcode_interactivehook
