"""Validating the files a scenario names for its replica: the persona file and replica profiles.

Both are read once, at load, so a rehearsal never meets a missing or broken file mid-run:

* a persona file (``conversation.persona_file``, a case's ``replica.persona_file``) is read into a
  `persona_file.PersonaFile` kept on the scenario (`Scenario.personas`); a file that is not one is
  an error at the key naming it, and an odd value in it a warning there;
* a replica profile (``conversation.replica_profile``, a case's ``replica.profile``) is a YAML
  mapping of `replica:` keys (what `cviscript calibrate` writes); it is validated like a
  `replica:` block, with its own file's lines, and merged under each case's block: defaults, then
  the profile, then the keys the case writes itself.
"""

from __future__ import annotations

from . import model as m
from .loader import compose, read_source
from .persona_file import PersonaFileError, read_persona_file


class PersonaChecks:
    """Mixin of `validate._Validator`: the persona and profile files a scenario names."""

    def profiles_into(self, sc: m.Scenario) -> None:
        loaded: dict[str, m.ReplicaSettings | None] = {}
        for r in sc.rehearsals:
            path = r.replica.profile or sc.conversation.replica_profile
            if not path:
                continue
            if path not in loaded:
                loaded[path] = self._profile(path)
            profile = loaded[path]
            if profile is None:
                continue
            for key in profile.given - r.replica.given:
                setattr(r.replica, key, getattr(profile, key))
            r.replica.given = r.replica.given | profile.given

    def _profile(self, path: str) -> m.ReplicaSettings | None:
        where = self.file_keys.get(("replica_profile", path)) or self.file_keys.get(
            ("profile", path)
        )
        source, problems = read_source(path)
        if source is None:
            for d in problems:
                self.error(where, "missing-file", f"replica profile: {d.message}")
            return None
        root, diagnostics = compose(source, path)
        self.diagnostics += diagnostics
        if root is None:
            return None
        if root.is_null:
            return m.ReplicaSettings()
        return self.replica(root, f"replica profile {path}", profile=True)

    def personas_into(self, sc: m.Scenario) -> None:
        paths = [sc.conversation.persona_file] + [r.replica.persona_file for r in sc.rehearsals]
        for path in paths:
            if not path or path in sc.personas:
                continue
            where = self.file_keys.get(("persona_file", path))
            try:
                persona = read_persona_file(path)
            except PersonaFileError as exc:
                self.error(where, "bad-persona-file", str(exc))
                continue
            sc.personas[path] = persona
            for problem in persona.warnings:
                self.warn(where, "persona-file-value", f"persona file {path}: {problem}")
