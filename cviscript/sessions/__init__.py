"""Sessions: what implements the engine's one view of a conversation (`cviscript.engine.session.Session`).

The interface belongs to the engine (it is what the engine needs); these are the ways to reach a
conversation, and the engine imports none of them.

* `simulated` — the built-in model of a Tavus replica on a virtual clock, with a simulated visitor,
  a stand-in persona and network faults; `simulated.runner.run_simulated` runs a scenario against it;
* `live` — Tavus's REST API and a Daily room through daily-python (the one module importing
  `daily`);
* `fake` — a fake Daily room with the replica model playing in it, for trying the live commands
  offline and testing the live path (``CVISCRIPT_FAKE_DAILY``);
* `replay` — the received messages of a recorded transcript.
"""
