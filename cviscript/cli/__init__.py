"""The command line: thin click commands over the library, one command per module."""
