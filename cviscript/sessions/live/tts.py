"""Speech synthesis for the live visitor: espeak-ng, when it is installed.

A live rehearsal rule with ``voice: true`` speaks its `say` text through the virtual microphone,
so the text must become audio. cviscript uses the ``espeak-ng`` program (Debian and Ubuntu
package ``espeak-ng``; ``apt-get install espeak-ng``, one line in a CI job): it is offline, fast
(a sentence in milliseconds), maintained, in every distribution, and adds no Python dependency.
Its voice is robotic but clear, which is what a speech recogniser needs. Synthesis is optional:
without the program, a case that asks for it gets a clear error before any conversation is
created (a rule may give a WAV file instead: ``voice: hello.wav``).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import wave

from ... import errors
from ...audio import MAX_SECONDS, PcmAudio, check_header, to_mono

PROGRAM = "espeak-ng"
TTS_ENV = "CVISCRIPT_TTS"  # another program with espeak-ng's options (-v VOICE --stdout TEXT)
TIMEOUT = 20.0
MAX_CHARS = 4000


def program() -> str | None:
    """The synthesiser's path, or None when none is installed."""
    return shutil.which(os.environ.get(TTS_ENV) or PROGRAM)


def require() -> str:
    found = program()
    if found is None:
        raise errors.UsageError(
            "speaking text through the microphone needs a speech synthesiser: install espeak-ng"
            " (apt-get install espeak-ng), give the rule a WAV file (voice: hello.wav), or play"
            " the visitor as text (--visitor text)"
        )
    return found


def synthesise(text: str, *, voice: str = "en-us", sample_rate: int = 16000) -> PcmAudio:
    """`text` spoken, as mono 16-bit PCM at `sample_rate`."""
    exe = require()
    if len(text) > MAX_CHARS:
        raise errors.UsageError(f"text to speak is over {MAX_CHARS} characters")
    # a NUL cannot be passed on a command line (it raised a raw ValueError); it is silent anyway.
    # A literal one is refused at load; one a template rendered from a variable is a space.
    text = text.replace("\x00", " ")
    try:
        done = subprocess.run(
            [exe, "-v", voice, "--stdout", "--", text],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise errors.CviscriptError(f"{PROGRAM} failed: {exc}") from None
    if done.returncode != 0 or not done.stdout:
        why = done.stderr.decode("utf-8", "replace").strip()[:200]
        raise errors.CviscriptError(f"{PROGRAM} failed (exit {done.returncode}): {why}")
    try:
        with wave.open(io.BytesIO(done.stdout)) as w:
            channels, rate, width = w.getnchannels(), w.getframerate(), w.getsampwidth()
            # writing to a pipe, espeak-ng cannot fill in the length (its header says ~2**30
            # frames): what follows the header is the audio, its rate and channels are checked
            whole = len(done.stdout) // max(1, channels * width)
            check_header(PROGRAM, channels, width, rate, 0, 0, sample_rate)
            if whole / max(rate, 1) > MAX_SECONDS:
                raise errors.CviscriptError(f"{PROGRAM} wrote over {MAX_SECONDS:g} s of audio")
            frames = w.readframes(whole)
    except (wave.Error, EOFError) as exc:
        raise errors.CviscriptError(f"{PROGRAM} wrote no readable WAV: {exc}") from None
    if width != 2:
        raise errors.CviscriptError(f"{PROGRAM} wrote {8 * width}-bit audio, not 16-bit")
    if channels != 1 or rate != sample_rate:
        frames = to_mono(frames, channels, rate, sample_rate)
    return PcmAudio(frames, sample_rate)
