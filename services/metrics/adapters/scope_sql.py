"""An agency scope (glob patterns, services.common.credentials) as a ClickHouse condition.

Scopes of platform users are agency-code characters with `*` and `?` only
(services.common.users.SCOPE_PATTERN), so each pattern is exactly a LIKE pattern:
`*` is `%`, `?` is `_`, and LIKE's own `%`, `_` and `\\` are escaped. The patterns are
bound as query parameters, never written into the SQL text.
"""

from __future__ import annotations

from typing import Any

from services.common.credentials import AgencyScope

EVERY_AGENCY = AgencyScope(("*",))

_LIKE_ESCAPES = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_", "*": "%", "?": "_"})


def like_pattern(glob: str) -> str:
    """The LIKE pattern matching exactly the codes `fnmatchcase(code, glob)` matches."""
    return glob.translate(_LIKE_ESCAPES)


def scope_condition(scope: AgencyScope, column: str, params: dict[str, Any]) -> str | None:
    """`(column LIKE {scope_0:String} OR …)` with the patterns added to `params`; None when
    the scope is every agency."""
    if scope.national:
        return None
    if not scope.patterns:
        return "0"
    terms = []
    for position, glob in enumerate(scope.patterns):
        name = f"scope_{position}"
        params[name] = like_pattern(glob)
        terms.append(f"{column} LIKE {{{name}:String}}")
    return "(" + " OR ".join(terms) + ")"
