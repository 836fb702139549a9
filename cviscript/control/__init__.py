"""Steering a running conversation from outside: the operator's side.

A person running a demo fires `manual:` transitions (a key, the local control page, `cviscript
fire`, the interactive prompt's `/fire`) and, in `cviscript run --interactive`, plays the visitor.
`steer` is the one thread-safe handle on a running conversation (simulated at a human pace, or
live); `prompt` reads the interactive prompt, `keys` single key presses, `server` serves the
control page and its HTTP API, `client` is the other end of it.
"""
